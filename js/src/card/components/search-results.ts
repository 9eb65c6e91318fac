/**
 * The search box's results: a panel in the card's flow under the navigation bar (it pushes
 * the card down, never covers the examples), closed once a result is picked. Each hit says how
 * strongly the unit fires on the text: its peak as a percentage of the unit's largest
 * activation over the dataset, which can pass 100% (the typed text is not in the dataset).
 * When no hit reaches `STRONG_FRAC` of its max the panel says so ("no strong matches"), so a
 * nonsense query is not mistaken for a find.
 */

import { fmt, h, percent } from "../../core/dom";
import type { SearchHit, SearchResult } from "../../core/schema";
import { quoteToken } from "../../core/tokens";

/** A hit is strong when its peak on the text reaches this fraction of the unit's dataset max. */
export const STRONG_FRAC = 0.5;

/** What "% of max" means, shown above the hits. */
export const FRAC_HELP =
  "% of max: the unit's peak on your text relative to its largest activation over the " +
  "dataset; it can pass 100% because your text is not in the dataset.";

export const isStrong = (hit: SearchHit): boolean => hit.frac >= STRONG_FRAC;

/** The line above the hits: how many are strong, or that none is and how weak the best is. */
export function searchSummary(r: SearchResult): string {
  if (r.hits.length === 0) return `no unit of ${r.source} fires on this text`;
  const strong = r.hits.filter(isStrong).length;
  const at = `≥ ${percent(STRONG_FRAC)} of its max`;
  if (strong > 0) return `${strong} of ${r.hits.length} hits fire strongly (${at})`;
  const best = Math.max(...r.hits.map((x) => x.frac));
  const bestText =
    best > 0 ? `${percent(best)} of its max` : "a unit that never fires in the dataset";
  return `no strong matches: the best hit reaches ${bestText} (strong: ${at})`;
}

/** A hit's tooltip: its peak, the unit's dataset max and what the percentage is. */
export function hitTitle(hit: SearchHit): string {
  const where = `peaks at token ${hit.pos} ${quoteToken(hit.token)} with ${fmt(hit.act)}`;
  if (!(hit.frac > 0)) {
    return `unit ${hit.feature} ${where}; it never fires in the dataset, so there is no max to compare with`;
  }
  const max = hit.act / hit.frac;
  return (
    `unit ${hit.feature} ${where}: ${percent(hit.frac)} of its largest activation over the ` +
    `dataset (${fmt(max)}); above 100% when your text drives it harder than any dataset token`
  );
}

function hitButton(hit: SearchHit): HTMLButtonElement {
  const b = h("button", isStrong(hit) ? "fc-hit" : "fc-hit fc-hit-weak");
  b.type = "button";
  b.dataset.feature = String(hit.feature);
  b.append(
    h("span", "fc-hit-id", `#${hit.feature}`),
    h("span", "fc-hit-act", fmt(hit.act)),
    h("span", "fc-hit-frac", hit.frac > 0 ? `${percent(hit.frac)} of max` : "dead in data"),
    h("span", "fc-hit-tok", quoteToken(hit.token)),
  );
  b.title = hitTitle(hit);
  return b;
}

/** The panel's elements: a status line, what "% of max" means, the hits, and a close button. */
export interface ResultsPanel {
  root: HTMLElement;
  status: HTMLElement;
  help: HTMLElement;
  list: HTMLElement;
  close: HTMLButtonElement;
}

export function buildResults(): ResultsPanel {
  const root = h("div", "fc-search-panel");
  const head = h("div", "fc-search-head");
  const status = h("div", "fc-search-status");
  const close = h("button", "fc-search-close", "×");
  close.type = "button";
  close.title = "close the results (Esc)";
  close.setAttribute("aria-label", "close the search results");
  head.append(status, close);
  const help = h("div", "fc-search-help", FRAC_HELP);
  const list = h("ul", "fc-search-results");
  root.append(head, help, list);
  root.hidden = true;
  return { root, status, help, list, close };
}

/** Shows `result` (null: none) with `message` (a status: "searching…"); both empty: closed. */
export function showResults(el: ResultsPanel, result: SearchResult | null, message: string): void {
  const hits = result?.hits ?? [];
  el.status.textContent = result ? searchSummary(result) : message;
  el.status.classList.toggle("fc-search-weak", result !== null && !hits.some(isStrong));
  el.list.replaceChildren();
  for (const hit of hits) {
    const li = h("li", "");
    li.append(hitButton(hit));
    el.list.append(li);
  }
  el.list.hidden = hits.length === 0;
  el.help.hidden = hits.length === 0;
  el.root.hidden = result === null && message === "";
}
