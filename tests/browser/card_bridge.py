"""The FeatureCard bundle in a plain page, bridged to a real FeatureCard in this process.

The page (harness.html) renders the built ESM with a FakeModel in place of the comm:

* ``save_changes()`` calls :meth:`Bridge.save`, which applies the patch with the widget's own
  ``set_state`` and returns the traitlets that changed (or that the widget re-sent), as the
  kernel's echo would; the page sets them on its model;
* ``model.send()`` calls :meth:`Bridge.on_send`, which hands the message to the widget's
  custom-message handler and returns its replies, which the page delivers as ``msg:custom``.

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
from featurecard.core.codecs import to_portable

SYNCED = ("source", "feature", "state", "error", "busy", "live", "choices")


def serve_harness(folder: Path) -> Iterator[str]:
    """Serve harness.html, the FeatureCard bundle and fake-model.js from ``folder`` on 127.0.0.1."""
    return serve_view(folder, FeatureCard)


class Bridge(PageBridge):
    """Python FeatureCard <-> page FakeModel."""

    def __init__(self, page: Any, widget: FeatureCard) -> None:
        super().__init__(page, widget, SYNCED)
        self.replies: list[Any] = []
        self.resent: set[str] = set()
        widget.send = self._capture  # type: ignore[method-assign]
        widget.send_state = self._resend  # type: ignore[method-assign]
        page.expose_function("__pySaveChanges", self.save)
        page.expose_function("__pySend", self.on_send)

    def _capture(self, content: Any, buffers: Any = None) -> None:
        del buffers
        self.replies.append(content)

    def _resend(self, key: str | list[str] | None = None) -> None:
        self.resent.update([key] if isinstance(key, str) else key or SYNCED)

    def save(self, patch: dict[str, Any]) -> dict[str, Any]:
        before = {k: getattr(self.w, k) for k in SYNCED}
        self.resent.clear()
        self.w.set_state(patch)
        changed = {
            k
            for k in SYNCED
            if not (getattr(self.w, k) is before[k] or (k != "state" and getattr(self.w, k) == before[k]))
        }
        return self.portable(tuple(sorted(changed | self.resent)))

    def on_send(self, content: Any) -> list[Any]:
        self.replies = []
        self.w._handle_custom_msg(content, [])
        return [to_portable(r) for r in self.replies]


def open_card(browser: Any, site: str, ws: Any, feature: int, source: str = "mlp0") -> tuple[Any, Bridge, list[str]]:
    return open_bridged(browser, site, lambda page: Bridge(page, ws.card(source, feature=feature)))
