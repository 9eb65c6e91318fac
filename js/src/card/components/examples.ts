/**
 * The right column: example groups ("Top activations", the activation intervals with their
 * range and share, "Bottom activations"), each a title and one token row per sequence.
 *
 * A top example of an attention-output SAE has its DFA row under it (./dfa-row.ts), the two in
 * one `.fc-seq-pair` so CSS columns never split them. A group's rows sit in `.fc-seqs`, whose CSS columns are as wide as the card's longest row
 * (`--fc-seq-ch`, `seqChars`): a wide card shows the rows side by side instead of half empty.
 */

import { h } from "../../core/dom";
import { tokenDisplay } from "../../core/tokens";
import type { CardData, SeqData } from "../card-data";
import { DFA_NOTE, dfaScale, renderDfaRow } from "./dfa-row";
import { examplesNote, expandable } from "./expand";
import { renderLegend } from "./legend";
import { lossScale, renderSequence } from "./sequence";

/** The most characters a column of rows is sized for (longer rows wrap between tokens). */
export const MAX_SEQ_CHARS = 120;

/** A row's width in characters of the code font: its tokens as shown, plus their padding. */
export function seqChars(seq: Pick<SeqData, "tokens">): number {
  let n = 0;
  for (const t of seq.tokens) {
    const { lead, rest } = tokenDisplay(t);
    n += lead.length + Math.max(1, rest.length);
  }
  return n + Math.ceil(seq.tokens.length * 0.3); // 2 px of padding per token
}

/** The column width of the examples, in characters: the longest row, within [20, MAX_SEQ_CHARS]. */
export function columnChars(seqs: readonly Pick<SeqData, "tokens">[]): number {
  const longest = Math.max(0, ...seqs.map(seqChars));
  return Math.min(MAX_SEQ_CHARS, Math.max(20, longest + 2));
}

/**
 * @param scale activation that gets the full colour (the card's max |act|)
 * @param unavailable why examples cannot be shown, if the card says so
 * @param live a kernel answers requests: a click on a row widens it (./expand.ts); else the note says why not
 */
export function renderExamples(
  data: CardData,
  scale: number,
  unavailable?: string,
  live = true,
): HTMLElement {
  const root = h("div", "fc-examples");
  if (unavailable !== undefined) {
    root.append(h("div", "fc-unavailable fc-dead", unavailable));
    return root;
  }
  if (data.groups.length === 0) root.append(h("div", "fc-unavailable", "no examples"));
  root.style.setProperty("--fc-seq-ch", String(columnChars(data.seqs)));
  const loss = lossScale(data);
  const negative = data.seqs.some((q) => Array.from(q.acts).some((a) => a < 0));
  const dScale = dfaScale(data);
  if (data.seqs.length > 0)
    root.append(renderLegend(scale, negative, loss > 0), examplesNote(live));
  for (const g of data.groups) {
    const section = h("section", "fc-group");
    section.append(h("h4", "fc-group-title", g.title));
    if (g.seqs.length === 0) section.append(h("div", "fc-unavailable", "none"));
    if (g.seqs.some((q) => q.dfa)) section.append(h("div", "fc-dfa-note", DFA_NOTE));
    const rows = h("div", "fc-seqs");
    for (const seq of g.seqs) {
      const row = expandable(renderSequence(seq, scale, data, loss), false);
      if (!seq.dfa) rows.append(row);
      else {
        const pair = h("div", "fc-seq-pair");
        pair.append(row, renderDfaRow(seq, seq.dfa, dScale, data));
        rows.append(pair);
      }
    }
    if (g.seqs.length > 0) section.append(rows);
    root.append(section);
  }
  return root;
}
