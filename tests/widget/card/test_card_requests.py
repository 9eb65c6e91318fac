"""The card's requests (search, random), source switching and its state size, from Python."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.card.widget import FeatureCard
from featurecard.core.codecs import encode_array, payload_nbytes
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    a = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": HOOK}
    b = {**tiny.random_sae_weights(64, 30, seed=6), "hook_name": HOOK}
    return Workspace(model, saes={"mlp0": a}, sae_b={"mlp0": b}, tokens=tokens, progress=False)


def ask(card: FeatureCard, name: str, **args: Any) -> dict[str, Any]:
    sent: list[Any] = []

    def capture(content: Any, buffers: Any = None) -> None:
        del buffers
        sent.append(content)

    card.send = capture  # type: ignore[method-assign]
    card._handle_custom_msg({"kind": "fc-request", "id": "r1", "name": name, "args": args}, [])
    assert len(sent) == 1 and sent[0]["id"] == "r1" and sent[0]["kind"] == "fc-reply"
    json.dumps(sent[0])  # a reply is plain JSON
    return sent[0]


def test_search_ranks_latents_by_their_peak_on_the_text(model: Any, ws: Workspace) -> None:
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


def test_request_errors_come_back_as_replies(ws: Workspace) -> None:
    card = ws.card("mlp0", feature=0)
    assert ask(card, "search", text="   ")["error"].startswith("ValueError: type some text")
    assert "at most 2000" in ask(card, "search", text="x" * 2001)["error"]
    assert ask(card, "search", text="a", k="3")["error"].startswith("TypeError: k must be an int")
    assert ask(card, "nope")["error"] == "ValueError: unknown request 'nope'; known: ['complete', 'random', 'search']"


def test_random_gives_another_live_unit(ws: Workspace) -> None:
    card = ws.card("mlp0", feature=int(torch.argmax(ws.index("mlp0").n_active)))
    live = set(torch.nonzero(ws.index("mlp0").n_active > 0).flatten().tolist())
    seen = set()
    for _ in range(20):
        f = ask(card, "random")["result"]["feature"]
        assert f in live and f != card.feature
        seen.add(f)
    assert len(seen) > 1


def test_switching_source_to_neurons_and_encoder_b(ws: Workspace) -> None:
    card = ws.card("mlp0", feature=0)
    card.set_state({"source": HOOK, "feature": 63})  # what a click on a correlated neuron sends
    assert (card.source, card.state["unit"], card.state["feature"]) == (HOOK, "neuron", 63)
    assert card.state["n_features"] == 64
    card.set_state({"source": "mlp0::B", "feature": 29})
    assert card.state["source"] == "mlp0::B" and card.state["n_features"] == 30 and card.error == ""
    before = card.state
    card.set_state({"source": "mlp0", "feature": 40})  # 40 is fine for mlp0 (48 latents)
    assert card.state["feature"] == 40
    card.set_state({"source": "mlp0::B", "feature": 40})  # but not for B (30)
    assert "accepted 0 .. 29" in card.error and card.source == "mlp0" and card.feature == 40
    card.set_state({"source": "nowhere", "feature": 1})
    assert "neither an SAE" in card.error and card.source == "mlp0"
    assert card.state["feature"] == 40 and before["source"] == "mlp0::B"


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
