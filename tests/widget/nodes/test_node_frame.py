"""NodeTable.to_dataframe: one row per node of the shown table, its values checked against the
model's own activations (run_with_cache) and the SAE's encode, not against the payload."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.workspace import Workspace

pd = pytest.importorskip("pandas")
T, D = 5, 7
HOOK = "blocks.0.mlp.hook_post"


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": HOOK}
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)


def _activations(ws: Workspace, prompt: torch.Tensor, df: Any, column: str) -> None:
    """Every row's ``column`` equals the activation computed here: a neuron's hook_post, an
    attention head's pattern (query -> source), a latent's encode of its hook."""
    model = ws.adapter.model
    _, cache = model.run_with_cache(prompt[None])
    sae = ws.source("mlp0")
    latents = sae.encode(cache[HOOK])[0].detach()
    checked = set()
    for row in df.itertuples(index=False):
        got = getattr(row, column) if column.isidentifier() else row[list(df.columns).index(column)]
        if row.kind == "mlp":
            want = cache[f"blocks.{row.layer}.mlp.hook_post"][0, row.position, row.unit]
        elif row.kind == "attn":
            want = cache[f"blocks.{row.layer}.attn.hook_pattern"][0, row.unit, row.position, int(row.source)]
        elif row.kind == "sae":
            want = latents[row.position, row.unit]
        else:
            continue
        assert got == pytest.approx(float(want), rel=1e-4, abs=1e-5), row
        checked.add(row.kind)
    assert checked == {"mlp", "attn", "sae"}, checked


def test_one_row_per_node_with_the_models_own_activations(ws: Workspace, tok: Any) -> None:
    prompt = tiny.random_tokens(tok, batch=1, pos=10, seed=3)[0]
    table = ws.nodes(prompt, target=T, distractor=D)
    df = table.to_dataframe()
    sel = table.result.selection  # type: ignore[union-attr]
    assert list(df.columns) == [
        *("family", "kind", "layer", "unit", "position", "source", "token"),
        *("write_norm", "act_times_grad", "direct_effect", "activation"),
    ]
    assert len(df) == int(sel.unit.shape[0]) > 0
    np.testing.assert_array_equal(df["unit"].to_numpy(), sel.unit.numpy())
    np.testing.assert_array_equal(df["position"].to_numpy(), sel.pos.numpy())
    attn = (df["kind"] == "attn").to_numpy()
    assert df["source"][~attn].isna().all() and (df["source"][attn].to_numpy() <= df["position"][attn]).all()
    assert set(df["family"]) <= {"mlp", "attn", "mlp0", "mlp0 error", "heads", "attn layer", "mlp layer"}
    rollups = df["kind"].isin(["head", "attn_layer", "mlp_layer"]).to_numpy()
    assert rollups.any() and df["activation"][rollups].isna().all()  # a sum of units has no activation
    _activations(ws, prompt, df, "activation")


def test_two_prompts_have_a_column_per_group_and_prompt(ws: Workspace, tok: Any) -> None:
    left, right = tiny.random_tokens(tok, batch=2, pos=10, seed=3)
    df = ws.nodes(left, target=T, distractor=D, compare=right).to_dataframe()
    assert [c for c in df.columns if c.startswith("activation")] == ["activation (Left)", "activation (Right)"]
    assert len(df.columns) == 7 + 2 * 4
    _activations(ws, left, df, "activation (Left)")
    _activations(ws, right, df, "activation (Right)")


def test_without_pandas_the_error_says_how_to_install_it(ws: Workspace, tok: Any, monkeypatch: Any) -> None:
    table = ws.nodes(tiny.random_tokens(tok, batch=1, pos=8, seed=1)[0], target=T)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"NodeTable.to_dataframe needs pandas.*pip install pandas"):
        table.to_dataframe()
