"""Fused attention in dataset passes against the model's own forward.

Reference: ``run_with_cache`` of the same HookedTransformer on the same tokens (TransformerLens's
attention, nothing of featurecard's). The configurations exercise each branch of the fused
forward: rotary queries and keys (GPT-NeoX and GPT-J pairings), grouped-query attention,
shortformer positions, parallel and attention-only blocks, and a local window (refused, so
that layer keeps its own attention while the other is fused).
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

import tiny
from featurecard.core import sdpa_attention
from featurecard.core.model import ModelAdapter

pytestmark = pytest.mark.skipif(tiny.tl_major() >= 4, reason="HookedTransformer is gone in TransformerLens 4")

CONFIGS = {
    **tiny.BLOCK_VARIANTS,
    "shortformer": {"positional_embedding_type": "shortformer"},
    "local-window": {"use_local_attn": True, "attn_types": ["local", "global"], "window_size": 5},
}


def _hooks(model: Any) -> list[str]:
    last = model.cfg.n_layers - 1
    return ["blocks.0.attn.hook_z", "blocks.0.hook_attn_out", f"blocks.{last}.hook_resid_post"] + (
        [] if model.cfg.attn_only else ["blocks.0.mlp.hook_post"]
    )


class _Counter:
    """Counts the fused kernel's calls (so a test knows the fused path really ran)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = sdpa_attention.F.scaled_dot_product_attention

        def counted(*args: Any, **kwargs: Any) -> torch.Tensor:
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(sdpa_attention.F, "scaled_dot_product_attention", counted)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fused_dataset_pass_equals_the_models_own_forward(
    tok: Any, tokens: torch.Tensor, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny.hooked_transformer(tok, **CONFIGS[name])
    hooks = _hooks(model)
    _, cache = model.run_with_cache(tokens, names_filter=hooks)
    adapter = ModelAdapter(model)
    counter = _Counter(monkeypatch)
    got = adapter.capture_dataset(tokens, hooks)
    local = name == "local-window"
    assert adapter._fused == ([1] if local else [0, 1]), adapter.fused_why
    assert ("local attention windows" in adapter.fused_why) == local
    # The check ran 2 rows through the fused blocks, then the batch itself.
    assert counter.calls == (1 if local else 2) * 2
    for hook in hooks:
        want = cache[hook]
        torch.testing.assert_close(got[hook], want, atol=1e-5, rtol=1e-5, msg=f"{name}: {hook}")
    for block in model.blocks:  # the model's own forward is back
        assert "forward" not in vars(block.attn)


def test_a_hook_on_the_pattern_runs_the_models_own_attention(
    tok: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny.hooked_transformer(tok)
    hooks = ["blocks.1.attn.hook_pattern", "blocks.1.hook_resid_post"]
    _, cache = model.run_with_cache(tokens, names_filter=hooks)
    adapter = ModelAdapter(model)
    adapter.capture_dataset(tokens[:2], ["blocks.0.hook_resid_post"])  # decides: both layers fused
    counter = _Counter(monkeypatch)
    got = adapter.capture_dataset(tokens, hooks)
    assert counter.calls == 1  # block 0 only; block 1 forms its pattern for the hook
    torch.testing.assert_close(got[hooks[0]], cache[hooks[0]])
    torch.testing.assert_close(got[hooks[1]], cache[hooks[1]], atol=1e-5, rtol=1e-5)


_SDPA = torch.nn.functional.scaled_dot_product_attention  # the real kernel, before any monkeypatch


def _scaled_twice(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kw: Any) -> torch.Tensor:
    return _SDPA(q, k, v, is_causal=True, scale=kw["scale"] ** 2)


def _raising(*args: Any, **kw: Any) -> torch.Tensor:
    raise RuntimeError("no kernel for these shapes")


@pytest.mark.parametrize(
    ("kernel", "warning", "why"),
    [
        (_scaled_twice, "fused forward differs", "differs from the model's own"),  # a mutant: wrong numbers
        (_raising, "no kernel for these shapes", "failed: RuntimeError"),  # as a TL with other shapes might
    ],
)
def test_a_fused_forward_that_fails_the_check_is_refused_with_the_reason(
    tok: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch, kernel: Any, warning: str, why: str
) -> None:
    """The pass falls back, warns with the gap or the error, and its numbers are the model's own."""
    monkeypatch.setattr(sdpa_attention.F, "scaled_dot_product_attention", kernel)
    model = tiny.hooked_transformer(tok)
    hook = "blocks.1.hook_resid_post"
    _, cache = model.run_with_cache(tokens, names_filter=[hook])
    adapter = ModelAdapter(model)
    with pytest.warns(UserWarning, match=warning):
        got = adapter.capture_dataset(tokens, [hook])[hook]
    assert adapter._fused == [] and why in adapter.fused_why
    assert torch.equal(got, cache[hook]) and all("forward" not in vars(b.attn) for b in model.blocks)


def test_errors_inside_the_pass_restore_the_models_forward(tok: Any, tokens: torch.Tensor) -> None:
    model = tiny.hooked_transformer(tok)

    def failing_pass() -> None:
        with sdpa_attention.fused_attention(model, [0, 1]):
            assert "forward" in vars(model.blocks[0].attn)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_pass()
    assert all("forward" not in vars(b.attn) for b in model.blocks)


def test_what_is_refused_and_why(tok: Any) -> None:
    capped = tiny.hooked_transformer(tok, attn_scores_soft_cap=50.0)
    assert "soft-capped scores" in str(sdpa_attention.fused_unsupported(capped, 0))
    half = tiny.hooked_transformer(tok, dtype=torch.bfloat16)
    assert "torch.bfloat16 weights" in str(sdpa_attention.fused_unsupported(half, 0))
    results = tiny.hooked_transformer(tok, use_attn_result=True)
    assert "use_attn_result" in str(sdpa_attention.fused_unsupported(results, 1))
    assert sdpa_attention.fused_unsupported(tiny.hooked_transformer(tok), 1) is None
    bridged = ModelAdapter(tiny.bridge(tok))
    bridged.capture_dataset(tiny.random_tokens(tok, batch=2, pos=8), ["blocks.0.hook_resid_post"])
    assert bridged._fused == [] and "TransformerBridge runs its own attention" in bridged.fused_why


def test_a_hooked_sae_transformer_gets_every_fast_path(
    tok: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SAELens's HookedSAETransformer (a HookedTransformer subclass, what SAELens users load),
    with the weights of a HookedTransformer: fused attention in passes, resuming at a later
    block (quick cards' rows, the last block at spots), the factored readout; and cards equal,
    to the bit, those of the HookedTransformer."""
    sae_lens = pytest.importorskip("sae_lens", reason="SAELens is not installed (the TransformerLens 4 env)")
    from featurecard.core.model import NormUnembed
    from featurecard.workspace import Workspace

    plain = tiny.hooked_transformer(tok)
    with warnings.catch_warnings():  # "HookedTransformer is deprecated" (TL 3.x)
        warnings.simplefilter("ignore", DeprecationWarning)
        sae_model = sae_lens.HookedSAETransformer(plain.cfg, tokenizer=tok)
    sae_model.load_state_dict(plain.state_dict())
    sae_model.eval()
    adapter = ModelAdapter(sae_model)
    assert adapter.can_resume and isinstance(adapter.final_readout(), NormUnembed)
    counter = _Counter(monkeypatch)
    hooks = _hooks(sae_model)
    got = adapter.capture_dataset(tokens, hooks)
    assert adapter._fused == [0, 1], adapter.fused_why
    assert counter.calls == 2 * 2  # the check's 2 rows and the batch, through both blocks
    _, cache = plain.run_with_cache(tokens, names_filter=hooks)
    for hook in hooks:
        torch.testing.assert_close(got[hook], cache[hook], atol=1e-5, rtol=1e-5, msg=hook)

    def cards(model: Any) -> list[Any]:
        sae = {**tiny.random_sae_weights(64, 48, seed=6), "hook_name": "blocks.0.mlp.hook_post"}
        ws = Workspace(model, saes={"s": sae}, tokens=tokens, progress=False)
        out = [ws.card_state("s", f, complete=False) for f in (3, 40)]
        assert ws._final_rows is not None and ws._final_rows.spots is not None  # rows resume at spots
        return [*out, ws.card_state("s", 3)]

    counter.calls = 0
    for got_card, want_card in zip(cards(sae_model), cards(plain), strict=True):
        assert repr(got_card) == repr(want_card)  # the same payload, bytes included
    assert counter.calls > 0  # the SAE model's dataset passes ran fused


NORMS = {"LN": "LayerNorm", "LNPre": "LayerNormPre", "RMS": "RMSNorm", "RMSPre": "RMSNormPre"}


@pytest.mark.parametrize("kind", list(NORMS))
@torch.no_grad()
def test_fused_norms_equal_transformer_lens_own(tok: Any, tokens: torch.Tensor, kind: str) -> None:
    """Each TransformerLens norm class, fused into one kernel, against its own forward (the model's
    ``run_with_cache``, through every block to the final residual and the logits)."""
    model = tiny.hooked_transformer(tok, normalization_type=kind)
    assert type(model.blocks[0].ln1).__name__ == NORMS[kind]
    hook = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    want_logits, cache = model.run_with_cache(tokens, names_filter=[hook])
    calls = {"layer_norm": 0, "rms_norm": 0}
    real = {k: getattr(sdpa_attention.F, k) for k in calls}

    def counting(name: str) -> Any:
        def kernel(*args: Any, **kwargs: Any) -> torch.Tensor:
            calls[name] += 1
            return real[name](*args, **kwargs)

        return kernel

    with pytest.MonkeyPatch.context() as mp:
        for k in calls:
            mp.setattr(sdpa_attention.F, k, counting(k))
        with sdpa_attention.fused_attention(model, [0, 1]):
            got_logits = model(tokens)
        fused = "layer_norm" if kind.startswith("LN") else "rms_norm"
        other = "rms_norm" if fused == "layer_norm" else "layer_norm"
        # ln1 once per block (TransformerLens calls it for q, k and v on one input), ln2, ln_final
        assert calls[fused] == 2 * model.cfg.n_layers + 1 and calls[other] == 0
        assert getattr(sdpa_attention._LAST, "norm", None) is None  # no norm output kept afterwards
        got = ModelAdapter(model).capture_dataset(tokens, [hook])[hook]
    scale = 1 + float(cache[hook].abs().max())
    assert float((got - cache[hook]).abs().max()) / scale < 1e-5
    assert float((got_logits - want_logits).abs().max()) / (1 + float(want_logits.abs().max())) < 1e-5
    assert all("forward" not in vars(m) for m in model.modules())


@torch.no_grad()
def test_a_hooked_norm_keeps_its_own_forward(tok: Any, tokens: torch.Tensor) -> None:
    """A hook on ``hook_scale`` (the node table freezes the final LayerNorm's scale there) sees
    the scale TransformerLens computes, and the module's output is its own to the bit."""
    model = tiny.hooked_transformer(tok)
    seen: list[torch.Tensor] = []
    name = "ln_final.hook_scale"

    def keep(x: torch.Tensor, hook: Any) -> None:
        del hook
        seen.append(x.clone())

    want = model.run_with_hooks(tokens, fwd_hooks=[(name, keep)])
    with sdpa_attention.fused_attention(model, []):
        unfused = model(tokens)
    with sdpa_attention.fused_attention(model, [0, 1]):
        got = model.run_with_hooks(tokens, fwd_hooks=[(name, keep)])
    assert torch.equal(unfused, want)  # no attention fused: no norm fused either
    assert len(seen) == 2 and float((seen[0] - seen[1]).abs().max()) < 1e-5
    assert float((got - want).abs().max()) / (1 + float(want.abs().max())) < 1e-5


@pytest.mark.parametrize("act_fn", ["gelu_new", "gelu_fast"])
@torch.no_grad()
def test_tanh_gelu_fused_equals_transformer_lens_own(tok: Any, tokens: torch.Tensor, act_fn: str) -> None:
    """GPT-2's GELU in TransformerLens's spellings runs as PyTorch's one tanh-GELU kernel inside
    a dataset pass (counted), equals the model's own forward (``hook_post`` and logits, 1e-5
    relative), and each MLP has its own activation back afterwards."""
    model = tiny.hooked_transformer(tok, act_fn=act_fn)
    own = [m.act_fn for m in model.modules() if hasattr(m, "act_fn")]
    hooks = [f"blocks.{L}.mlp.hook_post" for L in range(model.cfg.n_layers)]
    want_logits, cache = model.run_with_cache(tokens, names_filter=hooks)
    calls = {"n": 0}
    real = sdpa_attention.F.gelu

    def counting(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls["n"] += kwargs.get("approximate") == "tanh"
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sdpa_attention.F, "gelu", counting)
        with sdpa_attention.fused_attention(model, [0, 1]):
            got_logits = model(tokens)
        got = ModelAdapter(model).capture_dataset(tokens, hooks)
    assert calls["n"] >= 2 * model.cfg.n_layers
    for h in hooks:
        assert float((got[h] - cache[h]).abs().max()) / (1 + float(cache[h].abs().max())) < 1e-5
    assert float((got_logits - want_logits).abs().max()) / (1 + float(want_logits.abs().max())) < 1e-5
    assert [m.act_fn for m in model.modules() if hasattr(m, "act_fn")] == own
