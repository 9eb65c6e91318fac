"""Every view's export says where it came from: featurecard, the model, the SAEs and hooks, the
stored index's content key, the library versions and the date (core/provenance.py)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pytest
import torch

import tiny
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"


def _ws(model: Any, tokens: torch.Tensor, **kw: Any) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": HOOK}
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False, **kw)


def provenance_of(path: Path) -> dict[str, Any]:
    page = path.read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="featurecard-provenance">(.*?)</script>', page, re.S)
    assert block is not None, "no provenance block"
    assert '<p class="featurecard-about">About this file: made by featurecard' in page
    return dict(json.loads(block.group(1)))


def _installed(dist: str) -> str:
    """The distribution's version, or "absent" (the TL4 environment has no SAELens)."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return "absent"


def _check(p: dict[str, Any], model: Any, key: str | None) -> None:
    assert p["featurecard"] == version("featurecard")
    want_name = getattr(model.cfg, "model_name", None) or type(model).__name__
    assert p["model"] == want_name
    assert p["saes"] == [{"name": "mlp0", "hook": HOOK}]
    assert p["content_key"] == key
    assert p["versions"] == {lib: _installed(lib) for lib in ("torch", "transformer_lens", "sae_lens")}
    made = datetime.fromisoformat(p["date"])
    assert abs((datetime.now(UTC) - made).total_seconds()) < 600


def test_every_views_export_carries_provenance(model: Any, tokens: torch.Tensor, tok: Any, tmp_path: Path) -> None:
    ws = _ws(model, tokens)
    prompt = tiny.random_tokens(tok, batch=1, pos=10, seed=3)[0]
    _check(provenance_of(ws.card("mlp0", feature=3).export_html(tmp_path / "card.html")), model, None)
    _check(provenance_of(ws.graph(prompt).export_html(tmp_path / "graph.html")), model, None)
    _check(provenance_of(ws.nodes(prompt, target=5).export_html(tmp_path / "nodes.html")), model, None)
    _check(provenance_of(ws.prompt("mlp0", prompt).export_html(tmp_path / "prompt.html")), model, None)


def test_a_stored_index_gives_its_content_key(model: Any, tokens: torch.Tensor, tmp_path: Path) -> None:
    ws = _ws(model, tokens, cache_dir=tmp_path / "cache")
    card = ws.card("mlp0", feature=3)
    ws.index("mlp0")  # the complete index, stored (the first card may come before it)
    (root,) = (tmp_path / "cache").glob("index-*")
    key = json.loads((root / "manifest.json").read_text())["key"]
    assert isinstance(key, str) and key
    _check(provenance_of(card.export_html(tmp_path / "card.html")), model, key)


def test_a_neuron_card_lists_no_sae(model: Any, tokens: torch.Tensor, tmp_path: Path) -> None:
    ws = _ws(model, tokens)
    p = provenance_of(ws.neuron_card(HOOK, 2).export_html(tmp_path / "n.html"))
    assert p["saes"] == [] and p["model"]


@pytest.mark.parametrize("name", ["</script><img src=x onerror=alert(1)>"])
def test_a_hostile_model_name_stays_text(model: Any, tokens: torch.Tensor, tmp_path: Path, name: str) -> None:
    ws = _ws(model, tokens)
    old = getattr(model.cfg, "model_name", None)
    model.cfg.model_name = name
    try:
        out = ws.card("mlp0", feature=3).export_html(tmp_path / "c.html")
    finally:
        model.cfg.model_name = old
    page = out.read_text(encoding="utf-8")
    assert provenance_of(out)["model"] == name
    assert "<img" not in page and "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
