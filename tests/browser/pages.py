"""What the browser tests check on a page: the element a person sees on top, and an exported
file opened offline with what it asked for, threw and popped up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


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


OVERFLOW_JS = """root => {
  const box = root.getBoundingClientRect();
  const scrolls = el => ['auto', 'scroll', 'hidden'].includes(getComputedStyle(el).overflowX);
  const out = [];
  for (const el of root.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left >= box.left - 0.5 && r.right <= box.right + 0.5) continue;
    let a = el.parentElement, inside = false;
    while (a && a !== root) { if (scrolls(a)) { inside = true; break; } a = a.parentElement; }
    const name = `${el.tagName.toLowerCase()}.${el.getAttribute('class') || ''}`;
    if (!inside) out.push(`${name} ${Math.round(r.left)}..${Math.round(r.right)} of ${box.left}..${box.right}`);
  }
  return out;
}"""

SPLIT_TOKENS_JS = """root => [...root.querySelectorAll('span.fc-tok')]
  .filter(s => s.getClientRects().length > 1).map(s => s.dataset.text)"""


def overflowing(locator: Any) -> list[str]:
    """The elements of ``locator``'s element that extend past its box, outside any element that scrolls."""
    return list(locator.evaluate(OVERFLOW_JS))
