"""Explained variance and CE loss recovered against a hand computation with plain TransformerLens.

Reference: ``model.run_with_hooks(tokens, return_type="loss", fwd_hooks=...)`` with hooks written
here that put, at every non-BOS position of the SAE's hook, the standard SAE's reconstruction by
hand (``relu((x - b_dec) @ W_enc + b_enc) @ W_dec + b_dec``) or zeros; the explained variance from
``run_with_cache`` and the same formula.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch

import tiny
from featurecard.core.forward_guard import model_lock
from featurecard.core.model import ModelAdapter
from featurecard.core.sae_input import as_sae
from featurecard.overview.recon import reconstruction_metrics

HOOK = "blocks.1.hook_resid_pre"


def weights() -> dict[str, Any]:
    return {**tiny.random_sae_weights(32, 40, seed=4), "hook_name": HOOK}


def by_hand(model: Any, tokens: torch.Tensor, w: dict[str, Any]) -> dict[str, float]:
    keep = tokens != model.tokenizer.bos_token_id

    def recon(x: torch.Tensor) -> torch.Tensor:
        f = torch.relu((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"])
        return f @ w["W_dec"] + w["b_dec"]

    def splice(fn: Any) -> Any:
        def hook(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
            out = act.clone()
            out[keep] = fn(act[keep])
            return out

        return hook

    with torch.no_grad():
        clean = float(model(tokens, return_type="loss"))
        sae = float(model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(HOOK, splice(recon))]))
        zero = float(model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(HOOK, splice(torch.zeros_like))]))
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n == HOOK)
        x = cache[HOOK][keep].double()
        x_hat = recon(cache[HOOK][keep]).double()
    ev = 1 - float((x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum())
    return {"clean": clean, "sae": sae, "zero": zero, "ev": ev, "rec": (zero - sae) / (zero - clean)}


def test_metrics_match_run_with_hooks(model: Any, tokens: torch.Tensor) -> None:
    w = weights()
    got = reconstruction_metrics(ModelAdapter(model), as_sae(w), tokens, max_rows=5, batch_size=2)
    want = by_hand(model, tokens[:5], w)
    assert got.n_rows == 5 and got.n_tokens == 5 * (tokens.shape[1] - 1)
    assert got.ce_clean == pytest.approx(want["clean"], rel=1e-5)
    assert got.ce_sae == pytest.approx(want["sae"], rel=1e-5)
    assert got.ce_zero == pytest.approx(want["zero"], rel=1e-5)
    # a ratio of two loss differences: each loss at 1e-5 above, the ratio amplifies that (here |rec| ~ 16)
    assert got.ce_recovered == pytest.approx(want["rec"], rel=1e-3, abs=1e-5)
    assert got.explained_variance == pytest.approx(want["ev"], rel=1e-5, abs=1e-6)
    assert got.ce_sae != pytest.approx(got.ce_clean, rel=1e-3)  # the splice changes the loss


def test_rows_are_capped_at_the_dataset(model: Any, tokens: torch.Tensor) -> None:
    got = reconstruction_metrics(ModelAdapter(model), as_sae(weights()), tokens, max_rows=64)
    want = by_hand(model, tokens, weights())
    assert got.n_rows == tokens.shape[0]
    assert got.ce_sae == pytest.approx(want["sae"], rel=1e-5)


def test_grad_disabled_and_inference_mode_give_the_same(model: Any, tokens: torch.Tensor) -> None:
    adapter, sae = ModelAdapter(model), as_sae(weights())
    base = reconstruction_metrics(adapter, sae, tokens, max_rows=3)
    with torch.inference_mode():
        inf = reconstruction_metrics(adapter, sae, tokens, max_rows=3)
    prev = torch.is_grad_enabled()
    torch.set_grad_enabled(False)
    try:
        nograd = reconstruction_metrics(adapter, sae, tokens, max_rows=3)
    finally:
        torch.set_grad_enabled(prev)
    assert base == inf == nograd


def test_bf16_model_and_sae(tok: Any, tokens: torch.Tensor) -> None:
    """A bf16 model with a bf16 SAE: finite numbers close to the float32 model's (bf16 rounding)."""
    if "HookedTransformer" not in tiny.MODEL_KINDS:
        pytest.skip("TransformerLens 4 has no HookedTransformer; the bridge's dtype is its source model's")
    m32 = tiny.hooked_transformer(tok)
    m16 = tiny.hooked_transformer(tok).to(torch.bfloat16)
    w = weights()
    w16 = {k: (v.to(torch.bfloat16) if isinstance(v, torch.Tensor) else v) for k, v in w.items()}
    ref = reconstruction_metrics(ModelAdapter(m32), as_sae(w), tokens, max_rows=4)
    got = reconstruction_metrics(ModelAdapter(m16), as_sae(w16), tokens, max_rows=4)
    assert got.ce_clean == pytest.approx(ref.ce_clean, rel=0.02)
    assert got.ce_zero == pytest.approx(ref.ce_zero, rel=0.02)
    assert got.explained_variance == pytest.approx(ref.explained_variance, abs=0.03)
    mixed = reconstruction_metrics(ModelAdapter(m16), as_sae(w), tokens, max_rows=4)  # a float32 SAE on bf16
    assert mixed.ce_sae == pytest.approx(ref.ce_sae, rel=0.02)
    assert mixed.explained_variance == pytest.approx(ref.explained_variance, abs=0.03)


