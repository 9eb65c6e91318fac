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
 *
 * A row widened to ±20 tokens (`renderWindow`, a `window` answer of the kernel) is drawn the
 * same way: its tokens inside the card's ±5 keep their `data-t` (and hover, and underline);
 * the others carry only `data-w`, their index in the window.
 */
import { lossColor } from "../../core/colors";
import { h } from "../../core/dom";
import { hexBytes } from "../../core/text";
import { renderToken } from "../../core/tokens";
import type { CardData, HoverData, SeqData, WindowData } from "../card-data";

/** The index of the largest positive value of `a` (-1 when none is positive). */
export function argmax(a: ArrayLike<number>): number {
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

/** What a row of tokens draws: each token's text, activation and raw bytes, and its place in the card. */
export interface RowTokens {
  tokens: readonly string[];
  focus: number; // index of the token the example was chosen for
  act(i: number): number;
  bytes(i: number): ArrayLike<number> | null; // a token's raw bytes (null: unknown)
  flat(i: number): number | null; // its index in the card's flat token arrays (hover), or null
}

/** A row of span.fc-tok: `data-t` its flat index where it has one, `data-w` its index in the row. */
export function renderRow(
  r: RowTokens,
  scale: number,
  hover: HoverData | null,
  loss = 0,
): HTMLDivElement {
  const row = h("div", "fc-seq");
  const max = argmax(Array.from(r.tokens, (_, i) => r.act(i)));
  let prevRow = -1;
  r.tokens.forEach((text, i) => {
    const span = renderToken(text, r.act(i), scale);
    const t = r.flat(i);
    if (t !== null) span.dataset.t = String(t);
    span.dataset.w = String(i);
    if (i === r.focus) span.classList.add("fc-focus");
    if (i === max) span.classList.add("fc-tok-max");
    const bytes = text === "" ? r.bytes(i) : null;
    if (bytes) {
      span.classList.add("fc-partial");
      span.dataset.bytes = hexBytes(bytes);
    }
    if (hover && prevRow >= 0) {
      const colour = lossColor(hover.loss[prevRow] ?? Number.NaN, loss);
      if (colour) {
        span.classList.add("fc-loss");
        span.style.setProperty("--fc-loss", colour);
      }
    }
    prevRow = hover && t !== null ? (hover.tokenRow[t] ?? -1) : -1;
    row.append(span);
  });
  return row;
}

/** A row of span.fc-tok for one sequence of the card (`data-seq`: its first flat index). */
export function renderSequence(
  seq: SeqData,
  scale: number,
  data?: CardData,
  loss = 0,
): HTMLDivElement {
  const row = renderRow(
    {
      tokens: seq.tokens,
      focus: seq.focus,
      act: (i) => seq.acts[i] ?? Number.NaN,
      bytes: (i) => (data ? data.vocab.bytes(seq.vocab[i] ?? 0) : null),
      flat: (i) => seq.start + i,
    },
    scale,
    data?.hover ?? null,
    loss,
  );
  row.dataset.seq = String(seq.start);
  return row;
}

/** Window token `i`'s index in the card's flat arrays when `seq` shows that position, else null. */
export function flatIndex(seq: SeqData, win: Pick<WindowData, "start">, i: number): number | null {
  const k = win.start + i - seq.pos0;
  return k >= 0 && k < seq.tokens.length ? seq.start + k : null;
}

/**
 * `seq` widened to the kernel's window `win` (±20 tokens of its dataset row): the positions the
 * card shows keep the card's numbers and hover; the others take the window's.
 */
export function renderWindow(
  seq: SeqData,
  win: WindowData,
  scale: number,
  data: CardData,
  loss = 0,
): HTMLDivElement {
  const flat = (i: number) => flatIndex(seq, win, i);
  const act = (i: number) => {
    const t = flat(i);
    return (t === null ? win.acts[i] : seq.acts[t - seq.start]) ?? Number.NaN;
  };
  const bytes = (i: number) => win.text.bytes(win.vocab[i] ?? 0);
  const r = { tokens: win.tokens, focus: win.focus, act, bytes, flat };
  const row = renderRow(r, scale, data.hover, loss);
  row.classList.add("fc-seq-wide");
  row.dataset.seq = String(seq.start);
  return row;
}
