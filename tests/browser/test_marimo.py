"""The feature card in marimo: ``marimo edit`` on 127.0.0.1 with a small notebook (the card
wrapped in ``mo.ui.anywidget``), the embedded default, Debian Chromium.

marimo is not Jupyter: it has no ipywidgets manager, draws each anywidget inside a shadow
root of its own in a narrower column than Lab's, carries traitlets and custom messages over
its own connection, and has no anywidget ``invoke`` (the views' requests are plain custom
messages, core/view.py). So the card is checked as a person uses it there: it renders whole
inside the cell's output, typing another index in its box (a request the kernel answers)
shows that card with the box on it, an index out of range is refused with the accepted range
and the box goes back to the shown card, hovering a token shows its tooltip at the token, on
top, and the card's ArrowRight (marimo has keyboard shortcuts of its own) steps to the next
latent.

The notebook opens in the editor, run on open (``auto_instantiate``), as a user's would; what
the cards must say comes from the kernel's activation index, shown by a cell of its own.
"""

from __future__ import annotations

import json
import sys
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
from pages import contrast_failures
from playwright.sync_api import expect
from servers import free_port, server_env, serving

pytestmark = pytest.mark.browser

APP = """import marimo

app = marimo.App()


@app.cell
def _():
    import json

    import marimo as mo

    import host_card

    ws, facts = host_card.demo_card_facts()
    card = mo.ui.anywidget(ws.card(host_card.SOURCE, feature=facts["f0"]))
    return card, facts, json, mo


@app.cell
def _(facts, json, mo):
    mo.plain_text("facts " + json.dumps(facts))
    return


@app.cell
def _(card):
    card
    return


if __name__ == "__main__":
    app.run()
"""


@pytest.fixture(scope="module")
def marimo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_embedded_default()
    root = tmp_path_factory.mktemp("marimo")
    (root / "card.py").write_text(APP)
    env = server_env(root)
    settings = root / "xdg-config" / "marimo"
    settings.mkdir(parents=True)
    (settings / "marimo.toml").write_text("[runtime]\nauto_instantiate = true\n")
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "marimo",
        "-y",
        "edit",
        str(root / "card.py"),
        "--headless",
        "--host=127.0.0.1",
        f"--port={port}",
        "--no-token",
        "--skip-update-check",
        "--no-sandbox",
    ]
    url = f"http://127.0.0.1:{port}"
    with serving(cmd, env, f"{url}/health", root / "server.log"):
        yield url


def test_card_in_marimo(marimo: str, browser: Any, artifacts: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(marimo)
    card = page.locator("marimo-anywidget .fc-card")  # inside the element's shadow root
    expect(card.locator("span.fc-tok").first).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    area = page.locator(".output-area", has=page.locator("marimo-anywidget"))
    shown = page.locator("pre", has_text="facts {")
    facts = json.loads(shown.inner_text().removeprefix("facts "))
    f0, f1, n = facts["f0"], facts["f1"], facts["n"]

    before = assert_card_shows(card, area, f0, facts)
    type_feature(card, f1)
    after = assert_card_shows(card, area, f1, facts)
    assert after != before, "the examples did not change with the latent"

    # refused: the error names the accepted range; the box goes back to the card shown
    type_feature(card, n)
    expect(card.locator(".fc-error")).to_contain_text(f"0 to {n - 1}")
    expect(card.locator("input.fc-index")).to_have_value(str(f1))
    assert_card_shows(card, area, f1, facts)

    assert_hover_tooltip(page, card, area)
    page.screenshot(path=str(artifacts / "marimo.png"))
    assert_arrow_steps(card, f1)
    page.close()
    assert not errors, errors


# the card's controls and the text around them (the index box and search field: value or placeholder)
CONTROLS = (
    "input.fc-index, input.fc-search-box, .fc-nav button, .fc-feature, .fc-source, .fc-stats > *, "
    ".fc-log-toggle, .fc-help-title, .fc-help-panel dt, .fc-help-panel dd"
)


def test_card_in_marimo_dark(marimo: str, browser: Any, artifacts: Path) -> None:
    """marimo's dark theme (``?theme=dark``: its body gets the ``dark`` class and ``color-scheme:
    dark``, and no JupyterLab variable): the card turns dark with it (no white box in a dark
    notebook) and its controls, their values and the text around them read at 4.5:1."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    page.goto(f"{marimo}?theme=dark")
    card = page.locator("marimo-anywidget .fc-card")
    expect(card.locator("span.fc-tok").first).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    assert page.evaluate("document.body.classList.contains('dark')"), "marimo did not take the dark theme"
    card.locator("button.fc-help").click()  # the help panel's text is checked too
    expect(card.locator(".fc-help-panel")).to_be_visible()
    bg = card.evaluate("el => getComputedStyle(el).backgroundColor")
    channels = [int(c) for c in bg[bg.index("(") + 1 : bg.index(")")].split(",")[:3]]
    assert max(channels) < 64, f"the card stays light in marimo's dark theme: {bg}"
    assert contrast_failures(card, CONTROLS, 4.5) == []
    page.screenshot(path=str(artifacts / "marimo-dark.png"))
    page.close()
