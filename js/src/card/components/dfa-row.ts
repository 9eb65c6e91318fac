/**
 * DFA rows (an SAE on an attention output, as sae_vis and SAEDashboard show them): under each
 * top example, the same tokens shaded by their direct feature attribution to the example's own
 * token, the latent's pre-activation there split over the source tokens it attends to (every
 * head's pattern × values × encoder summed). Tokens after the example's token are 0 (the
 * causal pattern); sources before the shown window are counted in the tooltip. One colour scale
 * for every DFA row of the card (the largest |DFA| shown), coloured as activations are.
 *
 * A DFA token carries `data-w` (its index in the row) and its row `data-dfa` (the sequence's
 * first flat index); no `data-t`, so it has no hover effects and a click widens nothing.
 */
import { maxAbs } from "../../core/colors";
import { h, signed } from "../../core/dom";
import { fillToken } from "../../core/tokens";
import type { CardData, SeqData, SeqDfa } from "../card-data";
import { renderRow } from "./sequence";

/** The title over the top examples when they have DFA rows. */
export const DFA_NOTE =
  "Under each top example: DFA, each token's share of the latent's pre-activation at the example's token (every head summed)";

/** The colour scale of the card's DFA rows: their largest |value| (0 when none). */
export function dfaScale(data: CardData): number {
  return Math.max(0, ...data.seqs.map((s) => (s.dfa ? maxAbs(s.dfa.values) : 0)));
}

export function renderDfaRow(
  seq: SeqData,
  dfa: SeqDfa,
  scale: number,
  data: CardData,
): HTMLDivElement {
  const row = renderRow(
    {
      tokens: seq.tokens,
      focus: seq.focus,
      act: (i) => dfa.values[i] ?? Number.NaN,
      bytes: (i) => data.vocab.bytes(seq.vocab[i] ?? 0),
      flat: () => null,
    },
    scale,
    null,
  );
  row.classList.add("fc-dfa-row");
  row.dataset.dfa = String(seq.start);
  row.setAttribute("aria-label", "direct feature attribution to the example's token");
  return row;
}

function line(name: string, value: number): HTMLTableRowElement {
  const tr = h("tr", "fc-tt-row");
  const td = h("td", "fc-tt-num", signed(value));
  td.dataset.value = String(value);
  tr.append(h("th", "", name), td);
  return tr;
}

/** The tooltip of a DFA row's token (null for any other span). */
export function dfaHoverContent(data: CardData, span: HTMLElement): HTMLElement | null {
  const row = span.closest<HTMLElement>(".fc-dfa-row");
  const start = Number(row?.dataset.dfa);
  const i = Number(span.dataset.w);
  const seq = data.seqs.find((s) => s.start === start);
  const dfa = seq?.dfa;
  if (!seq || !dfa || !Number.isInteger(i) || i >= seq.tokens.length) return null;
  const root = h("div", "fc-tt fc-tt-dfa");
  const head = h("div", "fc-tt-head");
  const tok = h("span", "fc-tt-tok");
  fillToken(tok, seq.tokens[i] ?? "");
  const focus = h("span", "fc-tt-tok");
  fillToken(focus, seq.tokens[seq.focus] ?? "");
  head.append(h("span", "", "DFA from "), tok, h("span", "", " to "), focus);
  const table = h("table", "fc-tt-stats");
  const shown = Array.from(dfa.values).reduce((a, b) => a + b, 0);
  table.append(
    line("this source", dfa.values[i] ?? Number.NaN),
    line("shown sources", shown),
    line("earlier sources", dfa.outside),
    line("bias terms", dfa.bias),
    line("pre-activation", dfa.pre),
  );
  root.append(
    head,
    table,
    h("div", "fc-tt-note", "shown + earlier sources + bias terms = pre-activation"),
  );
  return root;
}
