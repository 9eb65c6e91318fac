"""The real bundle in a plain page, bridged to a real FeatureCard widget in this process.

The page's FakeModel stands in for the comm: save_changes() calls Python's set_state, and
Python-side changes are pushed back with model.pythonSet. ~6x faster than JupyterLab.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cards import MARKUP, live_features, markup_workspace
from playwright.sync_api import expect

from conftest import REPO, assert_on_top
from featurecard.state.codecs import decode_array, to_portable
from featurecard.widget import FeatureCard

pytestmark = pytest.mark.browser
SYNCED = ("feature", "state", "error", "busy")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("harness")
    (d / "widget.js").write_text(str(FeatureCard._esm))  # exactly what Python sends as _esm
    (d / "widget.css").write_text(str(FeatureCard._css))
    shutil.copy(REPO / "js" / "testing" / "fake-model.js", d)
    shutil.copy(Path(__file__).parent / "harness.html", d / "index.html")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(d)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/index.html"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return markup_workspace(tmp_path_factory.mktemp("tok"))[0]


class Bridge:
    """Python FeatureCard <-> page FakeModel."""

    def __init__(self, page: Any, widget: FeatureCard) -> None:
        self.page, self.w = page, widget
        page.expose_function("__pySaveChanges", lambda patch: self.w.set_state(patch))
        page.expose_function("__pyInitialState", lambda: self.portable())

    def portable(self, keys: tuple[str, ...] = SYNCED) -> dict[str, Any]:
        return to_portable({k: getattr(self.w, k) for k in keys})

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=10_000)

    def push(self, keys: tuple[str, ...] = SYNCED) -> None:
        self.page.evaluate(
            "s => { for (const [k, v] of Object.entries(s)) window.model.pythonSet(k, v); }",
            self.portable(keys),
        )

    def wait_python(self, cond: Any, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "Python never saw the change"
            self.page.wait_for_timeout(20)  # lets playwright dispatch the exposed-function call


def open_card(browser: Any, site: str, ws: Any, feature: int) -> tuple[Any, Bridge, list[str]]:
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    bridge = Bridge(page, ws.card("mlp0", feature=feature))
    bridge.open(site)
    return page, bridge, errors


def test_card_shows_python_numbers_and_markup_as_text(browser: Any, site: str, ws: Any, artifacts: Path) -> None:
    f = live_features(ws, "mlp0", 1)[0]
    page, bridge, errors = open_card(browser, site, ws, f)
    st = bridge.w.state
    card = page.locator(".fc-card")
    expect(card).to_be_visible()
    expect(page.locator("input.fc-index")).to_have_value(str(f))
    # every shown token, in order, is the state's token text
    vocab = st["vocab"]
    want = [vocab[i] for i in decode_array(st["examples"]["tokens"])]
    spans = page.locator("span.fc-tok")
    expect(spans).to_have_count(len(want))
    assert [float(a) for a in spans.evaluate_all("els => els.map(e => e.dataset.act)")] == pytest.approx(
        decode_array(st["examples"]["acts"]).tolist(), abs=1e-4
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
    bridge.w.set_state({"feature": 10_000})  # what an out-of-range value from the front end does
    assert "out of range" in bridge.w.error and bridge.w.feature == f
    bridge.push()
    banner = page.locator(".fc-error")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("accepted 0 .. 47")
    assert_on_top(banner)
    expect(page.locator("span.fc-tok")).to_have_count(n_tokens)
    assert not errors, errors
    page.close()
