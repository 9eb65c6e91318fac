"""Every panel, the hover tooltip and the navigation of the real bundle in Chromium, bridged
to a real FeatureCard (card_bridge.py): what the page shows is compared with the Python state.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from card_bridge import Bridge, open_card, serve_harness
from cards import live_features, shown_sequences, shown_tokens
from pages import assert_on_top, contrast_failures
from playwright.sync_api import expect

import tiny
from featurecard.core.codecs import decode_array
from featurecard.core.token_bytes import TokenBytes
from featurecard.workspace import Workspace

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("panels"))


def f3(x: float) -> str:
    return f"{x:.3f}"


def columns(page: Any) -> dict[str, Any]:
    """A fingerprint of each column as drawn."""
    return {
        "feature": page.locator(".fc-card").get_attribute("data-feature"),
        "left": page.locator(".fc-left-latents .fc-unit-id").all_text_contents(),
        "middle": page.locator(".fc-act-hist rect.fc-bar").count(),
        "logits": page.locator(".fc-logits-top td.fc-logit-val").all_text_contents(),
        "right": page.locator("span.fc-tok").count(),
    }


def expected(st: dict[str, Any]) -> dict[str, Any]:
    return {
        "feature": str(st["feature"]),
        "left": [str(i) for i in decode_array(st["left"]["latents"]["ids"])],
        "middle": int((decode_array(st["act_hist"]["counts"]) > 0).sum()),
        "logits": [f3(v) for v in decode_array(st["logits"]["top_values"])],
        "right": len(shown_tokens(st)),
    }


def wait_columns(page: Any, bridge: Bridge) -> None:
    want = expected(bridge.w.state)
    expect(page.locator(".fc-card")).to_have_attribute("data-feature", want["feature"])
    assert columns(page) == want


def sequence_texts(st: dict[str, Any], tb: TokenBytes) -> list[str]:
    """Reference text of every shown sequence: its tokens' bytes, decoded by Python."""
    ex = st["examples"]
    offs, rows = decode_array(ex["seq_offsets"]), decode_array(ex["seq_batch"])
    ids = decode_array(st["vocab_ids"])[decode_array(ex["tokens"])]
    return [
        b"".join(tb(ids[offs[s] : offs[s + 1]].tolist())).decode("utf-8", errors="backslashreplace")
        for s in range(len(rows))
    ]


