"""The browser tier: Debian's Chromium driven by Playwright (never `playwright install`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-results"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A Workspace whose vocabulary holds markup tokens (cards.py of this folder), one per test module."""
    from cards import markup_workspace

    return markup_workspace(tmp_path_factory.mktemp("tok"))[0]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        msg = f"no Chromium at {CHROMIUM}: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(msg)  # in CI a missing browser is a failure, never a skip
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


TOPMOST_JS = """el => {
  const r = el.getBoundingClientRect();
  const t = (el.getRootNode().elementFromPoint ? el.getRootNode() : document)
      .elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return !!t && (t === el || el.contains(t));
}"""


def assert_on_top(locator: Any) -> None:
    """What a person sees: the topmost element at the element's centre is the element itself
    (Playwright's to_be_visible is true for an element clipped by an overflow ancestor)."""
    assert locator.evaluate(TOPMOST_JS), f"{locator} is clipped or covered"


@dataclass
class OfflinePage:
    """A file opened with the network off, and what it asked for, threw and popped up."""

    ctx: Any
    page: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        """No script error, no dialog (a markup token's onerror=alert(1) never ran), no network."""
        assert not self.errors, self.errors
        assert not self.dialogs, self.dialogs
        assert all(u.startswith(("file:", "blob:", "data:")) for u in self.requests), self.requests


def open_offline(browser: Any, path: Path) -> OfflinePage:
    """An exported file, opened from file:// in an offline context, once it says it is ready."""
    ctx = browser.new_context(offline=True)
    p = OfflinePage(ctx, ctx.new_page())
    p.page.on("request", lambda r: p.requests.append(r.url))
    p.page.on("pageerror", lambda e: p.errors.append(str(e)))
    p.page.on("dialog", lambda d: (p.dialogs.append(d.message), d.dismiss()))
    p.page.goto(path.as_uri())
    p.page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    return p
