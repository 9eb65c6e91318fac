"""One JupyterLab smoke test: headless Lab on 127.0.0.1, a real kernel, Debian Chromium.

The harness cannot see what JupyterLab's page does to a widget (clipping by the output
area, containing blocks, Lab's CSS, the real comm, anywidget's own module loader), so this
test renders the card, a graph and a node table in a notebook, checks the card is whole and
on top, types an index that must reach the kernel, and checks anywidget loaded every view's
module without a warning (a named ``render`` export draws "Direct export of a 'render'...").
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pages import assert_on_top
from playwright.sync_api import expect
from servers import KERNEL_IDLE, Kernel, lab_notebook

pytestmark = pytest.mark.browser

CELLS = [
    "import tempfile, cards\n"
    "ws, _ = cards.markup_workspace(__import__('pathlib').Path(tempfile.mkdtemp()))\n"
    "f0, f1 = cards.live_features(ws, 'mlp0', 2)",
    "graph = ws.graph(ws.tokens[0, :12], target=6)\ngraph",
    "table = ws.nodes(ws.tokens[0, :12], target=5, distractor=7)\ntable",
    # the card last, as when it was the only view: a hover box near its bottom may pass the cell's
    # edge, where a later cell's output would cover it
    "card = ws.card('mlp0', feature=f0)\ncard",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with lab_notebook(tmp_path_factory.mktemp("lab"), "card.ipynb", CELLS) as server:
        yield server


def test_card_in_jupyterlab(lab: dict[str, Any], browser: Any, artifacts: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    anywidget_warnings: list[str] = []
    page.on("console", lambda m: anywidget_warnings.append(m.text) if "[anywidget]" in m.text else None)
    page.goto(f"{lab['url']}/lab/tree/card.ipynb?token={lab['token']}")
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # the last cell's card (the graph and the table hold an empty card host of their own)
    first = page.locator(".jp-Notebook .jp-Cell").nth(3)
    card = first.locator(".jp-OutputArea-output .fc-card")
    expect(card).to_be_visible(timeout=120_000)
    expect(card.locator("span.fc-tok").first).to_be_visible()
    expect(page.locator(".jp-OutputArea-output .fc-graph")).to_be_visible(timeout=120_000)
    expect(page.locator(".jp-OutputArea-output .nt-widget")).to_be_visible(timeout=120_000)
    # anywidget's loader warns once per view about a module that exports `render` by name
    assert not anywidget_warnings, anywidget_warnings
    card.locator(".fc-index").scroll_into_view_if_needed()  # below the graph and the table
    # whole and on top: not clipped by the output area, not wider than it
    assert_on_top(card.locator(".fc-index"))
    out_box = first.locator(".jp-OutputArea-output:has(.fc-card)").bounding_box()
    card_box = card.bounding_box()
    assert out_box is not None and card_box is not None
    assert (
        card_box["x"] >= out_box["x"] - 1 and card_box["x"] + card_box["width"] <= out_box["x"] + out_box["width"] + 1
    )

    # the hover tooltip: inside the output area, on top, with the state's activation
    tok = card.locator("span.fc-tok.fc-focus").last
    tok.scroll_into_view_if_needed()
    tok.hover()
    tip = card.locator(".fc-tooltip")
    expect(tip).to_be_visible()
    assert_on_top(tip)
    tip_box = tip.bounding_box()
    assert tip_box is not None
    assert out_box["x"] - 1 <= tip_box["x"] and tip_box["x"] + tip_box["width"] <= out_box["x"] + out_box["width"] + 1
    assert float(tip.locator(".fc-tt-act .fc-tt-num").get_attribute("data-value")) == pytest.approx(
        float(tok.get_attribute("data-act")), abs=1e-6
    )
    page.mouse.move(0, 0)

    kid = page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id")
    kernel = Kernel(lab["runtime"] / f"kernel-{kid}.json")
    try:
        f0, f1 = kernel.eval("[f0, f1]")
        assert kernel.eval("card.feature") == f0
        box = card.locator("input.fc-index")
        box.fill(str(f1))
        box.press("Enter")
        deadline = time.monotonic() + 30
        while kernel.eval("[card.feature, card.state['feature']]") != [f1, f1]:
            assert time.monotonic() < deadline, "the typed index never reached the kernel"
            time.sleep(0.2)
        expect(box).to_have_value(str(f1))
        expect(card).to_have_attribute("data-feature", str(f1))
        # a click on a correlated latent reaches the kernel through the real comm
        link = card.locator(".fc-left-latents button.fc-link").first
        g = int(link.inner_text())
        link.click()
        deadline = time.monotonic() + 30
        while kernel.eval("[card.feature, card.state['feature']]") != [g, g]:
            assert time.monotonic() < deadline, "the clicked latent never reached the kernel"
            time.sleep(0.2)
        expect(card).to_have_attribute("data-feature", str(g))
        # search: a request message answered by the kernel
        search = card.locator("input.fc-search-box")
        search.fill("The value of the argument")
        search.press("Enter")
        expect(card.locator("button.fc-hit").first).to_be_visible(timeout=30_000)
    finally:
        kernel.close()
    page.screenshot(path=str(artifacts / "lab.png"))
    card.screenshot(path=str(artifacts / "lab-card.png"))
    page.close()
    assert not errors, errors
