"""Hover effects against the model's own forward pass with the contribution removed."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import tiny
from featurecard.card import effects
from featurecard.card.effects import Readout, token_effects
from featurecard.core.model import ModelAdapter, NormUnembed, soft_cap


def test_effects_equal_a_patched_forward_pass(model: Any, tokens: torch.Tensor) -> None:
    _check_against_patched_forward(model, tokens, ModelAdapter(model).final_readout())


# The final norm kinds NormUnembed reproduces, and Gemma 2's final soft cap.
HOOKED = {"LN": {}, "LNPre": {"normalization_type": "LNPre"}, "RMS": {"normalization_type": "RMS"}}
HOOKED |= {"RMSPre": {"normalization_type": "RMSPre"}, "softcap": {"output_logits_soft_cap": 2.0}}


@pytest.mark.skipif(tiny.tl_major() >= 4, reason="HookedTransformer is gone in TransformerLens 4")
@pytest.mark.parametrize("name", sorted(HOOKED))
def test_the_factored_readout_equals_a_patched_forward_pass(tok: Any, name: str) -> None:
    model = tiny.hooked_transformer(tok, **HOOKED[name])
    tokens = tiny.random_tokens(tok, batch=4, pos=24)
    readout = ModelAdapter(model).final_readout()
    assert isinstance(readout, NormUnembed)  # one matmul, not the modules
    _check_against_patched_forward(model, tokens, readout)
    # The modules called (the route of other models) give the same effects.
    _check_against_patched_forward(model, tokens, lambda x: soft_cap(model.unembed(model.ln_final(x)), readout.softcap))


def _check_against_patched_forward(model: Any, tokens: torch.Tensor, readout: Readout) -> None:
    """Two units' effects made in one call (``which``), each token against its own patched pass."""
    final = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    g = torch.Generator().manual_seed(0)
    directions = torch.randn(2, model.cfg.d_model, generator=g)
    # 18 tokens of two units, interleaved, in two chunks of 16; position 23 has no next token.
    rows, poss = [0, 1, 2, 3, 0, 2] * 3, [5, 7, 23, 11, 3, 23, 1, 2, 3, 4, 5, 6, 20, 21, 22, 23, 0, 9]
    acts = torch.tensor([1.5, 0.7, 2.0, -0.4, 3.0, 0.9] * 3)
    which = torch.tensor([0, 0, 0, 0, 1, 1] * 3)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n == final)
        resid = torch.stack([cache[final][r, p] for r, p in zip(rows, poss, strict=True)])
        next_ids = torch.tensor(
            [int(tokens[r, p + 1]) if p + 1 < tokens.shape[1] else -1 for r, p in zip(rows, poss, strict=True)]
        )
        eff = token_effects(resid, acts, directions, readout, next_ids, k=5, chunk=16, which=which)
        clean_logits = model(tokens)
        for i, (r, p) in enumerate(zip(rows, poss, strict=True)):
            direction = directions[which[i]]

            def remove(x: torch.Tensor, hook: Any, p: int = p, a: float = float(acts[i]), d: Any = direction) -> Any:
                x = x.clone()
                x[:, p] -= a * d
                return x

            patched = model.run_with_hooks(tokens[r : r + 1], fwd_hooks=[(final, remove)])
            delta = torch.log_softmax(clean_logits[r, p], -1) - torch.log_softmax(patched[0, p], -1)
            ref = delta.topk(5)
            assert eff.top_ids[i].tolist() == ref.indices.tolist()
            torch.testing.assert_close(eff.top_values[i], ref.values, atol=1e-4, rtol=0)
            low = (-delta).topk(5)
            assert eff.bottom_ids[i].tolist() == low.indices.tolist()
            torch.testing.assert_close(eff.bottom_values[i], -low.values, atol=1e-4, rtol=0)
            if next_ids[i] >= 0:
                assert abs(float(eff.loss_change[i]) + float(delta[next_ids[i]])) < 1e-4
            else:
                assert torch.isnan(eff.loss_change[i])
    # One unit alone, and every token on its own (chunk=1: another BLAS kernel, another order
    # of the float32 sums), gives its tokens' numbers within the stated rounding bound.
    scale = torch.stack([clean_logits[r, p].abs().max() for r, p in zip(rows, poss, strict=True)])
    for one in (which == 1, torch.arange(18) == 17):  # a unit's tokens; one token
        for chunk in (16, 1):
            alone = token_effects(resid[one], acts[one], directions[1], readout, next_ids[one], k=5, chunk=chunk)
            _assert_within_rounding(alone, eff, one, scale[one])


def _assert_within_rounding(alone: Any, mixed: Any, one: torch.Tensor, scale: torch.Tensor) -> None:
    """``alone`` equals ``mixed``'s rows ``one`` within :data:`effects.ROUNDING_TOLERANCE` times
    (1 + the row's largest |logit|); token ids differ only where their values are that close."""
    tol = (effects.ROUNDING_TOLERANCE * (1 + scale))[:, None]
    for values, ids in (("top_values", "top_ids"), ("bottom_values", "bottom_ids")):
        got, want = getattr(alone, values), getattr(mixed, values)[one]
        assert bool(((got - want).abs() <= tol).all()), (values, float((got - want).abs().max()))
        same = getattr(alone, ids) == getattr(mixed, ids)[one]
        assert bool((same | ((got - want).abs() <= tol)).all())
    got, want = alone.loss_change, mixed.loss_change[one]
    assert torch.equal(got.isnan(), want.isnan())
    assert bool(((got - want).nan_to_num().abs() <= tol[:, 0]).all())


@pytest.mark.parametrize("v", [7, 64 * 5, 64 * 6 + 1, 5000, 50257])
def test_top_and_bottom_equal_topk(v: int) -> None:
    g = torch.Generator().manual_seed(v)
    x = torch.randn(9, v, generator=g)
    x[1] = torch.randint(0, 3, (v,), generator=g).float()  # ties everywhere
    x[2, -1], x[3, :64] = 1e9, -1e9  # the extreme in the columns past the last block; a whole block
    x[4, ::2] = float("-inf")
    (tv, ti), (bv, bi) = effects.top_and_bottom(x, 5)
    top, bottom = x.topk(5), x.topk(5, largest=False)
    assert torch.equal(tv, top.values) and torch.equal(bv, bottom.values)
    # Indices as topk's, and where ties make several right, pointing at the same values.
    assert torch.equal(x.gather(1, ti), tv) and torch.equal(x.gather(1, bi), bv)
    untied = [r for r in range(9) if r != 1]
    assert torch.equal(ti[untied][:, :1], top.indices[untied][:, :1])
    x[5, 3] = float("nan")  # NaN goes through topk whole: NaN counts as largest
    (tv, _), _ = effects.top_and_bottom(x, 5)
    assert torch.isnan(tv[5, 0]) and torch.equal(tv[6:], x[6:].topk(5).values)


@pytest.mark.skipif(tiny.tl_major() >= 4, reason="HookedTransformer is gone in TransformerLens 4")
def test_the_kept_readout_follows_in_place_edits_of_the_weights(tok: Any) -> None:
    model = tiny.hooked_transformer(tok)
    adapter = ModelAdapter(model)
    first = adapter.final_readout()
    assert isinstance(first, NormUnembed) and adapter.final_readout() is first  # folded once
    with torch.no_grad():
        model.ln_final.w.mul_(2.0)  # a user's edit in place
    again = adapter.final_readout()
    assert isinstance(again, NormUnembed) and again is not first
    torch.testing.assert_close(again.folded[0], model.ln_final.w[:, None] * model.unembed.W_U)
