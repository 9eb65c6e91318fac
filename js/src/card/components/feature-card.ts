/**
 * The whole card: an error banner, a header with navigation, then three columns (left:
 * neuron and latent tables; middle: density, histograms, logit tables; right: examples),
 * and one hover tooltip. Knows nothing of Jupyter: it draws `CardProps` and reports what the
 * user asks through `CardCallbacks`.
 *
 * UI-only state lives here and never syncs: the back/forward history, the hover, the search
 * results, and a small cache of recently shown cards. Switching to a cached card draws it at
 * once (instant back/forward and arrows over visited units) while the kernel confirms it; an
 * error from the kernel puts the last good card back. The body is rebuilt only when the card
 * changes, so busy/error updates never disturb the index box while the user types in it.
 */

import { maxAbs } from "../../core/colors";
import { fmt, h, percent } from "../../core/dom";
import type { SearchResult } from "../../core/schema";
import type { CardData, CardHeader } from "../card-data";
import { History, type Unit } from "../history";
import { renderExamples } from "./examples";
import { hoverContent } from "./hover-content";
import { handleKey } from "./keys";
import { renderLeft } from "./left";
import { type MiddleView, renderMiddle } from "./middle";
import { createNav } from "./nav";
import { createTooltip } from "./tooltip";

export { TYPING_DELAY_MS } from "./nav";

export interface CardProps {
  data: CardData | null; // the card to draw (the last good one), or null
  source: string; // the requested source ("" before the first card)
  feature: number | null; // the requested index, shown in the index box
  errors: string[]; // banner lines; none hides the banner
  busy: boolean; // a computation is running
  notice: string; // shown in place of the card when data is null
  live: boolean; // a kernel answers requests (search, random)
  choices: number[]; // non-empty: the only features available (exported file)
}

export interface CardCallbacks {
  open?(unit: Unit): void; // show this unit (sets source and feature in the model)
  onSelect?(feature: number): void; // index-only hosts (used when `open` is absent)
  search?(text: string): Promise<SearchResult>; // absent: no search box requests
  random?(): Promise<number>; // absent: random picks among `choices` only
}

export interface FeatureCardView {
  root: HTMLDivElement;
  update(props: CardProps): void;
  destroy(): void;
}

const CACHE_SIZE = 64;
const key = (u: Unit) => `${u.source}\u0000${u.feature}`;

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
  const density = h("span", "fc-density", `density ${percent(hd.density)}`);
  density.title = `nonzero on ${percent(hd.density)} of ${hd.n_tokens} tokens`;
  stats.append(density, h("span", "fc-max", `max act ${fmt(hd.max_act)}`));
  header.append(title, stats);
  return header;
}

function colourScale(data: CardData): number {
  const m = Math.abs(data.header.max_act);
  if (Number.isFinite(m) && m > 0) return m;
  return Math.max(0, ...data.seqs.map((s) => maxAbs(s.acts)));
}

