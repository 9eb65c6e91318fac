"""The ContributionGraph bundle in a plain page, bridged to a real widget in this process, and
its exported file opened offline.

The page's FakeModel stands in for the comm (as in test_harness.py): a request the page sends
runs the widget's handler, whose traits come back before its reply (page_bridge.py). The number
of edges the page draws is checked against Python's own routes (graphs.Graph.routes), so the
front end's threshold rule and route walk are compared with the Python ones in a real browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from page_bridge import PageBridge, open_bridged, serve_harness
from pages import assert_on_top, open_offline
from playwright.sync_api import expect

from featurecard.core.codecs import decode_array
from featurecard.core.token_bytes import TokenBytes, is_whole_text
from featurecard.graph.widget import ContributionGraph

pytestmark = pytest.mark.browser
SYNCED = ("state", "target", "threshold", "selected", "card", "error", "busy")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("graph-harness"), ContributionGraph)


class Bridge(PageBridge):
    """Python ContributionGraph <-> page FakeModel."""

    def __init__(self, page: Any, widget: ContributionGraph) -> None:
        super().__init__(page, widget, SYNCED)


def open_graph(browser: Any, site: str, ws: Any, **kw: Any) -> tuple[Any, Bridge, list[str]]:
    # the prompt holds markup tokens
    return open_bridged(browser, site, lambda page: Bridge(page, ws.graph(ws.tokens[0, :12], **kw)))


def test_graph_renders_and_a_token_click_sets_the_target(browser: Any, site: str, ws: Any, artifacts: Path) -> None:
    page, bridge, errors = open_graph(browser, site, ws)
    w = bridge.w
    expect(page.locator("svg.fc-g-svg")).to_be_visible()
    expect(page.locator(".fc-g-token")).to_have_count(12)
    expect(page.locator(".fc-g-edge")).to_have_count(len(w.routes()))
    assert len(w.routes()) > 0
    assert page.locator(".fc-graph b, .fc-graph i, .fc-graph img, .fc-graph script").count() == 0
    page.screenshot(path=str(artifacts / "graph-harness.png"), full_page=True)
    token = page.locator(".fc-g-token[data-pos='4']")
    token.click()
    bridge.wait_python(lambda: w.target == 4)
    bridge.push()
    expect(page.locator(".fc-g-token.fc-g-target")).to_have_attribute("data-pos", "4")
    expect(page.locator(".fc-g-edge")).to_have_count(len(w.routes()))
    assert not errors, errors
    page.close()


def test_the_slider_changes_the_drawn_edges_and_python_follows(browser: Any, site: str, ws: Any) -> None:
    page, bridge, errors = open_graph(browser, site, ws, threshold=0.02)
    w = bridge.w
    before = page.locator(".fc-g-edge").count()
    assert before == len(w.routes())
    page.locator("input.fc-g-threshold").fill("0.15")
    bridge.wait_python(lambda: w.threshold == pytest.approx(0.15))
    after = len(w.routes())
    assert after < before
    expect(page.locator(".fc-g-edge")).to_have_count(after)  # the page's own rule, before Python answers
    bridge.push()
    expect(page.locator(".fc-g-edge")).to_have_count(after)  # and with Python's new state
    expect(page.locator(".fc-g-threshold-value")).to_have_text("0.150")
    assert not errors, errors
    page.close()


def test_a_slider_below_the_graphs_floor_says_it_asks_for_a_recompute(browser: Any, site: str, ws: Any) -> None:
    page, bridge, errors = open_graph(browser, site, ws, threshold=0.04)
    w = bridge.w
    note = page.locator(".fc-g-floor")
    expect(note).to_be_hidden()  # at the floor: the graph holds the edges
    page.locator("input.fc-g-threshold").fill("0.01")
    expect(note).to_have_text("edges below 0.040 need a recompute: asked of the kernel")
    assert_on_top(note)
    bridge.wait_python(lambda: w.threshold == pytest.approx(0.01))
    bridge.push()
    expect(note).to_be_hidden()  # the kernel's new graph holds the edges above 0.01
    expect(page.locator(".fc-g-threshold-value")).to_have_text("0.010")
    expect(page.locator(".fc-g-edge")).to_have_count(len(w.routes()))
    assert not errors, errors
    page.close()


def test_an_error_is_shown_and_the_graph_stays(browser: Any, site: str, ws: Any) -> None:
    page, bridge, errors = open_graph(browser, site, ws)
    n = page.locator(".fc-g-edge").count()
    reply = bridge.ask("target", target=50)  # a refused request: the error comes back in the traits
    assert not reply["ok"] and bridge.w.target == 11
    banner = page.locator(".fc-g-error")
    expect(banner).to_contain_text("target 50 is out of range for a prompt of 12 tokens")
    assert_on_top(banner)
    expect(page.locator(".fc-g-edge")).to_have_count(n)
    assert not errors, errors
    page.close()


def test_an_mlp_node_opens_a_unit_card_inline(browser: Any, site: str, ws: Any) -> None:
    page, bridge, errors = open_graph(browser, site, ws, threshold=0.01)
    node = page.locator(".fc-g-mlp").first
    expect(node).to_be_visible()
    node.click()
    button = page.locator(".fc-g-panel button.fc-g-open-card").first
    expect(button).to_be_visible()
    unit, source = int(button.get_attribute("data-unit") or -1), button.get_attribute("data-source")
    button.click()
    bridge.wait_python(lambda: bridge.w.card.get("feature") == unit)
    assert bridge.w.card["source"] == source
    bridge.push()
    expect(page.locator(".fc-g-card .fc-card")).to_be_visible()
    expect(page.locator(".fc-g-card .fc-card")).to_contain_text(f"neuron {unit} / ")
    assert not errors, errors
    page.close()


def test_export_renders_offline_with_the_same_routes(browser: Any, ws: Any, artifacts: Path) -> None:
    graph = ws.graph(ws.tokens[0, :12], target=6)
    out = graph.export_html(artifacts / "export-graph.html")
    offline = open_offline(browser, out)
    page = offline.page
    root = page.locator("#featurecard-root")
    expect(root.locator(".fc-g-edge")).to_have_count(len(graph.routes()))
    root.locator(".fc-g-token[data-pos='2']").click()  # targets switch offline: no kernel needed
    graph.target = 2
    expect(root.locator(".fc-g-edge")).to_have_count(len(graph.routes()))
    assert root.locator("b, i, img, script").count() == 0
    page.screenshot(path=str(artifacts / "export-graph.png"), full_page=True)
    offline.assert_clean()
    offline.ctx.close()


def test_the_logit_lens_shows_a_byte_piece_as_the_card_does(browser: Any, ws: Any, tmp_path: Path) -> None:
    """A token that is only part of a character reads ``\\xNN`` in the logit lens, as in the card
    and in Python's own ``backslashreplace`` decoding of its bytes (it read "\ufffd": issue #16)."""
    graph = ws.graph(ws.tokens[0, :12], target=6)
    st = graph.state
    vocab_ids, top = decode_array(st["vocab_ids"]), decode_array(st["lens"]["top_tokens"])  # [level, pos, k]
    tb = TokenBytes(ws.adapter.model.tokenizer)
    raw = [[[tb.one(int(vocab_ids[v])) for v in top[lv, p]] for p in range(top.shape[1])] for lv in range(top.shape[0])]
    # a residual state whose top tokens hold a byte piece (the tiny vocabulary has 128 of them)
    mixed = [(lv, p) for lv, row in enumerate(raw) for p, b in enumerate(row) if not all(map(is_whole_text, b))]
    level, pos = mixed[0]
    want = [b.decode("utf-8", errors="backslashreplace") for b in raw[level][pos]]
    offline = open_offline(browser, graph.export_html(tmp_path / "graph.html"))
    root = offline.page.locator("#featurecard-root")
    root.locator(f".fc-g-resid[data-node='resid:{level}:{pos}']").click()
    cells = root.locator(".fc-g-lens-top tr td:first-child")
    expect(cells).to_have_count(len(want))
    got = cells.all_inner_texts()
    pieces = [i for i, b in enumerate(raw[level][pos]) if not is_whole_text(b)]
    assert pieces and all(want[i].startswith("\\x") for i in pieces)
    assert [got[i] for i in pieces] == [want[i] for i in pieces]
    assert not any("\ufffd" in g for g in got), got
    offline.assert_clean()
    offline.ctx.close()
