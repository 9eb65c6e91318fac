/**
 * The navigation bar: back / forward (history), previous / next, the index box, a random live
 * unit, and a search box that lists the units most active on a typed string. It draws
 * `NavState` and reports what the user asks through `NavCallbacks`; it never talks to the
 * model. In an exported file (`choices` set) the arrows and random step through the cards
 * the file holds, and search (which needs a kernel) is disabled with the reason.
 */

import { fmt, h, percent } from "../../core/dom";
import type { SearchResult } from "../../core/schema";
import { quoteToken } from "../../core/tokens";

/** Typing pauses this long before a partial number is sent; Enter/blur/arrows send at once. */
export const TYPING_DELAY_MS = 400;

export const SHORTCUTS: readonly (readonly [string, string])[] = [
  ["← / →", "previous / next index"],
  ["[ / ] or Alt+← / Alt+→", "back / forward in history"],
  ["r", "random live unit"],
  ["/", "search"],
  ["i", "index box"],
  ["Esc", "close results and tooltip"],
];

export interface NavCallbacks {
  select(feature: number): void; // an index the user asked for (index box, arrows)
  back(): void;
  forward(): void;
  random(): void;
  search(text: string): void;
  pick(feature: number): void; // a search result
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

export function createNav(cb: NavCallbacks): NavView {
  const listeners = new AbortController();
  const on = (el: HTMLElement, type: string, fn: (e: Event) => void) =>
    el.addEventListener(type, fn, { signal: listeners.signal });
  const root = h("div", "fc-nav");
  const back = button("fc-back", "⟲", "back (history)");
  const forward = button("fc-forward", "⟳", "forward (history)");
  const prev = button("fc-prev", "‹", "previous feature");
  const next = button("fc-next", "›", "next feature");
  const random = button("fc-random", "⚄", "random live unit");
  const help = button("fc-help", "?", SHORTCUTS.map(([k, v]) => `${k}: ${v}`).join("\n"));
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
  const status = h("div", "fc-search-status");
  status.hidden = true;
  const results = h("ul", "fc-search-results");
  results.hidden = true;
  searchWrap.append(searchBox, status, results);
  root.append(back, forward, prev, input, next, random, searchWrap, help);

  let st: NavState = {
    feature: null,
    count: 0,
    choices: [],
    canBack: false,
    canForward: false,
    live: true,
  };
  let current: number | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const clamp = (n: number) => Math.min(Math.max(n, 0), st.count - 1);

  function select(n: number): void {
    if (st.count <= 0) return;
    const target = clamp(n);
    input.value = String(target);
    if (target === current) return;
    current = target;
    sync();
    cb.select(target);
  }

  function step(delta: 1 | -1): void {
    if (st.count <= 0) return;
    const here = current ?? st.feature ?? (delta > 0 ? -1 : st.count);
    if (st.choices.length > 0) {
      const sorted = [...st.choices].sort((a, b) => a - b);
      const target =
        delta > 0 ? sorted.find((c) => c > here) : sorted.reverse().find((c) => c < here);
      if (target !== undefined) select(target);
      return;
    }
    select(here + delta);
  }

  function commitTyped(final: boolean): void {
    clearTimeout(timer);
    timer = undefined;
    const raw = input.value.trim();
    const n = Number(raw);
    if (raw === "" || !Number.isInteger(n)) {
      if (final && current !== null) input.value = String(current); // ignore non-integers
      return;
    }
    if (final || n === clamp(n)) select(n);
  }

  function sync(): void {
    const n = st.count;
    const choices = [...st.choices].sort((a, b) => a - b);
    input.max = n > 0 ? String(n - 1) : "";
    input.disabled = n <= 0;
    const lo = choices.length > 0 ? (choices[0] ?? 0) : 0;
    const hi = choices.length > 0 ? (choices[choices.length - 1] ?? 0) : n - 1;
    prev.disabled = n <= 0 || current === null || current <= lo;
    next.disabled = n <= 0 || current === null || current >= hi;
    back.disabled = !st.canBack;
    forward.disabled = !st.canForward;
    random.disabled = n <= 0 || (!st.live && choices.length < 2);
    searchBox.disabled = !st.live;
    searchBox.title = st.live ? "type a text and press Enter" : "search needs a running kernel";
  }

  on(input, "input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => commitTyped(false), TYPING_DELAY_MS);
  });
  on(input, "change", () => commitTyped(true));
  on(input, "keydown", (e) => {
    if ((e as KeyboardEvent).key === "Enter") commitTyped(true);
  });
  on(prev, "click", () => step(-1));
  on(next, "click", () => step(1));
  on(back, "click", () => cb.back());
  on(forward, "click", () => cb.forward());
  on(random, "click", () => cb.random());
  on(searchBox, "keydown", (e) => {
    const k = (e as KeyboardEvent).key;
    if (k === "Enter") cb.search(searchBox.value);
  });
  on(results, "click", (e) => {
    const hit = (e.target as Element).closest<HTMLElement>("button.fc-hit");
    const f = Number(hit?.dataset.feature);
    if (hit && Number.isInteger(f)) cb.pick(f);
  });

  return {
    root,
    input,
    searchBox,
    step,
    update(next) {
      const old = st;
      st = next;
      if (next.feature !== old.feature || current === null) {
        current = next.feature;
        if (current !== null) input.value = String(current);
      }
      sync();
    },
    showResults(result, message) {
      status.textContent = message;
      status.hidden = message === "";
      results.replaceChildren();
      results.hidden = result === null || result.hits.length === 0;
      for (const hit of result?.hits ?? []) {
        const li = h("li", "");
        const b = h("button", "fc-hit");
        b.type = "button";
        b.dataset.feature = String(hit.feature);
        b.append(
          h("span", "fc-hit-id", `#${hit.feature}`),
          h("span", "fc-hit-act", fmt(hit.act)),
          h("span", "fc-hit-frac", hit.frac > 0 ? `${percent(hit.frac)} of max` : "dead in data"),
          h("span", "fc-hit-tok", quoteToken(hit.token)),
        );
        b.title = `unit ${hit.feature} peaks at token ${hit.pos} ${quoteToken(hit.token)}`;
        li.append(b);
        results.append(li);
      }
    },
    destroy() {
      clearTimeout(timer);
      listeners.abort();
    },
  };
}
