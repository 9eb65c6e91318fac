"""The card's requests (show, search, random, complete, window) as the front end sends them, and its state size."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.core.codecs import decode_array, encode_array, payload_nbytes, to_portable
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    a = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": HOOK}
    b = {**tiny.random_sae_weights(64, 30, seed=6), "hook_name": HOOK}
    return Workspace(model, saes={"mlp0": a}, sae_b={"mlp0": b}, tokens=tokens, progress=False)


def test_search_ranks_latents_by_their_peak_on_the_text(model: Any, ws: Workspace, ask: Any) -> None:
    card = ws.card("mlp0", feature=0)
    text = "The value of the argument is"
    reply = ask(card, "search", text=text, k=5)
    assert reply["ok"], reply
    hits = reply["result"]["hits"]
    # independent: the model's own cache, the SAE's encode, a max over non-BOS positions
    toks = model.to_tokens(text)
    _, cache = model.run_with_cache(toks, names_filter=lambda n: n == HOOK)
    acts = ws.saes["mlp0"].encode(cache[HOOK][0, 1:]).detach()
    peak, where = acts.max(0)
    order = torch.argsort(peak, descending=True)[:5]
    assert [h["feature"] for h in hits] == [int(u) for u in order if peak[u] > 0]
    for h in hits:
        assert h["act"] == pytest.approx(float(peak[h["feature"]]), abs=1e-5)
        assert h["pos"] == int(where[h["feature"]]) + 1
        m = float(ws.index("mlp0").max_act[h["feature"]])
        assert h["frac"] == pytest.approx(h["act"] / m if m > 0 else 0.0, rel=1e-5)
    assert reply["result"]["n_tokens"] == toks.shape[1] - 1


def test_request_errors_come_back_as_replies(ws: Workspace, ask: Any) -> None:
    card = ws.card("mlp0", feature=0)
    assert ask(card, "search", text="   ")["error"].startswith("ValueError: type some text")
    assert "at most 2000" in ask(card, "search", text="x" * 2001)["error"]
    assert ask(card, "search", text="a", k="3")["error"].startswith("TypeError: k must be an int")
    assert card.error == ""  # a search's failure is shown in the search box only
    known = "known: ['complete', 'label', 'random', 'search', 'show', 'window']"
    assert ask(card, "nope")["error"] == f"ValueError: unknown request 'nope'; {known}"
    assert card.error == f"ValueError: unknown request 'nope'; {known}"
    reply = ask(card, "show", feature=1, colour="red")
    assert reply["error"] == "TypeError: request 'show' got unknown arguments ['colour']; accepted: source, feature"


def test_random_gives_another_live_unit(ws: Workspace, ask: Any) -> None:
    card = ws.card("mlp0", feature=int(torch.argmax(ws.index("mlp0").n_active)))
    live = set(torch.nonzero(ws.index("mlp0").n_active > 0).flatten().tolist())
    seen = set()
    for _ in range(20):
        f = ask(card, "random")["result"]["feature"]
        assert f in live and f != card.feature
        seen.add(f)
    assert len(seen) > 1


def test_window_widens_a_row_of_the_shown_unit_and_a_refusal_keeps_the_card(ws: Workspace, ask: Any) -> None:
    f = int(torch.argmax(ws.index("mlp0").n_active))
    card = ws.card("mlp0", feature=f)
    before = card.state
    reply = ask(card, "window", row=2, position=12)  # the source and the feature default to the shown ones
    assert reply["ok"], reply
    win = reply["result"]
    want = to_portable(ws.window("mlp0", f, 2, 12))  # tests/unit/card/test_expand.py checks it by hand
    assert win == want and (win["source"], win["feature"], win["start"], win["focus"]) == ("mlp0", f, 0, 12)
    assert decode_array(win["acts"]).shape == (24,)  # the whole row: 24 tokens, fewer than 41
    assert ask(card, "window", source=HOOK, feature=3, row=0, position=5)["result"]["source"] == HOOK
    reply = ask(card, "window", row=8, position=0)
    assert reply["error"] == "IndexError: row 8 is out of range: accepted 0 .. 7"
    reply = ask(card, "window", row=0, position=24)
    assert reply["error"] == "IndexError: position 24 is out of range: accepted 0 .. 23"
    assert ask(card, "window", row=0, position=1, feature=48)["error"].endswith("accepted 0 .. 47")
    assert card.error == "" and card.state is before and not card.busy  # the row says why; the card stays


def test_show_switches_to_neurons_and_encoder_b(ws: Workspace, ask: Any) -> None:
    card = ws.card("mlp0", feature=0)
    reply = ask(card, "show", source=HOOK, feature=63)  # what a click on a correlated neuron sends
    assert reply == {"kind": "fc-reply", "id": reply["id"], "ok": True, "result": {"source": HOOK, "feature": 63}}
    assert (card.source, card.feature, card.state["unit"], card.state["feature"]) == (HOOK, 63, "neuron", 63)
    assert card.state["n_features"] == 64 and not card.busy
    assert ask(card, "show", source="mlp0::B", feature=29)["ok"]
    assert card.state["source"] == "mlp0::B" and card.state["n_features"] == 30 and card.error == ""
    assert ask(card, "show", source="mlp0", feature=40)["ok"]  # 40 is fine for mlp0 (48 latents)
    before = card.state
    assert card.state["feature"] == 40
    reply = ask(card, "show", source="mlp0::B", feature=40)  # but not for B (30)
    assert reply["error"] == "feature 40 is out of range for 'mlp0::B': accepted 0 .. 29" == card.error
    assert (card.source, card.feature) == ("mlp0", 40) and card.state is before
    assert "neither an SAE" in ask(card, "show", source="nowhere", feature=1)["error"]
    assert "neither an SAE" in card.error and card.source == "mlp0" and card.state is before
    assert ask(card, "show", feature=2)["result"] == {"source": "mlp0", "feature": 2}  # the shown source
    assert card.error == "" and card.state["feature"] == 2


def test_show_sets_the_card_of_the_unit_and_a_bad_index_keeps_it(ws: Workspace, ask: Any) -> None:
    n_active = ws.index("mlp0").n_active
    f0, f1 = (int(i) for i in torch.argsort(n_active, descending=True)[:2])
    card = ws.card("mlp0", feature=f0)
    assert ask(card, "show", source="mlp0", feature=f1)["ok"]
    # independent: the index's own count and maximum for that latent
    assert card.feature == f1 and card.state["feature"] == f1
    assert card.state["max_act"] == pytest.approx(float(ws.index("mlp0").max_act[f1]), rel=1e-6)
    assert card.state["density"] == pytest.approx(float(n_active[f1]) / ws.index("mlp0").n_tokens, rel=1e-6)
    before = card.state
    for bad in (48, -1):
        reply = ask(card, "show", source="mlp0", feature=bad)
        assert not reply["ok"] and reply["error"] == f"feature {bad} is out of range for 'mlp0': accepted 0 .. 47"
        assert card.error == reply["error"] and card.state is before and card.feature == f1
    assert "feature must be an int" in ask(card, "show", source="mlp0", feature="3")["error"]
    assert card.state is before and not card.busy
    assert ask(card, "show", source="mlp0", feature=f1)["ok"] and card.error == ""  # asking the shown card clears it


def test_a_failed_computation_is_a_refused_request_that_keeps_the_card(
    ws: Workspace, ask: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = ws.card("mlp0", feature=0)
    before = card.state
    busy_inside: list[bool] = []

    def boom(name: str, feature: int, complete: bool = True) -> Any:
        busy_inside.append(card.busy)
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(ws, "card_state", boom)
    reply = ask(card, "show", source="mlp0", feature=5)
    assert reply["error"] == "RuntimeError: CUDA out of memory (simulated)" == card.error
    assert busy_inside == [True] and not card.busy  # busy while it ran, not after
    assert card.state is before and (card.source, card.feature) == ("mlp0", 0)
    monkeypatch.undo()
    assert ask(card, "show", source="mlp0", feature=5)["ok"] and card.error == "" and card.state["feature"] == 5


def test_export_values_let_the_file_switch_between_its_cards(ws: Workspace, tmp_path: Any) -> None:
    card = ws.card("mlp0", feature=3)
    out = card.export_html(tmp_path / "c.html", features=[5, 3, 9])
    page = out.read_text()
    data = json.loads(page.split('id="featurecard-data">')[1].split("</script>")[0])
    assert [s["feature"] for s in data["states"]] == [3, 5, 9]
    assert data["values"] == {"source": "mlp0", "live": False, "choices": [3, 5, 9]}


def test_payload_nbytes_counts_binary_and_json() -> None:
    obj = {"a": encode_array(np.arange(10), "int32"), "b": [1, "x"], "c": encode_array([1.0], "float16")}
    stripped = {"a": {"dtype": "int32", "shape": [10], "buffer": None}, "b": [1, "x"]}
    stripped["c"] = {"dtype": "float16", "shape": [1], "buffer": None}
    assert payload_nbytes(obj) == 40 + 2 + len(json.dumps(stripped).encode())