export function createFeatureCard(callbacks: CardCallbacks): FeatureCardView {
  const listeners = new AbortController();
  const on = (el: HTMLElement, type: string, fn: (e: Event) => void) =>
    el.addEventListener(type, fn, { signal: listeners.signal });

  const root = h("div", "fc-card");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  const banner = h("div", "fc-error");
  banner.setAttribute("role", "alert");
  banner.hidden = true;
  const top = h("div", "fc-top");
  let header: HTMLElement = h("div", "fc-header");
  const busy = h("span", "fc-busy", "computing…");
  busy.hidden = true;
  const history = new History();
  const cache = new Map<string, CardData>();
  let props: CardProps = {
    data: null,
    source: "",
    feature: null,
    errors: [],
    busy: false,
    notice: "",
    live: true,
    choices: [],
  };
  let shown: CardData | null = null; // what the body draws (props.data, or a cached card)
  let localErrors: string[] = []; // failed searches / random picks
  let middle: MiddleView | null = null;

  const here = (): Unit | null =>
    shown ? { source: shown.header.source, feature: shown.header.feature } : null;
  const sourceNow = () => props.source || shown?.header.source || "";

  function open(u: Unit): void {
    if (!u.source) return;
    localErrors = [];
    const cached = cache.get(key(u));
    if (cached && cached !== shown) show(cached);
    if (callbacks.open) callbacks.open(u);
    else if (u.source === sourceNow()) callbacks.onSelect?.(u.feature);
    drawChrome();
  }

  const nav = createNav({
    select: (feature) => open({ source: sourceNow(), feature }),
    back: () => goHistory(history.back()),
    forward: () => goHistory(history.forward()),
    random: () => pickRandom(),
    search: (text) => runSearch(text),
    pick: (feature) => open({ source: sourceNow(), feature }),
  });
  nav.root.prepend(busy);
  top.append(header, nav.root);
  const notice = h("div", "fc-notice");
  let body: HTMLElement = h("div", "fc-body");
  root.append(banner, top, notice, body);
  const tooltip = createTooltip(root);

  function goHistory(u: Unit | null): void {
    if (u) open(u);
  }

  function pickRandom(): void {
    const cur = here()?.feature ?? props.feature;
    if (!props.live || !callbacks.random) {
      const others = props.choices.filter((c) => c !== cur);
      const f = others[Math.floor(Math.random() * others.length)];
      if (f !== undefined) open({ source: sourceNow(), feature: f });
      return;
    }
    callbacks.random().then(
      (f) => open({ source: sourceNow(), feature: f }),
      (e: unknown) => fail(`random: ${e instanceof Error ? e.message : String(e)}`),
    );
  }

  function runSearch(text: string): void {
    if (!props.live || !callbacks.search) return;
    if (!text.trim()) {
      nav.showResults(null, "");
      return;
    }
    nav.showResults(null, "searching…");
    callbacks.search(text).then(
      (r) => {
        localErrors = [];
        const none = r.hits.length === 0 ? `no unit of ${r.source} fires on this text` : "";
        nav.showResults(r, none);
        drawChrome();
      },
      (e: unknown) => {
        nav.showResults(null, "");
        fail(`search: ${e instanceof Error ? e.message : String(e)}`);
      },
    );
  }

  function fail(msg: string): void {
    localErrors = [msg];
    drawChrome();
  }

  function canOpen(source: string, feature: number): boolean {
    if (source !== sourceNow() && !callbacks.open) return false;
    if (props.live) return true;
    return source === sourceNow() && props.choices.includes(feature);
  }

  function show(data: CardData | null): void {
    if (data === shown) return;
    const t0 = performance.now();
    shown = data;
    tooltip.hide();
    const fresh = data ? renderHeader(data.header) : h("div", "fc-header");
    header.replaceWith(fresh);
    header = fresh;
    const freshBody = h("div", "fc-body");
    middle = null;
    if (data) {
      const scale = colourScale(data);
      const left = h("div", "fc-col fc-col-left");
      left.append(renderLeft(data, { canOpen }));
      const mid = h("div", "fc-col fc-col-middle");
      middle = renderMiddle(data, scale);
      mid.append(middle.root);
      const right = h("div", "fc-col fc-col-right");
      right.append(renderExamples(data, scale, data.unavailable.examples));
      freshBody.append(left, mid, right);
    }
    body.replaceWith(freshBody);
    body = freshBody;
    root.dataset.source = data?.header.source ?? "";
    root.dataset.feature = data ? String(data.header.feature) : "";
    root.dataset.renderMs = (performance.now() - t0).toFixed(1);
  }

  function drawChrome(): void {
    const errors = [...props.errors, ...localErrors];
    banner.replaceChildren(...errors.map((m) => h("div", "fc-error-line", m)));
    banner.hidden = errors.length === 0;
    notice.textContent = shown ? "" : props.notice;
    notice.hidden = shown !== null || props.notice === "";
    busy.hidden = !props.busy;
    root.classList.toggle("fc-is-busy", props.busy);
    root.setAttribute("aria-busy", String(props.busy));
    nav.update({
      feature: props.feature ?? shown?.header.feature ?? null,
      count: shown?.header.n_features ?? 0,
      choices: props.choices,
      canBack: history.canBack(),
      canForward: history.canForward(),
      live: props.live && callbacks.search !== undefined,
    });
  }

  // hover: tooltip + histogram markers (event delegation on the card)
  function hoverToken(span: HTMLElement): void {
    const data = shown;
    const t = Number(span.dataset.t);
    if (!data || !Number.isInteger(t)) return;
    const seq = data.seqs.find((s) => t >= s.start && t < s.start + s.tokens.length);
    if (!seq) return;
    const i = t - seq.start;
    tooltip.show(span, hoverContent(data, seq, i));
    middle?.markAct(seq.acts[i] ?? null);
    const v = seq.vocab[i] ?? 0;
    middle?.markLogit(data.logits ? (data.logits.vocabValues[v] ?? null) : null);
  }
  function unhover(): void {
    tooltip.hide();
    middle?.markAct(null);
    middle?.markLogit(null);
  }
  on(root, "mouseover", (e) => {
    const span = (e.target as Element).closest<HTMLElement>("span.fc-tok");
    if (span && root.contains(span)) {
      if (tooltip.anchor !== span) hoverToken(span);
    } else if (tooltip.anchor && !tooltip.el.contains(e.target as Node)) unhover();
  });
  on(root, "mouseleave", unhover);
  on(root, "click", (e) => {
    const link = (e.target as Element).closest<HTMLElement>("button.fc-link");
    const f = Number(link?.dataset.feature);
    if (link?.dataset.source && Number.isInteger(f))
      open({ source: link.dataset.source, feature: f });
  });
  on(root, "keydown", (e) => {
    handleKey(e as KeyboardEvent, {
      step: (d) => nav.step(d),
      back: () => goHistory(history.back()),
      forward: () => goHistory(history.forward()),
      random: pickRandom,
      focusSearch: () => nav.searchBox.focus(),
      focusIndex: () => nav.input.focus(),
      escape: () => {
        unhover();
        nav.showResults(null, "");
      },
    });
  });

  function update(next: CardProps): void {
    const old = props;
    props = next;
    if (next.data !== old.data) {
      const d = next.data;
      if (d) {
        const u = { source: d.header.source, feature: d.header.feature };
        cache.delete(key(u));
        cache.set(key(u), d);
        if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
        history.visit(u);
      }
      show(d);
    } else if (next.errors.join("\n") !== old.errors.join("\n") && next.errors.length > 0) {
      show(next.data); // the kernel refused: put the last good card back
    }
    drawChrome();
  }

  update(props);
  return {
    root,
    update,
    destroy() {
      nav.destroy();
      listeners.abort();
      root.remove();
    },
  };
}
