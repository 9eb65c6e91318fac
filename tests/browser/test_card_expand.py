"""A click on an example row widens it to ±20 tokens of its dataset row, in Chromium.

Live (the page bridged to a real FeatureCard, and to a NodeTable whose open card asks the
table's kernel): the clicked row redraws with the window's tokens, 41 of them (fewer where the
row ends), each token's text and activation those of Python's ``Workspace.window`` (checked
against the model and the SAE by hand in tests/unit/card/test_expand.py), the example's token
and the window's largest activation marked, markup tokens as text; a second click puts the ±5
row back. From the keyboard, Enter on a focused row widens it and Escape narrows it. Exported:
the rows keep ±5 tokens, the examples column says so, and a click says it needs a running
kernel, with nothing broken.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from card_bridge import Bridge
from cards import MARKUP
from page_bridge import PageBridge, open_bridged, serve_harness
from pages import open_offline
from playwright.sync_api import expect

import tiny
from featurecard.card.widget import FeatureCard
from featurecard.core.codecs import decode_array
from featurecard.nodes.widget import NodeTable

pytestmark = pytest.mark.browser
POS = 64  # a row long enough for a whole ±20 window
ROW_JS = """row => [...row.querySelectorAll('span.fc-tok')].map(s => [s.dataset.text, Number(s.dataset.act),
  s.classList.contains('fc-focus'), s.classList.contains('fc-tok-max'), s.dataset.t ?? null])"""


@pytest.fixture(scope="module")
def wide_ws(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A Workspace over 8 rows of 64 tokens (the model's context is 64), markup tokens here and there,
    and no token that is only part of a character (the card's byte decoding is tested elsewhere)."""
    from featurecard.workspace import Workspace

    tok = tiny.make_tokenizer(tmp_path_factory.mktemp("wide-tok"), extra_tokens=MARKUP)
    model = tiny.bridge(tok, n_ctx=POS)
    tokens = tiny.random_tokens(tok, batch=8, pos=POS, seed=2)
    tokens[tokens >= len(tok) - len(MARKUP)] = 5  # markup only where placed below
    pieces = [i for i in range(len(tok)) if "\ufffd" in tok.decode([i])]
    tokens[torch.isin(tokens, torch.tensor(pieces))] = 5  # whole text each: a token's text is its decode
    for j, m in enumerate(MARKUP):
        tokens[:, 3 + 11 * j :: 33] = tok.convert_tokens_to_ids(m)
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("expand"), FeatureCard)


@pytest.fixture(scope="module")
def table_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("expand-table"), NodeTable)


def example_rows(state: dict[str, Any]) -> list[tuple[int, int]]:
    """(dataset row, position of the example's token) of each sequence the card sent."""
    ex = state["examples"]
    rows, pos0, focus = (decode_array(ex[k]).tolist() for k in ("seq_batch", "seq_pos0", "seq_focus"))
    return [(r, p + f) for r, p, f in zip(rows, pos0, focus, strict=True)]


def check_widened(card: Any, ws: Any, source: str, feature: int, index: int, row: int, position: int) -> None:
    """Click row ``index`` of ``card``; it shows Python's window of (row, position), then narrows again."""
    rows = card.locator(".fc-examples .fc-seq")
    narrow = rows.nth(index).evaluate(ROW_JS)
    card.page.mouse.move(0, 0)  # no tooltip over the row from an earlier hover
    rows.nth(index).locator("span.fc-tok").first.click()
    wide = card.locator(".fc-examples .fc-seq.fc-seq-wide")
    expect(wide).to_have_count(1, timeout=20_000)
    got = wide.evaluate(ROW_JS)
    start, stop = max(0, position - 20), min(POS, position + 21)
    assert len(got) == stop - start <= 41
    win = ws.window(source, feature, row, position)
    tok = ws.adapter.model.tokenizer
    assert [g[0] for g in got] == [tok.decode([i]) for i in ws.tokens[row, start:stop].tolist()]
    np.testing.assert_allclose([g[1] for g in got], decode_array(win["acts"]), rtol=1e-4, atol=1e-5)
    assert [i for i, g in enumerate(got) if g[2]] == [position - start]
    acts = [g[1] for g in got]
    if max(acts) > 0:
        assert [i for i, g in enumerate(got) if g[3]] == [int(np.argmax(acts))]
    # the positions the card shows keep its flat indices (and hover); the others have none
    assert [g[4] for g in got if g[4] is not None] == [n[4] for n in narrow]
    card.locator(".fc-seq-wide span.fc-tok").first.click()  # the click closed the tooltip it opened
    expect(wide).to_have_count(0)
    assert rows.nth(index).evaluate(ROW_JS) == narrow


