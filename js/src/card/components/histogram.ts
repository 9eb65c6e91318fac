/**
 * A histogram as inline SVG: bars over equal-width bins, x ticks from the state (Python's
 * `nice_ticks`, plus 0 whenever the range holds it), y ticks chosen here (`niceTicks`,
 * integers; powers of ten on a log axis), axis titles, and a hover marker: a vertical line with
 * its value, which the card moves to the hovered token's activation (activation histogram) or
 * to its token's direct logit (logit histogram). A "log y" box redraws the counts on a
 * log(1 + count) axis (one bin of 10,000 near 0 no longer flattens the rest). No chart
 * library: the file stays offline and small.
 */

import { fmt, h, s } from "../../core/dom";
import { niceTicks, tickLabel, tickStep } from "../../core/ticks";
import type { HistData } from "../card-data";

export interface HistOptions {
  className: string; // e.g. "fc-act-hist"
  label: string; // accessible name, e.g. "activation histogram"
  fill(mid: number): string; // bar colour from the bin's midpoint
  stroke?(mid: number): string; // bar outline from the bin's midpoint (a mark that never fades)
  xTitle: string; // e.g. "activation"
  yTitle: string; // e.g. "tokens"
  zero?: boolean; // the x range reaches 0 (the activation histogram of a ReLU unit starts above it)
  width?: number;
  height?: number;
}

export interface HistView {
  root: HTMLElement;
  mark(value: number | null): void; // null hides the marker
}

const M = { left: 44, right: 8, top: 14, bottom: 30 };

/** How the frame is drawn: counts on a log(1 + count) axis, and whether the x range reaches 0. */
export interface FrameOptions {
  log?: boolean;
  zero?: boolean;
}

/** Where the plot sits in its box and how values and counts map to pixels. */
export interface HistFrame {
  lo: number; // the x range (widened by 0.5 each way when it is a single value)
  hi: number;
  x0: number; // the plot's pixel box: left, right, bottom (count 0) and top
  x1: number;
  y0: number;
  y1: number;
  yTicks: number[]; // integer counts (powers of ten and 0 on a log axis)
  top: number; // the count drawn at y1
  log: boolean;
  x(v: number): number;
  y(c: number): number;
}

/** The y ticks and the count at the top of a linear or log axis over counts up to `maxCount`. */
export function countAxis(maxCount: number, log: boolean): { ticks: number[]; top: number } {
  if (!(maxCount > 0)) return { ticks: [0], top: 1 };
  if (!log) {
    const ticks = niceTicks(0, maxCount, 4, true);
    return { ticks, top: Math.max(maxCount, ticks[ticks.length - 1] ?? 0, 1) };
  }
  const decades = Math.max(1, Math.ceil(Math.log10(maxCount) - 1e-9));
  const every = Math.ceil((decades + 1) / 5); // at most five ticks above 0
  const ticks = [0];
  for (let d = 0; d <= decades; d += every) ticks.push(10 ** d);
  return { ticks, top: 10 ** decades };
}

/** The frame of a `width` x `height` histogram of `hist`. */
export function histFrame(
  hist: HistData,
  width: number,
  height: number,
  opt: FrameOptions = {},
): HistFrame {
  const n = hist.counts.length;
  let lo = hist.edges[0] ?? 0;
  let hi = hist.edges[n] ?? lo;
  if (opt.zero) {
    lo = Math.min(lo, 0);
    hi = Math.max(hi, 0);
  }
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const x0 = M.left;
  const x1 = width - M.right;
  const y0 = height - M.bottom;
  const y1 = M.top;
  let maxCount = 0;
  for (let i = 0; i < n; i++) maxCount = Math.max(maxCount, hist.counts[i] ?? 0);
  const log = opt.log === true;
  const { ticks: yTicks, top } = countAxis(maxCount, log);
  const scale = (c: number) => (log ? Math.log10(1 + c) / Math.log10(1 + top) : c / top);
  const x = (v: number) => x0 + ((v - lo) / (hi - lo)) * (x1 - x0);
  const y = (c: number) => y0 - scale(c) * (y0 - y1);
  return { lo, hi, x0, x1, y0, y1, yTicks, top, log, x, y };
}

