"""The node table's layout and colours in Chromium, measured (bounding boxes and computed colours,
never a snapshot): at 800 and 1400 px nothing sticks out of the view unless it sits in a
scroller, the sort column is in view, the header and the Node / Token columns stay put when the
table scrolls, a two-prompt table shows one set of columns at a time, the table's height
follows its rows, the open card's row is marked and the card brought into view, and the
numbers read (WCAG >= 4.5:1) on their bars in light and dark themes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from page_bridge import PageBridge, open_bridged, serve_harness
from pages import LAB_DARK, TOPMOST_JS, assert_on_top, contrast_failures, overflowing, set_theme
from playwright.sync_api import expect

from featurecard.nodes.widget import NodeTable

pytestmark = pytest.mark.browser
SYNCED = ("state", "position", "selected", "card", "ablations", "error", "busy")
T, D = 5, 7
WIDTHS = (800, 1400)

# the sort column's header and the scroller's box, and whether the header is inside it
SORTED_JS = """root => {
  const sc = root.querySelector('.nt-scroll').getBoundingClientRect();
  const th = root.querySelector("th[aria-sort='ascending'], th[aria-sort='descending']");
  const r = th.getBoundingClientRect();
  return {key: th.dataset.key, inside: r.left >= sc.left - 0.5 && r.right <= sc.right + 0.5};
}"""


# a scroller's padding box: its left and top inside the border
INNER_JS = "s => { const r = s.getBoundingClientRect(); return [r.left + s.clientLeft, r.top + s.clientTop]; }"


class Bridge(PageBridge):
    python_timeout = 10.0

    def __init__(self, page: Any, widget: NodeTable) -> None:
        super().__init__(page, widget, SYNCED)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("nodes-layout"), NodeTable)


def compare_table(ws: Any) -> NodeTable:
    prompt = ws.tokens[0, :12]
    other = prompt.clone()
    other[3] = (prompt[3] + 1) % (int(ws.tokens.max()) + 1)  # a second prompt of the same length that differs
    assert not bool((other == prompt).all())
    table: NodeTable = ws.nodes(prompt, target=T, distractor=D, compare=other)
    return table


def one_table(ws: Any) -> NodeTable:
    table: NodeTable = ws.nodes(ws.tokens[0, :12], target=T, distractor=D)
    return table


def open_page(
    browser: Any, site: str, table: NodeTable, width: int, height: int = 900
) -> tuple[Any, Bridge, list[str]]:
    page, bridge, errors = open_bridged(browser, site, lambda p: Bridge(p, table), width=width)
    page.set_viewport_size({"width": width, "height": height})
    return page, bridge, errors


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_columns_fit_and_the_sort_column_is_in_view(browser: Any, site: str, ws: Any, width: int) -> None:
    page, _bridge, errors = open_page(browser, site, compare_table(ws), width)
    root = page.locator(".nt-widget")
    assert overflowing(root) == []
    keys = page.locator("th.nt-th-val").evaluate_all("a => a.map(t => t.dataset.key)")
    assert keys and all(k.endswith(":left") for k in keys), keys  # one set of columns: Left first
    for view in ("diff", "right", "left"):
        page.locator(f"button.nt-view[data-view='{view}']").click()
        keys = page.locator("th.nt-th-val").evaluate_all("a => a.map(t => t.dataset.key)")
        assert keys and all(k.endswith(f":{view}") for k in keys), keys
        sort = root.evaluate(SORTED_JS)
        assert sort["key"].endswith(f":{view}") and sort["inside"], sort
        assert_on_top(page.locator("th[aria-sort='descending'] button.nt-sort"))
        # at least one value column is wholly in view beside the Node and Token columns
        tops = page.locator("th.nt-th-val button").evaluate_all(f"a => a.map({TOPMOST_JS})")
        assert any(tops), tops
        assert overflowing(root) == []
    assert not errors, errors
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_header_and_node_columns_stick_when_the_table_scrolls(browser: Any, site: str, ws: Any, width: int) -> None:
    page, _bridge, errors = open_page(browser, site, compare_table(ws), width, height=500)
    scroll = page.locator(".nt-scroll")
    dims = scroll.evaluate("s => [s.scrollHeight, s.clientHeight, s.scrollWidth, s.clientWidth]")
    assert dims[0] > dims[1] + 100, f"the table must scroll down at 500 px high: {dims}"
    scroll.evaluate("s => { s.scrollTop = s.scrollHeight; s.scrollLeft = s.scrollWidth; }")
    scroll.evaluate("s => window.scrollTo(0, s.getBoundingClientRect().top + window.scrollY)")  # the page too
    page.wait_for_timeout(50)
    box = scroll.evaluate(
        "s => { const r = s.getBoundingClientRect(); return [r.left + s.clientLeft, r.top + s.clientTop]; }"
    )
    head = page.locator("thead th.nt-c1").bounding_box()
    assert head is not None and abs(head["y"] - box[1]) <= 1, (head, box)
    assert abs(head["x"] - box[0]) <= 1, (head, box)
    assert_on_top(page.locator("thead th.nt-c1 button"))
    assert_on_top(page.locator("thead th.nt-c2 button"))
    # the last row's Node and Token cells sit at the scroller's left, side by side
    name = page.locator("tr.nt-row td.nt-name").last.bounding_box()
    where = page.locator("tr.nt-row td.nt-where").last.bounding_box()
    assert name is not None and where is not None
    assert abs(name["x"] - box[0]) <= 1 and abs(where["x"] - (name["x"] + name["width"])) <= 1.5, (name, where)
    last = page.locator("tr.nt-row td.nt-name").last.locator("button, span").first
    assert_on_top(last)
    assert not errors, errors
    page.close()


def test_the_tables_height_follows_its_rows(browser: Any, site: str, ws: Any) -> None:
    page, _bridge, errors = open_page(browser, site, one_table(ws), 1400, height=1200)
    table_h = page.locator("table.nt-table").evaluate("t => t.getBoundingClientRect().height")
    scroll_h = page.locator(".nt-scroll").evaluate("s => s.clientHeight")
    assert table_h > 460, f"this table must be taller than the old 460 px cap: {table_h}"
    assert scroll_h >= min(table_h, 0.8 * 1200) - 2, (scroll_h, table_h)
    page.set_viewport_size({"width": 1400, "height": 600})  # a short window: the table scrolls
    page.wait_for_timeout(50)
    scroll_h = page.locator(".nt-scroll").evaluate("s => s.clientHeight")
    assert scroll_h <= max(320, 0.8 * 600) + 2, scroll_h
    assert not errors, errors
    page.close()


def test_the_open_cards_row_is_marked_and_the_card_in_view(browser: Any, site: str, ws: Any) -> None:
    page, bridge, errors = open_page(browser, site, one_table(ws), 800, height=700)
    latent = page.locator("tr.nt-row[data-family='mlp0'] button.nt-open").last
    name = latent.inner_text().strip()
    unit = int(name.split("#")[1])
    latent.click()
    bridge.wait_python(lambda: bool(bridge.w.card))
    bridge.push()
    card = page.locator(".nt-card-area .fc-card")
    expect(card).to_be_visible()
    page.wait_for_timeout(100)
    marked = page.locator("tr.nt-selected td.nt-name").all_text_contents()
    assert marked and {m.strip() for m in marked} == {name}, marked
    assert bridge.w.selected["unit"] == unit
    outlines = page.locator("tr.nt-row").evaluate_all(
        "a => a.map(tr => [tr.classList.contains('nt-selected'), getComputedStyle(tr).outlineStyle])"
    )
    assert all((style != "none") == sel for sel, style in outlines), outlines
    top = page.locator(".nt-card-area").evaluate("e => e.getBoundingClientRect().top")
    assert 0 <= top < 700 - 100, f"the card area starts at {top}, out of the 700 px view"
    assert "-0.000" not in page.locator(".nt-widget").inner_text()
    assert not errors, errors
    page.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_numbers_and_labels_read_on_their_bars(browser: Any, site: str, ws: Any, theme: str) -> None:
    table = compare_table(ws)
    page, _bridge, errors = open_page(browser, site, table, 1400)
    if theme == "dark":
        set_theme(page, LAB_DARK)
    for view in ("left", "diff"):
        page.locator(f"button.nt-view[data-view='{view}']").click()
        nums = page.locator(".nt-widget .nt-num:not(:empty)")
        assert nums.count() > 10
        assert page.locator(".nt-widget .nt-num.nt-posv, .nt-widget .nt-num.nt-neg").count() > 0
        bad = contrast_failures(page.locator(".nt-widget"), ".nt-num, .nt-label, .nt-open, .nt-view", 4.5)
        assert bad == [], bad[:5]
    assert not errors, errors
    page.close()
