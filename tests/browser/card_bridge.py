"""The FeatureCard bundle in a plain page, bridged to a real FeatureCard in this process.

The page (harness.html) renders the built ESM with a FakeModel in place of the comm:

* ``save_changes()`` calls :meth:`Bridge.save`, which applies the patch with the widget's own
  ``set_state`` and returns the traitlets that changed (or that the widget re-sent), as the
  kernel's echo would; the page sets them on its model;
* ``model.send()`` calls :meth:`Bridge.on_send`, which hands the message to the widget's
  custom-message handler and returns its replies, which the page delivers as ``msg:custom``.

So a click in the page runs the real Python handlers and the page redraws from what Python
computed, with no kernel and no JupyterLab (~6x faster than the Lab test).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conftest import REPO
from featurecard.state.codecs import to_portable
from featurecard.widget import FeatureCard

SYNCED = ("source", "feature", "state", "error", "busy", "live", "choices")


def serve_harness(folder: Path) -> Iterator[str]:
    """Serve harness.html, the bundle and fake-model.js from ``folder`` on 127.0.0.1."""
    (folder / "widget.js").write_text(str(FeatureCard._esm))  # exactly what Python sends as _esm
    (folder / "widget.css").write_text(str(FeatureCard._css))
    shutil.copy(REPO / "js" / "testing" / "fake-model.js", folder)
    shutil.copy(Path(__file__).parent / "harness.html", folder / "index.html")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/index.html"
    srv.shutdown()
    srv.server_close()


class Bridge:
    """Python FeatureCard <-> page FakeModel."""

    def __init__(self, page: Any, widget: FeatureCard) -> None:
        self.page, self.w = page, widget
        self.replies: list[Any] = []
        self.resent: set[str] = set()
        widget.send = self._capture  # type: ignore[method-assign]
        widget.send_state = self._resend  # type: ignore[method-assign]
        page.expose_function("__pySaveChanges", self.save)
        page.expose_function("__pyInitialState", lambda: self.portable())
        page.expose_function("__pySend", self.on_send)

    def _capture(self, content: Any, buffers: Any = None) -> None:
        del buffers
        self.replies.append(content)

    def _resend(self, key: str | list[str] | None = None) -> None:
        self.resent.update([key] if isinstance(key, str) else key or SYNCED)

    def portable(self, keys: tuple[str, ...] = SYNCED) -> dict[str, Any]:
        return to_portable({k: getattr(self.w, k) for k in keys})

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

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=10_000)

    def push(self, keys: tuple[str, ...] = SYNCED) -> None:
        """Python-side changes (``card.feature = 3`` in a cell) to the page."""
        self.page.evaluate(
            "s => { for (const [k, v] of Object.entries(s)) window.model.pythonSet(k, v); }",
            self.portable(keys),
        )

    def wait_python(self, cond: Any, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "Python never saw the change"
            self.page.wait_for_timeout(20)  # lets playwright dispatch the exposed-function call


def open_card(browser: Any, site: str, ws: Any, feature: int, source: str = "mlp0") -> tuple[Any, Bridge, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    bridge = Bridge(page, ws.card(source, feature=feature))
    bridge.open(site)
    return page, bridge, errors
