"""Trace upstream in a real browser: the NodeTable bundle in a plain page bridged to a real
NodeTable (page_bridge.py). A roll-up row's "trace" button retargets the table on that row's
write (projected on the target's gradient there), a unit row's button goes one step further, the
breadcrumb grows with each step and its first crumb brings the table's own target back. Each table
drawn is checked against Python's state; the exported file says tracing needs a kernel.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from page_bridge import PageBridge, open_bridged, serve_harness
from pages import open_offline
from playwright.sync_api import expect

from featurecard.core.codecs import decode_array
from featurecard.nodes.widget import NodeTable

pytestmark = pytest.mark.browser
SYNCED = ("state", "position", "selected", "card", "ablations", "trail", "error", "busy")
T, D = 5, 7
NEEDS_KERNEL = "tracing needs a running kernel"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("nodes-trace-harness"), NodeTable)


class Bridge(PageBridge):
    python_timeout = 15.0

    def __init__(self, page: Any, widget: NodeTable) -> None:
        super().__init__(page, widget, SYNCED)


def _rows(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of a state: its kind, layer, unit, position and act × grad (first prompt)."""
    kinds = {f["code"]: f["kind"] for f in state["families"]}
    cols = {k: decode_array(state["rows"][k]) for k in ("family", "layer", "unit", "pos")}
    groups = [g["name"] for g in state["groups"]]
    atg = decode_array(state["rows"]["values"])[0, groups.index("act_times_grad")]
    return [
        {"index": j, "kind": kinds[int(cols["family"][j])], "atg": float(atg[j])}
        | {k: int(cols[k][j]) for k in ("layer", "unit", "pos")}
        for j in range(len(atg))
    ]


def test_trace_a_rollup_then_a_unit_and_back_by_the_breadcrumb(
    browser: Any, site: str, ws: Any, artifacts: Path
) -> None:
    table = ws.nodes(ws.tokens[0, :12], target=T, distractor=D)
    first = table.state["target"]
    page, bridge, errors = open_bridged(browser, site, lambda p: Bridge(p, table), width=1200)
    trail = page.locator("nav.nt-trail")
    expect(trail).to_be_hidden()  # one target: nothing to go back to
    # a head summed over its sources, in the last layer: its trace button
    heads = [r for r in _rows(table.state) if r["kind"] == "head"]
    head = max(heads, key=lambda r: (r["layer"], abs(r["atg"])))
    page.locator(f"tr.nt-row.nt-kind-head[data-index='{head['index']}'] button.nt-trace").click()
    bridge.wait_python(lambda: len(table.trail) == 2)
    target = table.state["target"]
    assert table.error == "" and target["node"]["kind"] == "write" and target["node"]["head"] == head["unit"]
    assert table.state["prompts"][0]["target"] == pytest.approx(head["atg"], rel=1e-4, abs=1e-6)
    want = f"write of head L{head['layer']} H{head['unit']} at position {head['pos']} · ∂["
    assert target["description"].startswith(want)
    expect(page.locator(".nt-target-desc")).to_have_text(target["description"])
    expect(trail).to_be_visible()
    expect(trail.locator(".nt-crumb")).to_have_count(2)
    expect(trail.locator(".nt-crumb-current")).to_have_text(target["description"])
    n = int(table.state["rows"]["family"]["shape"][0])
    expect(page.locator("tr.nt-row")).to_have_count(n)
    # one step further: a unit row of the traced table
    unit = next(r for r in _rows(table.state) if r["kind"] in ("mlp", "sae", "attn"))
    page.locator(f"tr.nt-row[data-index='{unit['index']}'] button.nt-trace").click()
    bridge.wait_python(lambda: len(table.trail) == 3)
    assert table.error == "" and table.state["target"]["node"]["pos"] == unit["pos"]
    expect(page.locator(".nt-target-desc")).to_have_text(table.state["target"]["description"])
    expect(trail.locator(".nt-crumb")).to_have_count(3)
    page.screenshot(path=str(artifacts / "nodes-trace.png"), full_page=True)
    # the first crumb: the table's own target again, the later steps gone
    trail.locator("button.nt-crumb[data-index='0']").click()
    bridge.wait_python(lambda: len(table.trail) == 1)
    assert table.state["target"] == first and table.trail[0]["node"] is None
    expect(page.locator(".nt-target-desc")).to_have_text(first["description"])
    expect(trail).to_be_hidden()
    assert table.position == first["position"]
    assert not errors, errors
    page.close()


def test_the_export_says_tracing_needs_a_kernel(browser: Any, ws: Any, artifacts: Path) -> None:
    table = ws.nodes(ws.tokens[0, :12], target=T, distractor=D)
    head = max((r for r in _rows(table.state) if r["kind"] == "head"), key=lambda r: r["layer"])
    spec = {"kind": "write", "write_kind": "attn", "layer": head["layer"], "head": head["unit"], "pos": head["pos"]}
    table._trace_request(node=spec)  # what the row's button asks
    out = table.export_html(artifacts / "export-nodes-trace.html")
    offline = open_offline(browser, out)
    root = offline.page.locator("#featurecard-root")
    expect(root.locator(".nt-target-desc")).to_have_text(table.state["target"]["description"])
    buttons = root.locator("button.nt-trace")
    n = buttons.count()
    assert n == root.locator("tr.nt-row").count()  # every row can be traced, roll-ups included
    assert root.locator("tr.nt-row.nt-kind-head button.nt-trace").count() > 0
    for i in range(n):
        expect(buttons.nth(i)).to_be_disabled()
        assert (buttons.nth(i).get_attribute("title") or "").startswith(f"{NEEDS_KERNEL}: what feeds ")
    crumb = root.locator("nav.nt-trail button.nt-crumb")
    expect(crumb).to_have_count(1)
    expect(crumb).to_be_disabled()
    assert crumb.get_attribute("title") == f"{NEEDS_KERNEL}: back to this target"
    offline.page.screenshot(path=str(artifacts / "export-nodes-trace.png"), full_page=True)
    offline.assert_clean()
    offline.ctx.close()
