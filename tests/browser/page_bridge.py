"""A view's built bundle in a plain page, bridged to its real widget in this process.

What the FeatureCard (card_bridge.py), ContributionGraph (test_graph.py) and NodeTable
(test_nodes.py) harnesses share:

* :func:`serve_harness` serves harness.html, the view's bundle (exactly what Python sends as
  ``_esm``) and js/testing/fake-model.js from a folder on 127.0.0.1;
* :class:`PageBridge` holds the page and the widget: the page's FakeModel starts from the
  widget's synced traits (``__pyInitialState``); a request the page sends (``model.send``,
  ``__pySend``) runs the widget's own custom-message handler, and the traits it set come back
  (the kernel's state echo) before its reply (``msg:custom``), as over a comm;
  :meth:`PageBridge.push` sends Python-side changes to the page (``model.pythonSet``),
  :meth:`PageBridge.ask` plays a request from Python, and :meth:`PageBridge.wait_python`
  waits until Python has seen a change the page asked for;
* :func:`open_bridged` opens a page, collects its errors and loads the harness.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pages import REPO

from featurecard.core.codecs import to_portable


def serve_harness(folder: Path, view: Any) -> Iterator[str]:
    """Serve harness.html, ``view``'s bundle and fake-model.js from ``folder`` on 127.0.0.1."""
    (folder / "widget.js").write_text(str(view._esm))  # exactly what Python sends as _esm
    (folder / "widget.css").write_text(str(view._css))
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


class PageBridge:
    """Python widget <-> page FakeModel, for the traits in ``synced``."""

    python_timeout = 5.0  # how long wait_python waits by default (s)

    def __init__(self, page: Any, widget: Any, synced: tuple[str, ...]) -> None:
        self.page, self.w, self.synced = page, widget, synced
        self.replies: list[Any] = []  # every reply the widget sent, in order
        widget.send = self._capture
        page.expose_function("__pyInitialState", lambda: self.portable())
        page.expose_function("__pySend", self.on_send)

    def _capture(self, content: Any, buffers: Any = None) -> None:
        del buffers
        self.replies.append(content)

    def on_send(self, content: Any) -> dict[str, Any]:
        """A custom message from the page: the widget handles it; the traits it changed and its replies come back."""
        before = {k: getattr(self.w, k) for k in self.synced}
        n = len(self.replies)
        self.w._handle_custom_msg(content, [])
        changed = tuple(k for k in self.synced if not _same(k, getattr(self.w, k), before[k]))
        return {"traits": self.portable(changed), "replies": [to_portable(r) for r in self.replies[n:]]}

    def ask(self, name: str, **args: Any) -> Any:
        """Request ``name`` as the page would send it; the traits it set go to the page; the reply."""
        out = self.on_send({"kind": "fc-request", "id": f"py-{len(self.replies)}", "name": name, "args": args})
        self.page.evaluate(
            "s => { for (const [k, v] of Object.entries(s)) window.model.pythonSet(k, v); }", out["traits"]
        )
        return out["replies"][0]

    def portable(self, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
        return to_portable({k: getattr(self.w, k) for k in (self.synced if keys is None else keys)})

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=10_000)

    def push(self, keys: tuple[str, ...] | None = None) -> None:
        """Python-side changes (``card.feature = 3`` in a cell) to the page."""
        self._to_page(self.portable(keys))

    def _to_page(self, values: dict[str, Any]) -> None:
        self.page.evaluate("s => { for (const [k, v] of Object.entries(s)) window.model.pythonSet(k, v); }", values)

    def wait_python(self, cond: Any, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self.python_timeout if timeout is None else timeout)
        while not cond():
            assert time.monotonic() < deadline, "Python never saw the change"
            self.page.wait_for_timeout(20)  # lets playwright dispatch the exposed-function call


def _same(key: str, a: Any, b: Any) -> bool:
    return a is b or (key != "state" and a == b)


B = TypeVar("B", bound=PageBridge)


def open_bridged(
    browser: Any, site: str, make_bridge: Callable[[Any], B], width: int = 1280
) -> tuple[Any, B, list[str]]:
    """A new page bridged by ``make_bridge(page)`` with the harness loaded, and its errors."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    bridge = make_bridge(page)
    bridge.open(site)
    return page, bridge, errors
