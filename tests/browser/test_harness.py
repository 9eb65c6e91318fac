"""The real bundle in a plain page, bridged to a real FeatureCard widget in this process
(card_bridge.py): the basics. The panels, tooltip and navigation are in test_card_panels.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from card_bridge import open_card, serve_harness
from cards import MARKUP, live_features, shown_tokens
from pages import assert_on_top
from playwright.sync_api import expect

from featurecard.core.codecs import decode_array

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("harness"))


def test_card_shows_python_numbers_and_markup_as_text(browser: Any, site: str, ws: Any, artifacts: Path) -> None:
    f = live_features(ws, "mlp0", 1)[0]
    page, bridge, errors = open_card(browser, site, ws, f)
    st = bridge.w.state
    card = page.locator(".fc-card")
    expect(card).to_be_visible()
    expect(page.locator("input.fc-index")).to_have_value(str(f))
    # every shown token, in order, is the state's token text
    vocab = st["vocab"]
    shown = shown_tokens(st)
    want = [vocab[i] for i in decode_array(st["examples"]["tokens"])[shown]]
    spans = page.locator("span.fc-tok")
    expect(spans).to_have_count(len(want))
    assert [float(a) for a in spans.evaluate_all("els => els.map(e => e.dataset.act)")] == pytest.approx(
        decode_array(st["examples"]["acts"])[shown].tolist(), abs=1e-4
    )
    # top logit rows carry the tokens and values Python computed
    rows = page.locator(".fc-logits-top tr:has(td.fc-logit-tok)")
    top_ids = decode_array(st["logits"]["top_tokens"])
    expect(rows).to_have_count(len(top_ids))
    assert rows.locator("td.fc-logit-tok").all_text_contents()[0].strip() != ""
    vals = [float(v) for v in rows.locator("td.fc-logit-val").all_text_contents()]
    assert vals == pytest.approx(decode_array(st["logits"]["top_values"]).tolist(), abs=5e-3)
    # markup tokens from the vocabulary are text, never elements
    assert page.locator(".fc-card b, .fc-card i, .fc-card img, .fc-card script").count() == 0
    texts = set(page.locator("span.fc-tok").evaluate_all("els => els.map(e => e.dataset.text ?? e.title)"))
    assert any(MARKUP[0] in t for t in texts) or page.get_by_text(MARKUP[0]).count() > 0
    page.screenshot(path=str(artifacts / "harness-card.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_index_box_and_arrows_drive_python(browser: Any, site: str, ws: Any) -> None:
    f0, f1 = live_features(ws, "mlp0", 2)
    page, bridge, errors = open_card(browser, site, ws, f0)
    box = page.locator("input.fc-index")
    box.fill(str(f1))
    box.press("Enter")
    bridge.wait_python(lambda: bridge.w.feature == f1)
    assert bridge.w.state["feature"] == f1 and bridge.w.error == ""
    bridge.push()
    expect(box).to_have_value(str(f1))
    page.locator("button.fc-next").click()
    bridge.wait_python(lambda: bridge.w.feature == f1 + 1)
    page.locator("button.fc-prev").click()
    bridge.wait_python(lambda: bridge.w.feature == f1)
    assert not errors, errors
    page.close()


def test_error_is_shown_and_the_last_card_stays(browser: Any, site: str, ws: Any) -> None:
    f = live_features(ws, "mlp0", 1)[0]
    page, bridge, errors = open_card(browser, site, ws, f)
    n_tokens = page.locator("span.fc-tok").count()
    reply = bridge.ask("show", source="mlp0", feature=10_000)  # a refused request
    assert not reply["ok"] and "out of range" in bridge.w.error and bridge.w.feature == f
    banner = page.locator(".fc-error")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("accepted 0 .. 47")
    assert_on_top(banner)
    expect(page.locator("span.fc-tok")).to_have_count(n_tokens)
    assert not errors, errors
    page.close()
