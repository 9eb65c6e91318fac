"""The contribution graph's layout, colours and kernel-only controls in Chromium, measured
(bounding boxes and computed colours, never a snapshot), on an exported graph of a 24-token
prompt of long markup tokens: at 800 and 1400 px nothing sticks out of the view unless it sits
in a scroller, the panel moves below a narrow graph, the target token is scrolled into view,
"fit" brings the whole prompt in, labels are cut only without room; edges, nodes and text read
(WCAG: marks 3:1, text 4.5:1) in light and dark themes, marks on the background and on the grey
layer bands alike, and states off the routes are dimmer
than those on them; the hover box stays inside the visible graph and a click closes it; the
slider says why it stops at the graph's floor, and the card buttons are disabled with the
reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pages import (
    LAB_DARK,
    assert_on_top,
    contrast_failures,
    inside_visible,
    mark_contrast_failures,
    mark_contrasts,
    open_offline,
    overflowing,
    set_theme,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
WIDTHS = (800, 1400)
N_POS = 24

# each token label: its text, its full text (the title's quoted token), its width and its column's
LABELS_JS = """svg => {
  const xs = [...svg.querySelectorAll('.fc-g-token')].map(t => Number(t.getAttribute('x')));
  const col = xs.length > 1 ? xs[1] - xs[0] : Infinity;
  return [...svg.querySelectorAll('.fc-g-token')].map(t => ({
    label: t.firstChild.textContent, title: t.querySelector('title').textContent,
    width: t.getComputedTextLength(), col}));
}"""


@pytest.fixture(scope="module")
def short(ws: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    graph = ws.graph(ws.tokens[0, :12], threshold=0.04)
    path: Path = graph.export_html(tmp_path_factory.mktemp("graph-short") / "graph.html")
    return path


@pytest.fixture(scope="module")
def exported(ws: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    graph = ws.graph(ws.tokens[0, :N_POS], threshold=0.04)  # the target: the last token
    path: Path = graph.export_html(tmp_path_factory.mktemp("graph-layout") / "graph.html")
    return path


def open_at(browser: Any, path: Path, width: int, height: int = 900) -> Any:
    offline = open_offline(browser, path)
    offline.page.set_viewport_size({"width": width, "height": height})
    offline.page.wait_for_timeout(100)  # the columns follow the new width (a ResizeObserver)
    return offline


@pytest.mark.parametrize("width", WIDTHS)
def test_the_graph_fits_its_view_and_the_target_is_in_view(
    browser: Any, exported: Path, artifacts: Path, width: int
) -> None:
    offline = open_at(browser, exported, width)
    page = offline.page
    root, scroll = page.locator(".fc-graph"), page.locator(".fc-g-scroll")
    expect(page.locator(".fc-g-token")).to_have_count(N_POS)
    assert overflowing(root) == []
    g, panel = scroll.bounding_box(), page.locator(".fc-g-panel").bounding_box()
    box = root.bounding_box()
    assert g is not None and panel is not None and box is not None
    if width == 800:  # the panel below the graph, the graph the whole width
        assert panel["y"] >= g["y"] + g["height"] - 1, (g, panel)
        assert g["width"] >= 0.9 * box["width"], (g, box)
    else:  # beside it
        assert panel["x"] >= g["x"] + g["width"] - 1, (g, panel)
    target = page.locator(".fc-g-token.fc-g-target")
    expect(target).to_have_attribute("data-pos", str(N_POS - 1))
    seen = inside_visible(target, scroll)
    assert seen["ok"], seen
    page.screenshot(path=str(artifacts / f"graph-layout-{width}.png"), full_page=True)
    offline.assert_clean()
    offline.ctx.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_labels_are_cut_only_without_room_and_fit_brings_the_prompt_in(
    browser: Any, short: Path, exported: Path, width: int
) -> None:
    offline = open_at(browser, short, width)
    page = offline.page
    scroll = page.locator(".fc-g-scroll")
    labels = page.locator("svg.fc-g-svg").evaluate(LABELS_JS)
    for t in labels:
        assert t["width"] <= t["col"], t  # no label runs into the next column
        if t["label"].endswith("\u2026"):  # cut: one more character would not fit its column
            per = t["width"] / len(t["label"])
            assert t["width"] + per > t["col"] - 6, t
    if width == 1400:  # columns wider than 8 characters: longer labels
        assert any(len(t["label"]) > 8 for t in labels), labels
    offline.ctx.close()
    offline = open_at(browser, exported, width)
    page = offline.page
    scroll = page.locator(".fc-g-scroll")
    dims = scroll.evaluate("s => [s.scrollWidth, s.clientWidth]")
    assert dims[0] > dims[1], f"24 tokens scroll: {dims}"
    page.locator("button.fc-g-fit").click()
    page.wait_for_timeout(50)
    dims = scroll.evaluate("s => [s.scrollWidth, s.clientWidth]")
    assert dims[0] <= dims[1] + 1, f"'fit' draws the whole prompt in the width there is: {dims}"
    assert overflowing(page.locator(".fc-graph")) == []
    offline.assert_clean()
    offline.ctx.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_edges_nodes_and_text_read_in_both_themes(browser: Any, exported: Path, theme: str) -> None:
    offline = open_at(browser, exported, 1400)
    page = offline.page
    if theme == "dark":
        set_theme(page, LAB_DARK)
    root = page.locator(".fc-graph")
    assert page.locator(".fc-g-edge-attn").count() > 0
    marks = ".fc-g-edge, .fc-g-node.fc-g-on, .fc-g-attn, .fc-g-mlp, .fc-g-key:not(.fc-g-key-dot)"
    # against the background and against the grey bands of alternate layers, which edges cross
    assert page.locator(".fc-g-band").count() > 0
    bad = mark_contrast_failures(root, marks, 3.0, under=".fc-g-band")
    assert bad == [], bad[:5]
    on_band = mark_contrasts(root, ".fc-g-edge", under=".fc-g-band")
    assert all(m["grounds"] > 1 for m in on_band), on_band[:1]
    bad = mark_contrast_failures(root, ".fc-g-token, .fc-g-level", 4.5)
    assert bad == [], bad[:5]
    text = ".fc-g-legend-label, .fc-g-status, .fc-g-floor, .fc-g-threshold-value, .fc-g-slider, .fc-g-fit"
    bad = contrast_failures(root, text, 4.5)
    assert bad == [], bad[:5]
    # the states off the routes are dimmer than those on them (and than the edges)
    on = min(m["ratio"] for m in mark_contrasts(root, ".fc-g-resid.fc-g-on"))
    off = max(m["ratio"] for m in mark_contrasts(root, ".fc-g-resid:not(.fc-g-on)"))
    assert off < on, (off, on)
    offline.assert_clean()
    offline.ctx.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_hover_box_stays_in_view_and_a_click_closes_it(browser: Any, exported: Path, width: int) -> None:
    offline = open_at(browser, exported, width, height=700)
    page = offline.page
    root, scroll = page.locator(".fc-graph"), page.locator(".fc-g-scroll")
    box = page.locator(".fc-g-hover")
    # the nodes on the routes nearest each edge of the scroller's visible box
    ids = scroll.evaluate(
        """s => {
          const v = s.getBoundingClientRect();
          const on = [...s.querySelectorAll('.fc-g-node.fc-g-on')].map(n => [n, n.getBoundingClientRect()])
            .filter(([, r]) => r.left >= v.left && r.right <= v.right && r.top >= v.top && r.bottom <= v.bottom);
          const pick = f => on.reduce((a, b) => (f(b[1]) > f(a[1]) ? b : a))[0].dataset.node;
          return [...new Set([pick(r => r.right), pick(r => -r.left), pick(r => -r.top), pick(r => r.bottom)])];
        }"""
    )
    assert len(ids) >= 2, ids
    for node_id in ids:
        node = page.locator(f".fc-g-node[data-node='{node_id}']")
        node.hover()
        expect(box).to_be_visible()
        seen = inside_visible(box, root)
        assert seen["ok"], (node_id, seen)
        node.click()
        expect(box).to_be_hidden()
        page.mouse.move(0, 0)
    offline.assert_clean()
    offline.ctx.close()


def test_an_export_says_why_the_slider_stops_and_disables_card_buttons(browser: Any, exported: Path) -> None:
    offline = open_at(browser, exported, 800)
    page = offline.page
    slider = page.locator("input.fc-g-threshold")
    assert float(slider.get_attribute("min") or 0) == pytest.approx(0.04)
    slider.fill("0.01")  # a range input holds no value below its min
    assert float(slider.input_value()) == pytest.approx(0.04)
    note = page.locator(".fc-g-floor")
    expect(note).to_have_text("edges below 0.040 need a recompute: open the graph in a running kernel")
    assert_on_top(note)
    s, n = slider.bounding_box(), note.bounding_box()
    assert s is not None and n is not None and abs((s["y"] + s["height"] / 2) - (n["y"] + n["height"] / 2)) < 20
    page.locator(".fc-g-mlp").first.click()
    buttons = page.locator(".fc-g-panel button.fc-g-open-card")
    assert buttons.count() > 0
    for i in range(buttons.count()):
        expect(buttons.nth(i)).to_be_disabled()
        assert "needs a running kernel" in (buttons.nth(i).get_attribute("title") or "")
    reason = page.locator(".fc-g-panel .fc-g-needs-kernel").first
    expect(reason).to_have_text("card: needs a running kernel")
    assert_on_top(reason)
    offline.assert_clean()
    offline.ctx.close()
