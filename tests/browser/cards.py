"""A FeatureCard on a tiny real model whose vocabulary contains markup tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import tiny

MARKUP = ("<b>bold</b>", "</script><i>x</i>", "<img src=x onerror=alert(1)>")


def markup_workspace(folder: Path) -> tuple[Any, Any]:
    """A Workspace whose every example window contains the markup tokens."""
    from featurecard.workspace import Workspace

    tok = tiny.make_tokenizer(folder, extra_tokens=MARKUP)
    model = tiny.bridge(tok)
    ids = [tok.convert_tokens_to_ids(m) for m in MARKUP]
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, len(tok) - len(MARKUP), (8, 24), generator=g)
    for j, i in enumerate(ids):
        tokens[:, 1 + j :: 3] = i  # every third position holds one of the markup tokens
    tokens[:, 0] = tok.bos_token_id
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    ws = Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)
    return ws, tok


def live_features(ws: Any, name: str, n: int) -> list[int]:
    idx = ws.index(name)
    return [int(i) for i in torch.argsort(idx.n_active, descending=True)[:n]]


def plain_workspace(folder: Path, seed: int = 0) -> Any:
    """A Workspace on the tiny byte-level vocabulary (short tokens), over 16 rows of 32 tokens."""
    from featurecard.workspace import Workspace

    tok = tiny.make_tokenizer(folder)
    model = tiny.bridge(tok)
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    tokens = tiny.random_tokens(tok, batch=16, pos=32, seed=seed)
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)
