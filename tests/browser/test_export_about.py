"""Exported files in Chromium: the node table's kernel-only ablate controls are disabled and say
why, and every view's page shows an "about this file" line with its provenance, a model name
holding markup staying text (no element, no dialog), readable at 4.5:1 in Lab's light and dark
themes (the page's styles read the theme's variables, js/src/core/export-page.css)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pages import LAB_DARK, contrast_failures, open_offline, set_theme
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


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_about_line_reads_in_light_and_dark(browser: Any, ws: Any, tmp_path: Path, theme: str) -> None:
    offline = open_offline(browser, ws.card("mlp0", feature=1).export_html(tmp_path / "card.html"))
    page = offline.page
    if theme == "dark":
        set_theme(page, LAB_DARK)
    body = page.locator("body")
    assert contrast_failures(body, "p.featurecard-about", 4.5) == []
    about = page.locator("p.featurecard-about")
    assert about.get_attribute("style") is None
    # the card and the line under it share the theme's background (no light band in a dark page)
    card_bg = page.locator("#featurecard-root .fc-card").evaluate("e => getComputedStyle(e).backgroundColor")
    page_bg = body.evaluate("e => getComputedStyle(e).backgroundColor")
    assert card_bg == page_bg == ("rgb(17, 17, 17)" if theme == "dark" else "rgb(255, 255, 255)")
    offline.assert_clean()
    offline.ctx.close()
