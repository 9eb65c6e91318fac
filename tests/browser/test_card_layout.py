"""The card's layout in Chromium, measured (bounding boxes, never a snapshot): example rows
wrap between tokens only, nothing sticks out of the card unless it sits in a scroller, and a
wide card's examples column is filled; its text reads at 4.5:1 and its histogram marks at 3:1
in JupyterLab's light and dark themes and in a host that only declares a dark color-scheme."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cards import live_features, plain_workspace, shown_sequences
from pages import (
    LAB_DARK,
    SPLIT_TOKENS_JS,
    contrast_failures,
    mark_contrast_failures,
    open_offline,
    overflowing,
    set_theme,
)

pytestmark = pytest.mark.browser

WIDTHS = (800, 1400)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return plain_workspace(tmp_path_factory.mktemp("plain"))


def covered(intervals: list[list[float]]) -> float:
    """The length of the union of [a, b] intervals."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


@pytest.mark.parametrize("width", WIDTHS)
def test_rows_wrap_between_tokens_and_stay_inside_the_card(
    browser: Any, ws: Any, tmp_path: Path, artifacts: Path, width: int
) -> None:
    card = ws.card("mlp0", feature=live_features(ws, "mlp0", 1)[0])  # long markup tokens
    offline = open_offline(browser, card.export_html(tmp_path / "card.html"))
    page = offline.page
    page.set_viewport_size({"width": width, "height": 900})
    root = page.locator("#featurecard-root .fc-card")
    assert root.locator("span.fc-tok").count() > 0
    assert root.evaluate(SPLIT_TOKENS_JS) == []
    assert overflowing(root) == []
    page.screenshot(path=str(artifacts / f"card-wrap-{width}.png"), full_page=True)
    offline.assert_clean()
    offline.ctx.close()


def test_a_wide_card_fills_its_examples_column(browser: Any, plain: Any, tmp_path: Path) -> None:
    card = plain.card("mlp0", feature=live_features(plain, "mlp0", 1)[0])  # short tokens: short rows
    offline = open_offline(browser, card.export_html(tmp_path / "card.html"))
    page = offline.page
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        col = page.locator("#featurecard-root .fc-col-right")
        box = col.bounding_box()
        assert box is not None
        spans = col.locator("span.fc-tok").evaluate_all(
            "a => a.map(s => { const r = s.getBoundingClientRect(); return [r.left, r.right]; })"
        )
        share = covered(spans) / box["width"]
        assert share >= 0.5, f"at {width} px the tokens cover {share:.0%} of the examples column"
        assert col.evaluate(SPLIT_TOKENS_JS) == []
        assert overflowing(page.locator("#featurecard-root .fc-card")) == []
    offline.assert_clean()
    offline.ctx.close()


def test_interval_titles_count_and_do_not_repeat_top_activations(browser: Any, plain: Any, tmp_path: Path) -> None:
    feature = live_features(plain, "mlp0", 1)[0]
    card = plain.card("mlp0", feature=feature)
    groups = shown_sequences(card.state)
    sent = sum(g["count"] for g in card.state["examples"]["groups"])
    assert sum(len(idx) for _, idx in groups) < sent, "this card's top interval must repeat Top activations"
    offline = open_offline(browser, card.export_html(tmp_path / "card.html"))
    root = offline.page.locator("#featurecard-root")
    sections = root.locator("section.fc-group")
    assert sections.count() == len(groups)
    for k, (title, idx) in enumerate(groups):
        sec = sections.nth(k)
        shown = sec.locator(".fc-group-title").inner_text()
        assert sec.locator(".fc-seq").count() == len(idx)
        if not title.startswith("Interval"):
            assert shown == title
            continue
        assert "contains" not in shown
        sent_n = card.state["examples"]["groups"][k]["count"]
        if sent_n == 0:
            assert shown.endswith(" · empty"), shown
        else:
            assert (f"{len(idx)} example" in shown) or (len(idx) == 0 and "no other examples" in shown), shown
            if sent_n > len(idx):
                assert f"{sent_n - len(idx)} more in Top activations" in shown, shown
    offline.assert_clean()
    offline.ctx.close()


# the card's text: header, stats, panel and group titles, tables, notes, tokens on their shading
CARD_TEXT = (
    ".fc-source, .fc-unit, .fc-hook, .fc-feature, .fc-stats > *, .fc-panel-title, .fc-group-title, "
    ".fc-examples-note, .fc-left-table td, .fc-left-table th, .fc-logit-tok, .fc-logit-val, .fc-density-value, "
    ".fc-density-count, .fc-bar-text, .fc-log-toggle, .fc-legend, span.fc-tok, input.fc-index"
)


# WCAG contrast of each histogram bar's outline with the card's background
BAR_OUTLINES_JS = """card => {
  const ctx = document.createElement('canvas').getContext('2d', {willReadFrequently: true});
  const rgb = css => { ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = css; ctx.fillRect(0, 0, 1, 1);
    return [...ctx.getImageData(0, 0, 1, 1).data.slice(0, 3)]; };
  const lin = v => { const s = v / 255; return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
  const lum = c => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const bg = lum(rgb(getComputedStyle(card).backgroundColor));
  return [...card.querySelectorAll('.fc-hist-svg .fc-bar')].map(b => {
    const l = lum(rgb(getComputedStyle(b).stroke));
    return (Math.max(l, bg) + 0.05) / (Math.min(l, bg) + 0.05);
  });
}"""


@pytest.mark.parametrize("theme", ["light", "lab-dark", "scheme-dark"])
def test_the_cards_text_and_marks_read_in_light_and_dark(
    browser: Any, ws: Any, tmp_path: Path, artifacts: Path, theme: str
) -> None:
    """Lab's light theme (the fallbacks), Lab's dark variables, and a page that sets no variable
    but declares ``color-scheme: dark`` (as marimo's dark theme does): the card's text at 4.5:1 on
    what it is drawn on, its histograms' bars, axes and titles at 3:1."""
    card = ws.card("mlp0", feature=live_features(ws, "mlp0", 1)[0])
    offline = open_offline(browser, card.export_html(tmp_path / "card.html"))
    page = offline.page
    page.set_viewport_size({"width": 1400, "height": 900})
    if theme == "lab-dark":
        set_theme(page, LAB_DARK)
    elif theme == "scheme-dark":
        page.evaluate("document.body.style.colorScheme = 'dark'")
    root = page.locator("#featurecard-root .fc-card")
    bg = root.evaluate("el => getComputedStyle(el).backgroundColor")
    assert (bg == "rgb(255, 255, 255)") == (theme == "light"), bg
    assert contrast_failures(root, CARD_TEXT, 4.5) == []
    assert mark_contrast_failures(root, ".fc-hist-svg .fc-axis, .fc-hist-svg text", 3.0) == []
    # a bar is seen by its outline (its fill is a light tint, test_card_histograms.py)
    outlines = root.evaluate(BAR_OUTLINES_JS)
    assert outlines and min(outlines) >= 3.0, outlines
    page.screenshot(path=str(artifacts / f"card-{theme}.png"), full_page=True)
    offline.assert_clean()
    offline.ctx.close()