def test_each_forward_holds_the_models_lock(model: Any, tokens: torch.Tensor) -> None:
    """While another thread holds the model's forward lock, the metrics wait for it."""
    guard = model_lock(model)
    done = threading.Event()
    result: list[Any] = []

    def run() -> None:
        result.append(reconstruction_metrics(ModelAdapter(model), as_sae(weights()), tokens, max_rows=1))
        done.set()

    with guard.lock:
        worker = threading.Thread(target=run)
        worker.start()
        assert not done.wait(0.5)
    worker.join(60)
    assert done.is_set() and result[0].n_rows == 1


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_row_counts_are_refused(model: Any, tokens: torch.Tensor, bad: object) -> None:
    with pytest.raises(ValueError, match="recon_rows must be an int >= 1"):
        reconstruction_metrics(ModelAdapter(model), as_sae(weights()), tokens, max_rows=bad)  # type: ignore[arg-type]


def test_an_attention_output_sae_is_spliced_at_hook_z(model: Any, tokens: torch.Tensor) -> None:
    """``hook_z`` is a permuted view in TransformerLens: the reconstruction must still reach the
    forward pass (a splice written into a flattened copy left every loss equal to the clean one)."""
    hook = "blocks.0.attn.hook_z"
    d_in = int(model.cfg.n_heads * model.cfg.d_head)
    w = {**tiny.random_sae_weights(d_in, 40, seed=5), "hook_name": hook}
    keep = tokens[:4] != model.tokenizer.bos_token_id

    def loss(fn: Any) -> float:
        def splice(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
            flat = act.reshape(*act.shape[:2], -1).clone()
            flat[keep] = fn(flat[keep])
            return flat.reshape(act.shape)

        return float(model.run_with_hooks(tokens[:4], return_type="loss", fwd_hooks=[(hook, splice)]))

    with torch.no_grad():
        want_sae = loss(lambda x: torch.relu((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]) @ w["W_dec"] + w["b_dec"])
        want_zero = loss(torch.zeros_like)
    got = reconstruction_metrics(ModelAdapter(model), as_sae(w), tokens, max_rows=4, batch_size=2)
    assert got.ce_sae == pytest.approx(want_sae, rel=1e-5) and got.ce_zero == pytest.approx(want_zero, rel=1e-5)
    assert abs(got.ce_zero - got.ce_clean) > 1e-3 * got.ce_clean  # the splice reaches the loss