/** The bar of bin [a, b] holding `count` values; a bin of one value is a thin bar at it. */
export function barRect(
  f: HistFrame,
  a: number,
  b: number,
  count: number,
): { x: number; y: number; width: number; height: number } {
  const point = !(b > a);
  return {
    x: point ? f.x(a) - 3 : f.x(a),
    y: f.y(count),
    width: point ? 6 : Math.max(1, f.x(b) - f.x(a) - 0.5),
    height: Math.max(0.5, f.y0 - f.y(count)),
  };
}

/** The x ticks inside [lo, hi] (with a relative slack of 1e-9 for rounding). */
export function visibleTicks(ticks: ArrayLike<number>, lo: number, hi: number): number[] {
  return Array.from(ticks).filter(
    (t) => !(t < lo - 1e-9 * Math.abs(lo) || t > hi + 1e-9 * Math.abs(hi)),
  );
}

/** The ticks shown on [lo, hi]: `ticks` with 0 added when the range holds it; a tick closer to 0
 * than 8% of the range gives way to it (their labels would overlap). */
export function axisTicks(ticks: ArrayLike<number>, lo: number, hi: number): number[] {
  const shown = visibleTicks(ticks, lo, hi);
  if (!(lo <= 0 && 0 <= hi) || shown.includes(0)) return shown;
  const near = 0.08 * (hi - lo);
  return [0, ...shown.filter((t) => Math.abs(t) >= near)].sort((a, b) => a - b);
}

/** The hover marker's pixel (clamped to the plot) and its label's anchor (kept inside). */
export function markerAt(f: HistFrame, value: number): { px: number; anchor: string } {
  const px = Math.min(Math.max(f.x(value), f.x0), f.x1);
  const anchor = px < f.x0 + 20 ? "start" : px > f.x1 - 20 ? "end" : "middle";
  return { px, anchor };
}

function drawGrid(f: HistFrame): SVGGElement {
  const grid = s("g", { class: "fc-hist-y" });
  for (const t of f.yTicks) {
    grid.append(
      s("line", { x1: f.x0, x2: f.x1, y1: f.y(t), y2: f.y(t), class: "fc-grid" }),
      s("text", { x: f.x0 - 4, y: f.y(t) + 3, "text-anchor": "end" }, tickLabel(t, 1)),
    );
  }
  return grid;
}

function drawBars(f: HistFrame, hist: HistData, opt: HistOptions): SVGGElement {
  const bars = s("g", { class: "fc-hist-bars" });
  for (let i = 0; i < hist.counts.length; i++) {
    const c = hist.counts[i] ?? 0;
    if (c <= 0) continue;
    const a = hist.edges[i] ?? f.lo;
    const b = hist.edges[i + 1] ?? a;
    const mid = (a + b) / 2;
    const paint = { fill: opt.fill(mid), ...(opt.stroke ? { stroke: opt.stroke(mid) } : {}) };
    const bar = s("rect", { ...barRect(f, a, b, c), ...paint, class: "fc-bar" });
    bar.append(s("title", {}, `${fmt(a)} – ${fmt(b)}: ${c}`));
    bars.append(bar);
  }
  return bars;
}

function drawAxis(f: HistFrame, ticks: ArrayLike<number>): SVGGElement {
  const axis = s("g", { class: "fc-hist-x" });
  axis.append(s("line", { x1: f.x0, x2: f.x1, y1: f.y0, y2: f.y0, class: "fc-axis" }));
  const shown = axisTicks(ticks, f.lo, f.hi);
  const step = tickStep(shown.length > 1 ? shown : ticks);
  for (const t of shown) {
    axis.append(
      s("line", { x1: f.x(t), x2: f.x(t), y1: f.y0, y2: f.y0 + 3, class: "fc-axis" }),
      s(
        "text",
        { x: f.x(t), y: f.y0 + 12, "text-anchor": "middle", class: "fc-tick" },
        t === 0 ? "0" : tickLabel(t, step),
      ),
    );
  }
  return axis;
}

