"""The node table's promote / suppress and token-read cells (issue #17 part 2) against
core/dynamics.py computed directly from the weights and activations captured by a plain
``run_with_cache`` (no SAE spliced, no hooks of the table's own)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.core import dynamics as dyn
from featurecard.core.codecs import decode_array
from featurecard.workspace import Workspace

T, D = 5, 7


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)


def _write(ws: Workspace, cache: Any, kind: str, L: int, u: int, p: int) -> torch.Tensor:
    m = ws.adapter.model
    if kind == "mlp":
        post = cache[f"blocks.{L}.mlp.hook_post"][0, p, u]
        return dyn.neuron_writes(m.W_out[L], torch.tensor([u]), post[None])[0]
    if kind in ("attn", "head"):
        return dyn.head_writes(m.W_O[L], cache[f"blocks.{L}.attn.hook_z"][0, p])[u]
    if kind == "attn_layer":
        return cache[dyn.block_write_hook(L, "attn")][0, p] - m.b_O[L]
    if kind == "mlp_layer":
        return cache[dyn.block_write_hook(L, "mlp")][0, p] - m.b_out[L]
    sae = ws.saes["mlp0"]
    x = cache[sae.hook_name][0, p : p + 1]
    if kind == "sae":
        return dyn.latent_writes(ws.adapter, sae, torch.tensor([u]), sae.encode(x)[:, u], x)[0]
    return dyn.error_writes(ws.adapter, sae, x)[0]


def test_promote_suppress_and_token_read_equal_core_dynamics_on_a_plain_run(ws: Workspace, tok: Any) -> None:
    prompt = tiny.random_tokens(tok, batch=1, pos=10, seed=3)[0]
    table = ws.nodes(prompt, target=T, distractor=D)
    st = table.state
    d = st["dynamics"]
    vocab_ids = decode_array(st["vocab_ids"]).astype(np.int64)
    kinds = {f["code"]: f["kind"] for f in st["families"]}
    fam, layer, unit, pos = (decode_array(st["rows"][k]).astype(int) for k in ("family", "layer", "unit", "pos"))
    model = ws.adapter.model
    _, cache = model.run_with_cache(prompt[None])
    readout = dyn.FrozenReadout.of(model)
    seen: set[str] = set()
    for j in range(len(fam)):
        kind, L, u, p = kinds[int(fam[j])], int(layer[j]), int(unit[j]), int(pos[j])
        want = dyn.token_dynamics(readout, _write(ws, cache, kind, L, u, p), cache["ln_final.hook_scale"][0, p])
        for side, ids, vals in (
            ("promote", want.promote_ids, want.promote_values),
            ("suppress", want.suppress_ids, want.suppress_values),
        ):
            got_v = decode_array(d[f"{side}_values"])[0, j]
            got_ids = vocab_ids[decode_array(d[f"{side}_ids"])[0, j]]
            np.testing.assert_allclose(got_v, vals.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=f"{kind} {side}")
            assert set(got_ids.tolist()) == set(ids.tolist()), (kind, side)
        if kind == "mlp":
            scale = cache[f"blocks.{L}.ln2.hook_scale"][0, p, 0]
            read = dyn.neuron_token_read(model, L, u, scale)
            assert not isinstance(read, str)
            np.testing.assert_allclose(decode_array(d["read_values"])[j], read.values.numpy(), rtol=1e-4, atol=1e-5)
            assert d["read_notes"][j] == read.through
        elif kind == "sae":  # an SAE on mlp.hook_post: the reason, no numbers
            assert "not the residual stream" in d["read_notes"][j]
            assert (decode_array(d["read_ids"])[j] == -1).all()
        else:
            assert d["read_notes"][j] == ""
        seen.add(kind)
    assert {"mlp", "attn", "sae", "error", "head", "attn_layer", "mlp_layer"} <= seen, seen


def _direct(model: Any, write: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Δlogits of a write from the weights: the final LayerNorm at its frozen scale, then W_U."""
    ln = model.ln_final
    centred = write - write.mean() if model.cfg.normalization_type in ("LN", "LNPre") else write
    return (centred / scale * (ln.w if hasattr(ln, "w") else 1.0)) @ model.W_U


def test_a_comparison_has_each_prompts_promote_suppress(ws: Workspace, tok: Any) -> None:
    """With ``compare=``, every row's promoted / suppressed tokens for each prompt equal the write
    of a plain run of that prompt through the frozen final-LN scale and W_U, by hand."""
    left, right = tiny.random_tokens(tok, batch=2, pos=10, seed=8)
    st = ws.nodes(left, target=T, distractor=D, compare=right).state
    d, k = st["dynamics"], st["dynamics"]["k"]
    vocab_ids = decode_array(st["vocab_ids"]).astype(np.int64)
    kinds = {f["code"]: f["kind"] for f in st["families"]}
    fam, layer, unit, pos = (decode_array(st["rows"][k_]).astype(int) for k_ in ("family", "layer", "unit", "pos"))
    model = ws.adapter.model
    assert decode_array(d["promote_values"]).shape == (2, len(fam), k)
    for b, prompt in enumerate((left, right)):
        _, cache = model.run_with_cache(prompt[None])
        for j in range(len(fam)):
            kind, L, u, p = kinds[int(fam[j])], int(layer[j]), int(unit[j]), int(pos[j])
            logits = _direct(model, _write(ws, cache, kind, L, u, p), cache["ln_final.hook_scale"][0, p, 0]).detach()
            top, bottom = logits.topk(k), (-logits).topk(k)
            for side, want_v, want_i in (
                ("promote", top.values, top.indices),
                ("suppress", -bottom.values, bottom.indices),
            ):
                got_v = decode_array(d[f"{side}_values"])[b, j]
                got_ids = vocab_ids[decode_array(d[f"{side}_ids"])[b, j]]
                np.testing.assert_allclose(got_v, want_v.numpy(), rtol=1e-4, atol=1e-5, err_msg=f"{b} {kind} {side}")
                assert set(got_ids.tolist()) == set(want_i.tolist()), (b, kind, side)
    ids = decode_array(d["promote_ids"])
    assert (ids[0] != ids[1]).any()  # the second prompt's lists are its own, not the first's
