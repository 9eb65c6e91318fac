"""The feature card in Jupyter Notebook 7 (the ``notebook`` package): a real server on 127.0.0.1,
a real kernel on the embedded default, Debian Chromium.

Notebook 7 is built from JupyterLab's parts but is its own page (its own shell, one notebook per
tab, its own CSS around the output area), so the card is checked there as a person uses it:
it renders whole inside the output area, typing another index in its box asks the kernel
(whose ``card.feature`` and ``state`` follow) and shows that card with the box on it, an index
out of range is refused with the accepted range and the box goes back to the shown card,
hovering a token shows its tooltip at the token, on top, inside the output area, and the
card's ArrowRight (Notebook 7 has command-mode keys of its own) steps to the next latent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from host_card import (
    RENDER_TIMEOUT_MS,
    assert_arrow_steps,
    assert_card_shows,
    assert_hover_tooltip,
    require_embedded_default,
    type_feature,
)
from playwright.sync_api import expect
from servers import KERNEL_IDLE, Kernel, jupyter_server, write_notebook

pytestmark = pytest.mark.browser

CELLS = [
    "import host_card\nws, facts = host_card.demo_card_facts()",
    "card = ws.card(host_card.SOURCE, feature=facts['f0'])\ncard",
]


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_embedded_default()
    root = tmp_path_factory.mktemp("notebook7")
    nbdir = root / "notebooks"
    write_notebook(nbdir / "card.ipynb", CELLS)
    with jupyter_server("notebook", root, nbdir, "--JupyterNotebookApp.expose_app_in_browser=True") as server:
        yield server


def wait_for_kernel(kernel: Kernel, expr: str, want: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while kernel.eval(expr) != want:
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_card_in_notebook7(notebook7: dict[str, Any], browser: Any, artifacts: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    page.goto(f"{notebook7['url']}/notebooks/card.ipynb?token={notebook7['token']}")
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    # errors from here on: Notebook 7.6's own shortcuts plugin throws once while the page loads
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    card = page.locator(".jp-OutputArea-output .fc-card")
    expect(card.locator("span.fc-tok").first).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    area = page.locator(".jp-OutputArea-output:has(.fc-card)")

    kid = page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id")
    kernel = Kernel(notebook7["runtime"] / f"kernel-{kid}.json")
    try:
        facts = kernel.eval("facts")
        f0, f1, n = facts["f0"], facts["f1"], facts["n"]
        before = assert_card_shows(card, area, f0, facts)

        type_feature(card, f1)
        shown = "[card.feature, card.state['feature']]"
        wait_for_kernel(kernel, shown, [f1, f1], "the typed index never reached the kernel")
        after = assert_card_shows(card, area, f1, facts)
        assert after != before, "the examples did not change with the latent"

        # refused: the error names the accepted range; the box goes back to the card shown
        type_feature(card, n)
        expect(card.locator(".fc-error")).to_contain_text(f"0 to {n - 1}")
        expect(card.locator("input.fc-index")).to_have_value(str(f1))
        assert kernel.eval("card.feature") == f1
        assert_card_shows(card, area, f1, facts)

        assert_hover_tooltip(page, card, area)
        page.screenshot(path=str(artifacts / "notebook7.png"))
        assert_arrow_steps(card, f1)
        wait_for_kernel(kernel, "card.feature", f1 + 1, "the arrow key never reached the kernel")
    finally:
        kernel.close()
    page.close()
    assert not errors, errors
