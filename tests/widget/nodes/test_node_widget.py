"""The NodeTable widget played from Python: binary state, the front end's requests, errors kept in view."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import traitlets

import tiny
from featurecard.core.codecs import decode_array, payload_nbytes, to_portable
from featurecard.nodes.payload import NODE_TABLE_TRAITS
from featurecard.nodes.widget import NodeTable
from featurecard.workspace import Workspace

T, D = 5, 7


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=10, seed=3)[0]


def test_state_is_binary_and_matches_the_computation(ws: Workspace, prompt: torch.Tensor) -> None:
    table = ws.nodes(prompt, target=T, distractor=D)
    assert isinstance(table, NodeTable) and table.error == "" and not table.busy
    st = table.state
    assert st["kind"] == "node_table" and st["target"]["position"] == 9 and table.position == 9
    assert isinstance(st["rows"]["values"]["buffer"], bytes)
    res = table.result
    assert res is not None
    np.testing.assert_array_equal(decode_array(st["rows"]["values"]), res.selection.values.numpy())
    np.testing.assert_array_equal(decode_array(st["rows"]["unit"]), res.selection.unit.numpy())
    assert [g["name"] for g in st["groups"]] == ["write_norm", "act_times_grad", "direct_effect", "activation"]
    assert st["sort_by"] == "direct_effect" and st["k"] == 10
    assert decode_array(st["vocab_ids"])[decode_array(st["prompts"][0]["tokens"])].tolist() == prompt.tolist()
    assert payload_nbytes(st) < 36_000  # ~20 kB of table, ~9 kB of promote / suppress / token read (issue #17)
    synced = {n for n in table.trait_names() if table.trait_metadata(n, "sync") and not n.startswith("_")}
    assert set(NODE_TABLE_TRAITS) <= synced


def test_position_and_ablations_recompute(ws: Workspace, prompt: torch.Tensor) -> None:
    table = ws.nodes(prompt, target=T, distractor=D)
    table.position = 4
    assert table.state["target"]["position"] == 4 and int(decode_array(table.state["rows"]["pos"]).max()) <= 4
    before = table.state["prompts"][0]["target"]
    table.ablate("mlp", unit=3, pos=4, layer=1)
    st = table.state
    assert st["ablations"] == [{"family": "mlp", "layer": 1, "unit": 3, "pos": 4, "mode": "zero"}]
    assert st["prompts"][0]["clean_target"] == pytest.approx(before)
    assert st["prompts"][0]["target"] != pytest.approx(before)
    table.clear_ablations()
    assert table.state["ablations"] == [] and table.state["prompts"][0]["target"] == pytest.approx(before)


def test_position_and_ablation_requests_recompute(ws: Workspace, prompt: torch.Tensor, ask: Any) -> None:
    table = ws.nodes(prompt, target=T, distractor=D)
    ref = ws.nodes(prompt, target=T, distractor=D, position=4)  # independent: a table made at position 4
    assert ask(table, "position", position=4)["result"] == {"position": 4, "ablations": []}
    assert table.position == 4 and table.state["target"]["position"] == 4 and table.error == "" and not table.busy
    for key in ("values", "unit", "pos"):
        np.testing.assert_array_equal(decode_array(table.state["rows"][key]), decode_array(ref.state["rows"][key]))
    before = table.state["prompts"][0]["target"]
    abl = [{"family": "mlp", "layer": 1, "unit": 3, "pos": 4}]
    reply = ask(table, "ablations", ablations=abl)
    full = [{"family": "mlp", "layer": 1, "unit": 3, "pos": 4, "mode": "zero"}]
    assert reply["result"] == {"position": 4, "ablations": full} and table.ablations == full
    assert table.state["ablations"] == full
    ref.ablate("mlp", unit=3, pos=4, layer=1)
    assert table.state["prompts"][0]["target"] == pytest.approx(ref.state["prompts"][0]["target"])
    assert table.state["prompts"][0]["target"] != pytest.approx(before)
    assert ask(table, "ablations", ablations=[])["ok"] and table.ablations == []
    assert table.state["prompts"][0]["target"] == pytest.approx(before)


def test_refused_requests_name_the_range_and_keep_the_table(ws: Workspace, prompt: torch.Tensor, ask: Any) -> None:
    table = ws.nodes(prompt, target=T, distractor=D)
    before = table.state
    reply = ask(table, "position", position=99)
    assert reply["error"] == "position 99 is out of range for a prompt of 10 tokens: accepted -10 .. 9" == table.error
    assert table.state is before and table.position == 9
    reply = ask(table, "ablations", ablations=[{"family": "mlp", "layer": 0, "unit": 640, "pos": 0}])
    assert "ablation unit 640 is out of range for mlp: accepted 0 .. 63" in reply["error"] and not reply["ok"]
    assert table.error == reply["error"] and table.state is before and table.ablations == []
    # a typo in a key, or a float index, is refused, never dropped or cast (a "mdoe" ran a zero ablation)
    bad = [{"family": "mlp", "layer": 0, "unit": 3, "pos": 0, "mdoe": "mean"}]
    assert "ablation has unknown keys ['mdoe']" in ask(table, "ablations", ablations=bad)["error"]
    assert "ablations is a list of dicts" in ask(table, "ablations", ablations={"family": "mlp"})["error"]
    assert table.state is before and table.ablations == []
    known = "known: ['ablations', 'back', 'label', 'position', 'random', 'search', 'select', 'trace', 'window']"
    assert ask(table, "sort")["error"] == f"ValueError: unknown request 'sort'; {known}" == table.error
    reply = ask(table, "select", family="attn", layer=0, unit=1)
    assert "attention heads have no feature card" in reply["error"] and table.card == {}
    assert ask(table, "position", position=-1)["ok"] and table.position == 9 and table.error == ""
    with pytest.raises(traitlets.TraitError, match=r"ablation has unknown keys \['mdoe'\]"):
        table.ablations = bad
    with pytest.raises(traitlets.TraitError, match=r"ablation unit must be an int; got 3\.5"):
        table.ablations = [{"family": "mlp", "layer": 0, "unit": 3.5, "pos": 0}]
    with pytest.raises(traitlets.TraitError, match=r"unknown keys \['mdoe'\]"):
        ws.nodes(prompt, target=T, distractor=D, ablations=bad)
    assert table.ablations == []
    table.set_state({"position": 99})  # a trait write, as bundles before the request protocol sent
    assert "accepted -10 .. 9" in table.error and table.position == 9


def test_clicking_a_latent_or_neuron_opens_its_card(ws: Workspace, prompt: torch.Tensor, ask: Any) -> None:
    table = ws.nodes(prompt, target=T, distractor=D)
    reply = ask(table, "select", family="mlp0", layer=0, unit=11)
    assert reply["result"] == {"selected": {"family": "mlp0", "layer": 0, "unit": 11}}
    assert table.error == "" and table.card["source"] == "mlp0" and table.card["feature"] == 11
    assert table.card["max_act"] == pytest.approx(float(ws.index("mlp0").max_act[11]), rel=1e-6)
    assert table.card_widget().state["feature"] == 11
    table.open_card("mlp", unit=7, layer=1)
    assert table.card["source"] == "blocks.1.mlp.hook_post" and table.card["unit"] == "neuron"
    card = table.card_widget()
    assert card.state["hook_name"] == "blocks.1.mlp.hook_post" and card.state["feature"] == 7
    assert ask(table, "select", source="mlp0", unit=12)["ok"]  # the open card's own navigation
    assert table.error == "" and table.card["source"] == "mlp0" and table.card["feature"] == 12
    open_card = table.card
    assert "neither an SAE" in ask(table, "select", source="nope", unit=1)["error"]
    assert "neither an SAE" in table.error and table.card is open_card
    assert ask(table, "select")["ok"] and table.card == {} and table.selected == {}
    table.open_card("mlp0", unit=3)
    table.selected = {}
    assert table.card == {}


def test_the_open_cards_search_and_random_are_answered_by_the_table(
    model: Any, ws: Workspace, prompt: torch.Tensor, ask: Any, check_hits: Any
) -> None:
    table = ws.nodes(prompt, target=T, distractor=D)
    assert "no card is open" in ask(table, "random")["error"]
    ask(table, "select", family="mlp", layer=1, unit=7)
    hook = "blocks.1.mlp.hook_post"
    text = "The value of the argument is"
    hits = ask(table, "search", text=text, k=6)["result"]["hits"]
    check_hits(hits, model, hook, lambda x: x, ws.index(hook).max_act, text, 6)
    ask(table, "select", family="mlp0", layer=0, unit=11)
    hits = ask(table, "search", text=text)["result"]["hits"]
    sae = ws.saes["mlp0"]
    check_hits(hits, model, sae.hook_name, sae.encode, ws.index("mlp0").max_act, text, 10)
    assert "type some text" in ask(table, "search", text=" ")["error"] and table.error == ""
    live = set(torch.nonzero(ws.index("mlp0").n_active > 0).flatten().tolist())
    seen = {ask(table, "random")["result"]["feature"] for _ in range(20)}
    assert seen <= live - {11} and len(seen) > 1 and table.card["feature"] == 11


def test_the_open_cards_rows_widen_through_the_table(ws: Workspace, prompt: torch.Tensor, ask: Any) -> None:
    table = ws.nodes(prompt, target=T, distractor=D)
    assert "no card is open" in ask(table, "window", row=0, position=3)["error"]
    ask(table, "select", family="mlp0", layer=0, unit=11)
    reply = ask(table, "window", row=1, position=20)  # the open card's unit
    assert reply["result"] == to_portable(ws.window("mlp0", 11, 1, 20))
    assert reply["result"]["start"] == 0 and reply["result"]["focus"] == 20
    refused = ask(table, "window", row=1, position=99)["error"]
    assert refused == "IndexError: position 99 is out of range: accepted 0 .. 23"
    assert table.error == "" and table.card["feature"] == 11


def test_a_failed_computation_keeps_the_last_good_state(
    ws: Workspace, prompt: torch.Tensor, monkeypatch: pytest.MonkeyPatch, ask: Any
) -> None:
    table = ws.nodes(prompt, target=T, distractor=D)
    before = table.state
    busy_inside: list[bool] = []

    def boom(position: int, ablations: Any = ()) -> Any:
        busy_inside.append(table.busy)
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(table._session, "compute", boom)
    reply = ask(table, "position", position=3)
    assert reply["error"] == "RuntimeError: CUDA out of memory (simulated)" == table.error
    assert table.state is before and table.position == 9 and busy_inside == [True] and not table.busy
    table.error = ""
    table.position = 3  # from Python: the same, and the position goes back to the shown table's
    assert table.state is before and table.error == "RuntimeError: CUDA out of memory (simulated)"
    assert not table.busy and table.position == before["target"]["position"]


def test_two_prompts_and_construction_errors(ws: Workspace, prompt: torch.Tensor, tok: Any) -> None:
    other = tiny.random_tokens(tok, batch=1, pos=10, seed=9)[0]
    table = ws.nodes(prompt, target=T, distractor=D, compare=other, k=3)
    st = table.state
    assert [p["label"] for p in st["prompts"]] == ["Left", "Right"]
    assert decode_array(st["rows"]["values"]).shape[:2] == (2, 4)
    assert decode_array(st["rows"]["profiles"]).shape[::2] == (2, 10)
    with pytest.raises(ValueError, match="same number of tokens"):
        ws.nodes(prompt, target=T, compare=other[:5])
    with pytest.raises(TypeError, match="unknown node-table options"):
        ws.nodes(prompt, target=T, colour="red")
    with pytest.raises(KeyError, match=r"SAEs \['x'\] are not in this Workspace"):
        ws.nodes(prompt, target=T, saes=["x"])
    with pytest.raises(traitlets.TraitError, match="out of range"):
        table.position = 10


def test_export_html_holds_the_table_and_the_open_card(ws: Workspace, prompt: torch.Tensor, tmp_path: Path) -> None:
    table = ws.nodes(prompt, target=T, distractor=D)
    table.open_card("mlp0", unit=11)
    page = table.export_html(tmp_path / "nodes.html").read_text()
    assert '"kind": "node_table"' in page and '"card": {' in page
    # css, bundle, data, provenance and the runtime: a token's "</script" never ends an element
    assert len(re.findall(r"</script", page, re.I)) == 5


def test_the_widget_and_its_state_import_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('torch', 'transformer_lens', 'sae_lens'):\n"
        "    sys.modules[name] = None\n"
        "import featurecard.nodes.payload, featurecard.nodes.widget\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
