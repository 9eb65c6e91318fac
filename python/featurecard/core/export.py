"""One self-contained HTML file per export: no CDN, no kernel, same look as the widget.

The page holds (1) the widget's own ES module bundle and CSS, inlined; (2) the card states
as JSON in a ``<script type="application/json">``, binary buffers as base64; (3) a small
module script that imports the bundle from a ``blob:`` URL (Chromium refuses external module
scripts from ``file://``) and renders it into a Shadow DOM with an in-page model. There is no
kernel: the in-page model (js/src/core/snapshot-model.ts) answers the view's requests itself, so
asking for another feature switches between the states the file holds (others show an error), a
graph's target and threshold move, and what needs a kernel is refused with an error.

Escaping has one choke point, :func:`json_for_script`: ``<``, ``>`` and ``&`` become
``\\u003c``-style escapes, so a token such as ``</script>`` cannot end the script element, and
so do bidi controls and zero-width characters (a token holding U+202E cannot reorder the file's
source as an editor shows it). Token text is then drawn by the bundle through ``textContent``
only, with such characters shown as escapes and each token's direction isolated.

A page made with ``provenance`` (:mod:`featurecard.core.provenance`; every view's
``export_html`` passes it) carries it three times: as JSON in
``<script type="application/json" id="featurecard-provenance">`` (escaped as above), in
``<meta name="featurecard:...">`` tags and in an "about this file" line under the view (both
through :func:`html.escape`), so a model name holding ``</script>`` stays text.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .codecs import to_portable
from .files import replace_atomically
from .provenance import Provenance
from .static import bundle_files, runtime_file

# Characters written as \uXXXX escapes in the page's JSON: "<", ">", "&" (so a token cannot end
# the script element or open a comment), and the invisible ones that would make the file's own
# source misleading in an editor or a diff: bidi embeddings, overrides, isolates and marks, zero-width
# characters, the line / paragraph separators. JSON.parse gives the same strings back.
_ESCAPED = (*map(ord, "<>&"), 0x061C, *range(0x200B, 0x2010), *range(0x2028, 0x202F), *range(0x2060, 0x206A), 0xFEFF)
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in _ESCAPED}


def json_for_script(obj: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">`` (see ``_JSON_ESCAPES``)."""
    return json.dumps(obj, ensure_ascii=False).translate(_JSON_ESCAPES)


def _runtime() -> str:
    """The page's module script: js/src/standalone.ts, built to static/standalone.js."""
    return _inert(runtime_file().read_text(encoding="utf-8"))


def to_html(
    states: Sequence[Mapping[str, Any]],
    title: str = "featurecard",
    *,
    view: str = "widget",
    values: Mapping[str, Any] | None = None,
    provenance: Provenance | None = None,
) -> str:
    """The page for one or more states of a view (the first is shown).

    ``view`` names the bundle (``widget`` for the FeatureCard, ``graph``, ``nodes``); ``values``
    holds the view's other traitlets (e.g. a threshold), set on the page's model as they are;
    ``provenance`` says where the file came from (see the module docstring).
    """
    if not states or not all(s for s in states):
        raise ValueError("nothing to export: the view has no state yet")
    js, css = bundle_files(view)
    payload = {"states": [to_portable(dict(s)) for s in states], "values": to_portable(dict(values or {}))}
    bundle = js.read_text(encoding="utf-8")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"{_meta(provenance)}"
        f"<style>{_page_css()}</style>\n"
        '</head><body>\n<div id="featurecard-root"></div>\n'
        f"{_about(provenance)}"
        # CSS and JS sit in inert text scripts; only "</script" could end them, so escape that.
        f'<script type="text/plain" id="featurecard-css">{_inert(css.read_text(encoding="utf-8"))}</script>\n'
        f'<script type="text/plain" id="featurecard-esm">{_inert(bundle)}</script>\n'
        f'<script type="application/json" id="featurecard-data">{json_for_script(payload)}</script>\n'
        f'<script type="module">{_runtime()}</script>\n</body></html>\n'
    )


def _page_css() -> str:
    """The page's own styles (its body, the about line): js/src/core/export-page.css, built."""
    css = runtime_file(".css").read_text(encoding="utf-8")
    if "</style" in css.lower():
        raise ValueError("the page's CSS contains '</style' and cannot be inlined safely")
    return css


def about_line(p: Provenance) -> str:
    """The "about this file" line's text (plain text: the caller escapes it)."""
    saes = ", ".join(f"{s['name']} ({s['hook']})" for s in p["saes"]) or "none"
    libs = ", ".join(f"{lib} {v}" for lib, v in p["versions"].items())
    key = f" · content key {p['content_key']}" if p["content_key"] else ""
    return (
        f"About this file: made by featurecard {p['featurecard']} on {p['date']} · model {p['model']}"
        f" · SAEs {saes}{key} · {libs}"
    )


def _meta(p: Provenance | None) -> str:
    if p is None:
        return ""
    tags = {
        "generator": f"featurecard {p['featurecard']}",
        "featurecard:model": p["model"],
        "featurecard:saes": ", ".join(f"{s['name']} ({s['hook']})" for s in p["saes"]),
        "featurecard:content-key": p["content_key"] or "",
        "featurecard:date": p["date"],
    }
    return "".join(f'<meta name="{n}" content="{html.escape(v, quote=True)}">\n' for n, v in tags.items())


def _about(p: Provenance | None) -> str:
    if p is None:
        return ""
    return (
        f'<p class="featurecard-about">{html.escape(about_line(p))}</p>\n'
        f'<script type="application/json" id="featurecard-provenance">{json_for_script(p)}</script>\n'
    )


def _inert(text: str) -> str:
    # Inside a raw-text <script>, only a literal "</script" (any case) can end the element.
    # The bundle and CSS are ours; we refuse rather than silently alter them.
    if "</script" in text.lower() or "<!--" in text:
        raise ValueError("the bundle contains '</script' or '<!--' and cannot be inlined safely")
    return text


def write_html(
    path: str | Path,
    states: Sequence[Mapping[str, Any]],
    title: str = "featurecard",
    *,
    view: str = "widget",
    values: Mapping[str, Any] | None = None,
    provenance: Provenance | None = None,
) -> Path:
    """Write the page to ``path`` atomically: an existing file is either replaced whole or left as it was.

    The page is written to a temporary file in the same folder, flushed to disk, then renamed over
    ``path`` (:func:`os.replace`); a failure on the way (a full disk, an interrupt) removes the
    temporary file and leaves the old file untouched.
    """
    out = Path(path).expanduser()
    if out.is_symlink():
        out = out.resolve()  # write through a link, as a plain write would, instead of replacing it
    if out.is_dir():
        raise IsADirectoryError(f"export path {out} is a directory: give a file name such as {out / 'card.html'}")
    page = to_html(states, title=title, view=view, values=values, provenance=provenance)  # before touching the disk
    out.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(out, lambda tmp: tmp.write_text(page, encoding="utf-8", newline=""))
    return out
