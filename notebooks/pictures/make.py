"""The README's pictures: one PNG of each view, drawn from the embedded default.

Run by hand from the repository root, then commit the PNGs (the tests never run this, so a
test run leaves the checkout as it was):

    .venv/bin/python notebooks/pictures/make.py

It builds the Workspace of ``fc.demo()`` (cached after its first build), exports a feature
card, a contribution graph and a node table as the offline HTML files users get from
``export_html``, opens each in Debian's Chromium the way the browser tests do (light theme,
1400 px wide, network off), hovers the card's strongest token so its tooltip shows, and
writes ``card.png``, ``graph.png`` and ``nodes.png`` beside this file, each cropped to its view.
A PNG over the size budget (250 KB) is written as a palette PNG of at most 256 colours
(median cut, here with numpy: the environment has no image library).
"""

from __future__ import annotations

import base64
import struct
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "browser"))  # the browser tier's Chromium and page helpers

from pages import open_offline  # noqa: E402

from conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PROMPT = "The value of the argument is returned as a"  # the README's prompt
WIDTH = 1400
MAX_BYTES = 250_000
VIEWS = {"card": ".fc-card", "graph": ".fc-graph", "nodes": ".nt-widget"}


def export_views(folder: Path) -> dict[str, Path]:
    """The three views of the embedded default as exported HTML files in ``folder``."""
    import featurecard as fc
    from featurecard.cli import pick_live_feature

    model, sae, tokens = fc.demo()
    ws = fc.Workspace(model, saes={"mlp0": sae}, tokens=tokens)
    card = ws.card("mlp0", feature=pick_live_feature(ws, "mlp0"))
    return {
        "card": card.export_html(folder / "card.html"),
        "graph": ws.graph(PROMPT).export_html(folder / "graph.html"),
        "nodes": ws.nodes(PROMPT, target=" string", distractor=" list").export_html(folder / "nodes.html"),
    }


def shoot(browser: Any, page_file: Path, view: str) -> bytes:
    """A PNG of the view in ``page_file``, in a window tall enough to hold it all (no scrolling,
    so the card's tooltip stays where the hover put it)."""
    offline = open_offline(browser, page_file)
    page = offline.page
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": WIDTH, "height": 900})
    page.wait_for_timeout(200)  # the graph's columns follow the width (a ResizeObserver)
    root = page.locator(VIEWS[view])
    height = int(page.evaluate("() => document.documentElement.scrollHeight"))
    page.set_viewport_size({"width": WIDTH, "height": height + 40})
    page.wait_for_timeout(200)
    pose(page, root, view)
    png = fit(page, page.screenshot(clip=_view_box(page, root), animations="disabled"))
    offline.assert_clean()
    offline.ctx.close()
    return png


def pose(page: Any, root: Any, view: str) -> None:
    """What the picture shows beyond the view as it opens: the card's tooltip on the token where
    the latent fires hardest; the graph's panel on the target's last residual state (its logit lens)."""
    if view == "card":
        root.locator("span.fc-tok.fc-focus").first.hover()
        root.locator(".fc-tooltip").wait_for(state="visible")
    if view == "graph":
        top = root.locator(".fc-g-resid.fc-g-on").evaluate_all(
            "ns => ns.reduce((a, b) => (b.getBBox().y < a.getBBox().y ? b : a)).dataset.node"
        )
        root.locator(f".fc-g-node[data-node='{top}']").click()
        page.mouse.move(0, 0)


def _view_box(page: Any, root: Any) -> dict[str, float]:
    """The view's box, grown to hold its tooltip or hover box where one sticks out."""
    return dict(
        page.evaluate(
            """root => {
              const boxes = [root, ...root.querySelectorAll('.fc-tooltip, .fc-g-hover')]
                .map(el => el.getBoundingClientRect()).filter(r => r.width > 0);
              const x = Math.min(...boxes.map(r => r.left)), y = Math.min(...boxes.map(r => r.top));
              const right = Math.max(...boxes.map(r => r.right)), bottom = Math.max(...boxes.map(r => r.bottom));
              return {x: Math.max(0, x - 4), y: Math.max(0, y - 4), width: right - x + 8, height: bottom - y + 8};
            }""",
            root.element_handle(),
        )
    )


