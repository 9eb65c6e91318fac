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


# JupyterLab 4's dark theme, as far as the views read it (its --jp-* variables)
LAB_DARK = {
    "--jp-layout-color0": "#111111",
    "--jp-layout-color1": "#212121",
    "--jp-content-font-color1": "rgba(255, 255, 255, 1)",
    "--jp-content-font-color2": "rgba(255, 255, 255, 0.7)",
    "--jp-ui-font-color1": "rgba(255, 255, 255, 1)",
    "--jp-border-color2": "#424242",
    "--jp-brand-color1": "#42a5f5",
}


def set_theme(page: Any, variables: dict[str, str]) -> None:
    """A page themed as Lab themes it: the variables on the body, its background the layout colour."""
    page.evaluate(
        """vars => {
          for (const [k, v] of Object.entries(vars)) document.body.style.setProperty(k, v);
          document.body.style.background = vars['--jp-layout-color0'] ?? '';
          document.body.style.colorScheme = 'dark';
        }""",
        variables,
    )


CONTRAST_JS = """([root, selector]) => {
  const ctx = document.createElement('canvas').getContext('2d', {willReadFrequently: true});
  const rgba = css => {  // any CSS colour (color-mix, color(srgb ...)) as rendered: [r, g, b, a]
    ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = '#000'; ctx.fillStyle = css; ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data; return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top, under) => top.slice(0, 3).map((c, i) => c * top[3] + under[i] * (1 - top[3]));
  const lin = v => { const s = v / 255; return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
  const lum = c => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const overlaps = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const out = [];
  for (const el of root.querySelectorAll(selector)) {
    // a text field's text: its value, else its placeholder (drawn in the ::placeholder colour)
    const field = el instanceof HTMLInputElement && !['checkbox', 'radio'].includes(el.type);
    const text = (field ? el.value || el.placeholder : el.textContent).trim();
    if (!text) continue;
    const box = el.getBoundingClientRect();
    const layers = [];  // top first: the element's own background, a bar under it, its ancestors'
    for (let a = el; a; a = a.parentElement) {
      if (a === el.parentElement) {
        for (const bar of a.querySelectorAll(':scope > .nt-bar, :scope > .fc-bar-fill, :scope > .ov-density-bar'))
          if (overlaps(bar.getBoundingClientRect(), box)) {  // its colour at its own opacity
            const cs = getComputedStyle(bar), c = rgba(cs.backgroundColor);
            layers.push([c[0], c[1], c[2], c[3] * Number(cs.opacity)]);
          }
      }
      const bg = rgba(getComputedStyle(a).backgroundColor);
      layers.push(bg);
      if (bg[3] === 1) break;
    }
    let bg = [255, 255, 255];
    for (const l of layers.reverse()) bg = over(l, bg);
    const fg = over(rgba(getComputedStyle(el, field && !el.value ? '::placeholder' : null).color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    out.push({text, cls: el.className, ratio, fg: fg.map(Math.round), bg: bg.map(Math.round)});
  }
  return out;
}"""


def contrast_failures(locator: Any, selector: str, minimum: float) -> list[dict[str, Any]]:
    """The text elements matching ``selector`` in ``locator``'s element (a text field: its value or
    placeholder) whose WCAG contrast with the background they are drawn on (their own, a value bar
    under them at its opacity, their ancestors', composited from the computed colours) is below ``minimum``."""
    handle = locator.element_handle()
    found = locator.page.evaluate(CONTRAST_JS, [handle, selector])
    assert found, f"no text matches {selector!r}"
    return [f for f in found if f["ratio"] < minimum]


