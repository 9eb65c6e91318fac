"""The card's keyboard help in Chromium: "?" opens a panel under the bar that lists every
shortcut, sits inside the card (at 800 and 1400 px), pushes the card's body down instead of
covering it, reads at 4.5:1 in Lab's light and dark themes (its look is the card's CSS, not
inline styles), and closes with Esc."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cards import live_features
from pages import LAB_DARK, contrast_failures, open_offline, overflowing, set_theme
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("width", "theme"), [(800, "light"), (1400, "dark")])
def test_the_help_panel_lists_the_shortcuts_under_the_bar(
    browser: Any, ws: Any, tmp_path: Path, width: int, theme: str
) -> None:
    card = ws.card("mlp0", feature=live_features(ws, "mlp0", 1)[0])
    offline = open_offline(browser, card.export_html(tmp_path / "card.html"))
    page = offline.page
    page.set_viewport_size({"width": width, "height": 900})
    if theme == "dark":
        set_theme(page, LAB_DARK)
    root = page.locator("#featurecard-root .fc-card")
    body, panel = root.locator(".fc-body"), root.locator(".fc-help-panel")
    before = body.bounding_box()
    expect(panel).to_be_hidden()
    root.locator("button.fc-help").click()
    expect(panel).to_be_visible()
    assert panel.locator("dt").count() == 7 and "random live unit" in panel.inner_text()
    assert "Enter / Space on a row" in panel.inner_text()
    p, b, nav, after = (x.bounding_box() for x in (panel, root, root.locator(".fc-nav"), body))
    assert p and b and nav and after and before
    assert p["y"] >= nav["y"] + nav["height"] - 1  # under the bar
    assert after["y"] >= p["y"] + p["height"] - 1 and after["y"] > before["y"]  # pushes the body down
    assert overflowing(root) == []
    assert contrast_failures(root, ".fc-help-panel dt, .fc-help-panel dd, .fc-help-title", 4.5) == []
    assert panel.evaluate("e => [e, ...e.querySelectorAll('*')].filter(x => x.getAttribute('style')).length") == 0
    root.locator("button.fc-help").press("Escape")
    expect(panel).to_be_hidden()
    assert body.bounding_box() == before
    offline.assert_clean()
    offline.ctx.close()
