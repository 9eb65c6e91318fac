"""The card's layout in Chromium, measured (bounding boxes, never a snapshot): example rows
wrap between tokens only, nothing sticks out of the card unless it sits in a scroller, and a
wide card's examples column is filled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cards import live_features, plain_workspace, shown_sequences
from pages import SPLIT_TOKENS_JS, open_offline, overflowing

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
