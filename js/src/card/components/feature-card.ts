/**
 * The whole card: an error banner, a header with navigation, then three columns (left:
 * neuron and latent tables; middle: density, histograms, logit tables; right: examples),
 * and one hover tooltip. Knows nothing of Jupyter: it draws `CardProps` and reports what the
 * user asks through `CardCallbacks`.
 *
 * UI-only state lives here and never syncs: the back/forward history, the hover, the search
 * results, the example rows widened to ±20 tokens (./expand.ts), and a small cache of recently
 * shown cards. Switching to a cached card draws it at
 * once (instant back/forward and arrows over visited units) while the kernel confirms it; an
 * error from the kernel puts the last good card back. The body is rebuilt only when the card
 * changes, so busy/error updates never disturb the index box while the user types in it.
 */

import { h } from "../../core/dom";
import type { BuildProgress, SearchResult } from "../../core/schema";
import type { CardData } from "../card-data";
import { History, type Unit } from "../history";
import { type BuildProgressView, createBuildProgress } from "./build-progress";
import {
  canOpenUnit,
  colourScale,
  errorText,
  hoverMarks,
  navStateOf,
  randomChoice,
  rememberCard,
  unitKey,
  unitOf,
} from "./card-state";
import { dfaHoverContent } from "./dfa-row";
import { renderExamples } from "./examples";
import { createRowExpander, type RowExpander, type WindowArgs } from "./expand";
import { renderHeader } from "./header";
import { hoverContent } from "./hover-content";
import { handleKey } from "./keys";
import { renderLeft } from "./left";
import { createLoading, type LoadingView, loadingOf } from "./loading";
import { type MiddleView, renderMiddle } from "./middle";
import { createNav, type NavCallbacks, type NavView } from "./nav";
import { renderPromptRow } from "./prompt-row";
import { createTooltip, type Tooltip } from "./tooltip";

export { unitTitle } from "./header";
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
  progress?: BuildProgress | null; // the complete index's build, while pending panels wait
}

export interface CardCallbacks {
  open?(unit: Unit): void; // show this unit (sets source and feature in the model)
  onSelect?(feature: number): void; // index-only hosts (used when `open` is absent)
  search?(text: string): Promise<SearchResult>; // absent: no search box requests
  random?(): Promise<number>; // absent: random picks among `choices` only
  window?(args: WindowArgs): Promise<unknown>; // an example row's ±20 tokens (absent: no kernel)
  label?(text: string): Promise<unknown>; // set the shown latent's label (absent: no kernel)
}

export interface FeatureCardView {
  root: HTMLDivElement;
  update(props: CardProps): void;
  destroy(): void;
}

const CACHE_SIZE = 64;

/** The card's UI-only state (it never syncs). */
interface CardState {
  props: CardProps;
  shown: CardData | null; // what the body draws (props.data, or a cached card)
  localErrors: string[]; // failed searches / random picks
  middle: MiddleView | null;
  history: History;
  cache: Map<string, CardData>; // recently shown cards, oldest first
}

/** The card's elements; `header` and `body` are replaced when the shown card changes. */
interface CardParts {
  root: HTMLDivElement;
  banner: HTMLElement;
  top: HTMLElement;
  header: HTMLElement;
  busy: HTMLElement;
  loading: LoadingView; // "loading #N…" while another unit is asked for; the shown card is stale
  progress: BuildProgressView; // in the first pending panel
  notice: HTMLElement;
  body: HTMLElement;
}

/** What the card's steps share. */
interface Card {
  cb: CardCallbacks;
  st: CardState;
  el: CardParts;
  nav: NavView;
  tooltip: Tooltip;
  rows: RowExpander; // the example rows widened to ±20 tokens
}

function buildCard(): CardParts {
  const root = h("div", "fc-card");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  const banner = h("div", "fc-error");
  banner.setAttribute("role", "alert");
  banner.hidden = true;
  const top = h("div", "fc-top");
  const header = h("div", "fc-header");
  const busy = h("span", "fc-busy", "computing…");
  busy.hidden = true;
  const notice = h("div", "fc-notice");
  const body = h("div", "fc-body");
  top.append(header);
  root.append(banner, top, notice, body);
  const [loading, progress] = [createLoading(), createBuildProgress()];
  return { root, banner, top, header, busy, loading, progress, notice, body };
}

