"""Trace from a graph node: the NodeTable it opens (through the Workspace) has that node as its
target, and the target's value equals the plain model's value of the node, computed here from
``run_with_cache`` and the weights (and, for units, the graph's own activation); the widget's
``trace`` / ``nodes`` requests, refusals that keep the graph, and the export carrying the table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import featurecard as fc
import tiny
from featurecard.core.codecs import decode_array
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"
N_POS = 10


@pytest.fixture
def sae_weights() -> dict[str, torch.Tensor]:
    return tiny.random_sae_weights(64, 48, seed=5)


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor, sae_weights: dict[str, torch.Tensor]) -> Workspace:
    return Workspace(model, saes={"mlp0": {**sae_weights, "hook_name": HOOK}}, tokens=tokens, progress=False)


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=N_POS, seed=3)[0]


def cache_of(model: Any, prompt: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        _, cache = model.run_with_cache(prompt[None])
    return {k: v[0].double() for k, v in cache.items()}


def traced_value(table: Any) -> float:
    return float(table.state["prompts"][0]["target"])


def group(g: Any, unit: str) -> Any:
    return next(u for u in g.data.units if u.unit == unit)


def test_every_graph_node_kind_traces_to_its_value_in_the_plain_model(
    ws: Workspace, prompt: torch.Tensor, model: Any, sae_weights: dict[str, torch.Tensor]
) -> None:
    g = ws.graph(prompt)
    c = cache_of(model, prompt)
    p = N_POS - 2
    W = {k: v.double() for k, v in sae_weights.items()}

    def check(node: object, want: float, kind: str) -> Any:
        table = g.trace(node)
        assert g.traced is table and table.state["target"]["kind"] == "node"
        assert table.state["target"]["node"]["kind"] == kind and table.state["target"]["position"] == p
        assert traced_value(table) == pytest.approx(want, rel=1e-5, abs=1e-6)
        return table

    # a neuron the graph lists, at its position: its activation (the graph's `act` column, too)
    neurons = group(g, "neuron")
    u, act = int(neurons.ids[p, 0]), float(neurons.acts[p, 0])
    layer = int(re.findall(r"\d+", neurons.hook_name)[0])
    want = float(c[f"blocks.{layer}.mlp.hook_post"][p, u])
    assert act == pytest.approx(want, rel=1e-5)
    check({"kind": "neuron", "layer": layer, "unit": u, "pos": p}, want, "neuron")
    # an SAE latent and the SAE's error node, by hand from its weights
    x = c[HOOK][p]
    f = torch.relu((x - W["b_dec"]) @ W["W_enc"] + W["b_enc"])
    latents = group(g, "latent")
    j = int(latents.ids[p, 0])
    assert float(latents.acts[p, 0]) == pytest.approx(float(f[j]), rel=1e-5)
    check({"kind": "latent", "source": "mlp0", "unit": j, "pos": p}, float(f[j]), "latent")
    err = float(torch.linalg.vector_norm(x - (f @ W["W_dec"] + W["b_dec"])))
    check({"kind": "error", "source": "mlp0", "pos": p}, err, "error")
    # a head at a (query, source) pair: its attention probability
    check(
        {"kind": "attn", "layer": 1, "head": 1, "pos": p, "src": 2},
        float(c["blocks.1.attn.hook_pattern"][1, p, 2]),
        "attn",
    )
    # a head summed over its sources, and the blocks: the norm of their write (no output bias)
    w_o = model.W_O.detach().double()
    head = c["blocks.1.attn.hook_z"][p, 0] @ w_o[1, 0]
    t = check({"kind": "head", "layer": 1, "head": 0, "pos": p}, float(head.norm()), "write")
    assert t.state["target"]["node"]["head"] == 0 and t.state["target"]["node"]["write_kind"] == "attn"
    desc = "write of head L1 H0 at position 8 · its own direction at this prompt: the value is the norm of the write"
    assert t.state["target"]["description"] == desc
    attn = c["blocks.0.hook_attn_out"][p] - model.b_O[0].detach().double()
    check(f"attn:0:{p}", float(attn.norm()), "write")
    mlp = c["blocks.1.hook_mlp_out"][p] - model.b_out[1].detach().double()
    check({"kind": "block", "block": "mlp", "layer": 1, "pos": p - N_POS}, float(mlp.norm()), "write")
    # an fc.node spec as it is
    check(fc.node("neuron", layer=layer, unit=u, pos=p), want, "neuron")
    # the traced table is the Workspace's own for that node
    ref = ws.nodes(prompt, target=fc.node("neuron", layer=layer, unit=u, pos=p))
    np.testing.assert_array_equal(
        decode_array(g.traced.state["rows"]["values"]), decode_array(ref.state["rows"]["values"])
    )


def test_nodes_without_a_target_and_bad_values_are_refused_with_the_reason(ws: Workspace, prompt: torch.Tensor) -> None:
    g = ws.graph(prompt)
    with pytest.raises(ValueError, match=r"residual state .* no node-table target"):
        g.trace("resid:2:3")
    with pytest.raises(ValueError, match=r"layer 7 is out of range: accepted 0 \.\. 1"):
        g.trace({"kind": "head", "layer": 7, "head": 0, "pos": 3})
    with pytest.raises(ValueError, match=rf"pos {N_POS} is out of range: accepted -{N_POS} \.\. {N_POS - 1}"):
        g.trace({"kind": "block", "block": "attn", "layer": 0, "pos": N_POS})
    with pytest.raises(TypeError, match=r"takes \['layer', 'head', 'pos'\]; unknown \['src'\]"):
        g.trace({"kind": "head", "layer": 0, "head": 0, "pos": 3, "src": 1})
    with pytest.raises(TypeError, match="kind"):
        g.trace({"kind": "resi"})
    assert g.traced is None and g.nodes == {}


def test_trace_requests_open_drive_and_close_the_inline_table(ws: Workspace, prompt: torch.Tensor, ask: Any) -> None:
    g = ws.graph(prompt)
    reply = ask(g, "trace", node={"kind": "head", "layer": 1, "head": 1, "pos": 6})
    assert reply["ok"] and g.error == "" and reply["result"]["trace"].startswith("write of head L1 H1 at position 6")
    nodes = g.nodes
    assert nodes["state"]["kind"] == "node_table" and len(nodes["trail"]) == 1 and nodes["busy"] is False
    assert set(nodes) >= {"state", "position", "selected", "card", "ablations", "trail", "error", "busy"}
    assert not set(nodes) & {"layout", "_esm", "tabbable"}
    # the table's own requests go through the graph: trace one step further, along its trail
    spec = {"kind": "neuron", "layer": 0, "unit": 3, "pos": 4}
    assert ask(g, "nodes", request="trace", args={"node": spec})["ok"]
    assert len(g.nodes["trail"]) == 2 and g.nodes["state"]["target"]["node"]["unit"] == 3
    assert g.nodes["trail"] == g.traced.trail and g.nodes["state"] is g.traced.state
    # its refusal is its own: the graph's error stays empty, the table's shows it, its table stays
    bad = ask(g, "nodes", request="trace", args={"node": {"kind": "neuron", "layer": 9, "unit": 0, "pos": 1}})
    assert not bad["ok"] and g.error == "" and g.nodes["error"] and len(g.nodes["trail"]) == 2
    assert ask(g, "nodes", request="back", args={"index": 0})["ok"] and len(g.nodes["trail"]) == 1
    # a card opens inside the inline table, and its own requests (search) go through too
    assert ask(g, "nodes", request="select", args={"source": "mlp0", "unit": 3})["ok"]
    assert g.nodes["card"]["source"] == "mlp0" and g.nodes["card"]["feature"] == 3
    hits = ask(g, "nodes", request="search", args={"text": "a b c", "k": 2})
    assert hits["ok"] and hits["result"] == ws.search("mlp0", "a b c", k=2)
    # a change made from Python reaches the inline table too
    g.traced.trace(fc.node("neuron", layer=0, unit=5, pos=4))
    assert g.nodes["state"]["target"]["node"]["unit"] == 5
    # a residual node is refused; the open table stays
    refused = ask(g, "trace", node={"kind": "resid"})
    assert not refused["ok"] and "no node-table target" in g.error and g.nodes["state"]["target"]["node"]["unit"] == 5
    assert ask(g, "trace")["ok"] and g.nodes == {} and g.traced is None
    assert not ask(g, "nodes", request="back", args={"index": 0})["ok"]


def test_the_export_carries_the_traced_table(ws: Workspace, prompt: torch.Tensor, tmp_path: Path) -> None:
    g = ws.graph(prompt)
    g.trace("mlp:1:5")
    page = g.export_html(tmp_path / "g.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="featurecard-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    nodes = data["values"]["nodes"]
    assert nodes["trail"][0]["description"].startswith("write of MLP layer 1 at position 5")
    assert nodes["state"]["kind"] == "node_table"
