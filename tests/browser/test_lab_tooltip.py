"""The card's hover tooltip in JupyterLab is whole and on top wherever the hovered token sits.

A notebook holds a card and, in the next cell, an output of its own (a tall coloured block, as a
plot or a table would be). Tokens across the card's examples (its last rows among them) are
scrolled to the bottom, then to the top, of the notebook's view and hovered; the tooltip must
be whole and on top: ``document.elementFromPoint`` at points along each of its edges is the
tooltip (or inside it), never the next cell's output, the notebook's toolbar or the status bar.

On the old placement (room counted inside the card's whole box) a token at the bottom of the
view put its tooltip under the status bar and off the page, though the card went on below, and
a token of the last rows at the top of the view put it above the notebook's toolbar; a box
kept inside the card could not pass under the next cell's output.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from servers import KERNEL_IDLE, lab_notebook

pytestmark = pytest.mark.browser

CELLS = [
    "import tempfile, cards\n"
    "ws, _ = cards.markup_workspace(__import__('pathlib').Path(tempfile.mkdtemp()))\n"
    "card = ws.card('mlp0', feature=cards.live_features(ws, 'mlp0', 1)[0])\ncard",
    "from IPython.display import HTML\n"
    'HTML(\'<div class="next-output" style="height: 900px; background: #c33">the next output</div>\')',
]

# Points along the tooltip's edges (2 px inside): what the page draws there, if not the tooltip.
COVERED_JS = """tip => {
  const r = tip.getBoundingClientRect();
  const xs = [r.left + 2, (r.left + r.right) / 2, r.right - 2];
  const ys = [r.top + 2, (r.top + r.bottom) / 2, r.bottom - 2];
  const out = [];
  for (const x of xs) for (const y of ys) {
    const at = document.elementFromPoint(x, y);
    // the card lives in the page's DOM (no shadow root in Lab): the hit is the tooltip or inside it
    if (!at || !(at === tip || tip.contains(at)))
      out.push(`${Math.round(x)},${Math.round(y)}: ${at ? at.tagName.toLowerCase() + '.' + at.className : 'nothing'}`);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with lab_notebook(tmp_path_factory.mktemp("lab-tip"), "tip.ipynb", CELLS) as server:
        yield server


def test_the_tooltip_of_a_token_at_the_cards_bottom_is_whole_and_on_top(
    lab: dict[str, Any], browser: Any, artifacts: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{lab['url']}/lab/tree/tip.ipynb?token={lab['token']}")
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    card = page.locator(".jp-Notebook .jp-Cell").nth(0).locator(".jp-OutputArea-output .fc-card")
    expect(card).to_be_visible(timeout=120_000)
    expect(page.locator(".next-output")).to_be_visible(timeout=60_000)
    toks = card.locator(".fc-col-right span.fc-tok")
    n = toks.count()
    assert n > 20
    failures: list[str] = []
    tip = card.locator(".fc-tooltip")
    picks = sorted({*range(n - 6, n), *range(0, n, max(1, n // 12))})  # the last rows, and some above
    for i in picks:
        for block in ("end", "start"):  # the token at the bottom, then at the top, of the notebook's view
            tok = toks.nth(i)
            tok.evaluate(f"t => t.scrollIntoView({{block: '{block}'}})")
            page.mouse.move(0, 0)
            tok.hover()
            expect(tip).to_be_visible()
            covered = tip.evaluate(COVERED_JS)
            if covered:
                failures.append(f"token {i} at the {block}: {covered}")
    page.screenshot(path=str(artifacts / "lab-tooltip.png"))
    page.close()
    assert not failures, "\n".join(failures)
    assert not errors, errors