function renderBody(
  data: CardData | null,
  canOpen: (source: string, feature: number) => boolean,
  live: boolean,
): { body: HTMLElement; middle: MiddleView | null } {
  const body = h("div", "fc-body");
  if (!data) return { body, middle: null };
  const scale = colourScale(data);
  const left = h("div", "fc-col fc-col-left");
  left.append(renderLeft(data, { canOpen }));
  const mid = h("div", "fc-col fc-col-middle");
  const middle = renderMiddle(data, scale);
  mid.append(middle.root);
  const right = h("div", "fc-col fc-col-right");
  if (data.prompt) right.append(renderPromptRow(data.prompt, scale));
  right.append(renderExamples(data, scale, data.unavailable.examples, live));
  body.append(left, mid, right);
  return { body, middle };
}

const sourceNow = (c: Card) => c.st.props.source || c.st.shown?.header.source || "";

function open(c: Card, u: Unit): void {
  if (!u.source) return;
  c.st.localErrors = [];
  const cached = c.st.cache.get(unitKey(u));
  if (cached && cached !== c.st.shown) show(c, cached);
  if (c.cb.open) c.cb.open(u);
  else if (u.source === sourceNow(c)) c.cb.onSelect?.(u.feature);
  drawChrome(c);
}

function goHistory(c: Card, u: Unit | null): void {
  if (u) open(c, u);
}

function pickRandom(c: Card): void {
  const { props, shown } = c.st;
  const cur = shown?.header.feature ?? props.feature;
  if (!props.live || !c.cb.random) {
    const f = randomChoice(props.choices, cur, Math.random());
    if (f !== undefined) open(c, { source: sourceNow(c), feature: f });
    return;
  }
  c.cb.random().then(
    (f) => open(c, { source: sourceNow(c), feature: f }),
    (e: unknown) => fail(c, `random: ${errorText(e)}`),
  );
}

function runSearch(c: Card, text: string): void {
  if (!c.st.props.live || !c.cb.search) return;
  if (!text.trim()) {
    c.nav.showResults(null, "");
    return;
  }
  c.nav.showResults(null, "searching…");
  c.cb.search(text).then(
    (r) => {
      c.st.localErrors = [];
      c.nav.showResults(r, "");
      drawChrome(c);
    },
    (e: unknown) => {
      c.nav.showResults(null, "");
      fail(c, `search: ${errorText(e)}`);
    },
  );
}

function fail(c: Card, msg: string): void {
  c.st.localErrors = [msg];
  drawChrome(c);
}

function show(c: Card, data: CardData | null): void {
  if (data === c.st.shown) return;
  const t0 = performance.now();
  c.st.shown = data;
  c.tooltip.hide();
  c.rows.reset();
  const edit = c.st.props.live ? c.cb.label : undefined;
  const label = { label: data?.label ?? null, edit, fail: (m: string) => fail(c, m) };
  const header = data ? renderHeader(data.header, label) : h("div", "fc-header");
  c.el.header.replaceWith(header);
  c.el.header = header;
  const canOpen = (source: string, feature: number) =>
    canOpenUnit(source, feature, {
      source: sourceNow(c),
      live: c.st.props.live,
      choices: c.st.props.choices,
      anySource: c.cb.open !== undefined,
    });
  const { body, middle } = renderBody(data, canOpen, c.st.props.live);
  c.st.middle = middle;
  c.el.body.replaceWith(body);
  c.el.body = body;
  c.el.progress.place(body, data);
  c.el.root.dataset.source = data?.header.source ?? "";
  c.el.root.dataset.feature = data ? String(data.header.feature) : "";
  c.el.root.dataset.renderMs = (performance.now() - t0).toFixed(1);
}

function drawChrome(c: Card): void {
  const { props, shown } = c.st;
  const { root, banner, notice, busy } = c.el;
  const errors = [...props.errors, ...c.st.localErrors];
  banner.replaceChildren(...errors.map((m) => h("div", "fc-error-line", m)));
  banner.hidden = errors.length === 0;
  notice.textContent = shown ? "" : props.notice;
  notice.hidden = shown !== null || props.notice === "";
  const loading = loadingOf(props, shown);
  c.el.loading.update(loading, shown, root);
  c.el.progress.update(props.progress ?? null, props.live);
  busy.hidden = !props.busy || loading !== null;
  root.classList.toggle("fc-is-busy", props.busy);
  root.setAttribute("aria-busy", String(props.busy));
  c.nav.update(navStateOf(props, shown, c.st.history, c.cb.search !== undefined));
}

