"""The NodeTable bundle in a plain page, bridged to a real NodeTable widget in this process,
and its exported file opened offline.

The page's FakeModel stands in for the comm (as in test_harness.py): save_changes() calls
Python's set_state, and Python-side changes are pushed back with model.pythonSet.
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

import numpy as np
import pytest
from cards import MARKUP, markup_workspace
from playwright.sync_api import expect

from conftest import REPO, assert_on_top
from featurecard.state.codecs import decode_array, to_portable
from featurecard.widget.node_table import NodeTable

pytestmark = pytest.mark.browser
SYNCED = ("state", "position", "selected", "card", "ablations", "error", "busy")
T, D = 5, 7


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("nodes-harness")
    (d / "widget.js").write_text(str(NodeTable._esm))  # exactly what Python sends as _esm
    (d / "widget.css").write_text(str(NodeTable._css))
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


def make_table(ws: Any) -> NodeTable:
    prompt = ws.tokens[0, :12]  # holds the markup tokens
    return ws.nodes(prompt, target=T, distractor=D)


class Bridge:
    """Python NodeTable <-> page FakeModel."""

    def __init__(self, page: Any, widget: NodeTable) -> None:
        self.page, self.w = page, widget
        page.expose_function("__pySaveChanges", lambda patch: self.w.set_state(patch))
        page.expose_function("__pyInitialState", lambda: self.portable())

    def portable(self) -> dict[str, Any]:
        return to_portable({k: getattr(self.w, k) for k in SYNCED})

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=10_000)

    def push(self) -> None:
        self.page.evaluate(
            "s => { for (const [k, v] of Object.entries(s)) window.model.pythonSet(k, v); }", self.portable()
        )

    def wait_python(self, cond: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "Python never saw the change"
            self.page.wait_for_timeout(20)


def open_table(browser: Any, site: str, ws: Any) -> tuple[Any, Bridge, list[str]]:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    bridge = Bridge(page, make_table(ws))
    bridge.open(site)
    return page, bridge, errors


def row_names(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("tr.nt-row td.nt-name").all_text_contents()]


def python_names(table: NodeTable, order: np.ndarray) -> list[str]:
    st = table.state
    fams = {f["code"]: f for f in st["families"]}
    fam, layer, unit = (decode_array(st["rows"][k]) for k in ("family", "layer", "unit"))
    out = []
    for j in order:
        f = fams[int(fam[j])]
        kind = f["kind"]
        out.append(
            f"mlp L{layer[j]} n{unit[j]}"
            if kind == "mlp"
            else f"attn L{layer[j]} H{unit[j]}"
            if kind == "attn"
            else f"{f['name']} #{unit[j]}"
        )
    return out


def test_table_renders_and_sorting_works(browser: Any, site: str, ws: Any, artifacts: Path) -> None:
    page, bridge, errors = open_table(browser, site, ws)
    st = bridge.w.state
    values = decode_array(st["rows"]["values"])[0]  # [group, row]
    groups = [g["name"] for g in st["groups"]]
    n = values.shape[1]
    expect(page.locator("tr.nt-row")).to_have_count(n)
    # first sort: direct effect, descending, NaN last (numpy's argsort of -x puts NaN last too)
    de = values[groups.index("direct_effect")]
    assert row_names(page) == python_names(bridge.w, np.argsort(-de, kind="stable"))
    act = values[groups.index("activation")]
    page.locator("button.nt-sort[data-key='activation']").click()
    assert row_names(page) == python_names(bridge.w, np.argsort(-act, kind="stable"))
    page.locator("button.nt-sort[data-key='activation']").click()
    assert row_names(page) == python_names(bridge.w, np.argsort(act, kind="stable"))
    # the prompt's markup tokens are text, never elements
    assert page.locator(".nt-widget b, .nt-widget i, .nt-widget img, .nt-widget script").count() == 0
    texts = page.locator(".nt-prompt span.nt-tok").evaluate_all("els => els.map(e => e.dataset.text)")
    assert texts == st["prompts"][0]["tokens"] and any(m in texts for m in MARKUP)
    # hover a row: its active positions are tinted
    page.locator("tr.nt-row").first.hover()
    assert page.locator(".nt-prompt span.nt-tok.nt-active").count() >= 1
    page.screenshot(path=str(artifacts / "nodes-harness.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_clicking_a_latent_opens_its_card(browser: Any, site: str, ws: Any, artifacts: Path) -> None:
    page, bridge, errors = open_table(browser, site, ws)
    latent = page.locator("tr.nt-row[data-family='mlp0'] button.nt-open").first
    expect(latent).to_be_visible()
    unit = int(latent.inner_text().split("#")[1])
    latent.click()
    bridge.wait_python(lambda: bool(bridge.w.card))
    assert bridge.w.card["source"] == "mlp0" and bridge.w.card["feature"] == unit and bridge.w.error == ""
    bridge.push()
    card = page.locator(".nt-card-area .fc-card")
    expect(card).to_be_visible()
    expect(card.locator("input.fc-index")).to_have_value(str(unit))
    want = len(decode_array(bridge.w.card["examples"]["tokens"]))
    expect(card.locator("span.fc-tok")).to_have_count(want)
    card.scroll_into_view_if_needed()
    assert_on_top(card.locator("input.fc-index"))
    # the card's own arrows ask the table for the next latent
    card.locator("button.fc-next").click()
    bridge.wait_python(lambda: bridge.w.card["feature"] == unit + 1)
    page.screenshot(path=str(artifacts / "nodes-card.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_clicking_a_token_moves_the_target(browser: Any, site: str, ws: Any) -> None:
    page, bridge, errors = open_table(browser, site, ws)
    page.locator(".nt-prompt span.nt-tok[data-pos='6']").click()
    bridge.wait_python(lambda: bridge.w.state["target"]["position"] == 6)
    bridge.push()
    expect(page.locator(".nt-prompt span.nt-tok.nt-target")).to_have_attribute("data-pos", "6")
    assert int(decode_array(bridge.w.state["rows"]["pos"]).max()) <= 6
    expect(page.locator(".nt-target-desc")).to_contain_text("at position 6")
    assert not errors, errors
    page.close()


def test_export_renders_offline(browser: Any, ws: Any, artifacts: Path) -> None:
    table = make_table(ws)
    latent = int(
        next(
            u
            for f, u in zip(
                decode_array(table.state["rows"]["family"]), decode_array(table.state["rows"]["unit"]), strict=True
            )
            if f == 2
        )
    )
    table.open_card("mlp0", unit=latent)
    out = table.export_html(artifacts / "export-nodes.html")
    page_text = out.read_text()
    for m in MARKUP:
        assert m not in page_text, f"{m!r} reached the HTML unescaped"
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
    n = int(table.state["rows"]["family"]["shape"][0])
    expect(root.locator("tr.nt-row")).to_have_count(n)
    root.locator("button.nt-sort[data-key='write_norm']").click()  # sorting works offline
    expect(root.locator("th[data-key='write_norm']")).to_have_attribute("aria-sort", "descending")
    expect(root.locator(".nt-card-area .fc-card input.fc-index")).to_have_value(str(latent))
    assert root.locator("b, i, img, script").count() == 0
    page.screenshot(path=str(artifacts / "export-nodes.png"), full_page=True)
    assert not errors, errors
    assert not dialogs, dialogs
    assert all(u.startswith(("file:", "blob:", "data:")) for u in requests), requests
    ctx.close()
