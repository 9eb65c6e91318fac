/**
 * One example sequence as a row of token spans, coloured by activation.
 *
 * Whitespace is made visible: a token's leading spaces show as faint "·" (in a child
 * span.fc-ws), and newline / tab / carriage return as "↵" / "⇥" / "␍". The real token text
 * stays in the `data-text` attribute and in the title.
 */
import type { SeqData } from "../card-data";
import { actColor, textColor } from "../colors";
import { fmt, h } from "./dom";

const CONTROL: Readonly<Record<string, string>> = { "\n": "↵", "\t": "⇥", "\r": "␍" };

/** The visible form of a token: its leading-space marker and the rest of its text. */
export function tokenDisplay(text: string): { lead: string; rest: string } {
  const n = text.length - text.replace(/^ +/, "").length;
  return {
    lead: "·".repeat(n),
    rest: text.slice(n).replace(/[\n\t\r]/g, (c) => CONTROL[c] ?? c),
  };
}

/** A token quoted for a tooltip: 'x', with control characters escaped. */
export function quoteToken(text: string): string {
  const esc = text.replace(/[\\\n\t\r']/g, (c) =>
    c === "\n" ? "\\n" : c === "\t" ? "\\t" : c === "\r" ? "\\r" : `\\${c}`,
  );
  return `'${esc}'`;
}

/** Fills `el` with a token's visible form (as text nodes; never markup). */
export function fillToken(el: HTMLElement, text: string): void {
  const { lead, rest } = tokenDisplay(text);
  if (lead) el.append(h("span", "fc-ws", lead));
  if (rest) el.append(rest);
  el.dataset.text = text;
}

/** One token of a sequence. */
export function renderToken(text: string, act: number, scale: number, title: string): HTMLElement {
  const span = h("span", "fc-tok");
  fillToken(span, text);
  span.dataset.act = String(act);
  span.title = title;
  span.style.backgroundColor = actColor(act, scale);
  const fg = textColor(act, scale);
  if (fg) span.style.color = fg;
  return span;
}

/** A row of span.fc-tok for one sequence; the token that selected it gets .fc-focus. */
export function renderSequence(seq: SeqData, scale: number): HTMLDivElement {
  const row = h("div", "fc-seq");
  seq.tokens.forEach((text, i) => {
    const act = seq.acts[i] ?? Number.NaN;
    const title = `act ${fmt(act)} · token ${quoteToken(text)} · row ${seq.row}, pos ${seq.pos0 + i}`;
    const span = renderToken(text, act, scale, title);
    if (i === seq.focus) span.classList.add("fc-focus");
    row.append(span);
  });
  return row;
}