def check_keyboard(card: Any, index: int) -> None:
    """Row ``index`` from the keyboard: focused, Enter widens it (aria-expanded, the focus kept),
    Escape narrows it, Tab goes on to the next row."""
    rows, page = card.locator(".fc-examples .fc-seq"), card.page
    narrow = rows.nth(index).evaluate(ROW_JS)
    rows.nth(index).focus()
    expect(rows.nth(index)).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Enter")
    wide = card.locator(".fc-examples .fc-seq.fc-seq-wide")
    expect(wide).to_have_count(1, timeout=20_000)
    expect(wide).to_have_attribute("aria-expanded", "true")
    expect(wide).to_be_focused()
    assert len(wide.evaluate(ROW_JS)) > len(narrow)
    page.keyboard.press("Escape")
    expect(wide).to_have_count(0)
    expect(rows.nth(index)).to_be_focused()
    assert rows.nth(index).evaluate(ROW_JS) == narrow
    page.keyboard.press("Tab")
    expect(rows.nth(index + 1)).to_be_focused()


def test_a_click_widens_a_row_of_the_live_card_to_41_tokens(
    browser: Any, site: str, wide_ws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = int(torch.argmax(wide_ws.index("mlp0").n_active))
    page, bridge, errors = open_bridged(browser, site, lambda p: Bridge(p, wide_ws.card("mlp0", feature=f)))
    card = page.locator(".fc-card")
    expect(card.locator(".fc-examples-note")).to_have_text(
        "Click a row for ±20 tokens of its dataset row; click it again for ±5."
    )
    examples = example_rows(bridge.w.state)
    middle = next(i for i, (_, p) in enumerate(examples) if 20 <= p < POS - 20)
    edge = next(i for i, (_, p) in enumerate(examples) if not 20 <= p < POS - 20)
    for i in (middle, edge):  # rows in the card's flow are the sequences it sent, in order
        check_widened(card, wide_ws, "mlp0", f, i, *examples[i])
    assert page.locator("img").count() == 0 and bridge.w.error == "" and errors == []
    check_keyboard(card, middle)

    def refuse(*args: Any) -> Any:  # as the kernel refuses a row it does not have
        raise IndexError("row 99 is out of range: accepted 0 .. 7")

    monkeypatch.setattr(wide_ws, "window", refuse)
    row = card.locator(".fc-examples .fc-seq").nth(middle)
    before = row.evaluate(ROW_JS)
    page.mouse.move(0, 0)
    row.locator("span.fc-tok").first.click()
    expect(card.locator(".fc-error-line")).to_have_text("expand: IndexError: row 99 is out of range: accepted 0 .. 7")
    assert row.evaluate(ROW_JS) == before and card.locator(".fc-seq-wide, .fc-seq-loading").count() == 0
    assert bridge.w.error == "" and errors == []
    page.close()


class TableBridge(PageBridge):
    python_timeout = 10.0

    def __init__(self, page: Any, widget: NodeTable) -> None:
        super().__init__(page, widget, ("state", "position", "selected", "card", "ablations", "error", "busy"))


def test_the_card_in_a_node_table_widens_its_rows_through_the_tables_kernel(
    browser: Any, table_site: str, wide_ws: Any
) -> None:
    table = wide_ws.nodes(wide_ws.tokens[0, :12], target=5, distractor=7)
    page, bridge, errors = open_bridged(browser, table_site, lambda p: TableBridge(p, table), width=1300)
    page.locator("tr.nt-row[data-family='mlp0'] button.nt-open").first.click()
    bridge.wait_python(lambda: bool(bridge.w.card))
    bridge.push()
    card = page.locator(".nt-card-area .fc-card")
    expect(card.locator(".fc-examples .fc-seq").first).to_be_visible()
    f = bridge.w.card["feature"]
    examples = example_rows(bridge.w.card)
    i = next(i for i, (_, p) in enumerate(examples) if 20 <= p < POS - 20)
    check_widened(card, wide_ws, "mlp0", f, i, *examples[i])
    assert bridge.w.error == "" and errors == []
    page.close()


def test_an_exported_card_keeps_5_tokens_and_says_a_wider_row_needs_a_kernel(
    browser: Any, wide_ws: Any, tmp_path: Path
) -> None:
    f = int(torch.argmax(wide_ws.index("mlp0").n_active))
    offline = open_offline(browser, wide_ws.card("mlp0", feature=f).export_html(tmp_path / "card.html"))
    card = offline.page.locator("#featurecard-root .fc-card")
    expect(card.locator(".fc-examples-note")).to_have_text(
        "Rows show ±5 tokens around each example; ±20 needs a running kernel."
    )
    row = card.locator(".fc-examples .fc-seq").first
    before = row.evaluate(ROW_JS)
    assert 0 < len(before) <= 11
    row.locator("span.fc-tok").first.click()
    expect(card.locator(".fc-error-line")).to_have_text(
        "showing ±20 tokens of a row needs a running kernel; this file keeps ±5 around each example"
    )
    assert card.locator(".fc-seq-wide").count() == 0 and row.evaluate(ROW_JS) == before
    # the rest of the card still works: hover, and the keyboard help
    row.locator("span.fc-tok.fc-focus").hover()
    expect(card.locator(".fc-tooltip")).to_be_visible()
    offline.assert_clean()
    offline.ctx.close()
