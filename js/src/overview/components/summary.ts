/**
 * The overview's head: the SAE's totals (latents, dead, dense, mean L0), its reconstruction
 * metrics (explained variance, CE loss recovered, with the three losses in the tooltip) and the
 * latent density histogram (log10 density along x, one bar per 0.1 decade; dead latents, whose
 * density is 0, are counted beside it). Text only through textContent.
 */
import { h, s } from "../../core/dom";
import type { Histogram, OverviewData } from "../data";
import type { OverviewSummary } from "../schema";

/** A number or '–' for null (undefined in Python: NaN). */
export function maybe(v: number | null, digits = 3): string {
  return v === null || !Number.isFinite(v) ? "–" : v.toFixed(digits);
}

function stat(label: string, value: string, title: string, key: string): HTMLElement {
  const box = h("div", "ov-stat");
  box.dataset.key = key;
  box.title = title;
  box.append(h("div", "ov-stat-value", value), h("div", "ov-stat-label", label));
  return box;
}

const pct = (k: number, n: number): string => (n > 0 ? `${((100 * k) / n).toFixed(1)}%` : "–");

/** The boxes of the summary line. */
export function summaryBoxes(sm: OverviewSummary): HTMLElement {
  const row = h("div", "ov-stats");
  const losses =
    `loss clean ${maybe(sm.ce_clean)}, with the SAE ${maybe(sm.ce_sae)}, hook zero-ablated ` +
    `${maybe(sm.ce_zero)} (nats, next-token, first ${sm.recon_rows} rows)`;
  row.append(
    stat("latents", String(sm.n_latents), `over ${sm.n_tokens} dataset tokens`, "latents"),
    stat(
      "dead",
      `${sm.n_dead} (${pct(sm.n_dead, sm.n_latents)})`,
      "latents that never fire on the dataset",
      "dead",
    ),
    stat(
      `dense (> ${(100 * sm.dense_threshold).toPrecision(2)}%)`,
      `${sm.n_dense} (${pct(sm.n_dense, sm.n_latents)})`,
      `latents firing on more than ${(100 * sm.dense_threshold).toPrecision(2)}% of tokens`,
      "dense",
    ),
    stat("mean L0", sm.mean_l0.toFixed(2), "mean number of latents active on a token", "l0"),
    stat(
      "explained variance",
      maybe(sm.explained_variance),
      `1 − Σ‖x − x̂‖² / Σ‖x − mean x‖² over ${sm.recon_tokens} positions of the first ${sm.recon_rows} rows`,
      "ev",
    ),
    stat(
      "CE loss recovered",
      maybe(sm.ce_recovered),
      `(L_zero − L_sae) / (L_zero − L_clean): ${losses}`,
      "ce",
    ),
  );
  return row;
}

const W = 420;
const H = 130;
const PAD = { left: 36, right: 8, top: 8, bottom: 28 };

/** The x position of a log10 density in a histogram's plot. */
export function xOf(hist: Histogram, v: number): number {
  const lo = hist.edges[0] ?? -1;
  const hi = hist.edges[hist.edges.length - 1] ?? 0;
  return PAD.left + ((v - lo) / (hi - lo || 1)) * (W - PAD.left - PAD.right);
}

/** A decade tick's label: 10⁻³ written as 1e-3, 0 as 1. */
export function decadeLabel(t: number): string {
  return t === 0 ? "1" : `1e${t}`;
}

/** The density histogram as an SVG (bars of equal width; the y axis from 0 to the tallest bar). */
export function densityHistogram(data: OverviewData): HTMLElement {
  const hist = data.histogram;
  const box = h("div", "ov-hist");
  box.append(h("div", "ov-hist-title", "latent density (log10 of the fraction of tokens)"));
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" });
  svg.setAttribute("aria-label", "histogram of latent densities");
  const top = Math.max(1, ...hist.counts);
  const plotH = H - PAD.top - PAD.bottom;
  hist.counts.forEach((c, i) => {
    const x0 = xOf(hist, hist.edges[i] ?? 0);
    const x1 = xOf(hist, hist.edges[i + 1] ?? 0);
    const bh = (c / top) * plotH;
    const bar = s("rect", {
      class: "ov-bar",
      x: x0 + 0.5,
      y: PAD.top + plotH - bh,
      width: Math.max(0.5, x1 - x0 - 1),
      height: bh,
    });
    bar.append(
      s(
        "title",
        {},
        `${c} latents with log10 density in [${(hist.edges[i] ?? 0).toFixed(1)}, ${(hist.edges[i + 1] ?? 0).toFixed(1)})`,
      ),
    );
    svg.append(bar);
  });
  const axisY = PAD.top + plotH;
  svg.append(
    s("line", { class: "ov-axis", x1: PAD.left, x2: W - PAD.right, y1: axisY, y2: axisY }),
  );
  for (const t of hist.ticks) {
    const x = xOf(hist, t);
    svg.append(s("line", { class: "ov-axis", x1: x, x2: x, y1: axisY, y2: axisY + 4 }));
    svg.append(
      s("text", { class: "ov-tick", x, y: axisY + 16, "text-anchor": "middle" }, decadeLabel(t)),
    );
  }
  svg.append(
    s(
      "text",
      { class: "ov-tick", x: PAD.left - 4, y: PAD.top + 8, "text-anchor": "end" },
      String(top),
    ),
  );
  svg.append(s("text", { class: "ov-tick", x: PAD.left - 4, y: axisY, "text-anchor": "end" }, "0"));
  box.append(svg);
  const dead = data.summary.n_dead;
  box.append(
    h("div", "ov-hist-note", `${dead} dead latent${dead === 1 ? "" : "s"} (density 0) not shown`),
  );
  return box;
}
