"""Provenance in the exported page: a JSON block, <meta> tags and an "about this file" line,
read back with the standard library's HTML parser; hostile names stay text."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

from featurecard.core.export import to_html
from featurecard.core.provenance import Provenance, model_name

EVIL = '</script><img src=x onerror=alert(1)>"&\u202e'
PROV: Provenance = {
    "featurecard": "0.1.0",
    "model": EVIL,
    "saes": [{"name": "s</script>", "hook": "blocks.0.mlp.hook_post"}],
    "content_key": "abc123",
    "versions": {"torch": "2.0", "transformer_lens": "3.0", "sae_lens": "6.0"},
    "date": "2026-12-02T12:00:00+00:00",
}


class Page(HTMLParser):
    """The elements the provenance lives in: scripts by id, metas by name, the about line."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: dict[str, str] = {}
        self.metas: dict[str, str] = {}
        self.about: list[str] = []
        self.tags: list[str] = []
        self._in: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "meta" and a.get("name"):
            self.metas[str(a["name"])] = str(a.get("content"))
        elif tag == "script":
            self._in = ("script", str(a.get("id", "")))
        elif tag == "p" and a.get("class") == "featurecard-about":
            self._in = ("about", "")

    def handle_endtag(self, tag: str) -> None:
        del tag
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in and self._in[0] == "script":
            self.scripts[self._in[1]] = self.scripts.get(self._in[1], "") + data
        elif self._in and self._in[0] == "about":
            self.about.append(data)


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    return p


def test_the_page_carries_provenance_as_json_meta_and_text() -> None:
    page = parse(to_html([{"feature": 0}], provenance=PROV))
    assert json.loads(page.scripts["featurecard-provenance"]) == PROV
    assert page.metas["featurecard:model"] == EVIL and page.metas["generator"] == "featurecard 0.1.0"
    assert page.metas["featurecard:content-key"] == "abc123" and page.metas["featurecard:date"] == PROV["date"]
    assert page.metas["featurecard:saes"] == "s</script> (blocks.0.mlp.hook_post)"
    about = "".join(page.about)
    assert about.startswith("About this file: made by featurecard 0.1.0 on 2026-12-02T12:00:00+00:00")
    assert f"model {EVIL}" in about and "content key abc123" in about and "sae_lens 6.0" in about
    assert "img" not in page.tags  # the name stayed text: no element came out of it
    assert set(page.scripts) == {"featurecard-css", "featurecard-esm", "featurecard-data", "featurecard-provenance", ""}


def test_without_provenance_there_is_no_block() -> None:
    page = parse(to_html([{"feature": 0}]))
    assert "featurecard-provenance" not in page.scripts and not page.about and "generator" not in page.metas


def test_model_name_is_cfg_model_name_or_the_class() -> None:
    class Cfg:
        model_name = "gpt2-small"

    class Model:
        cfg: Any = Cfg()

    assert model_name(Model()) == "gpt2-small"
    Model.cfg = None
    assert model_name(Model()) == "Model"
