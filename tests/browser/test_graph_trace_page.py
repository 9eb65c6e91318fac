"""Trace from here, in a real browser: the graph bundle in a plain page bridged to a real
ContributionGraph (page_bridge.py). A click on a block's "trace from here" asks the kernel, which
makes the NodeTable through the Workspace; the table is drawn below the graph by the node table's
own code, its target the clicked node, and its own trace button goes through the graph to the
same table (its trail grows). The exported file draws the traced table, and every trace action
says it needs a kernel.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from page_bridge import PageBridge, open_bridged, serve_harness
from pages import open_offline
from playwright.sync_api import expect

from featurecard.graph.widget import ContributionGraph

pytestmark = pytest.mark.browser
SYNCED = ("state", "target", "threshold", "selected", "card", "error", "busy", "nodes")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("graph-trace-harness"), ContributionGraph)


class Bridge(PageBridge):
    def __init__(self, page: Any, widget: ContributionGraph) -> None:
        super().__init__(page, widget, SYNCED)


def test_trace_from_a_block_opens_its_node_table_below_the_graph(
    browser: Any, site: str, ws: Any, artifacts: Path
) -> None:
    page, bridge, errors = open_bridged(browser, site, lambda p: Bridge(p, ws.graph(ws.tokens[0, :12], threshold=0.01)))
    w = bridge.w
    table = page.locator(".fc-g-traced")
    expect(table).to_be_hidden()
    node = page.locator("rect.fc-g-mlp").first
    _, layer, pos = (node.get_attribute("data-node") or "").split(":")
    node.click()
    button = page.locator(".fc-g-panel .fc-g-trace-node button.fc-g-trace")
    expect(button).to_have_text("trace from here")
    button.click()
    bridge.wait_python(lambda: w.traced is not None)
    traced = w.traced
    assert traced is not None
    target = traced.state["target"]
    assert target["node"]["kind"] == "write" and target["node"]["write_kind"] == "mlp"
    assert (target["node"]["layer"], target["position"]) == (int(layer), int(pos))
    # the traits came back before the reply: the table is drawn, by the node table's own code
    expect(table).to_be_visible()
    expect(table.locator(".nt-widget")).to_be_visible()
    expect(table.locator(".nt-target-desc")).to_have_text(target["description"])
    expect(table.locator(".nt-trace").first).to_be_visible()
    page.screenshot(path=str(artifacts / "graph-trace.png"), full_page=True)
    # the table's own trace goes through the graph to the same table: its trail grows
    table.locator(".nt-trace").first.click()
    bridge.wait_python(lambda: len(traced.trail) == 2)
    expect(table.locator(".nt-crumb")).to_have_count(2)
    assert w.error == "" and traced.error == ""
    # closing it asks the kernel, which drops it
    page.locator(".fc-g-close-trace").click()
    bridge.wait_python(lambda: w.traced is None)
    expect(table).to_be_hidden()
    assert not errors, errors
    page.close()


def test_the_export_draws_the_traced_table_and_says_tracing_needs_a_kernel(
    browser: Any, ws: Any, artifacts: Path
) -> None:
    graph = ws.graph(ws.tokens[0, :12], target=6)
    graph.trace({"kind": "head", "layer": 1, "head": 0, "pos": 6})
    out = graph.export_html(artifacts / "export-graph-trace.html")
    offline = open_offline(browser, out)
    root = offline.page.locator("#featurecard-root")
    table = root.locator(".fc-g-traced")
    expect(table.locator(".nt-target-desc")).to_contain_text("write of head L1 H0 at position 6")
    root.locator("rect.fc-g-attn").first.click()
    buttons = root.locator(".fc-g-panel button.fc-g-trace")
    assert buttons.count() > 2
    for i in range(buttons.count()):
        expect(buttons.nth(i)).to_be_disabled()
        assert "needs a running kernel" in (buttons.nth(i).get_attribute("title") or "")
    expect(root.locator(".fc-g-trace-needs-kernel")).to_have_text("trace from here: needs a running kernel")
    expect(table).to_contain_text("needs a running kernel")  # the table's own actions, offline
    offline.page.screenshot(path=str(artifacts / "export-graph-trace.png"), full_page=True)
    offline.assert_clean()
    offline.ctx.close()


def test_an_attention_nodes_heads_are_computed_when_it_is_opened(
    browser: Any, site: str, ws: Any, artifacts: Path
) -> None:
    """Heads on request (graph/promote.py), live: opening an attention node asks the kernel once;
    the heads it computed for that node are the ones drawn."""
    page, bridge, errors = open_bridged(browser, site, lambda p: Bridge(p, ws.graph(ws.tokens[0, :12], threshold=0.01)))
    w = bridge.w
    pr = w.data.promote
    assert pr is not None and not bool(pr.heads_done.any())
    node = page.locator("rect.fc-g-attn").last
    _, layer, pos = (node.get_attribute("data-node") or "").split(":")
    node.click()
    heads = page.locator(".fc-g-promote-panel details.fc-g-promote-node")
    expect(heads).to_have_count(int(w.state["n_heads"]))
    assert bool(pr.heads_done[int(layer), int(pos)]) and int(pr.heads_done.sum()) == 1
    asked = [r for r in bridge.replies if r.get("ok") and r.get("result") == {"layer": int(layer), "pos": int(pos)}]
    assert len(asked) == 1 and w.error == ""
    page.locator(".fc-g-panel").screenshot(path=str(artifacts / "graph-attention-panel.png"))
    assert not errors, errors
    page.close()