// hover: tooltip + histogram markers (event delegation on the card)
function hoverToken(c: Card, span: HTMLElement): void {
  const data = c.st.shown;
  const t = Number(span.dataset.t);
  const dfa = data ? dfaHoverContent(data, span) : null; // a token of a DFA row
  if (dfa) {
    c.tooltip.show(span, dfa);
    return;
  }
  if (span.dataset.t === undefined) {
    const outside = c.rows.hover(span); // a widened row's token beyond the card's own
    if (outside) c.tooltip.show(span, outside);
    return;
  }
  if (!data || !Number.isInteger(t)) return;
  const at = hoverMarks(data, t);
  if (!at) return;
  c.tooltip.show(span, hoverContent(data, at.seq, at.i));
  c.st.middle?.markAct(at.act);
  c.st.middle?.markLogit(at.logit);
}

function unhover(c: Card): void {
  c.tooltip.hide();
  c.st.middle?.markAct(null);
  c.st.middle?.markLogit(null);
}

function listen(c: Card, signal: AbortSignal): void {
  const { root } = c.el;
  const { tooltip, nav, st } = c;
  const on = (type: string, fn: (e: Event) => void) => root.addEventListener(type, fn, { signal });
  on("mouseover", (e) => {
    const span = (e.target as Element).closest<HTMLElement>("span.fc-tok");
    if (span && root.contains(span)) {
      if (tooltip.anchor !== span) hoverToken(c, span);
    } else if (tooltip.anchor && !tooltip.el.contains(e.target as Node)) unhover(c);
  });
  on("mouseleave", () => unhover(c));
  on("click", (e) => {
    const link = (e.target as Element).closest<HTMLElement>("button.fc-link");
    const f = Number(link?.dataset.feature);
    if (link?.dataset.source && Number.isInteger(f))
      open(c, { source: link.dataset.source, feature: f });
    else if (!link && c.rows.click(e.target as Element)) unhover(c); // its token was redrawn
  });
  on("keydown", (e) => {
    if (c.rows.key(e as KeyboardEvent)) {
      unhover(c); // an example row widened or narrowed: its token was redrawn
      return;
    }
    handleKey(e as KeyboardEvent, {
      step: (d) => nav.step(d),
      back: () => goHistory(c, st.history.back()),
      forward: () => goHistory(c, st.history.forward()),
      random: () => pickRandom(c),
      focusSearch: () => nav.searchBox.focus(),
      focusIndex: () => nav.input.focus(),
      escape: () => {
        unhover(c);
        nav.showResults(null, "");
      },
    });
  });
}

function update(c: Card, next: CardProps): void {
  const old = c.st.props;
  c.st.props = next;
  if (next.data !== old.data) {
    const d = next.data;
    if (d) {
      rememberCard(c.st.cache, d, CACHE_SIZE);
      c.st.history.visit(unitOf(d));
    }
    show(c, d);
  } else if (next.errors.join("\n") !== old.errors.join("\n") && next.errors.length > 0) {
    show(c, next.data); // the kernel refused: put the last good card back
  }
  drawChrome(c);
}

function navCallbacks(card: () => Card): NavCallbacks {
  const select = (feature: number) => open(card(), { source: sourceNow(card()), feature });
  return {
    select,
    back: () => goHistory(card(), card().st.history.back()),
    forward: () => goHistory(card(), card().st.history.forward()),
    random: () => pickRandom(card()),
    search: (text) => runSearch(card(), text),
    pick: select,
    refuse: (msg) => fail(card(), `index: ${msg}`),
  };
}

export function createFeatureCard(callbacks: CardCallbacks): FeatureCardView {
  const listeners = new AbortController();
  const el = buildCard();
  const st: CardState = {
    props: {
      data: null,
      source: "",
      feature: null,
      errors: [],
      busy: false,
      notice: "",
      live: true,
      choices: [],
    },
    shown: null,
    localErrors: [],
    middle: null,
    history: new History(),
    cache: new Map(),
  };
  const nav = createNav(navCallbacks(() => card));
  nav.root.prepend(el.busy, el.loading.root);
  el.top.append(nav.root, nav.panel);
  const rows = createRowExpander({
    data: () => card.st.shown,
    live: () => card.st.props.live,
    ask: callbacks.window,
    fail: (m) => fail(card, m),
  });
  const card: Card = { cb: callbacks, st, el, nav, tooltip: createTooltip(el.root), rows };
  listen(card, listeners.signal);
  update(card, st.props);
  return {
    root: el.root,
    update: (next) => update(card, next),
    destroy() {
      nav.destroy();
      listeners.abort();
      el.root.remove();
    },
  };
}
