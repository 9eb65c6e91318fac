/**
 * The graph's legend: what each edge colour and node shape means. Its swatches take their
 * colours from the same CSS variables as the graph (graph.css), under classes of their own, so
 * nothing that counts the graph's edges or nodes counts them.
 */
import { h, s } from "../../core/dom";

export interface LegendItem {
  key: string; // the swatch's class: fc-g-key-<key>
  shape: "line" | "circle" | "square" | "ring";
  label: string;
}

export const LEGEND: readonly LegendItem[] = [
  { key: "attn", shape: "line", label: "attention (source token → block)" },
  { key: "mlp", shape: "line", label: "MLP" },
  { key: "resid", shape: "line", label: "residual" },
  { key: "state", shape: "circle", label: "residual state on a route" },
  { key: "dot", shape: "circle", label: "state off the routes" },
  { key: "attn-block", shape: "square", label: "attention block" },
  { key: "mlp-block", shape: "square", label: "MLP block" },
  { key: "pinned", shape: "ring", label: "pinned" },
];

function swatch(item: LegendItem): SVGSVGElement {
  const svg = s("svg", { class: "fc-g-swatch", width: 22, height: 12, viewBox: "0 0 22 12" });
  const cls = `fc-g-key fc-g-key-${item.key}`;
  if (item.shape === "line") {
    svg.append(s("line", { class: cls, x1: 1, y1: 6, x2: 21, y2: 6, "stroke-width": 3 }));
  } else if (item.shape === "circle") {
    svg.append(s("circle", { class: cls, cx: 11, cy: 6, r: item.key === "dot" ? 3 : 5 }));
  } else {
    const ring = item.shape === "ring";
    svg.append(s("rect", { class: cls, x: 6, y: 1, width: 10, height: 10, rx: ring ? 5 : 2 }));
  }
  return svg;
}

export function createLegend(): HTMLElement {
  const box = h("div", "fc-g-legend");
  for (const item of LEGEND) {
    const entry = h("span", "fc-g-legend-item");
    entry.dataset.key = item.key;
    entry.append(swatch(item), h("span", "fc-g-legend-label", item.label));
    box.append(entry);
  }
  return box;
}
