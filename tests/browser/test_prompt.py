"""The prompt view bundle in a plain page, bridged to a real PromptView in this process, and its
exported file opened offline.

The prompt holds the markup tokens of cards.py (added to the vocabulary whole), so the tokens, the
latent list and the card's prompt row must draw them as text; a token's latents are checked
against numpy's sort of the state's own numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cards import MARKUP
from page_bridge import PageBridge, open_bridged, serve_harness
from pages import LAB_DARK, contrast_failures, open_offline, set_theme
from playwright.sync_api import expect

from featurecard.core.codecs import decode_array
from featurecard.prompt.widget import PromptView

pytestmark = pytest.mark.browser
SYNCED = ("state", "selected", "card", "error", "busy")
TEXT = "The value" + "".join(MARKUP) + " is"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("prompt-harness"), PromptView)


class Bridge(PageBridge):
    python_timeout = 10.0

    def __init__(self, page: Any, widget: PromptView) -> None:
        super().__init__(page, widget, SYNCED)


def ranked(st: dict[str, Any], pos: int, key: str) -> list[int]:
    """The latents at ``pos`` sorted as the view ranks them: by ``key`` (|.| for losses), descending."""
    at = decode_array(st["pairs"]["pos"]).astype(np.int64) == pos
    latent = decode_array(st["pairs"]["latent"])[at]
    v = decode_array(st["pairs"][key])[at].astype(np.float64)
    v = np.abs(v) if key.startswith("loss") else v
    return latent[np.lexsort((np.arange(v.size), -v))].tolist()


def shown(page: Any) -> list[int]:
    return [int(x) for x in page.locator("tr.pv-row").evaluate_all("els => els.map(e => e.dataset.latent)")]


def test_tokens_rankings_and_a_card_with_the_prompt(browser: Any, site: str, ws: Any, artifacts: Path) -> None:
    page, bridge, errors = open_bridged(browser, site, lambda p: Bridge(p, ws.prompt("mlp0", TEXT)))
    st = bridge.w.state
    n = len(decode_array(st["tokens"]))
    expect(page.locator("button.pv-tok")).to_have_count(n)
    texts = page.locator(".pv-tok-text").evaluate_all("els => els.map(e => e.dataset.text)")
    assert all(m in texts for m in MARKUP)
    assert page.locator(".pv-widget b, .pv-widget i, .pv-widget img, .pv-widget script").count() == 0
    pos = int(decode_array(st["pairs"]["pos"])[-1])  # a token with latents
    page.locator(f"button.pv-tok[data-pos='{pos}']").click()
    assert shown(page) == ranked(st, pos, "act")
    page.locator("button.pv-rank[data-key='quantile']").click()
    assert shown(page) == ranked(st, pos, "quantile")
    page.locator("button.pv-rank[data-key='lossPrompt']").click()
    assert shown(page) == ranked(st, pos, "loss_prompt")
    first = shown(page)[0]
    page.locator(f"tr.pv-row[data-latent='{first}']").click()
    bridge.wait_python(lambda: bridge.w.card.get("feature") == first)
    bridge.push()
    card = page.locator(".pv-card-area .fc-card")
    expect(card.locator("input.fc-index")).to_have_value(str(first))
    row = card.locator(".fc-prompt .fc-prompt-row span.fc-tok")
    expect(row).to_have_count(n)
    expect(card.locator(".fc-prompt span.fc-tok.fc-focus")).to_have_attribute("data-w", str(pos))
    assert page.locator(".pv-widget b, .pv-widget i, .pv-widget img, .pv-widget script").count() == 0
    page.screenshot(path=str(artifacts / "prompt-harness.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_export_renders_offline(browser: Any, ws: Any, artifacts: Path) -> None:
    pv = ws.prompt("mlp0", TEXT)
    f = int(decode_array(pv.state["pairs"]["latent"])[0])
    out = pv.open_card(f, 1).export_html(artifacts / "export-prompt.html")
    text = out.read_text()
    for m in MARKUP:
        assert m not in text, f"{m!r} reached the HTML unescaped"
    offline = open_offline(browser, out)
    root = offline.page.locator("#featurecard-root")
    expect(root.locator("button.pv-tok")).to_have_count(len(decode_array(pv.state["tokens"])))
    root.locator("button.pv-tok[data-pos='2']").click()  # clicking tokens works offline
    expect(root.locator(".pv-offline")).to_contain_text("needs a running kernel")
    expect(root.locator(".pv-card-area .fc-card input.fc-index")).to_have_value(str(f))
    expect(root.locator(".pv-card-area .fc-prompt span.fc-tok")).to_have_count(len(decode_array(pv.state["tokens"])))
    assert root.locator("b, i, img, script").count() == 0
    offline.page.screenshot(path=str(artifacts / "export-prompt.png"), full_page=True)
    offline.assert_clean()
    offline.ctx.close()


# the prompt view's text: title, tokens and their counts, the ranking's header and cells, notes
PROMPT_TEXT = ".pv-name, .pv-hook, .pv-tok-text, .pv-tok-count, .pv-rank-label, .pv-th, .pv-num, .pv-note, .pv-where"


@pytest.mark.parametrize("theme", ["light", "lab-dark", "scheme-dark"])
def test_the_prompt_views_text_reads_in_light_and_dark(browser: Any, ws: Any, artifacts: Path, theme: str) -> None:
    """Lab's light theme (the fallbacks), Lab's dark variables, and a page that sets no variable but
    declares ``color-scheme: dark`` (marimo's dark theme): the view follows it (core/theme.css, as
    the other views) and its text reads at 4.5:1 on what it is drawn on."""
    pv = ws.prompt("mlp0", TEXT)
    offline = open_offline(browser, pv.export_html(artifacts / f"export-prompt-{theme}.html"))
    page = offline.page
    if theme == "lab-dark":
        set_theme(page, LAB_DARK)
    elif theme == "scheme-dark":
        page.evaluate("document.body.style.colorScheme = 'dark'")
    root = page.locator("#featurecard-root .pv-widget")
    root.locator("button.pv-tok[data-pos='2']").click()
    bg = root.evaluate("el => getComputedStyle(el).backgroundColor")
    assert (bg == "rgb(255, 255, 255)") == (theme == "light"), bg
    assert contrast_failures(root, PROMPT_TEXT, 4.5) == []
    page.screenshot(path=str(artifacts / f"prompt-{theme}.png"), full_page=True)
    offline.assert_clean()
    offline.ctx.close()
