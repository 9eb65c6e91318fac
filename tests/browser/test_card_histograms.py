"""The card's histograms, legend and logit tables in Chromium, measured: axis titles that
overlap nothing, a 0 tick where 0 is, a log-y box that makes a one-token bin visible, bars
that keep their colour, the shading's legend, and logit rows whose shades grade."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from card_bridge import open_card, serve_harness
from cards import live_features
from playwright.sync_api import expect

from featurecard.core.codecs import decode_array

pytestmark = pytest.mark.browser

BOXES_JS = "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_harness(tmp_path_factory.mktemp("hist"))


def rgb(css: str) -> tuple[int, int, int]:
    m = re.match(r"rgba?\((\d+), (\d+), (\d+)", css)
    assert m, css
    r, g, b = (int(x) for x in m.groups())
    return r, g, b


def luminance(c: tuple[int, int, int]) -> float:
    def lin(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def overlaps(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_axes_titles_zero_tick_and_log_y(browser: Any, site: str, ws: Any) -> None:
    page, bridge, errors = open_card(browser, site, ws, live_features(ws, "mlp0", 1)[0])
    for cls in (".fc-act-hist", ".fc-logit-hist"):
        svg = page.locator(f"{cls} svg")
        box = svg.bounding_box()
        assert box is not None
        titles = svg.locator(".fc-axis-title").evaluate_all(BOXES_JS)
        ticks = svg.locator("text:not(.fc-axis-title)").evaluate_all(BOXES_JS)
        assert len(titles) == 2
        for t in titles:
            assert box["x"] - 0.5 <= t[0] and t[2] <= box["x"] + box["width"] + 0.5
            assert box["y"] - 0.5 <= t[1] and t[3] <= box["y"] + box["height"] + 0.5
            assert not any(overlaps(t, k) for k in ticks), f"{cls}: an axis title overlaps a tick label"
    act = page.locator(".fc-act-hist svg")
    assert act.locator(".fc-x-title").text_content() == "activation"
    assert act.get_attribute("data-lo") == "0"  # the activation axis starts at 0
    zero = act.locator(".fc-tick", has_text=re.compile(r"^0$"))
    expect(zero).to_have_count(1)
    axis = act.locator(".fc-hist-x line.fc-axis").first
    assert float(zero.get_attribute("x") or "nan") == pytest.approx(float(axis.get_attribute("x1") or "nan"))
    # log y: the smallest bar grows, the y ticks are powers of ten
    counts = decode_array(bridge.w.state["act_hist"]["counts"])
    heights = act.locator("rect.fc-bar").evaluate_all("r => r.map(x => +x.getAttribute('height'))")
    small = min(heights)
    page.locator(".fc-act-hist input.fc-log-y").check()
    act = page.locator(".fc-act-hist svg")
    expect(act).to_have_attribute("data-log", "true")
    logged = act.locator("rect.fc-bar").evaluate_all("r => r.map(x => +x.getAttribute('height'))")
    assert len(logged) == int((counts > 0).sum())
    if counts.max() > 2 * counts[counts > 0].min():
        assert min(logged) > small
    labels = [int(t) for t in act.locator(".fc-hist-y text").all_text_contents()]
    assert labels[0] == 0 and all(v == 10**i for i, v in enumerate(labels[1:]))
    assert act.locator(".fc-y-title").text_content() == "tokens (log)"
    assert not errors, errors
    page.close()


def test_bars_keep_their_colour_and_the_legend_keys_the_shading(browser: Any, site: str, ws: Any) -> None:
    page, bridge, errors = open_card(browser, site, ws, live_features(ws, "mlp0", 1)[0])
    white = (255, 255, 255)
    for bar in page.locator(".fc-hist rect.fc-bar").all():
        fill = rgb(bar.evaluate("b => getComputedStyle(b).fill"))
        assert contrast(fill, white) > 1.25, f"a bar faded to {fill}"
        stroke = rgb(bar.evaluate("b => getComputedStyle(b).stroke"))
        assert contrast(stroke, white) >= 3.0, f"a bar's outline {stroke} is too faint"
    legend = page.locator(".fc-col-right .fc-legend")
    expect(legend).to_be_visible()
    max_act = float(bridge.w.state["max_act"])
    assert float(legend.locator(".fc-legend-hi").inner_text()) == pytest.approx(max_act, rel=1e-2)
    ramp = legend.locator(".fc-ramp").evaluate("e => getComputedStyle(e).backgroundImage")
    ends = [tuple(int(x) for x in m) for m in re.findall(r"rgb\((\d+), (\d+), (\d+)\)", ramp)]
    acts = page.locator("span.fc-tok").evaluate_all("s => s.map(x => +x.dataset.act)")
    top = page.locator("span.fc-tok").nth(max(range(len(acts)), key=lambda i: acts[i]))
    assert ends[-1] == rgb(top.evaluate("s => getComputedStyle(s).backgroundColor"))
    assert not errors, errors
    page.close()


def test_logit_rows_grade_from_the_tables_largest_value(browser: Any, site: str, ws: Any) -> None:
    page, _bridge, errors = open_card(browser, site, ws, live_features(ws, "mlp0", 1)[0])
    for side, full in (("top", (255, 127, 14)), ("bottom", (31, 119, 180))):
        rows = page.locator(f".fc-logits-{side} tbody tr")
        vals = [abs(float(v)) for v in rows.locator(".fc-logit-val").all_text_contents()]
        bgs = [rgb(c) for c in rows.evaluate_all("r => r.map(x => getComputedStyle(x).backgroundColor)")]
        fgs = [rgb(c) for c in rows.evaluate_all("r => r.map(x => getComputedStyle(x).color)")]
        # the shade's share of the full colour, from the green channel (orange) or the red (blue)
        ch = 1 if side == "top" else 0
        shade = [(255 - c[ch]) / (255 - full[ch]) for c in bgs]
        assert bgs[0] == full  # the table's largest |value|
        assert shade == sorted(shade, reverse=True)  # rows are sorted by |value|: shades follow
        if vals[0] > vals[-1]:
            assert shade[-1] <= 0.2, f"{side}: the smallest row is still {shade[-1]:.0%} saturated"
        for bg, fg in zip(bgs, fgs, strict=True):
            assert contrast(bg, fg) >= 4.5
    assert not errors, errors
    page.close()
