"""Promote / suppress in an exported ContributionGraph, offline in Chromium: clicking an attention
node shows its block's promoted and suppressed tokens and each head's, the same tokens (by their
text) and values the state holds for that node, drawn as text (the vocabulary holds markup)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pages import open_offline
from playwright.sync_api import expect

from featurecard.core.codecs import decode_array
from featurecard.core.token_bytes import TokenBytes, is_whole_text

pytestmark = pytest.mark.browser


def test_an_attention_nodes_promote_and_suppress_offline(browser: Any, ws: Any, tmp_path: Path) -> None:
    graph = ws.graph(ws.tokens[0, :12], target=6)
    st = graph.state
    offline = open_offline(browser, graph.export_html(tmp_path / "graph.html"))
    root = offline.page.locator("#featurecard-root")
    node = root.locator(".fc-g-attn").first
    _kind, layer, pos = (node.get_attribute("data-node") or "").split(":")
    node.click()
    table = root.locator(".fc-g-promote-panel > table.fc-g-promote")
    expect(table).to_have_count(1)
    pr, index = st["promote"]["attn"], (int(layer), int(pos))
    vocab_ids, tb = decode_array(st["vocab_ids"]), TokenBytes(ws.adapter.model.tokenizer)
    for col, key in ((0, "promote"), (2, "suppress")):
        local = decode_array(pr[f"{key}_tokens"])[index]
        shown = table.locator(f"tr td:nth-child({col + 1}) .fc-g-ptok")
        expect(shown).to_have_count(len(local))
        texts = [shown.nth(i).get_attribute("data-text") for i in range(len(local))]
        raw = [tb.one(int(vocab_ids[v])) for v in local]
        whole = [i for i, b in enumerate(raw) if is_whole_text(b)]
        assert whole and [texts[i] for i in whole] == [raw[i].decode() for i in whole]
        values = [float(v) for v in table.locator(f"tr td:nth-child({col + 2})").all_inner_texts()]
        np.testing.assert_allclose(values, decode_array(pr[f"{key}_values"])[index], atol=5e-4)
    heads = root.locator(".fc-g-promote-panel details.fc-g-promote-node")
    expect(heads).to_have_count(int(st["n_heads"]))
    heads.first.locator("summary").click()
    expect(heads.first.locator("table.fc-g-promote")).to_be_visible()
    assert root.locator("b, i, img, script").count() == 0  # markup tokens stay text
    offline.assert_clean()
    offline.ctx.close()
