"""Cards of bfloat16 / float16 models: computed in the model's dtype, sent as float32.

A bfloat16 model's card must equal the card of the same weights in float32 within 2e-2
(relative to the panel's scale) on activations and logit tables; tables may order tokens
differently only where their float32 values are that close (near-ties). The float32 model
here holds the bfloat16-rounded weights, so the two differ only in the arithmetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import featurecard as fc
import tiny
from featurecard.core.codecs import decode_array

TOL = 2e-2
HOOK = "blocks.0.mlp.hook_post"
KINDS = ["HookedTransformer", "TransformerBridge"] if tiny.tl_major() < 4 else ["TransformerBridge"]


def _models(tok: Any, kind: str, dtype: torch.dtype) -> tuple[Any, Any]:
    """The same weights as a float32 model and as a ``dtype`` model."""
    make = tiny.hooked_transformer if kind == "HookedTransformer" else tiny.bridge
    low, full = make(tok), make(tok)
    with torch.no_grad():
        for p in full.parameters():
            p.copy_(p.to(dtype).float())  # representable in dtype: only the arithmetic differs
    low.load_state_dict(full.state_dict())
    return full, low.to(dtype)


def _sae(dtype: torch.dtype) -> dict[str, Any]:
    w = tiny.random_sae_weights(64, 48, seed=2)
    return {k: v.to(dtype) for k, v in w.items()} | {"hook_name": HOOK}


def _acts_by_position(st: Any) -> dict[tuple[int, int], float]:
    ex = st["examples"]
    off, acts = decode_array(ex["seq_offsets"]), decode_array(ex["acts"])
    rows, starts = decode_array(ex["seq_batch"]), decode_array(ex["seq_pos0"])
    out = {}
    for i in range(len(rows)):
        for j in range(int(off[i]), int(off[i + 1])):
            out[(int(rows[i]), int(starts[i]) + j - int(off[i]))] = float(acts[j])
    return out


def _close(got: np.ndarray, want: np.ndarray, scale: float, what: str) -> None:
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL * scale, err_msg=what)


def _check_logits(low: Any, ref: Any, reference: np.ndarray) -> None:
    """Logit tables: values as float32's within TOL; each listed token's float32 logit (from
    ``reference``, every token's) within TOL of the value at its rank (ties may swap)."""
    scale = float(np.abs(reference).max())
    vocab_ids = decode_array(low["vocab_ids"])
    for side in ("top", "bottom"):
        got = decode_array(low["logits"][f"{side}_values"]).astype(np.float64)
        want = decode_array(ref["logits"][f"{side}_values"]).astype(np.float64)
        _close(got, want, scale, f"{side} logits")
        ids = vocab_ids[decode_array(low["logits"][f"{side}_tokens"])]
        _close(reference[ids], want, scale, f"{side} logit tokens (near-ties only)")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("complete", [False, True], ids=["quick", "complete"])
def test_low_precision_card_equals_float32_card(tok: Any, dtype: torch.dtype, kind: str, complete: bool) -> None:
    full, low = _models(tok, kind, dtype)
    assert next(low.parameters()).dtype == dtype
    tokens = tiny.random_tokens(tok, batch=8, pos=24)
    ws_full = fc.Workspace(full, saes={"s": _sae(torch.float32)}, tokens=tokens, progress=False)
    ws_low = fc.Workspace(low, saes={"s": _sae(dtype)}, tokens=tokens, progress=False)
    idx = ws_full.index("s")
    features = torch.argsort(idx.n_active, descending=True)[:3].tolist()
    w_dec = _sae(torch.float32)["W_dec"].double()
    w_u = full.W_U.detach().double()
    w_out = full.W_out[0].detach().double()
    for f in features:
        ref = ws_full.card_state("s", f)
        got = ws_low.card_state("s", f, complete=complete)
        scale = ref["max_act"]
        assert abs(got["max_act"] - scale) <= TOL * scale
        a_ref, a_got = _acts_by_position(ref), _acts_by_position(got)
        common = sorted(set(a_ref) & set(a_got))
        assert len(common) >= 0.5 * len(a_ref), "the examples must mostly show the same tokens"
        _close(np.array([a_got[k] for k in common]), np.array([a_ref[k] for k in common]), scale, "activations")
        # The top activations, in order, are float32's (the windows may differ on near-ties).
        top = ref["examples"]["groups"][0]["count"]
        focus = sorted((v for v in a_ref.values()), reverse=True)[:top]
        focus_low = sorted((v for v in a_got.values()), reverse=True)[:top]
        _close(np.array(focus_low), np.array(focus), scale, "top activations")
        _check_logits(got, ref, ((w_dec[f] @ w_out) @ w_u).numpy())
        hover = got["hover"]
        assert hover is not None and np.isfinite(decode_array(hover["top_values"]).astype(np.float32)).all()
    # A neuron's card works in the model's dtype too.
    neuron = ws_low.card_state("blocks.1.mlp.hook_post", 3)
    assert neuron["hover"] is not None and neuron["logits"] is not None