/** The axis titles: x under the ticks, y turned along the left edge. */
function drawTitles(f: HistFrame, opt: HistOptions, height: number): SVGGElement {
  const g = s("g", { class: "fc-hist-titles" });
  const ym = (f.y0 + f.y1) / 2;
  g.append(
    s(
      "text",
      {
        x: (f.x0 + f.x1) / 2,
        y: height - 3,
        "text-anchor": "middle",
        class: "fc-axis-title fc-x-title",
      },
      opt.xTitle,
    ),
    s(
      "text",
      {
        x: 9,
        y: ym,
        "text-anchor": "middle",
        transform: `rotate(-90 9 ${ym})`,
        class: "fc-axis-title fc-y-title",
      },
      f.log ? `${opt.yTitle} (log)` : opt.yTitle,
    ),
  );
  return g;
}

/** The hover marker, hidden, and the function that moves it (null hides it). */
function drawMarker(f: HistFrame): { g: SVGGElement; mark(value: number | null): void } {
  const g = s("g", { class: "fc-marker", visibility: "hidden" });
  const line = s("line", { x1: 0, x2: 0, y1: f.y1 - 2, y2: f.y0, class: "fc-marker-line" });
  const label = s("text", { x: 0, y: f.y1 - 4, "text-anchor": "middle", class: "fc-marker-label" });
  g.append(line, label);
  const mark = (value: number | null) => {
    if (value === null || !Number.isFinite(value)) {
      g.setAttribute("visibility", "hidden");
      delete g.dataset.value;
      return;
    }
    const { px, anchor } = markerAt(f, value);
    line.setAttribute("x1", String(px));
    line.setAttribute("x2", String(px));
    label.setAttribute("x", String(px));
    label.setAttribute("text-anchor", anchor);
    label.textContent = fmt(value);
    g.dataset.value = String(value);
    g.setAttribute("visibility", "visible");
  };
  return { g, mark };
}

function drawSvg(hist: HistData, opt: HistOptions, log: boolean) {
  const W = opt.width ?? 300;
  const H = opt.height ?? 122;
  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    width: W,
    height: H,
    role: "img",
    "aria-label": opt.label,
    class: "fc-hist-svg",
  });
  const f = histFrame(hist, W, H, { log, zero: opt.zero === true });
  svg.dataset.lo = String(f.lo);
  svg.dataset.hi = String(f.hi);
  svg.dataset.log = String(log);
  const marker = drawMarker(f);
  svg.append(
    drawGrid(f),
    drawBars(f, hist, opt),
    drawAxis(f, hist.ticks),
    drawTitles(f, opt, H),
    marker.g,
  );
  return { svg, mark: marker.mark };
}

export function renderHistogram(hist: HistData, opt: HistOptions): HistView {
  const root = h("div", `fc-hist ${opt.className}`);
  const toggle = h("label", "fc-log-toggle");
  const box = h("input", "fc-log-y");
  box.type = "checkbox";
  toggle.title = "counts on a logarithmic axis (log of 1 + count)";
  toggle.append(box, " log y");
  let drawn = drawSvg(hist, opt, false);
  let marked: number | null = null;
  box.addEventListener("change", () => {
    const next = drawSvg(hist, opt, box.checked);
    drawn.svg.replaceWith(next.svg);
    drawn = next;
    drawn.mark(marked);
  });
  root.append(toggle, drawn.svg);
  const mark = (v: number | null) => {
    marked = v;
    drawn.mark(v);
  };
  return { root, mark };
}
