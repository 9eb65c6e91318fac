"""The browser tier: Debian's Chromium driven by Playwright (never `playwright install`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
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
