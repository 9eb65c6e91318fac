/**
 * A token's latents as a table: index, activation, quantile, and the two loss effects with a bar
 * (blue: removing the write raises the loss, so the latent helps; red: it lowers it). A row click
 * (or Enter / Space on it) chooses the latent: its DFA and shading show, and with a kernel its
 * card opens below; offline the row says its card needs a kernel.
 */
import { barColor, barWidth, maxAbs } from "../../core/colors";
import { fmt, h, signed } from "../../core/dom";
import type { Pair } from "../data";
import { quantileText } from "../table-logic";

/** Why opening cards is disabled in an exported file. */
export const NEEDS_KERNEL = "needs a running kernel (this is an exported file)";

const COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ["latent", "the latent's index (click a row: its card, and its DFA)"],
  ["act", "activation at this token"],
  ["quantile", "fraction of the dataset's tokens where the latent is lower"],
  ["Δ loss next", "next-token loss without the latent's write here minus with it"],
  ["Δ loss prompt", "the prompt's mean next-token loss, same difference"],
];

export interface LatentTableOptions {
  openLatent: number | null; // the latent whose card is open (this SAE's)
  chosen: number; // the chosen pair's index (-1: none)
  live: boolean;
  onChoose(p: Pair): void;
}

function lossCell(v: number, scale: number): HTMLElement {
  const td = h("td", "pv-num pv-loss", Number.isFinite(v) ? signed(v) : "–");
  if (Number.isFinite(v) && scale > 0) {
    const bar = h("span", "pv-bar");
    bar.style.width = barWidth(Math.abs(v), scale);
    bar.style.backgroundColor = barColor(-v); // a latent that helps (v > 0) in blue, as a lowered loss elsewhere
    td.prepend(bar);
  }
  return td;
}

function header(): HTMLElement {
  const tr = h("tr", "");
  for (const [text, title] of COLUMNS) {
    const th = h("th", "pv-th", text);
    th.title = title;
    tr.append(th);
  }
  const thead = h("thead", "");
  thead.append(tr);
  return thead;
}

/** The table of `pairs` in their order (already ranked). */
export function renderLatentTable(pairs: readonly Pair[], o: LatentTableOptions): HTMLElement {
  const scale = Math.max(
    maxAbs(pairs.map((p) => p.lossNext)),
    maxAbs(pairs.map((p) => p.lossPrompt)),
  );
  const body = h("tbody", "");
  for (const p of pairs) {
    const row = h("tr", "pv-row");
    row.dataset.latent = String(p.latent);
    row.tabIndex = 0;
    if (o.openLatent === p.latent) row.classList.add("pv-open");
    if (o.chosen === p.index) row.setAttribute("aria-selected", "true");
    row.title = o.live
      ? "open this latent's card below, and show its DFA"
      : `show its DFA (its card ${NEEDS_KERNEL})`;
    row.append(
      h("td", "pv-num pv-latent", `#${p.latent}`),
      h("td", "pv-num", fmt(p.act)),
      h("td", "pv-num", quantileText(p.quantile)),
      lossCell(p.lossNext, scale),
      lossCell(p.lossPrompt, scale),
    );
    row.addEventListener("click", () => o.onChoose(p));
    row.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        o.onChoose(p);
      }
    });
    body.append(row);
  }
  const table = h("table", "pv-table");
  table.append(header(), body);
  return table;
}
