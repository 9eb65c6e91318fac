"""Node tables and contribution graphs of bfloat16 / float16 models against the same weights in float32.

The cards of a half-precision model are checked in ``test_dtypes.py``; the prompt views run
other code (autograd through the model for the node table, the parts of every residual state
for the graph), so they get the same check: the half-precision model holds float32 weights
rounded to its dtype, the float32 model the same rounded weights, so the two differ only in the
arithmetic; every value column equals the float32 one within 2e-2 of its largest value
(half-precision sums and products), and nothing is NaN or infinite that float32 has finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from test_dtypes import KINDS, _models, _sae

import featurecard as fc
import tiny

TOL = 2e-2
PROMPT = "the cat sat on the mat and the dog"


def _workspaces(tok: Any, kind: str, dtype: torch.dtype) -> tuple[Any, Any]:
    full, low = _models(tok, kind, dtype)
    tokens = tiny.random_tokens(tok, batch=4, pos=16)
    ws_full = fc.Workspace(full, saes={"s": _sae(torch.float32)}, tokens=tokens, progress=False)
    ws_low = fc.Workspace(low, saes={"s": _sae(dtype)}, tokens=tokens, progress=False)
    return ws_full, ws_low


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("kind", KINDS)
def test_low_precision_node_table_equals_float32(tok: Any, dtype: torch.dtype, kind: str) -> None:
    """Every node's value in every group (``result.blocks``: all of them, not only the top rows)."""
    ws_full, ws_low = _workspaces(tok, kind, dtype)
    want, got = ws_full.nodes(PROMPT, position=5).result, ws_low.nodes(PROMPT, position=5).result
    assert want is not None and got is not None
    assert [(b.family, b.layer, b.shape()) for b in got.blocks] == [(b.family, b.layer, b.shape()) for b in want.blocks]
    groups = sorted(want.blocks[0].scalars)
    assert set(groups) >= {"act_times_grad", "direct_effect"}, groups
    for group in groups:
        pairs = [
            (b.scalars[group].double(), g.scalars[group].double()) for b, g in zip(want.blocks, got.blocks, strict=True)
        ]
        finite = [w[torch.isfinite(w)] for w, _ in pairs]
        scale = max((float(f.abs().max()) for f in finite if f.numel()), default=0.0)
        for (w, g), block in zip(pairs, want.blocks, strict=True):
            ok = torch.isfinite(w)
            what = f"{group} of family {block.family} layer {block.layer}"
            assert torch.isfinite(g[ok]).all(), f"{what}: non-finite where float32 is finite"
            np.testing.assert_allclose(g[ok].numpy(), w[ok].numpy(), rtol=TOL, atol=TOL * scale, err_msg=what)
    np.testing.assert_allclose(got.target.double().numpy(), want.target.double().numpy(), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("kind", KINDS)
def test_low_precision_graph_equals_float32(tok: Any, dtype: torch.dtype, kind: str) -> None:
    ws_full, ws_low = _workspaces(tok, kind, dtype)
    want = ws_full.graph(PROMPT, threshold=1e-6).to_dataframe("edges")
    got = ws_low.graph(PROMPT, threshold=1e-6).to_dataframe("edges")
    keys = ["kind", "src_label", "src_pos", "dst_label", "dst_pos"]
    w = want.set_index(keys)["share"]
    g = got.set_index(keys)["share"]
    assert w.index.is_unique and g.index.is_unique
    # Every edge float32 keeps clearly (share >= 2 TOL) is kept in half precision too.
    clear = w[w >= 2 * TOL]
    assert len(clear) > 10, "a graph with edges to compare"
    missing = sorted(set(clear.index) - set(g.index))
    assert not missing, f"edges lost in {dtype}: {missing[:5]}"
    common = w.index.intersection(g.index)
    assert len(common) >= 0.9 * len(w), "nearly every edge is kept by both"
    got_share, want_share = g.loc[common].to_numpy(np.float64), w.loc[common].to_numpy(np.float64)
    assert np.isfinite(got_share).all()
    # Shares are parts of a state's norm (0..1): half-precision parts within TOL of float32's.
    np.testing.assert_allclose(got_share, want_share, rtol=TOL, atol=TOL)
