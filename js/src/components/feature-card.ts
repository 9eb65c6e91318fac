/**
 * The whole card: an error banner, a header with navigation, then two columns (logit
 * tables | examples). Knows nothing of Jupyter: it draws `CardProps` and reports the index
 * the user picks through `onSelect`. The card body is rebuilt only when `data` changes, so
 * busy/error updates never disturb the index box while the user types in it.
 */
import type { CardData, CardHeader } from "../card-data";
import { maxAbs } from "../colors";
import { fmt, h } from "./dom";
import { renderExamples } from "./examples";
import { renderLogits } from "./logit-table";

export interface CardProps {
  data: CardData | null; // the card to draw (the last good one), or null
  feature: number | null; // the requested index, shown in the index box
  errors: string[]; // banner lines; none hides the banner
  busy: boolean; // a computation is running
  notice: string; // shown in place of the card when data is null
}

export interface CardCallbacks {
  onSelect(feature: number): void; // an in-range integer the user asked for
}

export interface FeatureCardView {
  root: HTMLDivElement;
  update(props: CardProps): void;
  destroy(): void;
}

/** Typing pauses this long before a partial number is sent; Enter/blur/arrows send at once. */
export const TYPING_DELAY_MS = 400;

function formatDensity(d: number): string {
  if (!Number.isFinite(d)) return String(d);
  const p = d * 100;
  return `${p === 0 ? "0" : p.toPrecision(3)}%`;
}

function renderHeader(hd: CardHeader): HTMLElement {
  const header = h("div", "fc-header");
  const title = h("div", "fc-title");
  title.append(
    h("span", "fc-source", hd.source),
    h("span", "fc-unit", hd.unit),
    h("span", "fc-hook", hd.hook_name),
    h("span", "fc-feature", `feature ${hd.feature} / ${hd.n_features}`),
  );
  const stats = h("div", "fc-stats");
  const density = h("span", "fc-density", `density ${formatDensity(hd.density)}`);
  density.title = `nonzero on ${formatDensity(hd.density)} of ${hd.n_tokens} tokens`;
  stats.append(density, h("span", "fc-max", `max act ${fmt(hd.max_act)}`));
  header.append(title, stats);
  return header;
}

function colourScale(data: CardData): number {
  const m = Math.abs(data.header.max_act);
  if (Number.isFinite(m) && m > 0) return m;
  return Math.max(0, ...data.groups.flatMap((g) => g.seqs.map((s) => maxAbs(s.acts))));
}

function renderBody(data: CardData): HTMLElement {
  const body = h("div", "fc-body");
  const left = h("div", "fc-col fc-col-left");
  left.append(renderLogits(data.logits, data.unavailable.logits));
  const right = h("div", "fc-col fc-col-right");
  right.append(renderExamples(data.groups, colourScale(data), data.unavailable.examples));
  body.append(left, right);
  return body;
}

export function createFeatureCard(callbacks: CardCallbacks): FeatureCardView {
  const listeners = new AbortController();
  const on = (el: HTMLElement, type: string, fn: (e: Event) => void) =>
    el.addEventListener(type, fn, { signal: listeners.signal });

  const root = h("div", "fc-card");
  const banner = h("div", "fc-error");
  banner.setAttribute("role", "alert");
  banner.hidden = true;
  const top = h("div", "fc-top");
  let header: HTMLElement = h("div", "fc-header");
  const nav = h("div", "fc-nav");
  const prev = h("button", "fc-prev", "‹");
  const next = h("button", "fc-next", "›");
  prev.type = next.type = "button";
  prev.setAttribute("aria-label", "previous feature");
  next.setAttribute("aria-label", "next feature");
  const input = h("input", "fc-index");
  input.type = "number";
  input.min = "0";
  input.step = "1";
  input.setAttribute("aria-label", "feature index");
  const busy = h("span", "fc-busy", "computing…");
  busy.hidden = true;
  nav.append(busy, prev, input, next);
  top.append(header, nav);
  const notice = h("div", "fc-notice");
  let body: HTMLElement = h("div", "fc-body");
  root.append(banner, top, notice, body);

  let props: CardProps = { data: null, feature: null, errors: [], busy: false, notice: "" };
  let current: number | null = null; // the last index requested (from the model or the user)
  let timer: ReturnType<typeof setTimeout> | undefined;

  const count = () => props.data?.header.n_features ?? 0;
  const clamp = (n: number) => Math.min(Math.max(n, 0), count() - 1);

  function select(n: number): void {
    if (count() <= 0) return;
    const target = clamp(n);
    input.value = String(target);
    if (target === current) return;
    current = target;
    syncButtons();
    callbacks.onSelect(target);
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

  function syncButtons(): void {
    const n = count();
    input.max = n > 0 ? String(n - 1) : "";
    input.disabled = n <= 0;
    prev.disabled = n <= 0 || current === null || current <= 0;
    next.disabled = n <= 0 || current === null || current >= n - 1;
  }

  on(input, "input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => commitTyped(false), TYPING_DELAY_MS);
  });
  on(input, "change", () => commitTyped(true));
  on(input, "keydown", (e) => {
    if ((e as KeyboardEvent).key === "Enter") commitTyped(true);
  });
  on(prev, "click", () => select((current ?? 0) - 1));
  on(next, "click", () => select((current ?? -1) + 1));

  function update(nextProps: CardProps): void {
    const old = props;
    props = nextProps;
    if (nextProps.data !== old.data) {
      const fresh = nextProps.data ? renderHeader(nextProps.data.header) : h("div", "fc-header");
      header.replaceWith(fresh);
      header = fresh;
      const freshBody = nextProps.data ? renderBody(nextProps.data) : h("div", "fc-body");
      body.replaceWith(freshBody);
      body = freshBody;
    }
    if (nextProps.feature !== old.feature || current === null) {
      current = nextProps.feature ?? nextProps.data?.header.feature ?? null;
      if (current !== null) input.value = String(current);
    }
    banner.replaceChildren(...nextProps.errors.map((m) => h("div", "fc-error-line", m)));
    banner.hidden = nextProps.errors.length === 0;
    notice.textContent = nextProps.data ? "" : nextProps.notice;
    notice.hidden = nextProps.data !== null || nextProps.notice === "";
    busy.hidden = !nextProps.busy;
    root.classList.toggle("fc-is-busy", nextProps.busy);
    root.setAttribute("aria-busy", String(nextProps.busy));
    syncButtons();
  }

  update(props);
  return {
    root,
    update,
    destroy() {
      clearTimeout(timer);
      listeners.abort();
      root.remove();
    },
  };
}
