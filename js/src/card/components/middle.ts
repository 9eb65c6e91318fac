/**
 * The middle column: the density line, the activation histogram, the logit histogram and the
 * top / bottom logit tables. Hovering a token elsewhere moves a marker in each histogram
 * (`markAct`, `markLogit`). A panel the card cannot have says why, in its place.
 */

import { barColor, markColor, shadeColor } from "../../core/colors";
import { h, percent } from "../../core/dom";
import type { CardData } from "../card-data";
import { type HistView, renderHistogram } from "./histogram";
import { renderLogits } from "./logit-table";

export interface MiddleView {
  root: HTMLElement;
  markAct(value: number | null): void;
  markLogit(value: number | null): void;
}

function panel(title: string, cls: string): HTMLElement {
  const p = h("section", `fc-panel ${cls}`);
  p.append(h("h4", "fc-panel-title", title));
  return p;
}

export function renderMiddle(data: CardData, scale: number): MiddleView {
  const root = h("div", "fc-middle");
  const hd = data.header;
  const dens = panel("Activations", "fc-act-panel");
  const line = h("div", "fc-density-line");
  const active = Math.round(hd.density * hd.n_tokens);
  line.append(
    h("span", "fc-density-value", `density ${percent(hd.density)}`),
    h("span", "fc-density-count", ` · ${active} of ${hd.n_tokens} tokens`),
  );
  const bar = h("div", "fc-density-bar");
  const fill = h("div", "fc-density-fill");
  fill.style.width = `${Math.min(100, Math.max(hd.density > 0 ? 0.5 : 0, hd.density * 100))}%`;
  bar.append(fill);
  dens.append(line, bar);

  let act: HistView | null = null;
  const counted = Array.from(data.actHist.counts).reduce((a, b) => a + b, 0);
  if (data.unavailable.examples !== undefined || counted === 0) {
    dens.append(h("div", "fc-unavailable", data.unavailable.examples ?? "no nonzero activations"));
  } else {
    act = renderHistogram(data.actHist, {
      className: "fc-act-hist",
      label: "histogram of the unit's nonzero activations",
      fill: (mid) => shadeColor(mid, scale),
      stroke: markColor,
      xTitle: "activation",
      yTitle: "tokens",
      zero: true,
    });
    dens.append(act.root);
  }

  const logit = panel("Direct logit effects", "fc-logit-panel");
  let lh: HistView | null = null;
  if (data.logitHist) {
    lh = renderHistogram(data.logitHist, {
      className: "fc-logit-hist",
      label: "histogram of the direct logit effect over the vocabulary",
      fill: (mid) => barColor(mid),
      stroke: markColor,
      xTitle: "direct logit effect",
      yTitle: "vocab entries",
    });
    logit.append(lh.root);
  }
  logit.append(renderLogits(data.logits, data.unavailable.logits));
  root.append(dens, logit);
  return {
    root,
    markAct: (v) => act?.mark(v),
    markLogit: (v) => lh?.mark(v),
  };
}
