/**
 * The navigation bar: back / forward (history), previous / next, the index box, a random live
 * unit, and a search box that lists the units most active on a typed string. It draws
 * `NavState` and reports what the user asks through `NavCallbacks`; it never talks to the
 * model. In an exported file (`choices` set) the arrows and random step through the cards
 * the file holds, and search (which needs a kernel) is disabled with the reason. The search
 * results and the keyboard help ("?": the shortcuts, closed by "?" again, × or Esc) are panels
 * in `panel`, which the card puts under the bar.
 */

import { h } from "../../core/dom";
import type { SearchResult } from "../../core/schema";
import { buildResults, type ResultsPanel, showResults } from "./search-results";

/** Typing pauses this long before a partial number is sent; Enter/blur/arrows send at once. */
export const TYPING_DELAY_MS = 400;

export const SHORTCUTS: readonly (readonly [string, string])[] = [
  ["← / →", "previous / next index"],
  ["[ / ] or Alt+← / Alt+→", "back / forward in history"],
  ["r", "random live unit"],
  ["/", "search"],
  ["i", "index box"],
  ["Enter / Space on a row", "±20 tokens of that example (Esc: back to ±5)"],
  ["Esc", "close results and tooltip"],
];

export interface NavCallbacks {
  select(feature: number): void; // an index the user asked for (index box, arrows)
  back(): void;
  forward(): void;
  random(): void;
  search(text: string): void;
  pick(feature: number): void; // a search result
  refuse(message: string): void; // a typed index the card does not hold (the box shows the card again)
}

export interface NavState {
  feature: number | null; // shown in the index box
  count: number; // n_features (0: no card yet)
  choices: readonly number[]; // non-empty: the only indices available (exported file)
  canBack: boolean;
  canForward: boolean;
  live: boolean; // a kernel answers requests
}

export interface NavView {
  root: HTMLElement;
  input: HTMLInputElement;
  searchBox: HTMLInputElement;
  panel: HTMLElement; // the search results and the keyboard help, for the card to place under the bar
  update(state: NavState): void;
  step(delta: 1 | -1): void;
  showResults(result: SearchResult | null, status: string): void;
  destroy(): void;
}

function button(cls: string, text: string, label: string): HTMLButtonElement {
  const b = h("button", cls, text);
  b.type = "button";
  b.title = label;
  b.setAttribute("aria-label", label);
  return b;
}

/** The bar's elements. */
interface NavParts {
  root: HTMLElement;
  back: HTMLButtonElement;
  forward: HTMLButtonElement;
  prev: HTMLButtonElement;
  next: HTMLButtonElement;
  random: HTMLButtonElement;
  help: HTMLButtonElement;
  input: HTMLInputElement;
  searchBox: HTMLInputElement;
  results: ResultsPanel;
  keys: { root: HTMLElement; close: HTMLButtonElement };
  panels: HTMLElement; // the results and the keyboard help, under the bar
}

