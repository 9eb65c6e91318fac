/**
 * The right column: example groups ("Top activations", the activation intervals with their
 * range and share, "Bottom activations"), each a title and one token row per sequence.
 */

import { h } from "../../core/dom";
import type { CardData } from "../card-data";
import { lossScale, renderSequence } from "./sequence";

/**
 * @param scale activation that gets the full colour (the card's max |act|)
 * @param unavailable why examples cannot be shown, if the card says so
 */
export function renderExamples(data: CardData, scale: number, unavailable?: string): HTMLElement {
  const root = h("div", "fc-examples");
  if (unavailable !== undefined) {
    root.append(h("div", "fc-unavailable fc-dead", unavailable));
    return root;
  }
  if (data.groups.length === 0) root.append(h("div", "fc-unavailable", "no examples"));
  const loss = lossScale(data);
  for (const g of data.groups) {
    const section = h("section", "fc-group");
    section.append(h("h4", "fc-group-title", g.title));
    if (g.seqs.length === 0) section.append(h("div", "fc-unavailable", "none"));
    for (const seq of g.seqs) section.append(renderSequence(seq, scale, data, loss));
    root.append(section);
  }
  return root;
}
