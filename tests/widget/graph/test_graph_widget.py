"""The ContributionGraph widget played from Python: state, requests, errors kept in view, export."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import traitlets

import tiny
from featurecard.core.codecs import decode_array, payload_nbytes
from featurecard.core.schema import SCHEMA_VERSION
from featurecard.workspace import Workspace

PROMPT_POS = 12
HOOK = "blocks.0.mlp.hook_post"


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=PROMPT_POS, seed=4)[0]


def test_state_is_compact_binary_and_holds_edges_above_the_threshold(ws: Workspace, prompt: torch.Tensor) -> None:
    g = ws.graph(prompt, threshold=0.05)
    st = g.state
    assert st["schema_version"] == SCHEMA_VERSION and st["kind"] == "contribution_graph"
    assert st["n_pos"] == PROMPT_POS and g.target == PROMPT_POS - 1 and g.error == ""
    assert isinstance(st["edges"]["share"]["buffer"], bytes)  # binary, never JSON lists
    shares = decode_array(st["edges"]["share"])
    assert shares.size > 0 and (shares > 0.05).all()
    data = g.data  # every edge the pass kept: the state holds exactly those above the threshold
    assert shares.size == int((data.edge_share > 0.05).sum())
    lens = data.lens
    pr = data.promote  # only the strings shown travel: the prompt's, the lens's, promote / suppress's
    assert lens is not None and pr is not None and pr.mlp is not None
    shown = {*data.tokens.tolist(), *lens.top_ids.flatten().tolist(), *lens.up_ids.flatten().tolist()}
    shown |= set(lens.down_ids.flatten().tolist())
    for d in (pr.heads, pr.attn, pr.mlp, *(u.promote for u in data.units if u.promote is not None)):
        shown |= {*d.promote_ids.flatten().tolist(), *d.suppress_ids.flatten().tolist()}
    assert sorted(decode_array(st["vocab_ids"]).tolist()) == sorted(shown)
    assert {u["source"] for u in st["units"]} == {"blocks.0.mlp.hook_post", "blocks.1.mlp.hook_post", "mlp0"}
    assert payload_nbytes(st) < 60_000  # promote / suppress (heads, blocks, latents) is about 13 kB of it
    json.dumps({k: v for k, v in st.items() if k not in ("edges", "units", "lens")}, default=lambda _: None)


def test_threshold_changes_the_edges_and_routes_follow_python(ws: Workspace, prompt: torch.Tensor) -> None:
    g = ws.graph(prompt, threshold=0.04)
    n_04 = decode_array(g.state["edges"]["share"]).size
    g.threshold = 0.1
    assert g.state["threshold"] == pytest.approx(0.1)
    assert decode_array(g.state["edges"]["share"]).size < n_04
    routes = g.routes()
    assert routes and all(e.weight > 0 for e in routes)
    assert {e.dst for e in routes} >= {("resid", len(g.state["levels"]) - 1, g.target)}
    g.threshold = 0.005  # below the pass's keep_above (0.01): the model runs again
    assert g.data.keep_above == pytest.approx(0.005)
    assert decode_array(g.state["edges"]["share"]).size > n_04


def test_target_and_threshold_requests_set_the_traits(ws: Workspace, prompt: torch.Tensor, ask: Any) -> None:
    g = ws.graph(prompt, threshold=0.04)
    assert ask(g, "target", target=4) == {"kind": "fc-reply", "id": "r0", "ok": True, "result": {"target": 4}}
    assert g.target == 4 and g.error == "" and not g.busy
    assert {e.dst for e in g.routes()} >= {("resid", len(g.state["levels"]) - 1, 4)}
    assert ask(g, "target", target=-2)["result"] == {"target": PROMPT_POS - 2} and g.target == PROMPT_POS - 2
    reply = ask(g, "threshold", threshold=0.1)
    assert reply["result"] == {"threshold": 0.1} and g.threshold == pytest.approx(0.1)
    # independent: the pass's own shares, filtered by hand
    assert decode_array(g.state["edges"]["share"]).size == int((g.data.edge_share > 0.1).sum())
    assert g.state["threshold"] == pytest.approx(0.1) and g.error == ""


def test_refused_requests_name_the_range_and_keep_the_graph(ws: Workspace, prompt: torch.Tensor, ask: Any) -> None:
    g = ws.graph(prompt)
    before = g.state
    reply = ask(g, "threshold", threshold=2.0)
    assert reply["error"] == "threshold 2.0 is out of range: accepted 0 < threshold < 1" == g.error
    assert g.state is before and g.threshold == pytest.approx(0.04)
    reply = ask(g, "target", target=99)
    assert reply["error"] == f"target 99 is out of range for a prompt of {PROMPT_POS} tokens: accepted -12 .. 11"
    assert g.error == reply["error"] and g.target == PROMPT_POS - 1
    assert "out of range" in ask(g, "target", target="3")["error"] and g.target == PROMPT_POS - 1
    known = (
        "known: ['label', 'nodes', 'promote_heads', 'random', 'search', 'select', 'target', 'threshold', 'trace', "
        "'window']"
    )
    assert ask(g, "walk")["error"] == f"ValueError: unknown request 'walk'; {known}" == g.error
    assert ask(g, "target", target=3)["ok"] and g.error == ""  # a success clears the error
    with pytest.raises(traitlets.TraitError, match=r"accepted -12 \.\. 11"):
        g.target = 12
    with pytest.raises(traitlets.TraitError, match=r"accepted 0 < threshold < 1"):
        g.threshold = 0.0
    g.target = -2
    assert g.target == PROMPT_POS - 2


def test_a_failed_computation_keeps_the_last_state(
    ws: Workspace, prompt: torch.Tensor, monkeypatch: pytest.MonkeyPatch, ask: Any
) -> None:
    g = ws.graph(prompt)
    before = g.state
    busy_inside: list[bool] = []

    def boom(threshold: float) -> Any:
        busy_inside.append(g.busy)
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(g._session, "state", boom)
    reply = ask(g, "threshold", threshold=0.08)
    assert reply["error"] == "RuntimeError: CUDA out of memory (simulated)" == g.error
    assert g.state is before and g.threshold == pytest.approx(0.04) and not g.busy and busy_inside == [True]
    g.error = ""
    g.threshold = 0.08  # from Python: the same error, and the slider goes back to the shown graph
    assert g.state is before and g.error == "RuntimeError: CUDA out of memory (simulated)"
    assert g.threshold == pytest.approx(0.04) and not g.busy


def test_selecting_a_unit_opens_its_card(ws: Workspace, prompt: torch.Tensor, ask: Any) -> None:
    g = ws.graph(prompt)
    g.open_card("mlp0", 3)
    assert g.card["source"] == "mlp0" and g.card["feature"] == 3 and g.error == ""
    g.selected = {"source": "blocks.0.mlp.hook_post", "unit": 5}
    assert g.card["unit"] == "neuron" and g.card["feature"] == 5
    assert g.card_widget().feature == 5
    reply = ask(g, "select", source="mlp0", unit=7)
    assert reply["result"] == {"selected": {"source": "mlp0", "unit": 7}}
    assert g.selected == {"source": "mlp0", "unit": 7} and g.card["feature"] == 7 and g.card["source"] == "mlp0"
    assert g.card["max_act"] == pytest.approx(float(ws.index("mlp0").max_act[7]), rel=1e-6)
    card = g.card
    reply = ask(g, "select", source="mlp0", unit=4000)
    assert reply["error"] == "IndexError: feature 4000 is out of range for 'mlp0': accepted 0 .. 47" == g.error
    assert g.card is card and g.selected == {"source": "mlp0", "unit": 7}
    assert ask(g, "select")["ok"] and g.card == {} and g.selected == {} and g.error == ""
    g.open_card("mlp0", 2)
    g.selected = {}
    assert g.card == {}


def test_the_open_cards_search_and_random_are_answered_by_the_graph(
    model: Any, ws: Workspace, prompt: torch.Tensor, ask: Any, check_hits: Any
) -> None:
    g = ws.graph(prompt)
    assert ask(g, "search", text="the value")["error"] == "ValueError: no card is open: select a unit first"
    text = "The value of the argument is"
    ask(g, "select", source="mlp0", unit=7)
    reply = ask(g, "search", text=text, k=5)
    assert reply["ok"] and reply["result"]["source"] == "mlp0"
    check_hits(reply["result"]["hits"], model, HOOK, ws.saes["mlp0"].encode, ws.index("mlp0").max_act, text, 5)
    ask(g, "select", source=HOOK, unit=5)  # a neuron card searches the hook's neurons
    hits = ask(g, "search", text=text, k=4)["result"]["hits"]
    check_hits(hits, model, HOOK, lambda x: x, ws.index(HOOK).max_act, text, 4)
    assert ask(g, "search", text="a", k="3")["error"].startswith("TypeError: k must be an int")
    live = set(torch.nonzero(ws.index(HOOK).n_active > 0).flatten().tolist())
    seen = {ask(g, "random")["result"]["feature"] for _ in range(20)}
    assert seen <= live - {5} and len(seen) > 1
    assert g.error == "" and g.card["feature"] == 5  # asking is not showing: the card stays


def test_options_and_prompts_are_checked(ws: Workspace, tok: Any) -> None:
    with pytest.raises(TypeError, match=r"unexpected options \['colour'\]; accepted: \['chunk_elements'"):
        ws.graph("x", colour="red")
    with pytest.raises(ValueError, match=r"the prompt has 40 tokens; the model's context is n_ctx=32"):
        ws.graph(tiny.random_tokens(tok, batch=1, pos=40)[0])
    with pytest.raises(ValueError, match="threshold 0 is out of range"):
        ws.graph("The value", threshold=0)
    g = ws.graph("The value of the argument", target=1, neurons=False, logit_lens=False)
    assert g.target == 1 and g.state["lens"] is None
    # a text longer than n_ctx is refused with its real length, never cut to n_ctx
    long_text = " ".join(["The value of the argument"] * 12)
    n = int(ws.model.to_tokens(long_text, truncate=False).shape[1])
    assert n > 32
    with pytest.raises(ValueError, match=rf"the prompt has {n} tokens; the model's context is n_ctx=32"):
        ws.graph(long_text)
    # target is a position: a token string says so, instead of "out of range"
    with pytest.raises(
        TypeError, match=r"target is the token position .* an int in -(\d+) \.\. \d+ .* got ' value' \(str\)"
    ):
        ws.graph("The value of the argument", target=" value")
    assert ws.graph("The value of the argument", target=np.int64(2), neurons=False).target == 2
    assert all(u["unit"] == "latent" for u in g.state["units"])


def test_export_writes_one_offline_file(ws: Workspace, prompt: torch.Tensor, tmp_path: Path) -> None:
    g = ws.graph(prompt)
    g.open_card("mlp0", 2)
    page = g.export_html(tmp_path / "graph.html").read_text()
    data = re.search(r'<script type="application/json" id="featurecard-data">(.*?)</script>', page, re.S)
    assert data is not None
    payload = json.loads(data.group(1))
    assert payload["states"][0]["kind"] == "contribution_graph"
    assert payload["values"]["target"] == g.target and payload["values"]["card"]["feature"] == 2
    shares = decode_array(payload["states"][0]["edges"]["share"])  # base64 in the file
    np.testing.assert_array_equal(shares, decode_array(g.state["edges"]["share"]))


def test_graph_state_and_widget_import_without_torch() -> None:
    code = """
        import sys
        for name in ("torch", "transformer_lens", "sae_lens"):
            sys.modules[name] = None
        import featurecard.graph.payload
        from featurecard.graph.widget import ContributionGraph
        print("ok")
    """
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
