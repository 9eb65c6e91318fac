"""What an exported file says about where it came from: ``provenance(ws, ...)`` (no torch here).

Every export (:mod:`featurecard.core.export`) carries it as a JSON block
(``<script type="application/json" id="featurecard-provenance">``), in ``<meta>`` tags, and in
an "about this file" line under the view: the featurecard version, the model's name
(``cfg.model_name``, else its class), the SAEs' names and hooks, the content key of the stored
index where the Workspace read one from disk, the versions of torch, transformer_lens and
sae_lens, and the date (UTC).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypedDict


class SaeInfo(TypedDict):
    name: str
    hook: str


class Provenance(TypedDict):
    featurecard: str
    model: str
    saes: list[SaeInfo]
    content_key: str | None  # the stored index's key (card/index_cache.py), None when built in memory
    versions: dict[str, str]  # torch, transformer_lens, sae_lens: installed version or "absent"
    date: str  # ISO 8601, UTC


LIBRARIES = ("featurecard", "torch", "transformer_lens", "sae_lens")


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "absent"


def model_name(model: object) -> str:
    """``model.cfg.model_name`` when it has one, else the model's class name."""
    name = getattr(getattr(model, "cfg", None), "model_name", None)
    return name if isinstance(name, str) and name else type(model).__name__


def content_key(ws: Any, names: Iterable[str]) -> str | None:
    """The content key of the stored index one of ``names`` was read from, if any.

    Only indexes already built are looked at (``ws.is_complete``), so asking never runs a pass;
    a store's key is in the ``manifest.json`` at its root.
    """
    for name in names:
        if not getattr(ws, "is_complete", lambda _n: False)(name):
            continue
        root = getattr(ws.index(name), "root", None)
        manifest = Path(root) / "manifest.json" if root is not None else None
        if manifest is not None and manifest.is_file():
            key = json.loads(manifest.read_text(encoding="utf-8")).get("key")
            if isinstance(key, str):
                return key
    return None


def provenance(ws: Any, sources: Iterable[str] | None = None) -> Provenance:
    """The provenance of an export of ``ws``'s views; ``sources`` limits the SAEs listed (a card
    lists its own; the graph and table every SAE of the Workspace)."""
    saes = ws.saes
    names = [n for n in (saes if sources is None else sources) if n in saes]
    return {
        "featurecard": _version("featurecard"),
        "model": model_name(ws.adapter.model),
        "saes": [{"name": n, "hook": str(saes[n].hook_name)} for n in names],
        "content_key": content_key(ws, names),
        "versions": {lib: _version(lib) for lib in LIBRARIES[1:]},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
