/**
 * Widening an example row: in the live widget a click on a row (top activations, an interval,
 * bottom activations) asks the kernel for ±20 tokens of its dataset row around the example's
 * token (the `window` request, python/featurecard/card/expand.py) and redraws the row with
 * them, the example's token and the row's largest activation still marked; a second click
 * puts the ±5 row back (a click while the answer is on its way cancels it). A refused or
 * failed request is reported through `fail` and the row stays as it was. Without a kernel (an
 * exported file, a card inside an exported view) the rows keep ±5 tokens: the examples column
 * says so (`examplesNote`) and a click reports that it needs a running kernel.
 *
 * The keyboard does what the mouse does: every example row is a focusable button
 * (`expandable`: tab stop, `aria-expanded`); Enter or Space on it widens or narrows it, Escape
 * narrows a widened row (or cancels its request), and the redrawn row keeps the focus.
 *
 * UI-only state: which rows are widened, by their sequence's first flat index; a new card
 * starts with none (`reset`).
 */
import { h } from "../../core/dom";
import { type CardData, decodeWindow, type SeqData, type WindowData } from "../card-data";
import { colourScale, errorText } from "./card-state";
import { windowHoverContent } from "./hover-content";
import { lossScale, renderSequence, renderWindow } from "./sequence";

/** Tokens each side of the example's token in a widened row (python: card/expand.py). */
export const WINDOW_RADIUS = 20;

/** What the click on a row tells its user without a kernel. */
export const OFFLINE_EXPAND =
  "showing ±20 tokens of a row needs a running kernel; this file keeps ±5 around each example";

/** The `window` request's arguments for an example row of `data`. */
export interface WindowArgs {
  source: string;
  feature: number;
  row: number;
  position: number;
}

export function windowArgs(data: CardData, seq: SeqData): WindowArgs {
  const { source, feature } = data.header;
  return { source, feature, row: seq.row, position: seq.pos0 + seq.focus };
}

/** The line over the examples: how to widen a row, or why the rows keep ±5 tokens. */
export function examplesNote(live: boolean): HTMLElement {
  const text = live
    ? `Click a row for ±${WINDOW_RADIUS} tokens of its dataset row; click it again for ±5.`
    : `Rows show ±5 tokens around each example; ±${WINDOW_RADIUS} needs a running kernel.`;
  const note = h("div", "fc-examples-note", text);
  note.dataset.live = String(live);
  return note;
}

/** An example row as a button that widens it: a tab stop, `aria-expanded` saying whether it is. */
export function expandable<T extends HTMLElement>(row: T, wide: boolean): T {
  row.tabIndex = 0;
  row.setAttribute("role", "button");
  row.setAttribute("aria-expanded", String(wide));
  return row;
}

/** What the expander needs of its card. */
export interface ExpandHost {
  data(): CardData | null; // the card shown
  live(): boolean; // a kernel answers requests
  ask: ((args: WindowArgs) => Promise<unknown>) | undefined; // the `window` request (none: no kernel)
  fail(message: string): void; // shows a failure (the card's banner)
}

export interface RowExpander {
  /** A click in the card: widens or narrows the example row it hit; false when it hit none. */
  click(target: Element): boolean;
  /** A key on a focused example row: Enter or Space toggles it, Escape narrows a widened (or
   * loading) row; true when the key was the row's (then it is stopped). */
  key(e: KeyboardEvent): boolean;
  /** The tooltip of a widened row's token that the card itself does not show, or null. */
  hover(span: HTMLElement): HTMLElement | null;
  /** A new card: no row widened, no answer awaited. */
  reset(): void;
}

interface Hit {
  el: HTMLElement;
  data: CardData;
  seq: SeqData;
}

function rowAt(target: Element, data: CardData | null): Hit | null {
  const el = target.closest<HTMLElement>(".fc-examples .fc-seq");
  const start = Number(el?.dataset.seq);
  const seq = data?.seqs.find((s) => s.start === start);
  return el && data && seq ? { el, data, seq } : null;
}

