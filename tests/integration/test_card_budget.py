"""The embedded default's cards fit the state budget: at most 32 KB per card (default options).

A card's size grows with the hover rows (one per distinct shown token where the latent
fires), so the densest latents are the worst case; they are measured here with the picked
default latent, through `payload_nbytes` (binary buffers plus the JSON of the rest, what the
comm carries).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import featurecard as fc
from featurecard.state.codecs import payload_nbytes

BUDGET = 32_000


@pytest.mark.slow
def test_default_cards_fit_32_kb() -> None:
    from featurecard.cli import pick_live_feature

    model, sae, tokens = fc.demo(progress=False)
    ws = fc.Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)
    idx = ws.index("mlp0")
    densest = torch.argsort(idx.n_active, descending=True)[:10].tolist()
    sizes: dict[int, Any] = {
        f: payload_nbytes(ws.card_state("mlp0", f)) for f in [pick_live_feature(ws, "mlp0"), *densest]
    }
    assert max(sizes.values()) <= BUDGET, sizes