def test_columns_and_tooltip_equal_the_python_state(browser: Any, site: str, ws: Any, artifacts: Path) -> None:
    f = live_features(ws, "mlp0", 1)[0]
    page, bridge, errors = open_card(browser, site, ws, f)
    st = bridge.w.state
    assert columns(page) == expected(st)
    # left: every table's ids and values
    for key in ("alignment", "neurons", "latents"):
        tab = st["left"][key]
        rows = page.locator(f".fc-left-{key} tbody tr")
        assert rows.locator(".fc-unit-id").all_text_contents() == [str(i) for i in decode_array(tab["ids"])]
        first = tab["values"] if key == "alignment" else tab["pearson"]
        assert rows.locator(".fc-bar-text").all_text_contents() == [f3(v) for v in decode_array(first)]
    # middle: histogram ticks are the state's, and 0 (the activation axis starts there)
    ticks = [float(t) for t in decode_array(st["act_hist"]["ticks"])]
    near = 0.08 * float(decode_array(st["act_hist"]["edges"])[-1])
    want = sorted({0.0, *(t for t in ticks if abs(t) >= near)})
    shown = [float(t) for t in page.locator(".fc-act-hist .fc-tick").all_text_contents()]
    assert shown == pytest.approx(want, abs=0.05)
    # right: titles, and each sequence's text is its tokens' bytes decoded by Python
    groups = shown_sequences(st)
    titles = page.locator(".fc-group-title").all_text_contents()
    assert [t.split(" · ")[0] for t in titles] == [t.split(" · ")[0] for t, _ in groups]
    shown = page.locator(".fc-seq").evaluate_all(
        "rows => rows.map(r => [...r.querySelectorAll('span.fc-tok')].map(s => s.dataset.text).join(''))"
    )
    texts = sequence_texts(st, TokenBytes(ws.adapter.model.tokenizer))
    assert shown == [texts[i] for _, idx in groups for i in idx]
    assert not any("\ufffd" in s for s in shown)

    # hover: a token where the unit fires
    hv = st["hover"]
    n_h = hv["loss_change"]["shape"][0]
    token_row = decode_array(hv["token_row"])
    t = int(np.flatnonzero(token_row < n_h)[0])
    h = int(token_row[t])
    span = page.locator(f'span.fc-tok[data-t="{t}"]')
    span.hover()
    tip = page.locator(".fc-tooltip")
    expect(tip).to_be_visible()
    assert_on_top(tip)
    vocab_local = int(decode_array(st["examples"]["tokens"])[t])
    assert tip.locator(".fc-tt-id").get_attribute("data-value") == str(int(decode_array(st["vocab_ids"])[vocab_local]))
    offs = decode_array(st["examples"]["seq_offsets"])
    s = int(np.searchsorted(offs, t, side="right") - 1)
    pos = int(decode_array(st["examples"]["seq_pos0"])[s]) + t - int(offs[s])
    assert tip.locator(".fc-tt-pos").get_attribute("data-pos") == str(pos)
    assert tip.locator(".fc-tt-pos").get_attribute("data-row") == str(int(decode_array(st["examples"]["seq_batch"])[s]))
    act = float(decode_array(st["examples"]["acts"])[t])
    assert float(tip.locator(".fc-tt-act .fc-tt-num").get_attribute("data-value")) == pytest.approx(act, abs=1e-6)
    loss = float(decode_array(hv["loss_change"])[h])
    got_loss = tip.locator(".fc-tt-loss .fc-tt-num").get_attribute("data-value")
    assert (np.isnan(loss) and got_loss == "NaN") or float(got_loss) == pytest.approx(loss, abs=1e-6)
    vocab = st["vocab"]
    for side in ("top", "bottom"):
        vals = [
            float(v) for v in tip.locator(f".fc-tt-{side} .fc-tt-num").evaluate_all("e => e.map(x => x.dataset.value)")
        ]
        assert vals == pytest.approx(decode_array(hv[f"{side}_values"])[h].astype(float).tolist(), abs=1e-6)
        toks = tip.locator(f".fc-tt-{side} .fc-tt-tok").evaluate_all("e => e.map(x => x.dataset.text)")
        want = [vocab[int(i)] for i in decode_array(hv[f"{side}_tokens"])[h]]
        assert [w if "\ufffd" not in w else g for w, g in zip(want, toks, strict=True)] == toks
    # the markers sit at the token's activation and at its token's direct logit
    marker = page.locator(".fc-act-hist .fc-marker")
    assert float(marker.get_attribute("data-value")) == pytest.approx(act, abs=1e-6)
    logit = float(decode_array(st["logits"]["vocab_values"])[vocab_local])
    assert float(page.locator(".fc-logit-hist .fc-marker").get_attribute("data-value")) == pytest.approx(
        logit, abs=1e-6
    )
    page.screenshot(path=str(artifacts / "panels-hover.png"))

    # a token at the card's bottom-right corner: the tooltip stays inside the card, on top
    last = page.locator("span.fc-tok").last
    last.scroll_into_view_if_needed()
    last.hover()
    expect(tip).to_be_visible()
    assert_on_top(tip)
    box, card = tip.bounding_box(), page.locator(".fc-card").bounding_box()
    assert box is not None and card is not None
    assert card["x"] <= box["x"] and box["x"] + box["width"] <= card["x"] + card["width"] + 0.5
    assert card["y"] <= box["y"] and box["y"] + box["height"] <= card["y"] + card["height"] + 0.5
    page.mouse.move(0, 0)
    expect(tip).to_be_hidden()
    assert not errors, errors
    page.close()


