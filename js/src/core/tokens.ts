/**
 * One example sequence as a row of token spans, coloured by activation.
 *
 * Whitespace is made visible: a token's leading spaces show as faint "·" (in a child
 * span.fc-ws), newline / tab / carriage return as "↵" / "⇥" / "␍", and other control, format
 * and bidi characters (U+202E, zero-width spaces, ...) as `\xNN` / `\uNNNN` (text.ts's
 * visibleText); the CSS isolates each token's direction (`unicode-bidi: isolate`), so no token
 * can reorder its neighbours. The real token text
 * stays in the `data-text` attribute. A token that only starts a character completed by the
 * next token (byte-level BPE) has no text of its own: it gets .fc-partial and shows its bytes
 * through CSS (`data-bytes`), so the sequence's text content stays exactly its text.
 *
 * Marks: .fc-focus on the token that selected the sequence, .fc-tok-max on the sequence's
 * largest activation, and the loss underline (sae_vis's convention) on the token *after* one
 * where the unit fires: the unit's effect on predicting that token, red when it raises the
 * loss, blue when it lowers it. Each span carries `data-t`, its index in the card's flat
 * token arrays, for the hover tooltip.
 */
import type { CardData, SeqData } from "../card/card-data";
import { actColor, lossColor, textColor } from "./colors";
import { h } from "./dom";
import { hexBytes, quoteText, visibleText } from "./text";

/** The visible form of a token: its leading-space marker and the rest of its text (text.ts's visibleText). */
export function tokenDisplay(text: string): { lead: string; rest: string } {
  const n = text.length - text.replace(/^ +/, "").length;
  return { lead: "·".repeat(n), rest: visibleText(text.slice(n)) };
}

/** A token quoted for a tooltip: 'x', with control, format and bidi characters escaped. */
export const quoteToken = quoteText;

/** Fills `el` with a token's visible form (as text nodes; never markup). */
export function fillToken(el: HTMLElement, text: string): void {
  const { lead, rest } = tokenDisplay(text);
  if (lead) el.append(h("span", "fc-ws", lead));
  if (rest) el.append(rest);
  el.dataset.text = text;
}

/** One token span, coloured by its activation. */
export function renderToken(text: string, act: number, scale: number): HTMLElement {
  const span = h("span", "fc-tok");
  fillToken(span, text);
  span.dataset.act = String(act);
  span.style.backgroundColor = actColor(act, scale);
  const fg = textColor(act, scale);
  if (fg) span.style.color = fg;
  return span;
}

function argmax(a: ArrayLike<number>): number {
  let best = -1;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i] ?? 0;
    if (v > m) {
      m = v;
      best = i;
    }
  }
  return best;
}

/** The largest |loss change| over the card's hover rows: the underline's full colour. */
export function lossScale(data: CardData): number {
  let m = 0;
  const loss = data.hover?.loss ?? [];
  for (let i = 0; i < loss.length; i++) {
    const v = Math.abs(loss[i] ?? 0);
    if (Number.isFinite(v) && v > m) m = v;
  }
  return m;
}

/** A row of span.fc-tok for one sequence. */
export function renderSequence(
  seq: SeqData,
  scale: number,
  data?: CardData,
  loss = 0,
): HTMLDivElement {
  const row = h("div", "fc-seq");
  const hover = data?.hover ?? null;
  const max = argmax(seq.acts);
  let prevRow = -1;
  seq.tokens.forEach((text, i) => {
    const act = seq.acts[i] ?? Number.NaN;
    const span = renderToken(text, act, scale);
    const t = seq.start + i;
    span.dataset.t = String(t);
    if (i === seq.focus) span.classList.add("fc-focus");
    if (i === max) span.classList.add("fc-tok-max");
    if (text === "" && data) {
      span.classList.add("fc-partial");
      span.dataset.bytes = hexBytes(data.vocab.bytes(seq.vocab[i] ?? 0));
    }
    if (hover && prevRow >= 0) {
      const colour = lossColor(hover.loss[prevRow] ?? Number.NaN, loss);
      if (colour) {
        span.classList.add("fc-loss");
        span.style.setProperty("--fc-loss", colour);
      }
    }
    prevRow = hover ? (hover.tokenRow[t] ?? -1) : -1;
    row.append(span);
  });
  return row;
}
