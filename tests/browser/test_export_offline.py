"""The exported card renders from file:// with the network off, markup tokens as text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cards import MARKUP, live_features, shown_tokens
from pages import assert_on_top, open_offline
from playwright.sync_api import expect

from featurecard.core.codecs import decode_array


def test_export_escapes_every_markup_token(ws: Any, tmp_path: Path) -> None:
    card = ws.card("mlp0", feature=live_features(ws, "mlp0", 1)[0])
    assert any(m in card.state["vocab"] for m in MARKUP), "the card must show a markup token"
    page = card.export_html(tmp_path / "card.html").read_text()
    for m in MARKUP:
        assert m not in page, f"{m!r} reached the HTML unescaped"
    assert len(re.findall(r"</script", page, re.I)) == 5  # our own five script elements (with provenance), no more
    data = re.search(r'<script type="application/json" id="featurecard-data">(.*?)</script>', page, re.S)
    assert data is not None
    states = json.loads(data.group(1))["states"]
    assert states[0]["vocab"] == card.state["vocab"]  # the escapes decode back to the exact text


@pytest.mark.browser
def test_export_renders_offline_from_file(browser: Any, ws: Any, tmp_path: Path, artifacts: Path) -> None:
    card = ws.card("mlp0", feature=live_features(ws, "mlp0", 1)[0])
    out = card.export_html(artifacts / "export-markup.html")
    offline = open_offline(browser, out)
    page = offline.page
    root = page.locator("#featurecard-root")  # Playwright's CSS locators pierce the open shadow root
    st = card.state
    expect(root.locator("span.fc-tok")).to_have_count(len(shown_tokens(st)))
    expect(root.locator("input.fc-index")).to_have_value(str(card.feature))
    assert root.locator("b, i, img, script").count() == 0
    page.screenshot(path=str(artifacts / "export-markup.png"), full_page=True)
    offline.assert_clean()
    offline.ctx.close()


@pytest.mark.browser
def test_multi_feature_export_switches_offline(browser: Any, ws: Any, artifacts: Path) -> None:
    f0, f1, f2 = live_features(ws, "mlp0", 3)
    card = ws.card("mlp0", feature=f0)
    linked = int(decode_array(card.state["left"]["latents"]["ids"])[0])  # f0's most correlated latent
    held = sorted({f0, f1, f2, linked})
    out = card.export_html(artifacts / "export-multi.html", features=[f0, f1, f2, linked])
    ctx = browser.new_context(offline=True)
    page = ctx.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    root = page.locator("#featurecard-root")
    box = root.locator("input.fc-index")
    expect(box).to_have_value(str(f0))
    assert root.locator("input.fc-search-box").is_disabled()  # search needs a kernel
    # a correlated latent the file holds is a link, and it switches the card offline
    link = root.locator(f'.fc-left-latents button.fc-link[data-feature="{linked}"]')
    link.click()
    expect(root.locator(".fc-card")).to_have_attribute("data-feature", str(linked))
    root.locator("button.fc-back").click()
    expect(root.locator(".fc-card")).to_have_attribute("data-feature", str(f0))
    # the arrows step through the cards the file holds
    root.locator("button.fc-next").click()
    nxt = next((f for f in held if f > f0), None)
    if nxt is not None:
        expect(root.locator(".fc-card")).to_have_attribute("data-feature", str(nxt))
    box.fill(str(f2))
    box.press("Enter")
    want = len(shown_tokens(ws.card_state("mlp0", f2)))
    expect(root.locator("span.fc-tok")).to_have_count(want)
    expect(root.locator(".fc-card")).to_contain_text(f"feature {f2}")
    # the tooltip works offline, inside the shadow root, on top
    root.locator("span.fc-tok.fc-focus").first.hover()
    tip = root.locator(".fc-tooltip")
    expect(tip).to_be_visible()
    assert_on_top(tip)
    expect(tip.locator(".fc-tt-act")).to_be_visible()
    missing = next(i for i in range(48) if i not in held)
    box.fill(str(missing))
    box.press("Enter")
    have = ", ".join(str(f) for f in held)
    expect(root.locator(".fc-error")).to_have_text(f"index: {missing} is not in this exported file; it holds {have}")
    expect(root.locator("span.fc-tok")).to_have_count(want)  # the last card stays
    expect(box).to_have_value(str(f2))  # and the box shows it again
    page.screenshot(path=str(artifacts / "export-multi.png"), full_page=True)
    assert not errors, errors
    assert all(u.startswith(("file:", "blob:", "data:")) for u in requests), requests
    ctx.close()
