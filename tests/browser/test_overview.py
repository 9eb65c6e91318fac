"""The SAE overview bundle in a plain page, bridged to a real SaeOverview in this process, and its
exported file opened offline.

The Workspace's dataset holds markup tokens at every third position (cards.py), so top tokens and
a hostile label must be drawn as text; the table's order is checked against numpy's sort of the
state's own numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cards import MARKUP
from page_bridge import PageBridge, open_bridged, serve_harness
from pages import LAB_DARK, contrast_failures, mark_contrast_failures, open_offline, set_theme
from playwright.sync_api import expect

from featurecard.core.codecs import decode_array
from featurecard.overview.widget import SaeOverview

pytestmark = pytest.mark.browser
SYNCED = ("state", "labels", "selected", "card", "error", "busy")
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("overview-harness"), SaeOverview)


class Bridge(PageBridge):
    python_timeout = 10.0

    def __init__(self, page: Any, widget: SaeOverview) -> None:
        super().__init__(page, widget, SYNCED)


def shown_rows(page: Any) -> list[int]:
    return [int(x) for x in page.locator("tr.ov-row td.ov-index").all_text_contents()]


def test_table_sorts_searches_labels_and_opens_cards(browser: Any, site: str, ws: Any, artifacts: Path) -> None:
    page, bridge, errors = open_bridged(browser, site, lambda p: Bridge(p, ws.overview("mlp0", recon_rows=2)))
    st = bridge.w.state
    density = decode_array(st["latents"]["density"])
    expect(page.locator("tr.ov-row")).to_have_count(48)
    assert shown_rows(page) == np.lexsort((np.arange(48), -density)).tolist()  # density desc, ties by index
    page.locator("th[data-key='maxAct'] button").click()
    max_act = decode_array(st["latents"]["max_act"])
    assert shown_rows(page) == np.lexsort((np.arange(48), -max_act)).tolist()
    assert page.locator(".ov-widget b, .ov-widget i, .ov-widget img, .ov-widget script").count() == 0
    tokens = page.locator("tr.ov-row .ov-tok").evaluate_all("els => els.map(e => e.dataset.text)")
    assert any(t in MARKUP for t in tokens)
    # a label typed in the page is the Workspace's, then searchable
    page.locator("tr.ov-row[data-index='7'] button.ov-edit").click()
    page.locator("tr.ov-row[data-index='7'] input.ov-label-input").fill(f"{HOSTILE} seven")
    page.locator("tr.ov-row[data-index='7'] input.ov-label-input").press("Enter")
    bridge.wait_python(lambda: ws.labels("mlp0").get(7) == f"{HOSTILE} seven")
    bridge.push()
    page.locator("input.ov-search").fill("SEVEN")
    expect(page.locator("tr.ov-row")).to_have_count(1)
    expect(page.locator("tr.ov-row .ov-label-text")).to_have_text(f"{HOSTILE} seven")
    assert page.locator(".ov-widget img").count() == 0
    # a row click opens the latent's card below the table
    page.locator("tr.ov-row[data-index='7'] td.ov-index").click()
    bridge.wait_python(lambda: bridge.w.card.get("feature") == 7)
    bridge.push()
    expect(page.locator(".ov-card-area .fc-card input.fc-index")).to_have_value("7")
    page.screenshot(path=str(artifacts / "overview-harness.png"), full_page=True)
    assert not errors, errors
    page.close()
    ws.label("mlp0", 7, "")


def test_export_renders_offline(browser: Any, ws: Any, artifacts: Path) -> None:
    ws.label("mlp0", 3, HOSTILE)
    ov = ws.overview("mlp0", recon_rows=2).open_card(3)
    out = ov.export_html(artifacts / "export-overview.html")
    text = out.read_text()
    for m in MARKUP:
        assert m not in text, f"{m!r} reached the HTML unescaped"
    offline = open_offline(browser, out)
    root = offline.page.locator("#featurecard-root")
    expect(root.locator("tr.ov-row")).to_have_count(48)
    root.locator("input.ov-search").fill("#3")  # searching works offline
    expect(root.locator("tr.ov-row .ov-label-text")).to_have_text(HOSTILE)
    expect(root.locator("tr.ov-row button.ov-edit")).to_be_disabled()
    expect(root.locator(".ov-count")).to_contain_text("needs a running kernel")
    expect(root.locator(".ov-card-area .fc-card input.fc-index")).to_have_value("3")
    assert root.locator("b, i, img, script").count() == 0
    offline.page.screenshot(path=str(artifacts / "export-overview.png"), full_page=True)
    offline.assert_clean()
    offline.ctx.close()
    ws.label("mlp0", 3, "")


# the overview's text: title, summary, histogram notes, table header and cells, tokens, labels, search
OVERVIEW_TEXT = (
    ".ov-name, .ov-hook, .ov-stat-value, .ov-stat-label, .ov-hist-title, .ov-hist-note, .ov-note, .ov-count, "
    ".ov-sort, .ov-index, .ov-density-text, .ov-max, .ov-tok, .ov-label-text, input.ov-search, .ov-card-title"
)


@pytest.mark.parametrize("theme", ["light", "lab-dark", "scheme-dark"])
def test_the_overviews_text_and_marks_read_in_light_and_dark(
    browser: Any, ws: Any, artifacts: Path, theme: str
) -> None:
    """Lab's light theme (the fallbacks), Lab's dark variables, and a page that sets no variable but
    declares ``color-scheme: dark`` (marimo's dark theme): the overview's text at 4.5:1 on what it is
    drawn on (a density on its bar), its histogram's bars, axes and ticks at 3:1."""
    ws.label("mlp0", 5, "a label")
    ov = ws.overview("mlp0", recon_rows=2).open_card(5)
    offline = open_offline(browser, ov.export_html(artifacts / f"export-overview-{theme}.html"))
    page = offline.page
    if theme == "lab-dark":
        set_theme(page, LAB_DARK)
    elif theme == "scheme-dark":
        page.evaluate("document.body.style.colorScheme = 'dark'")
    root = page.locator("#featurecard-root .ov-widget")
    bg = root.evaluate("el => getComputedStyle(el).backgroundColor")
    assert (bg == "rgb(255, 255, 255)") == (theme == "light"), bg
    assert contrast_failures(root, OVERVIEW_TEXT, 4.5) == []
    assert mark_contrast_failures(root, ".ov-hist svg .ov-bar, .ov-hist svg .ov-axis, .ov-hist svg text", 3.0) == []
    page.screenshot(path=str(artifacts / f"overview-{theme}.png"), full_page=True)
    offline.assert_clean()
    offline.ctx.close()
    ws.label("mlp0", 5, "")