def pixels(page: Any, png: bytes) -> np.ndarray:
    """The RGB pixels ``[height, width, 3]`` of ``png``, decoded by the browser (a canvas)."""
    raw = page.evaluate(
        """async b64 => {
          const img = new Image();
          img.src = `data:image/png;base64,${b64}`;
          await img.decode();
          const c = Object.assign(document.createElement('canvas'), {width: img.width, height: img.height});
          const ctx = c.getContext('2d');
          ctx.drawImage(img, 0, 0);
          const d = ctx.getImageData(0, 0, img.width, img.height).data;
          let s = '';
          for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode(...d.subarray(i, i + 0x8000));
          return [img.width, img.height, btoa(s)];
        }""",
        base64.b64encode(png).decode("ascii"),
    )
    width, height, data = raw
    rgba = np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(height, width, 4)
    return rgba[..., :3]


def median_cut(colours: np.ndarray, counts: np.ndarray, n: int) -> np.ndarray:
    """A palette of at most ``n`` colours for the distinct ``colours`` [k, 3] seen ``counts`` times:
    split the box whose widest channel range times log(1 + its pixels) is largest, along that
    channel at its median pixel, until there are ``n`` boxes; each box's colour is its
    pixel-weighted mean."""
    boxes = [np.arange(len(colours))]
    while len(boxes) < n:
        spans = [np.ptp(colours[b], axis=0).max() * np.log1p(counts[b].sum()) if len(b) > 1 else -1 for b in boxes]
        i = int(np.argmax(spans))
        if spans[i] <= 0:
            break
        box = boxes.pop(i)
        channel = int(np.argmax(np.ptp(colours[box], axis=0)))
        box = box[np.argsort(colours[box, channel], kind="stable")]
        cut = int(np.searchsorted(np.cumsum(counts[box]), counts[box].sum() / 2)) + 1
        cut = min(max(cut, 1), len(box) - 1)
        boxes += [box[:cut], box[cut:]]
    return np.array([np.average(colours[b], axis=0, weights=counts[b]) for b in boxes]).round().astype(np.uint8)


def palette_png(rgb: np.ndarray, n: int) -> bytes:
    """``rgb`` [height, width, 3] as an 8-bit palette PNG of at most ``n`` colours (each pixel the
    palette's nearest colour), deflated at level 9 with no row filter."""
    height, width, _ = rgb.shape
    colours, inverse, counts = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True, return_counts=True)
    palette = median_cut(colours, counts, n)
    nearest = np.empty(len(colours), dtype=np.uint8)
    for lo in range(0, len(colours), 4096):  # distinct colours to palette entries, in chunks
        d = ((colours[lo : lo + 4096, None, :].astype(np.int32) - palette[None].astype(np.int32)) ** 2).sum(-1)
        nearest[lo : lo + 4096] = d.argmin(1)
    index = nearest[inverse.reshape(-1)].reshape(height, width)
    rows = np.hstack([np.zeros((height, 1), dtype=np.uint8), index])  # filter byte 0 per row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", palette.tobytes())
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def fit(page: Any, png: bytes, limit: int = MAX_BYTES) -> bytes:
    """``png`` as it is when under ``limit`` bytes, else as a palette PNG of 256, 128 or 64 colours,
    the first that fits."""
    if len(png) <= limit:
        return png
    rgb = pixels(page, png)
    for n in (256, 128, 64):
        out = palette_png(rgb, n)
        if len(out) <= limit:
            return out
    raise ValueError(f"the picture is {len(out)} bytes even with 64 colours; the budget is {limit} bytes")


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        pages = export_views(Path(tmp))
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for view, page_file in pages.items():
            png = shoot(browser, page_file, view)
            out = HERE / f"{view}.png"
            out.write_bytes(png)
            print(f"{out.relative_to(REPO)}: {len(png) / 1000:.0f} KB")
        browser.close()


if __name__ == "__main__":
    main()
