"""Trace upstream from the widget: a row's node spec becomes the target ('trace'), the trail of
targets followed (each one click away: 'back'), a node target moved by a token click, refusals
that keep the table. Each table is checked against one made independently by ``ws.nodes``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import featurecard as fc
import tiny
from featurecard.core.codecs import decode_array
from featurecard.workspace import Workspace

T, D = 5, 7


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=10, seed=3)[0]


def same_rows(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in ("family", "layer", "unit", "pos", "src", "values"):
        np.testing.assert_array_equal(decode_array(a["rows"][key]), decode_array(b["rows"][key]))


def first_row(state: dict[str, Any], kind: str) -> dict[str, int]:
    kinds = {f["code"]: f["kind"] for f in state["families"]}
    rows = state["rows"]
    fam = decode_array(rows["family"])
    j = next(i for i, c in enumerate(fam.tolist()) if kinds[c] == kind)
    return {k: int(decode_array(rows[k])[j]) for k in ("layer", "unit", "pos", "src")}


def test_trace_from_rows_and_back_along_the_trail(ws: Workspace, prompt: torch.Tensor, ask: Any) -> None:
    table = ws.nodes(prompt, target=T, distractor=D)
    first = table.state
    assert [s["node"] for s in table.trail] == [None] and table.trail[0]["description"] == first["target"][
        "description"
    ]
    r = first_row(first, "mlp")
    spec = {"kind": "neuron", "layer": r["layer"], "unit": r["unit"], "pos": r["pos"]}
    assert ask(table, "trace", node=spec)["result"] == {"trail": 2} and table.error == ""
    ref = ws.nodes(prompt, target=fc.node("neuron", **{k: v for k, v in spec.items() if k != "kind"}))
    same_rows(table.state, ref.state)
    target = table.state["target"]
    assert target["kind"] == "node" and target["node"]["kind"] == "neuron" and target["node"]["head"] is None
    assert target["description"] == f"MLP neuron L{r['layer']} n{r['unit']} at position {r['pos']}"
    assert table.position == r["pos"] and [s["node"] is None for s in table.trail] == [True, False]
    # a pair of the new table, traced on its key side (the payload's own spec keys, None included)
    a = first_row(ref.state, "attn") if r["layer"] == 1 else None
    if a is not None:
        pair = {**target["node"], "kind": "attn", "layer": a["layer"], "head": a["unit"], "unit": None}
        pair.update(pos=a["pos"], src=a["src"])
        reply = ask(table, "trace", node=pair, side="key")
        assert reply["ok"] and len(table.trail) == 3, reply
        node = fc.node("attn", layer=a["layer"], head=a["unit"], pos=a["pos"], src=a["src"])
        same_rows(table.state, ws.nodes(prompt, target=node, side="key").state)
        assert table.state["target"]["side"] == "key" and table.trail[-1]["side"] == "key"
    assert ask(table, "back", index=0)["ok"] and len(table.trail) == 1 and table.trail[0]["node"] is None
    same_rows(table.state, first)
    assert table.state["target"] == first["target"] and table.position == first["target"]["position"]


def test_a_node_target_moves_with_the_position_and_refusals_keep_the_table(
    ws: Workspace, prompt: torch.Tensor, ask: Any
) -> None:
    table = ws.nodes(prompt, target=fc.node("attn", layer=1, head=0, pos=8, src=2), side="query")
    assert table.position == 8 and table.state["target"]["side"] == "query" and table.trail[0]["position"] == 8
    assert ask(table, "position", position=6)["ok"] and table.state["target"]["node"]["pos"] == 6
    same_rows(table.state, ws.nodes(prompt, target=fc.node("attn", layer=1, head=0, pos=6, src=2), side="query").state)
    assert table.trail[-1]["position"] == 6 and len(table.trail) == 1
    before, trail = table.state, list(table.trail)
    reply = ask(table, "position", position=1)  # the source 2 would be after the query
    assert "node src 2 is after its query position 1" in reply["error"] and table.state is before
    reply = ask(table, "trace", node={"kind": "neuron", "layer": 5, "unit": 0, "pos": 3})
    assert "node layer 5 is out of range: accepted 0 .. 1" in reply["error"] == table.error
    assert table.state is before and table.trail == trail and table.position == 6
    assert "trace needs a node spec dict" in ask(table, "trace", node=[1])["error"]
    assert "node kind 'neron' is not one of" in ask(table, "trace", node={"kind": "neron", "pos": 1})["error"]
    assert "trail index 3 is out of range: accepted 0 .. 0" in ask(table, "back", index=3)["error"]
    assert ask(table, "position", position=7)["ok"] and table.state["target"]["node"]["pos"] == 7  # still the node


def test_an_export_carries_the_trail(ws: Workspace, prompt: torch.Tensor, ask: Any, tmp_path: Path) -> None:
    table = ws.nodes(prompt, target=T, distractor=D)
    assert ask(table, "trace", node={"kind": "latent", "source": "mlp0", "unit": 3, "pos": 4})["ok"]
    html = table.export_html(tmp_path / "t.html").read_text()
    assert "latent 3 of mlp0 at position 4" in html and '"trail"' in html
