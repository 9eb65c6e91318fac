"""The ContributionGraph bundle in a plain page, bridged to a real widget in this process, and
its exported file opened offline.

The page's FakeModel stands in for the comm (as in test_harness.py): save_changes() calls
Python's set_state, and Python-side changes are pushed back with model.pythonSet. The number
of edges the page draws is checked against Python's own routes (graphs.Graph.routes), so the
front end's threshold rule and route walk are compared with the Python ones in a real browser.
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
from cards import markup_workspace
from playwright.sync_api import expect

from conftest import REPO, assert_on_top
from featurecard.state.codecs import to_portable
from featurecard.widget.contribution_graph import ContributionGraph

pytestmark = pytest.mark.browser
SYNCED = ("state", "target", "threshold", "selected", "card", "error", "busy")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("graph-harness")
    (d / "widget.js").write_text(str(ContributionGraph._esm))  # exactly what Python sends as _esm
    (d / "widget.css").write_text(str(ContributionGraph._css))
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
    """Python ContributionGraph <-> page FakeModel."""

    def __init__(self, page: Any, widget: ContributionGraph) -> None:
        self.page, self.w = page, widget
        page.expose_function("__pySaveChanges", self.save)
        page.expose_function("__pyInitialState", lambda: self.portable())

    def portable(self) -> dict[str, Any]:
        return to_portable({k: getattr(self.w, k) for k in SYNCED})

    def save(self, patch: dict[str, Any]) -> dict[str, Any]:
        self.w.set_state(patch)
        return {}  # the test pushes Python's answer itself (push), once it has seen the change

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=10_000)

    def push(self) -> None:
        self.page.evaluate(
            "s => { for (const [k, v] of Object.entries(s)) window.model.pythonSet(k, v); }", self.portable()
        )

    def wait_python(self, cond: Any, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "Python never saw the change"
            self.page.wait_for_timeout(20)


def open_graph(browser: Any, site: str, ws: Any, **kw: Any) -> tuple[Any, Bridge, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    bridge = Bridge(page, ws.graph(ws.tokens[0, :12], **kw))  # the prompt holds markup tokens
    bridge.open(site)
    return page, bridge, errors


def test_graph_renders_and_a_token_click_sets_the_target(browser: Any, site: str, ws: Any, artifacts: Path) -> None:
    page, bridge, errors = open_graph(browser, site, ws)
    w = bridge.w
    expect(page.locator("svg.fc-g-svg")).to_be_visible()
    expect(page.locator(".fc-g-token")).to_have_count(12)
    expect(page.locator(".fc-g-edge")).to_have_count(len(w.routes()))
    assert len(w.routes()) > 0
    assert page.locator(".fc-graph b, .fc-graph i, .fc-graph img, .fc-graph script").count() == 0
    page.screenshot(path=str(artifacts / "graph-harness.png"), full_page=True)
    token = page.locator(".fc-g-token[data-pos='4']")
    token.click()
    bridge.wait_python(lambda: w.target == 4)
    bridge.push()
    expect(page.locator(".fc-g-token.fc-g-target")).to_have_attribute("data-pos", "4")
    expect(page.locator(".fc-g-edge")).to_have_count(len(w.routes()))
    assert not errors, errors
    page.close()


def test_the_slider_changes_the_drawn_edges_and_python_follows(browser: Any, site: str, ws: Any) -> None:
    page, bridge, errors = open_graph(browser, site, ws, threshold=0.02)
    w = bridge.w
    before = page.locator(".fc-g-edge").count()
    assert before == len(w.routes())
    page.locator("input.fc-g-threshold").fill("0.15")
    bridge.wait_python(lambda: w.threshold == pytest.approx(0.15))
    after = len(w.routes())
    assert after < before
    expect(page.locator(".fc-g-edge")).to_have_count(after)  # the page's own rule, before Python answers
    bridge.push()
    expect(page.locator(".fc-g-edge")).to_have_count(after)  # and with Python's new state
    expect(page.locator(".fc-g-threshold-value")).to_have_text("0.150")
    assert not errors, errors
    page.close()


def test_an_error_is_shown_and_the_graph_stays(browser: Any, site: str, ws: Any) -> None:
    page, bridge, errors = open_graph(browser, site, ws)
    n = page.locator(".fc-g-edge").count()
    bridge.w.set_state({"target": 50})
    bridge.push()
    banner = page.locator(".fc-g-error")
    expect(banner).to_contain_text("target 50 is out of range for a prompt of 12 tokens")
    assert_on_top(banner)
    expect(page.locator(".fc-g-edge")).to_have_count(n)
    assert not errors, errors
    page.close()


def test_an_mlp_node_opens_a_unit_card_inline(browser: Any, site: str, ws: Any) -> None:
    page, bridge, errors = open_graph(browser, site, ws, threshold=0.01)
    node = page.locator(".fc-g-mlp").first
    expect(node).to_be_visible()
    node.click()
    button = page.locator(".fc-g-panel button.fc-g-open-card").first
    expect(button).to_be_visible()
    unit, source = int(button.get_attribute("data-unit") or -1), button.get_attribute("data-source")
    button.click()
    bridge.wait_python(lambda: bridge.w.card.get("feature") == unit)
    assert bridge.w.card["source"] == source
    bridge.push()
    expect(page.locator(".fc-g-card .fc-card")).to_be_visible()
    expect(page.locator(".fc-g-card .fc-card")).to_contain_text(f"feature {unit}")
    assert not errors, errors
    page.close()


def test_export_renders_offline_with_the_same_routes(browser: Any, ws: Any, artifacts: Path) -> None:
    graph = ws.graph(ws.tokens[0, :12], target=6)
    out = graph.export_html(artifacts / "export-graph.html")
    ctx = browser.new_context(offline=True)
    page = ctx.new_page()
    requests: list[str] = []
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    root = page.locator("#featurecard-root")
    expect(root.locator(".fc-g-edge")).to_have_count(len(graph.routes()))
    root.locator(".fc-g-token[data-pos='2']").click()  # targets switch offline: no kernel needed
    graph.target = 2
    expect(root.locator(".fc-g-edge")).to_have_count(len(graph.routes()))
    assert root.locator("b, i, img, script").count() == 0
    page.screenshot(path=str(artifacts / "export-graph.png"), full_page=True)
    assert not errors, errors
    assert not dialogs, dialogs
    assert all(u.startswith(("file:", "blob:", "data:")) for u in requests), requests
    ctx.close()
