/** Example groups ("Top activations", …): a title, then one token row per sequence. */
import type { GroupData } from "../card-data";
import { h } from "./dom";
import { renderSequence } from "./tokens";

/**
 * @param scale activation that gets the full colour (the card's max |act|)
 * @param unavailable why examples cannot be shown, if the card says so
 */
export function renderExamples(
  groups: GroupData[],
  scale: number,
  unavailable?: string,
): HTMLElement {
  const root = h("div", "fc-examples");
  if (unavailable !== undefined) {
    root.append(h("div", "fc-unavailable", unavailable));
    return root;
  }
  if (groups.length === 0) root.append(h("div", "fc-unavailable", "no examples"));
  for (const g of groups) {
    const section = h("section", "fc-group");
    section.append(h("h4", "fc-group-title", g.title));
    if (g.seqs.length === 0) section.append(h("div", "fc-unavailable", "none"));
    for (const seq of g.seqs) section.append(renderSequence(seq, scale));
    root.append(section);
  }
  return root;
}
