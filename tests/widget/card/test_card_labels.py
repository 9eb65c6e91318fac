"""A card shows its latent's label and sets it (the ``label`` request), as the front end asks.

References: ``Workspace.labels`` (what the overview shows and labels.json holds) and the file
itself; the exported page's JSON, parsed back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import tiny
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor, tmp_path: Path) -> Workspace:
    a = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": HOOK}
    b = {**tiny.random_sae_weights(64, 30, seed=6), "hook_name": HOOK}
    return Workspace(model, saes={"mlp0": a}, sae_b={"mlp0": b}, tokens=tokens, progress=False, cache_dir=tmp_path)


def test_the_card_shows_sets_and_follows_the_label(ws: Workspace, ask: Any, tmp_path: Path) -> None:
    ws.label("mlp0", 4, "quotes <b>&</b>")
    card = ws.card("mlp0", feature=3)
    assert card.state["label"] == ""
    card.feature = 4
    assert card.state["label"] == "quotes <b>&</b>"  # the text as typed: the front end escapes it
    reply = ask(card, "label", text="  closing tags  ")
    assert reply["ok"] and reply["result"] == {"label": "  closing tags  "}
    assert ws.labels("mlp0") == {4: "  closing tags  "}
    assert card.state["label"] == "  closing tags  " and card.error == ""
    saved = json.loads((tmp_path / "labels.json").read_text())
    assert saved["saes"]["mlp0"]["labels"] == {"4": "  closing tags  "}
    ws.label("mlp0", 4, "from Python")  # set elsewhere: the shown card follows
    assert card.state["label"] == "from Python"
    ws.label("mlp0", 5, "another latent")
    assert card.state["label"] == "from Python"
    assert ask(card, "label", text="")["ok"] and ws.labels("mlp0") == {5: "another latent"}
    assert card.state["label"] == ""


def test_a_refused_label_is_an_error_and_keeps_the_card(ws: Workspace, ask: Any) -> None:
    card = ws.card("mlp0", feature=2)
    before = dict(card.state)
    reply = ask(card, "label", text="x" * 2001)
    assert reply["error"] == "ValueError: a label has at most 2000 characters; got 2001"
    assert card.error == reply["error"] and card.state == before
    assert ask(card, "label", text=7)["error"].startswith("TypeError: a label is a str")
    assert ws.labels("mlp0") == {}


def test_units_without_labels_say_so(ws: Workspace, ask: Any) -> None:
    neuron = ws.neuron_card(HOOK, 3)
    assert neuron.state["label"] is None
    assert ask(neuron, "label", text="a neuron")["error"].startswith("KeyError")
    card = ws.card("mlp0", feature=1)
    assert ask(card, "show", source="mlp0::B", feature=2)["ok"] and card.state["label"] is None


def test_exports_carry_the_labels(ws: Workspace, tmp_path: Path) -> None:
    ws.label("mlp0", 5, "five </script><script>alert(1)</script>")
    ws.label("mlp0", 9, "nine")
    out = ws.card("mlp0", feature=3).export_html(tmp_path / "c.html", features=[5, 9])
    page = out.read_text()
    assert "</script><script>alert(1)" not in page
    data = json.loads(page.split('id="featurecard-data">')[1].split("</script>")[0])
    assert [(s["feature"], s["label"]) for s in data["states"]] == [
        (3, ""),
        (5, "five </script><script>alert(1)</script>"),
        (9, "nine"),
    ]


@pytest.mark.parametrize("host", ["graph", "nodes"])
def test_a_card_inside_another_view_shows_and_sets_the_label(ws: Workspace, ask: Any, host: str) -> None:
    """The graph's and the node table's inline cards (their ``card`` trait, from
    ``Workspace.card_state``) carry the label, and their ``label`` request sets it."""
    ws.label("mlp0", 7, "from the overview")
    view = ws.graph("the cat sat", threshold=0.2) if host == "graph" else ws.nodes("the cat sat", position=2)
    assert ask(view, "select", source="mlp0", unit=7)["ok"], view.error
    assert view.card["label"] == "from the overview"
    reply = ask(view, "label", text="set <i>inside</i>")
    assert reply["ok"] and reply["result"] == {"label": "set <i>inside</i>"}
    assert ws.labels("mlp0") == {7: "set <i>inside</i>"} and view.card["label"] == "set <i>inside</i>"
    assert ask(view, "label", text=3)["error"].startswith("TypeError: a label is a str")
    assert ask(view, "select", source=HOOK, unit=2)["ok"]  # a neuron: no labels
    assert view.card["label"] is None
    assert ask(view, "label", text="x")["error"].startswith("KeyError")
