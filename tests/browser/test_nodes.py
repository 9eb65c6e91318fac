"""The NodeTable bundle in a plain page, bridged to a real NodeTable widget in this process,
and its exported file opened offline.

The page's FakeModel stands in for the comm (as in test_harness.py): a request the page sends
runs the widget's handler, whose traits come back before its reply (page_bridge.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cards import MARKUP, shown_tokens
from page_bridge import PageBridge, open_bridged, serve_harness
from pages import assert_on_top, open_offline
from playwright.sync_api import expect

from featurecard.core.codecs import decode_array
from featurecard.nodes.widget import NodeTable

pytestmark = pytest.mark.browser
SYNCED = ("state", "position", "selected", "card", "ablations", "error", "busy")
T, D = 5, 7


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("nodes-harness"), NodeTable)


def make_table(ws: Any) -> NodeTable:
    prompt = ws.tokens[0, :12]  # holds the markup tokens
    return ws.nodes(prompt, target=T, distractor=D)


class Bridge(PageBridge):
    """Python NodeTable <-> page FakeModel."""

    python_timeout = 10.0

    def __init__(self, page: Any, widget: NodeTable) -> None:
        super().__init__(page, widget, SYNCED)


def open_table(browser: Any, site: str, ws: Any) -> tuple[Any, Bridge, list[str]]:
    return open_bridged(browser, site, lambda page: Bridge(page, make_table(ws)), width=1200)


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
        names = {
            "mlp": f"mlp L{layer[j]} n{unit[j]}",
            "attn": f"attn L{layer[j]} H{unit[j]}",
            "head": f"head L{layer[j]} H{unit[j]}",  # a head summed over its sources
            "attn_layer": f"attn L{layer[j]}",  # whole layers
            "mlp_layer": f"mlp L{layer[j]}",
            "error": f["name"],  # an SAE's error node: "mlp0 error"
        }
        out.append(names.get(kind, f"{f['name']} #{unit[j]}"))
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
    shown = [st["vocab"][int(v)] for v in decode_array(st["prompts"][0]["tokens"])]
    assert texts == shown and any(m in texts for m in MARKUP)
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
    want = len(shown_tokens(bridge.w.card))
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
    offline = open_offline(browser, out)
    page = offline.page
    root = page.locator("#featurecard-root")
    n = int(table.state["rows"]["family"]["shape"][0])
    expect(root.locator("tr.nt-row")).to_have_count(n)
    root.locator("button.nt-sort[data-key='write_norm']").click()  # sorting works offline
    expect(root.locator("th[data-key='write_norm']")).to_have_attribute("aria-sort", "descending")
    expect(root.locator(".nt-card-area .fc-card input.fc-index")).to_have_value(str(latent))
    assert root.locator("b, i, img, script").count() == 0
    page.screenshot(path=str(artifacts / "export-nodes.png"), full_page=True)
    offline.assert_clean()
    offline.ctx.close()
