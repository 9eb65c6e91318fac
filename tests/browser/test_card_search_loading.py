"""The card's search results and its loading state in Chromium, measured (boxes, text, styles):
the results sit in the card's flow (never over the examples) and close after a pick; they say
how weak a query's hits are and what "% of max" is; a card asked for shows "loading #N…" over
the old card, marked stale, until Python has it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from card_bridge import open_card, serve_harness
from cards import live_features

pytestmark = pytest.mark.browser

STRONG = 0.5  # the card's STRONG_FRAC (js/src/card/components/search-results.ts)
BOX_JS = "e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("search"))


def overlaps(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def search(page: Any, text: str) -> Any:
    box = page.locator(".fc-search-box")
    box.fill(text)
    box.press("Enter")
    panel = page.locator(".fc-search-panel")
    page.wait_for_function("() => document.querySelector('.fc-search-status').textContent !== 'searching…'")
    return panel


@pytest.mark.parametrize("width", [800, 1400])
def test_results_push_the_card_down_and_close_after_a_pick(browser: Any, site: str, ws: Any, width: int) -> None:
    page, bridge, errors = open_card(browser, site, ws, live_features(ws, "mlp0", 1)[0])
    page.set_viewport_size({"width": width, "height": 900})
    text = "value of the argument"
    want = bridge.w.search(text)
    panel = search(page, text)
    hits = panel.locator("button.fc-hit")
    assert hits.count() == len(want["hits"]) > 0
    panel_box = panel.evaluate(BOX_JS)
    card_box = page.locator(".fc-card").evaluate(BOX_JS)
    for col in (".fc-col-right", ".fc-col-middle", ".fc-col-left"):
        assert not overlaps(panel_box, page.locator(col).evaluate(BOX_JS)), col
    assert card_box[0] <= panel_box[0] and panel_box[2] <= card_box[2]
    pick = want["hits"][-1]["feature"]
    panel.locator(f"button.fc-hit[data-feature='{pick}']").click()
    assert panel.is_hidden()
    bridge.wait_python(lambda: bridge.w.feature == pick)
    page.wait_for_function(f"() => document.querySelector('.fc-card').dataset.feature === '{pick}'")
    assert panel.is_hidden() and errors == []
    page.close()


def test_a_weak_query_says_so_and_percent_of_max_is_explained(
    browser: Any, site: str, ws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    page, bridge, errors = open_card(browser, site, ws, live_features(ws, "mlp0", 1)[0])
    strong = "value of the argument"
    fracs = [h["frac"] for h in bridge.w.search(strong)["hits"]]
    assert max(fracs) >= STRONG  # on the tiny dataset every unit's max is small: hits are strong
    panel = search(page, strong)
    status = panel.locator(".fc-search-status")
    assert status.inner_text().startswith(f"{sum(f >= STRONG for f in fracs)} of {len(fracs)} hits fire strongly")
    help_text = panel.locator(".fc-search-help")
    assert help_text.is_visible() and "relative to its largest activation over the dataset" in help_text.inner_text()
    first = bridge.w.search(strong)["hits"][0]
    title = panel.locator("button.fc-hit").first.get_attribute("title") or ""
    m = re.search(r"of its largest activation over the dataset \(([\d.]+)\)", title)
    dataset_max = float(ws.index("mlp0").max_act[first["feature"]])
    assert m and float(m.group(1)) == pytest.approx(dataset_max, abs=2e-3), title

    # a weak query: the same hits against dataset maxima ten times larger (as a real dataset's are)
    real = bridge.w.search

    def weak(text: str, k: int = 10) -> Any:
        r = real(text, k=k)
        return {**r, "hits": [{**h, "frac": h["frac"] / 10} for h in r["hits"]]}

    monkeypatch.setattr(bridge.w, "search", weak)
    hits = weak("zq")["hits"]
    assert 0 < max(h["frac"] for h in hits) < STRONG
    panel = search(page, "zq")
    m = re.match(r"no strong matches: the best hit reaches ([\d.]+)% of its max", status.inner_text())
    best = max(h["frac"] for h in hits)
    assert m and float(m.group(1)) == pytest.approx(100 * best, rel=5e-3), status.inner_text()
    assert panel.locator("button.fc-hit.fc-hit-weak").count() == len(hits)
    page.locator(".fc-search-close").click()
    assert panel.is_hidden() and errors == []
    page.close()


LOADING_JS = """() => {
  document.querySelector('.fc-card button.fc-next').click();  // Python answers after this task
  const card = document.querySelector('.fc-card');
  const loading = card.querySelector('.fc-loading');
  return {
    stale: card.classList.contains('fc-stale'),
    visible: !loading.hidden && loading.getBoundingClientRect().width > 0,
    text: loading.textContent,
    bar: loading.querySelector('progress') !== null,
    body: Number(getComputedStyle(card.querySelector('.fc-body')).opacity),
    header: Number(getComputedStyle(card.querySelector('.fc-header')).opacity),
    title: card.querySelector('.fc-feature').textContent,
  };
}"""


def test_a_card_asked_for_shows_loading_over_the_stale_card(browser: Any, site: str, ws: Any) -> None:
    f = live_features(ws, "mlp0", 1)[0]
    f = f if f + 1 < 48 else f - 1
    page, bridge, errors = open_card(browser, site, ws, f)
    got = page.evaluate(LOADING_JS)
    assert got["stale"] and got["visible"] and got["bar"] and got["text"] == f"loading #{f + 1}…"
    assert got["body"] < 0.5 and got["header"] < 0.5
    assert got["title"] == f"feature {f} / 48"  # the old card, under its own title, dimmed
    bridge.wait_python(lambda: bridge.w.feature == f + 1)
    page.wait_for_function(f"() => document.querySelector('.fc-feature').textContent === 'feature {f + 1} / 48'")
    card = page.locator(".fc-card")
    assert "fc-stale" not in (card.get_attribute("class") or "")
    assert page.locator(".fc-loading").is_hidden()
    assert float(page.locator(".fc-body").evaluate("e => getComputedStyle(e).opacity")) == 1.0
    assert errors == []
    page.close()
