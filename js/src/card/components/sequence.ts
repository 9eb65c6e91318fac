/**
 * One example sequence as a row of token spans (../../core/tokens), coloured by activation.
 *
 * A token that only starts a character completed by the
 * next token (byte-level BPE) has no text of its own: it gets .fc-partial and shows its bytes
 * through CSS (`data-bytes`), so the sequence's text content stays exactly its text.
 *
 * Marks: .fc-focus on the token that selected the sequence, .fc-tok-max on the sequence's
 * largest activation, and the loss underline (sae_vis's convention) on the token *after* one
 * where the unit fires: the unit's effect on predicting that token, red when it raises the
 * loss, blue when it lowers it. Each span carries `data-t`, its index in the card's flat
 * token arrays, for the hover tooltip.
 */
import { lossColor } from "../../core/colors";
import { h } from "../../core/dom";
import { hexBytes } from "../../core/text";
import { renderToken } from "../../core/tokens";
import type { CardData, SeqData } from "../card-data";

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
