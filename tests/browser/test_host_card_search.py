"""A card inside the node table searches and picks at random through the table's kernel (the
page bridged to a real NodeTable), and in the table's exported file both say they need one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from page_bridge import PageBridge, open_bridged, serve_harness
from pages import open_offline
from playwright.sync_api import expect

from featurecard.nodes.widget import NodeTable

pytestmark = pytest.mark.browser
SYNCED = ("state", "position", "selected", "card", "ablations", "error", "busy")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("host-search"), NodeTable)


class Bridge(PageBridge):
    python_timeout = 10.0

    def __init__(self, page: Any, widget: NodeTable) -> None:
        super().__init__(page, widget, SYNCED)


def make_table(ws: Any) -> NodeTable:
    return ws.nodes(ws.tokens[0, :12], target=5, distractor=7)


def test_search_and_random_in_the_tables_card_ask_its_kernel(browser: Any, site: str, ws: Any) -> None:
    page, bridge, errors = open_bridged(browser, site, lambda p: Bridge(p, make_table(ws)), width=1200)
    page.locator("tr.nt-row[data-family='mlp0'] button.nt-open").first.click()
    bridge.wait_python(lambda: bool(bridge.w.card))
    bridge.push()
    opened = bridge.w.card["feature"]
    card = page.locator(".nt-card-area .fc-card")
    box = card.locator("input.fc-search-box")
    expect(box).to_be_enabled()
    text = "value of the argument"
    box.fill(text)
    box.press("Enter")
    want = [h["feature"] for h in ws.search("mlp0", text)["hits"]]
    expect(card.locator("button.fc-hit")).to_have_count(len(want))
    got = [int(f) for f in card.locator("button.fc-hit").evaluate_all("bs => bs.map(b => b.dataset.feature)")]
    assert got == want and len(want) > 0
    random = card.locator("button.fc-random")
    expect(random).to_be_enabled()
    random.click()
    bridge.wait_python(lambda: bridge.w.card["feature"] != opened)
    live = set(torch.nonzero(ws.index("mlp0").n_active > 0).flatten().tolist())
    assert bridge.w.card["source"] == "mlp0" and bridge.w.card["feature"] in live
    assert bridge.w.error == "" and errors == []
    page.close()


def test_an_exported_tables_card_says_search_and_random_need_a_kernel(browser: Any, ws: Any, tmp_path: Path) -> None:
    table = make_table(ws)
    table.open_card("mlp0", unit=int(torch.argmax(ws.index("mlp0").n_active)))
    offline = open_offline(browser, table.export_html(tmp_path / "nodes.html"))
    card = offline.page.locator("#featurecard-root .nt-card-area .fc-card")
    box, random = card.locator("input.fc-search-box"), card.locator("button.fc-random")
    expect(box).to_be_disabled()
    expect(box).to_have_attribute("title", "search needs a running kernel")
    expect(random).to_be_disabled()
    expect(random).to_have_attribute("title", "random needs a running kernel")
    offline.assert_clean()
    offline.ctx.close()