def test_index_arrow_link_and_history_update_all_columns_and_python(browser: Any, site: str, ws: Any) -> None:
    f0, f1 = live_features(ws, "mlp0", 2)
    page, bridge, errors = open_card(browser, site, ws, f0)
    timings: dict[str, float] = {}
    box = page.locator("input.fc-index")
    box.fill(str(f1))
    t0 = time.perf_counter()
    box.press("Enter")
    bridge.wait_python(lambda: bridge.w.feature == f1)
    wait_columns(page, bridge)
    timings["typed index"] = time.perf_counter() - t0
    target = min(f1 + 1, 47)
    page.locator(".fc-card").focus()
    page.keyboard.press("ArrowRight" if target > f1 else "ArrowLeft")
    bridge.wait_python(lambda: bridge.w.feature == target)
    wait_columns(page, bridge)
    page.locator("button.fc-prev").click()
    bridge.wait_python(lambda: bridge.w.feature == target - 1)
    wait_columns(page, bridge)
    link = page.locator(".fc-left-latents button.fc-link").first
    g = int(link.inner_text())
    t0 = time.perf_counter()
    link.click()
    bridge.wait_python(lambda: bridge.w.feature == g)
    wait_columns(page, bridge)
    timings["correlated latent"] = time.perf_counter() - t0
    # back: the previous card is drawn at once, then the kernel confirms it
    t0 = time.perf_counter()
    page.locator("button.fc-back").click()
    expect(page.locator(".fc-card")).to_have_attribute("data-feature", str(target - 1))
    timings["back (cached)"] = time.perf_counter() - t0
    bridge.wait_python(lambda: bridge.w.feature == target - 1)
    wait_columns(page, bridge)
    page.locator(".fc-card").focus()
    page.keyboard.press("]")
    bridge.wait_python(lambda: bridge.w.feature == g)
    wait_columns(page, bridge)
    # a correlated neuron opens the hook's neuron card in the same widget
    n = int(page.locator(".fc-left-neurons button.fc-link").first.inner_text())
    page.locator(".fc-left-neurons button.fc-link").first.click()
    bridge.wait_python(lambda: (bridge.w.source, bridge.w.feature) == ("blocks.0.mlp.hook_post", n))
    expect(page.locator(".fc-unit")).to_have_text("neuron")
    assert bridge.w.state["unit"] == "neuron" and bridge.w.error == ""
    d_mlp = bridge.w.state["n_features"]
    expect(page.locator(".fc-feature")).to_have_text(f"neuron {n} / {d_mlp} of blocks.0.mlp.hook_post")
    # its correlated neurons are its correlated units: one table, not two
    left_titles = page.locator(".fc-col-left .fc-panel-title").all_text_contents()
    assert [t for t in left_titles if t.startswith("Correlated")] == ["Correlated neurons (same hook)"]
    page.locator("button.fc-back").click()
    bridge.wait_python(lambda: (bridge.w.source, bridge.w.feature) == ("mlp0", g))
    wait_columns(page, bridge)
    print("\n[timing] click -> all columns redrawn: " + ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in timings.items()))
    assert not errors, errors
    page.close()


def test_search_and_random_run_in_python(browser: Any, site: str, ws: Any) -> None:
    f0 = live_features(ws, "mlp0", 1)[0]
    page, bridge, errors = open_card(browser, site, ws, f0)
    text = "The value of the argument is"
    search = page.locator("input.fc-search-box")
    search.fill(text)
    search.press("Enter")
    hits = ws.search("mlp0", text)["hits"]
    expect(page.locator("button.fc-hit")).to_have_count(len(hits))
    assert page.locator(".fc-hit-id").all_text_contents() == [f"#{h['feature']}" for h in hits]
    page.locator("button.fc-hit").nth(1).click()
    bridge.wait_python(lambda: bridge.w.feature == hits[1]["feature"])
    wait_columns(page, bridge)
    before = bridge.w.feature
    page.locator("button.fc-random").click()
    bridge.wait_python(lambda: bridge.w.feature != before)
    assert int(ws.index("mlp0").n_active[bridge.w.feature]) > 0
    wait_columns(page, bridge)
    search.fill("x" * 2001)
    search.press("Enter")
    expect(page.locator(".fc-error")).to_contain_text("search: ValueError: the query has 2001 characters")
    assert not errors, errors
    page.close()


