"""ContributionGraph.to_dataframe: the kept edges (and nodes) at the current threshold, checked
against the pass's own tensors (``graph.data``: every share it computed), not the payload."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import torch

import tiny
from featurecard.workspace import Workspace

pd = pytest.importorskip("pandas")
PROMPT_POS = 12


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=PROMPT_POS, seed=4)[0]


def _check_edges(df: Any, data: Any, t: float) -> None:
    """Attention edges and residual edges are exactly the pass's shares above ``t``; the weights
    into each residual state sum to 1."""
    want_attn = {
        (int(layer), int(q), int(k)): float(s)
        for layer, q, k, s in zip(data.edge_layer, data.edge_query, data.edge_key, data.edge_share, strict=True)
        if s > t
    }
    attn = df[df["kind"] == "attn"]
    got_attn = {(int(r.dst_layer), int(r.dst_pos), int(r.src_pos)): r.share for r in attn.itertuples()}
    assert got_attn.keys() == want_attn.keys() and want_attn
    for key, share in want_attn.items():
        assert got_attn[key] == pytest.approx(share, rel=1e-6)
    resid = data.resid.numpy()  # [n_levels - 1, n_pos]
    want_resid = {(r + 1, q) for r in range(resid.shape[0]) for q in range(resid.shape[1]) if resid[r, q] > t}
    rows = df[df["kind"] == "resid"]
    assert {(int(r.dst_layer), int(r.dst_pos)) for r in rows.itertuples()} == want_resid
    assert ((rows["src_layer"] == rows["dst_layer"] - 1) & (rows["src_pos"] == rows["dst_pos"])).all()
    into = df[df["dst_node"] == "resid"].groupby(["dst_layer", "dst_pos"])["weight"].sum()
    assert into.to_numpy() == pytest.approx(1.0, abs=1e-5)


def test_edges_at_the_current_threshold(ws: Workspace, prompt: torch.Tensor) -> None:
    g = ws.graph(prompt, threshold=0.05)
    df = g.to_dataframe()
    assert list(df.columns)[:3] == ["kind", "src_node", "src_layer"] and len(df) == len(g.graph().edges)
    _check_edges(df, g.data, 0.05)
    levels = g.state["levels"]
    assert (
        df.loc[df["src_node"] == "resid", "src_label"]
        == [levels[i] for i in df.loc[df["src_node"] == "resid", "src_layer"]]
    ).all()
    assert (df["src_token"].map(len) > 0).all()
    # the route to the target: edges reached backwards from the target's last state
    reach = {("resid", len(levels) - 1, g.target)}
    changed = True
    while changed:
        before = len(reach)
        for r in df.itertuples():
            if (r.dst_node, r.dst_layer, r.dst_pos) in reach:
                reach.add((r.src_node, r.src_layer, r.src_pos))
        changed = len(reach) > before
    on = df.apply(lambda r: (r.dst_node, r.dst_layer, r.dst_pos) in reach, axis=1)
    assert (df["on_route"] == on).all() and df["on_route"].any() and not df["on_route"].all()

    g.threshold = 0.1  # a new threshold: a new frame
    higher = g.to_dataframe()
    assert len(higher) < len(df)
    _check_edges(higher, g.data, 0.1)


def test_nodes_sum_their_edges(ws: Workspace, prompt: torch.Tensor) -> None:
    g = ws.graph(prompt, threshold=0.05)
    edges, nodes = g.to_dataframe(), g.to_dataframe("nodes")
    keys = {(r.node, r.layer, r.pos) for r in nodes.itertuples()}
    ends = {(r.src_node, r.src_layer, r.src_pos) for r in edges.itertuples()}
    assert keys == ends | {(r.dst_node, r.dst_layer, r.dst_pos) for r in edges.itertuples()}
    for r in nodes.itertuples():
        w_in = edges[(edges.dst_node == r.node) & (edges.dst_layer == r.layer) & (edges.dst_pos == r.pos)]
        assert r.weight_in == pytest.approx(float(w_in["weight"].sum()))
    with pytest.raises(ValueError, match="accepted 'edges' or 'nodes'"):
        g.to_dataframe("routes")


def test_without_pandas_the_error_says_how_to_install_it(ws: Workspace, prompt: torch.Tensor, monkeypatch: Any) -> None:
    g = ws.graph(prompt, threshold=0.05)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"ContributionGraph.to_dataframe needs pandas.*pip install pandas"):
        g.to_dataframe()
