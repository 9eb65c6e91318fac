"""A card's DFA rows (an SAE on ``hook_z``) and its label, in Chromium.

Live (the page bridged to a real FeatureCard): under each top example a DFA row whose tokens'
values are the state's DFA (checked against a hand computation in
tests/unit/card/test_card_dfa.py), the example's token marked, a tooltip that adds up to the
pre-activation; the label line: "add label", typed text (markup kept as text) sent with Enter
lands in ``Workspace.labels`` and is drawn from the card's new state; a refused label is shown
in the banner with the field kept. Exported: the label is shown, setting one is disabled and
says it needs a kernel, the DFA rows are there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from card_bridge import Bridge
from page_bridge import open_bridged, serve_harness
from pages import open_offline
from playwright.sync_api import expect

import tiny
from featurecard.card.widget import FeatureCard
from featurecard.core.codecs import decode_array

pytestmark = pytest.mark.browser
ROW_JS = "row => [...row.querySelectorAll('span.fc-tok')].map(s => Number(s.dataset.act))"
TEXT = '<b>quotes</b> & "closing" </script>'


@pytest.fixture(scope="module")
def z_ws(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from featurecard.workspace import Workspace

    tok = tiny.make_tokenizer(tmp_path_factory.mktemp("z-tok"))
    model = tiny.bridge(tok)
    sae = {**tiny.random_sae_weights(32, 24, seed=9), "hook_name": "blocks.1.attn.hook_z"}
    tokens = tiny.random_tokens(tok, batch=8, pos=24, seed=1)
    return Workspace(model, saes={"z": sae}, tokens=tokens, progress=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("labels-dfa"), FeatureCard)


def check_dfa_rows(card: Any, state: dict[str, Any]) -> None:
    d = state["examples"]["dfa"]
    offsets, values = decode_array(state["examples"]["seq_offsets"]), decode_array(d["values"])
    rows = card.locator(".fc-examples .fc-dfa-row")
    expect(rows).to_have_count(d["count"])
    assert d["count"] > 0
    for i in range(d["count"]):
        got = rows.nth(i).evaluate(ROW_JS)
        np.testing.assert_allclose(got, values[offsets[i] : offsets[i + 1]], rtol=1e-6)


def test_live_card_draws_dfa_rows_and_sets_its_label(
    browser: Any, site: str, z_ws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = int(torch.argmax(z_ws.index("z").n_active))
    page, bridge, errors = open_bridged(browser, site, lambda p: Bridge(p, z_ws.card("z", feature=f)))
    card = page.locator(".fc-card")
    check_dfa_rows(card, bridge.w.state)
    card.locator(".fc-dfa-row span.fc-tok.fc-focus").first.hover()
    expect(card.locator(".fc-tooltip")).to_contain_text("DFA from")
    expect(card.locator(".fc-tooltip")).to_contain_text("pre-activation")
    page.mouse.move(0, 0)

    expect(card.locator(".fc-label-text")).to_have_text("no label")
    card.locator("button.fc-label-edit").click()
    field = card.locator("input.fc-label-input")
    field.fill(TEXT)
    field.press("Enter")
    bridge.wait_python(lambda: z_ws.labels("z") == {f: TEXT})
    expect(card.locator(".fc-label-text")).to_have_text(TEXT)
    assert card.locator(".fc-label b").count() == 0 and bridge.w.state["label"] == TEXT

    def refuse(name: str, feature: int, text: str) -> None:
        raise ValueError(f"a label has at most 2000 characters; got {len(text)}")

    monkeypatch.setattr(z_ws, "label", refuse)
    card.locator("button.fc-label-edit").click()
    card.locator("input.fc-label-input").fill("refused")
    card.locator("button.fc-label-save").click()
    expect(card.locator(".fc-error-line").first).to_contain_text("a label has at most 2000 characters; got 7")
    expect(card.locator("input.fc-label-input")).to_have_value("refused")
    assert errors == []
    page.close()


def test_an_exported_card_shows_its_label_and_dfa(browser: Any, z_ws: Any, tmp_path: Path) -> None:
    f = int(torch.argmax(z_ws.index("z").n_active))
    z_ws.label("z", f, TEXT)
    widget = z_ws.card("z", feature=f)
    offline = open_offline(browser, widget.export_html(tmp_path / "card.html"))
    card = offline.page.locator("#featurecard-root .fc-card")
    expect(card.locator(".fc-label-text")).to_have_text(TEXT)
    button = card.locator("button.fc-label-edit")
    expect(button).to_be_disabled()
    expect(button).to_have_attribute("title", "setting a label needs a running kernel")
    check_dfa_rows(card, widget.state)
    offline.assert_clean()
    offline.ctx.close()