MARKS_JS = """([root, selector, underSelector]) => {
  const ctx = document.createElement('canvas').getContext('2d', {willReadFrequently: true});
  const rgba = css => {
    ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = '#000'; ctx.fillStyle = css; ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data; return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top, under, a) => top.slice(0, 3).map((c, i) => c * a + under[i] * (1 - a));
  const lin = v => { const s = v / 255; return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
  const lum = c => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const paintOf = el => {  // [colour, alpha]: fill (stroke when unfilled or a line), with every opacity
    const cs = getComputedStyle(el);
    const stroked = cs.fill === 'none' || ['line', 'path', 'polyline'].includes(el.tagName.toLowerCase());
    const paint = rgba(stroked ? cs.stroke : cs.fill);
    let alpha = paint[3] * Number(stroked ? cs.strokeOpacity : cs.fillOpacity);
    for (let a = el; a && a !== document.documentElement; a = a.parentElement)
      alpha *= Number(getComputedStyle(a).opacity);
    return [paint, alpha];
  };
  const out = [];
  for (const el of root.querySelectorAll(selector)) {
    const svg = el.closest('svg');
    let bg = [255, 255, 255];
    const layers = [];
    for (let a = svg.parentElement; a; a = a.parentElement) {
      const c = rgba(getComputedStyle(a).backgroundColor); layers.push(c); if (c[3] === 1) break;
    }
    for (const l of layers.reverse()) bg = over(l, bg, l[3]);
    // the grounds the mark can sit on: the page's background and each mark of `under` in its svg on it
    const grounds = [['background', bg]];
    for (const u of underSelector ? svg.querySelectorAll(underSelector) : []) {
      const [paint, alpha] = paintOf(u);
      grounds.push([u.getAttribute('class'), over(paint, bg, alpha)]);
    }
    const [paint, alpha] = paintOf(el);
    let worst = null;
    for (const [name, ground] of grounds) {
      const fg = over(paint, ground, alpha);
      const [hi, lo] = [lum(fg), lum(ground)].sort((x, y) => y - x);
      const ratio = (hi + 0.05) / (lo + 0.05);
      if (!worst || ratio < worst.ratio)
        worst = {cls: el.getAttribute('class'), ratio, on: name, fg: fg.map(Math.round), bg: ground.map(Math.round)};
    }
    worst.grounds = grounds.length;
    out.push(worst);
  }
  return out;
}"""


def mark_contrasts(locator: Any, selector: str, under: str | None = None) -> list[dict[str, Any]]:
    """WCAG contrast of each SVG mark (or SVG text) matching ``selector`` in ``locator``'s element:
    its fill (its stroke when it has no fill, or is a line), with its opacities, against the
    background of the HTML the svg sits in and, given ``under``, against each mark of its svg
    matching ``under`` drawn on that background (e.g. the graph's layer bands); the lowest
    ratio, with what it is on (``on``) and how many grounds were measured (``grounds``)."""
    handle = locator.element_handle()
    found: list[dict[str, Any]] = locator.page.evaluate(MARKS_JS, [handle, selector, under])
    assert found, f"no mark matches {selector!r}"
    return found


def mark_contrast_failures(
    locator: Any, selector: str, minimum: float, under: str | None = None
) -> list[dict[str, Any]]:
    """The marks of ``mark_contrasts`` below ``minimum``."""
    return [f for f in mark_contrasts(locator, selector, under) if f["ratio"] < minimum]


INSIDE_JS = """([el, box]) => {
  const r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
  const view = {left: Math.max(b.left, 0), top: Math.max(b.top, 0),
                right: Math.min(b.right, innerWidth), bottom: Math.min(b.bottom, innerHeight)};
  const ok = r.left >= view.left - 0.5 && r.right <= view.right + 0.5 && r.top >= view.top - 0.5
    && r.bottom <= view.bottom + 0.5;
  return {ok, el: [r.left, r.top, r.right, r.bottom].map(Math.round),
          view: [view.left, view.top, view.right, view.bottom].map(Math.round)};
}"""


def inside_visible(locator: Any, box: Any) -> dict[str, Any]:
    """Whether ``locator``'s element lies inside the part of ``box``'s element that is in the window
    (for a scroller, pass it: its box is what shows), with both rectangles."""
    result: dict[str, Any] = locator.page.evaluate(INSIDE_JS, [locator.element_handle(), box.element_handle()])
    return result
