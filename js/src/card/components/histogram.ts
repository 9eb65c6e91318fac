/**
 * A histogram as inline SVG: bars over equal-width bins, x ticks from the state (Python's
 * `nice_ticks`), y ticks chosen here (`niceTicks`, integers), and a hover marker: a vertical
 * line with its value, which the card moves to the hovered token's activation (activation
 * histogram) or to its token's direct logit (logit histogram). No chart library: the file
 * stays offline and small.
 */

import { fmt, h, s } from "../../core/dom";
import { niceTicks, tickLabel, tickStep } from "../../core/ticks";
import type { HistData } from "../card-data";

export interface HistOptions {
  className: string; // e.g. "fc-act-hist"
  label: string; // accessible name, e.g. "activation histogram"
  fill(mid: number): string; // bar colour from the bin's midpoint
  width?: number;
  height?: number;
}

export interface HistView {
  root: HTMLElement;
  mark(value: number | null): void; // null hides the marker
}

const M = { left: 34, right: 8, top: 14, bottom: 18 };

export function renderHistogram(hist: HistData, opt: HistOptions): HistView {
  const W = opt.width ?? 300;
  const H = opt.height ?? 110;
  const root = h("div", `fc-hist ${opt.className}`);
  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    width: W,
    height: H,
    role: "img",
    "aria-label": opt.label,
    class: "fc-hist-svg",
  });
  const n = hist.counts.length;
  let lo = hist.edges[0] ?? 0;
  let hi = hist.edges[n] ?? lo;
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const x0 = M.left;
  const x1 = W - M.right;
  const y0 = H - M.bottom;
  const y1 = M.top;
  const x = (v: number) => x0 + ((v - lo) / (hi - lo)) * (x1 - x0);
  let maxCount = 0;
  for (let i = 0; i < n; i++) maxCount = Math.max(maxCount, hist.counts[i] ?? 0);
  const yTicks = maxCount > 0 ? niceTicks(0, maxCount, 4, true) : [0];
  const top = Math.max(maxCount, yTicks[yTicks.length - 1] ?? 0, 1);
  const y = (c: number) => y0 - (c / top) * (y0 - y1);
  svg.dataset.lo = String(lo);
  svg.dataset.hi = String(hi);

  const grid = s("g", { class: "fc-hist-y" });
  for (const t of yTicks) {
    grid.append(
      s("line", { x1: x0, x2: x1, y1: y(t), y2: y(t), class: "fc-grid" }),
      s("text", { x: x0 - 4, y: y(t) + 3, "text-anchor": "end" }, tickLabel(t, 1)),
    );
  }
  svg.append(grid);

  const bars = s("g", { class: "fc-hist-bars" });
  for (let i = 0; i < n; i++) {
    const c = hist.counts[i] ?? 0;
    if (c <= 0) continue;
    const a = hist.edges[i] ?? lo;
    const b = hist.edges[i + 1] ?? a;
    const point = !(b > a); // all values equal: one thin bar at that value
    const left = point ? x(a) - 3 : x(a);
    const width = point ? 6 : Math.max(1, x(b) - x(a) - 0.5);
    const bar = s("rect", {
      x: left,
      y: y(c),
      width,
      height: Math.max(0.5, y0 - y(c)),
      fill: opt.fill((a + b) / 2),
      class: "fc-bar",
    });
    bar.append(s("title", {}, `${fmt(a)} – ${fmt(b)}: ${c}`));
    bars.append(bar);
  }
  svg.append(bars);

  const axis = s("g", { class: "fc-hist-x" });
  axis.append(s("line", { x1: x0, x2: x1, y1: y0, y2: y0, class: "fc-axis" }));
  const step = tickStep(hist.ticks);
  for (let i = 0; i < hist.ticks.length; i++) {
    const t = hist.ticks[i] ?? 0;
    if (t < lo - 1e-9 * Math.abs(lo) || t > hi + 1e-9 * Math.abs(hi)) continue;
    axis.append(
      s("line", { x1: x(t), x2: x(t), y1: y0, y2: y0 + 3, class: "fc-axis" }),
      s(
        "text",
        { x: x(t), y: H - 4, "text-anchor": "middle", class: "fc-tick" },
        tickLabel(t, step),
      ),
    );
  }
  svg.append(axis);

  const marker = s("g", { class: "fc-marker", visibility: "hidden" });
  const line = s("line", { x1: 0, x2: 0, y1: y1 - 2, y2: y0, class: "fc-marker-line" });
  const label = s("text", { x: 0, y: y1 - 4, "text-anchor": "middle", class: "fc-marker-label" });
  marker.append(line, label);
  svg.append(marker);
  root.append(svg);

  return {
    root,
    mark(value) {
      if (value === null || !Number.isFinite(value)) {
        marker.setAttribute("visibility", "hidden");
        delete marker.dataset.value;
        return;
      }
      const px = Math.min(Math.max(x(value), x0), x1);
      line.setAttribute("x1", String(px));
      line.setAttribute("x2", String(px));
      const anchor = px < x0 + 20 ? "start" : px > x1 - 20 ? "end" : "middle";
      label.setAttribute("x", String(px));
      label.setAttribute("text-anchor", anchor);
      label.textContent = fmt(value);
      marker.dataset.value = String(value);
      marker.setAttribute("visibility", "visible");
    },
  };
}
