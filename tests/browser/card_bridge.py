"""The FeatureCard bundle in a plain page, bridged to a real FeatureCard in this process.

The page (harness.html) renders the built ESM with a FakeModel in place of the comm: a request
the page sends (``model.send()``) runs the widget's own custom-message handler, and the traits
it set come back before its reply (page_bridge.py's :meth:`PageBridge.on_send`).

So a click in the page runs the real Python handlers and the page redraws from what Python
computed, with no kernel and no JupyterLab (~6x faster than the Lab test). Serving the page,
pushing Python-side changes and waiting for Python are page_bridge.py's (shared by all views).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from page_bridge import PageBridge, open_bridged
from page_bridge import serve_harness as serve_view

from featurecard.card.widget import FeatureCard

SYNCED = ("source", "feature", "state", "error", "busy", "live", "choices", "build_progress")


def serve_harness(folder: Path) -> Iterator[str]:
    """Serve harness.html, the FeatureCard bundle and fake-model.js from ``folder`` on 127.0.0.1."""
    return serve_view(folder, FeatureCard)


class Bridge(PageBridge):
    """Python FeatureCard <-> page FakeModel."""

    def __init__(self, page: Any, widget: FeatureCard) -> None:
        super().__init__(page, widget, SYNCED)


def open_card(browser: Any, site: str, ws: Any, feature: int, source: str = "mlp0") -> tuple[Any, Bridge, list[str]]:
    return open_bridged(browser, site, lambda page: Bridge(page, ws.card(source, feature=feature)))
