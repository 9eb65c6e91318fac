/**
 * A token as text the user can see, the same in every view.
 *
 * Whitespace is made visible: a token's leading spaces show as faint "·" (in a child
 * span.fc-ws), newline / tab / carriage return as "↵" / "⇥" / "␍", and other control, format
 * and bidi characters (U+202E, zero-width spaces, ...) as `\xNN` / `\uNNNN` (text.ts's
 * visibleText); the CSS isolates each token's direction (`unicode-bidi: isolate`), so no token
 * can reorder its neighbours. The real token text stays in the `data-text` attribute.
 */
import { actColor, textColor } from "./colors";
import { h } from "./dom";
import { quoteText, visibleText } from "./text";

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

/** A token as a short label: spaces as middle dots, newlines as ↵, control / bidi characters escaped, at most 8 characters. */
export function tokenLabel(text: string, max = 8): string {
  const shown = visibleText(text).replace(/ /g, "\u00b7");
  return shown.length > max ? `${shown.slice(0, max - 1)}\u2026` : shown;
}