/** The bar's state: what it was last told, the index it shows, a pending typed index. */
interface NavModel {
  st: NavState;
  current: number | null;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Which controls are disabled (true) and the index box's max. */
export interface NavFlags {
  max: string;
  index: boolean;
  prev: boolean;
  next: boolean;
  back: boolean;
  forward: boolean;
  random: boolean;
  search: boolean;
}

export const clampIndex = (n: number, count: number): number => Math.min(Math.max(n, 0), count - 1);

/** The index one step from `from` (null: before the first / after the last), or undefined. */
export function stepTarget(
  from: number | null,
  delta: 1 | -1,
  count: number,
  choices: readonly number[],
): number | undefined {
  if (count <= 0) return undefined;
  const here = from ?? (delta > 0 ? -1 : count);
  if (choices.length === 0) return clampIndex(here + delta, count);
  const sorted = [...choices].sort((a, b) => a - b);
  const target = delta > 0 ? sorted.find((c) => c > here) : sorted.reverse().find((c) => c < here);
  return target === undefined ? undefined : clampIndex(target, count);
}

/**
 * What the index box's text asks for: an index to select, "reset" (not an integer, on commit:
 * show the current index again) or null (wait: empty, or out of range while still typing).
 */
export function typedIndex(text: string, final: boolean, count: number): number | "reset" | null {
  const raw = text.trim();
  const n = Number(raw);
  if (raw === "" || !Number.isInteger(n)) return final ? "reset" : null;
  return final || n === clampIndex(n, count) ? n : null;
}

/** Why a typed index is refused ("" when it is accepted): out of 0 .. count - 1, or not among
 * `choices` (an exported file's cards). Never clamped: the message names the accepted range. */
export function refusal(n: number, count: number, choices: readonly number[]): string {
  if (choices.length > 0) {
    if (choices.includes(n)) return "";
    const held = [...choices].sort((a, b) => a - b).join(", ");
    return `${n} is not in this exported file; it holds ${held}`;
  }
  if (n >= 0 && n < count) return "";
  return `${n} is out of range: the index is 0 to ${count - 1}`;
}

export function navFlags(st: NavState, current: number | null): NavFlags {
  const n = st.count;
  const choices = [...st.choices].sort((a, b) => a - b);
  const lo = choices.length > 0 ? (choices[0] ?? 0) : 0;
  const hi = choices.length > 0 ? (choices[choices.length - 1] ?? 0) : n - 1;
  return {
    max: n > 0 ? String(n - 1) : "",
    index: n <= 0,
    prev: n <= 0 || current === null || current <= lo,
    next: n <= 0 || current === null || current >= hi,
    back: !st.canBack,
    forward: !st.canForward,
    random: n <= 0 || (!st.live && choices.length < 2),
    search: !st.live,
  };
}

function buildNav(): NavParts {
  const root = h("div", "fc-nav");
  const back = button("fc-back", "⟲", "back (history)");
  const forward = button("fc-forward", "⟳", "forward (history)");
  const prev = button("fc-prev", "‹", "previous feature");
  const next = button("fc-next", "›", "next feature");
  const random = button("fc-random", "⚄", "random live unit");
  const help = button("fc-help", "?", "keyboard shortcuts");
  help.setAttribute("aria-expanded", "false");
  const input = h("input", "fc-index");
  input.type = "number";
  input.min = "0";
  input.step = "1";
  input.setAttribute("aria-label", "feature index");
  const searchWrap = h("div", "fc-search");
  const searchBox = h("input", "fc-search-box");
  searchBox.type = "search";
  searchBox.placeholder = "search text…";
  searchBox.setAttribute("aria-label", "find the units most active on a text");
  searchWrap.append(searchBox);
  root.append(back, forward, prev, input, next, random, searchWrap, help);
  const results = buildResults();
  const keys = buildHelp();
  // one flex item of the card's top row, taking the row's width; hidden when both panels are
  const panels = h("div", "fc-nav-panels");
  panels.append(results.root, keys.root);
  panels.hidden = true;
  return { root, back, forward, prev, next, random, help, input, searchBox, results, keys, panels };
}

/** The keyboard help: a small panel listing SHORTCUTS, with a close button. */
function buildHelp(): { root: HTMLElement; close: HTMLButtonElement } {
  const root = h("div", "fc-help-panel");
  root.setAttribute("role", "region");
  root.setAttribute("aria-label", "keyboard shortcuts");
  const close = h("button", "fc-help-close", "×");
  close.type = "button";
  close.title = "close the keyboard help (Esc)";
  close.setAttribute("aria-label", "close the keyboard help");
  const list = h("dl", "fc-help-list");
  for (const [key, what] of SHORTCUTS) {
    list.append(h("dt", "fc-help-key", key), h("dd", "fc-help-what", what));
  }
  root.append(
    close,
    h("div", "fc-help-title", "Keyboard shortcuts (when the card has focus)"),
    list,
  );
  root.hidden = true;
  return { root, close };
}

/** Opens or closes the keyboard help; the panels' box shows while either panel does. */
function showHelp(el: NavParts, open: boolean): void {
  el.keys.root.hidden = !open;
  el.help.setAttribute("aria-expanded", String(open));
  syncPanels(el);
}

function syncPanels(el: NavParts): void {
  el.panels.hidden = el.results.root.hidden && el.keys.root.hidden;
}

function results(el: NavParts, result: SearchResult | null, status: string): void {
  showResults(el.results, result, status);
  syncPanels(el);
}

/** Why random is disabled, or what it does. */
export function randomTitle(f: Pick<NavFlags, "random" | "search">): string {
  if (!f.random) return "random live unit";
  return f.search ? "random needs a running kernel" : "no card to pick from yet";
}

function applyFlags(el: NavParts, f: NavFlags): void {
  el.input.max = f.max;
  el.input.disabled = f.index;
  el.prev.disabled = f.prev;
  el.next.disabled = f.next;
  el.back.disabled = f.back;
  el.forward.disabled = f.forward;
  el.random.disabled = f.random;
  el.random.title = randomTitle(f);
  el.searchBox.disabled = f.search;
  el.searchBox.title = f.search ? "search needs a running kernel" : "type a text and press Enter";
}

/** Shows index `n` (clamped) and reports it when it changed. */
function selectIndex(el: NavParts, m: NavModel, cb: NavCallbacks, n: number): void {
  if (m.st.count <= 0) return;
  const target = clampIndex(n, m.st.count);
  el.input.value = String(target);
  if (target === m.current) return;
  m.current = target;
  applyFlags(el, navFlags(m.st, m.current));
  cb.select(target);
}

function commitTyped(el: NavParts, m: NavModel, cb: NavCallbacks, final: boolean) {
  clearTimeout(m.timer);
  m.timer = undefined;
  const asked = typedIndex(el.input.value, final, m.st.count);
  if (asked === null) return;
  const why = asked === "reset" ? "" : refusal(asked, m.st.count, m.st.choices);
  if (asked === "reset" || why) {
    if (m.current !== null) el.input.value = String(m.current); // the box shows the card again
    if (why) cb.refuse(why);
  } else selectIndex(el, m, cb, asked);
}

function listen(
  el: NavParts,
  m: NavModel,
  cb: NavCallbacks,
  act: { step(delta: 1 | -1): void; commit(final: boolean): void },
  signal: AbortSignal,
): void {
  const on = (target: HTMLElement, type: string, fn: (e: Event) => void) =>
    target.addEventListener(type, fn, { signal });
  on(el.input, "input", () => {
    clearTimeout(m.timer);
    m.timer = setTimeout(() => act.commit(false), TYPING_DELAY_MS);
  });
  on(el.input, "change", () => act.commit(true));
  on(el.input, "keydown", (e) => {
    if ((e as KeyboardEvent).key === "Enter") act.commit(true);
  });
  on(el.prev, "click", () => act.step(-1));
  on(el.next, "click", () => act.step(1));
  on(el.back, "click", () => cb.back());
  on(el.forward, "click", () => cb.forward());
  on(el.random, "click", () => cb.random());
  on(el.searchBox, "keydown", (e) => {
    if ((e as KeyboardEvent).key === "Enter") cb.search(el.searchBox.value);
  });
  on(el.results.list, "click", (e) => {
    const hit = (e.target as Element).closest<HTMLElement>("button.fc-hit");
    const f = Number(hit?.dataset.feature);
    if (!hit || !Number.isInteger(f)) return;
    results(el, null, ""); // a pick closes the results
    cb.pick(f);
  });
  on(el.results.close, "click", () => results(el, null, ""));
  on(el.help, "click", () => showHelp(el, el.keys.root.hidden));
  on(el.keys.close, "click", () => showHelp(el, false));
  for (const target of [el.help, el.keys.root]) {
    on(target, "keydown", (e) => {
      if ((e as KeyboardEvent).key === "Escape" && !el.keys.root.hidden) showHelp(el, false);
    });
  }
}

export function createNav(cb: NavCallbacks): NavView {
  const listeners = new AbortController();
  const el = buildNav();
  const m: NavModel = {
    st: { feature: null, count: 0, choices: [], canBack: false, canForward: false, live: true },
    current: null,
    timer: undefined,
  };
  const select = (n: number) => selectIndex(el, m, cb, n);
  const step = (delta: 1 | -1) => {
    const target = stepTarget(m.current ?? m.st.feature, delta, m.st.count, m.st.choices);
    if (target !== undefined) select(target);
  };
  listen(el, m, cb, { step, commit: (final) => commitTyped(el, m, cb, final) }, listeners.signal);
  return {
    root: el.root,
    input: el.input,
    searchBox: el.searchBox,
    panel: el.panels,
    step,
    update(next) {
      const old = m.st;
      m.st = next;
      if (next.feature !== old.feature || m.current === null) {
        m.current = next.feature;
        if (m.current !== null) el.input.value = String(m.current);
      }
      applyFlags(el, navFlags(m.st, m.current));
    },
    showResults: (result, message) => results(el, result, message),
    destroy() {
      clearTimeout(m.timer);
      listeners.abort();
    },
  };
}
