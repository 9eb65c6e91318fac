"""The real embedded default meets its quality thresholds, measured here from its weights
(not read from its build record): held-out loss < 5.3 nats, SAE explained variance > 0.6.

.ci/test builds the default (`featurecard demo`) before the tests run, so this loads it.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import featurecard as fc


@pytest.fixture(scope="module")
def default() -> tuple[Any, Any, torch.Tensor]:
    return fc.demo(progress=False)


@pytest.mark.slow
def test_held_out_loss_below_threshold(default: tuple[Any, Any, torch.Tensor]) -> None:
    model, _, tokens = default
    with torch.no_grad():
        logits = model(tokens[:64])
        logp = torch.log_softmax(logits[:, :-1].float(), -1)
        nll = -logp.gather(-1, tokens[:64, 1:].unsqueeze(-1)).mean()
    assert float(nll) < 5.3


@pytest.mark.slow
def test_sae_explained_variance_and_sparsity(default: tuple[Any, Any, torch.Tensor]) -> None:
    model, sae, tokens = default
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens[:64], names_filter=lambda n: n == sae.hook_name)
        x = cache[sae.hook_name][:, 1:].reshape(-1, sae.d_in)  # BOS left out, as in training
        f = sae.encode(x)
        err = ((sae.decode(f) - x) ** 2).sum()
        ev = 1 - err / ((x - x.mean(0)) ** 2).sum()
    assert float(ev) > 0.6
    assert float((f > 0).sum(-1).float().mean()) <= sae.k


@pytest.mark.slow
def test_demo_card_is_readable(default: tuple[Any, Any, torch.Tensor]) -> None:
    """A picked live latent has real examples and a logit table."""
    from featurecard.cli import pick_live_feature

    model, sae, tokens = default
    ws = fc.Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)
    f = pick_live_feature(ws, "mlp0")
    st = ws.card_state("mlp0", f)
    assert st["examples"]["groups"][0]["count"] == 20
    assert 0.002 < st["density"] < 0.05
    assert st["logits"] is not None
