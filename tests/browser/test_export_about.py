"""Exported files in Chromium: the node table's kernel-only ablate controls are disabled and say
why, and every view's page shows an "about this file" line with its provenance, a model name
holding markup staying text (no element, no dialog)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pages import open_offline
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
EVIL = "</script><img src=x onerror=alert(1)>"


def test_an_exported_tables_ablate_controls_need_a_kernel(browser: Any, ws: Any, tmp_path: Path) -> None:
    table = ws.nodes(ws.tokens[0, :12], target=5, distractor=7)
    table.ablate("mlp", unit=3, pos=4, layer=0)
    offline = open_offline(browser, table.export_html(tmp_path / "nodes.html"))
    root = offline.page.locator("#featurecard-root")
    buttons = root.locator("tr.nt-row button.nt-ablate")
    assert buttons.count() > 0
    for i in range(buttons.count()):
        expect(buttons.nth(i)).to_be_disabled()
    expect(root.locator(".nt-offline")).to_be_visible()
    expect(root.locator(".nt-offline")).to_have_text("ablate needs a running kernel")
    expect(root.locator("select.nt-mode")).to_be_disabled()
    expect(root.locator("button.nt-unablate")).to_be_disabled()
    offline.assert_clean()
    offline.ctx.close()


@pytest.mark.parametrize("view", ["card", "graph", "nodes"])
def test_every_export_shows_where_it_came_from(browser: Any, ws: Any, tmp_path: Path, view: str) -> None:
    model = ws.adapter.model
    old = getattr(model.cfg, "model_name", None)
    model.cfg.model_name = EVIL
    try:
        make = {
            "card": lambda: ws.card("mlp0", feature=1),
            "graph": lambda: ws.graph(ws.tokens[0, :12], target=6),
            "nodes": lambda: ws.nodes(ws.tokens[0, :12], target=5, distractor=7),
        }[view]
        out = make().export_html(tmp_path / f"{view}.html")
    finally:
        model.cfg.model_name = old
    offline = open_offline(browser, out)
    page = offline.page
    about = page.locator("p.featurecard-about")
    expect(about).to_be_visible()
    text = about.inner_text()
    assert text.startswith("About this file: made by featurecard ") and f"model {EVIL}" in text
    assert "mlp0 (blocks.0.mlp.hook_post)" in text and "transformer_lens " in text
    assert page.locator("img").count() == 0
    block = json.loads(page.locator("#featurecard-provenance").text_content() or "{}")
    assert block["model"] == EVIL and block["saes"] == [{"name": "mlp0", "hook": "blocks.0.mlp.hook_post"}]
    assert page.locator("meta[name='featurecard:model']").get_attribute("content") == EVIL
    # the line sits under the view, inside the page's width
    view_box, about_box = page.locator("#featurecard-root").bounding_box(), about.bounding_box()
    assert view_box is not None and about_box is not None and about_box["y"] >= view_box["y"] + view_box["height"] - 1
    offline.assert_clean()
    offline.ctx.close()