function redraw(hit: Hit, win: WindowData | null): void {
  const scale = colourScale(hit.data);
  const loss = lossScale(hit.data);
  const row = win
    ? renderWindow(hit.seq, win, scale, hit.data, loss)
    : renderSequence(hit.seq, scale, hit.data, loss);
  const root = hit.el.getRootNode() as Document | ShadowRoot;
  const focused = root.activeElement === hit.el;
  hit.el.replaceWith(expandable(row, win !== null));
  if (focused) row.focus();
}

function loading(el: HTMLElement, on: boolean): void {
  el.classList.toggle("fc-seq-loading", on);
  if (on) el.setAttribute("aria-busy", "true");
  else el.removeAttribute("aria-busy");
}

/** The expander's state: which rows are widened, and which await an answer (by request number). */
interface Rows {
  host: ExpandHost;
  wide: Map<number, WindowData>; // row (its sequence's first flat index) -> its window
  asked: Map<number, number>; // row -> its request in flight
  counter: number;
}

function settle(rows: Rows, hit: Hit, mine: number, reply: unknown): void {
  if (rows.asked.get(hit.seq.start) !== mine || rows.host.data() !== hit.data) return;
  rows.asked.delete(hit.seq.start);
  loading(hit.el, false);
  let win: WindowData;
  try {
    win = decodeWindow(reply);
  } catch (e) {
    rows.host.fail(`expand: ${errorText(e)}`);
    return;
  }
  rows.wide.set(hit.seq.start, win);
  if (hit.el.isConnected) redraw(hit, win);
}

function refused(rows: Rows, hit: Hit, mine: number, e: unknown): void {
  if (rows.asked.get(hit.seq.start) !== mine) return;
  rows.asked.delete(hit.seq.start);
  loading(hit.el, false);
  if (rows.host.data() === hit.data) rows.host.fail(`expand: ${errorText(e)}`);
}

function ask(rows: Rows, hit: Hit, request: (args: WindowArgs) => Promise<unknown>): void {
  rows.counter += 1;
  const mine = rows.counter;
  rows.asked.set(hit.seq.start, mine);
  loading(hit.el, true);
  request(windowArgs(hit.data, hit.seq)).then(
    (reply) => settle(rows, hit, mine, reply),
    (e: unknown) => refused(rows, hit, mine, e),
  );
}

function toggle(rows: Rows, hit: Hit): void {
  const key = hit.seq.start;
  if (rows.wide.delete(key)) redraw(hit, null);
  else if (rows.asked.delete(key)) loading(hit.el, false);
  else if (rows.host.live() && rows.host.ask) ask(rows, hit, rows.host.ask);
  else rows.host.fail(OFFLINE_EXPAND);
}

function onKey(rows: Rows, e: KeyboardEvent): boolean {
  if (e.ctrlKey || e.metaKey || e.altKey || !(e.target instanceof Element)) return false;
  const hit = rowAt(e.target, rows.host.data());
  if (!hit || hit.el !== e.target) return false; // only the row itself, not a link inside it
  const key = hit.seq.start;
  if (e.key === "Enter" || e.key === " ") toggle(rows, hit);
  else if (e.key === "Escape" && (rows.wide.has(key) || rows.asked.has(key))) toggle(rows, hit);
  else return false;
  e.preventDefault();
  e.stopPropagation();
  return true;
}

export function createRowExpander(host: ExpandHost): RowExpander {
  const rows: Rows = { host, wide: new Map(), asked: new Map(), counter: 0 };
  return {
    click(target) {
      const hit = rowAt(target, host.data());
      if (hit) toggle(rows, hit);
      return hit !== null;
    },
    key: (e) => onKey(rows, e),
    hover(span) {
      const el = span.closest<HTMLElement>(".fc-seq-wide");
      const win = rows.wide.get(Number(el?.dataset.seq));
      const i = Number(span.dataset.w);
      return win && Number.isInteger(i) && i < win.tokens.length
        ? windowHoverContent(win, i)
        : null;
    },
    reset() {
      rows.wide.clear();
      rows.asked.clear();
    },
  };
}