def test_dead_latent_and_unavailable_panels_are_explained(
    browser: Any, site: str, tmp_path: Path, artifacts: Path
) -> None:
    tok = tiny.make_tokenizer(tmp_path)
    model = tiny.bridge(tok)
    w = dict(tiny.random_sae_weights(64, 16, seed=3))
    w["b_enc"] = w["b_enc"].clone()
    w["b_enc"][5] = -1e3  # latent 5 never fires
    sae = {**w, "hook_name": "blocks.0.mlp.hook_pre"}  # no linear path to the logits
    ws = Workspace(model, saes={"pre": sae}, tokens=tiny.random_tokens(tok), progress=False)
    page, bridge, errors = open_card(browser, site, ws, 5, source="pre")
    right = page.locator(".fc-col-right .fc-dead")
    expect(right).to_contain_text("unit 5 never activates")
    expect(page.locator(".fc-act-panel .fc-unavailable")).to_contain_text("never activates")
    expect(page.locator(".fc-logits .fc-unavailable")).to_contain_text("no linear path")
    expect(page.locator(".fc-panel-latents .fc-unavailable")).to_contain_text("correlates with nothing")
    expect(page.locator(".fc-left-alignment tbody tr")).to_have_count(3)  # its decoder weights still stand
    page.screenshot(path=str(artifacts / "panels-dead.png"))
    live = int(torch.argmax(ws.index("pre").n_active))
    box = page.locator("input.fc-index")
    box.fill(str(live))
    box.press("Enter")
    bridge.wait_python(lambda: bridge.w.feature == live)
    expect(page.locator(".fc-card")).to_have_attribute("data-feature", str(live))
    page.locator("span.fc-tok").first.hover()
    expect(page.locator(".fc-tooltip .fc-tt-note")).to_contain_text("no linear path")
    box.fill("99999")
    box.press("Enter")  # refused with the range, never clamped; the box shows the card again
    expect(page.locator(".fc-error")).to_have_text("index: 99999 is out of range: the index is 0 to 15")
    expect(box).to_have_value(str(live))
    page.wait_for_timeout(100)
    assert bridge.w.feature == live
    assert not errors, errors
    page.close()


def test_a_quick_card_asks_python_to_complete_it_and_redraws(browser: Any, site: str, tmp_path: Path) -> None:
    from cards import markup_workspace

    ws = markup_workspace(tmp_path)[0]  # a fresh Workspace: nothing indexed yet
    fresh = Workspace(ws.model, saes={"mlp0": ws.saes["mlp0"]}, tokens=ws.tokens, progress=False)
    page, bridge, errors = open_card(browser, site, fresh, 3)
    card = bridge.w
    assert fresh._capture is not None  # the card was drawn from a quick card first
    # The page drew the quick card and sent one "complete" request; Python built the index.
    bridge.wait_python(lambda: fresh.is_complete("mlp0") and card.state["pending"] == [], timeout=30)
    assert any(r.get("kind") == "fc-reply" and r.get("ok") for r in bridge.replies), bridge.replies
    bridge.push(("state",))  # the kernel's state echo
    want = [str(i) for i in decode_array(card.state["left"]["latents"]["ids"])]
    expect(page.locator(".fc-left-latents .fc-unit-id")).to_have_count(len(want))
    assert page.locator(".fc-left-latents .fc-unit-id").all_text_contents() == want
    expect(page.locator(".fc-panel-latents .fc-unavailable")).to_have_count(0)
    assert not errors, errors
    page.close()


def test_a_pending_panel_shows_the_builds_progress(browser: Any, site: str, ws: Any) -> None:
    """A pending panel shows the build's progress as a progress bar named for what it counts, with
    its line at 4.5:1; a null report hides it. The page draws a pending copy of Python's card (whose
    own card is complete, so its answer to the page's "complete" request changes nothing)."""
    page, bridge, errors = open_card(browser, site, ws, live_features(ws, "mlp0", 1)[0])
    st = bridge.portable(("state",))["state"]
    why = "being computed: this table ranks every latent, so it waits for the complete index"
    pending = {
        **st,
        "pending": ["latents"],
        "unavailable": {**st["unavailable"], "latents": why},
        "left": {**st["left"], "latents": None},
    }
    bridge._to_page({"state": pending, "build_progress": {"done": 420_000, "total": 1_000_000, "seconds": 22.5}})
    bar = page.locator(".fc-panel-latents").get_by_role("progressbar", name="indexing every latent")
    expect(bar).to_be_visible()
    assert bar.evaluate("e => [e.value, e.max, e.position]") == [420_000, 1_000_000, 0.42]
    line = "indexing every latent: 42 % · 18.7k tok/s · about 31 s left"
    expect(page.locator(".fc-panel-latents .fc-build-text")).to_have_text(line)
    assert contrast_failures(page.locator(".fc-card"), ".fc-build-text, .fc-panel-latents .fc-unavailable", 4.5) == []
    bridge._to_page({"build_progress": None})
    expect(page.locator(".fc-build")).to_be_hidden()
    assert not errors, errors
    page.close()
