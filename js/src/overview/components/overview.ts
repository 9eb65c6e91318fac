/**
 * The whole SAE overview: errors, the summary and density histogram, the search box, the
 * sortable latent table (the first rows of the sorted matches, more on demand) and the open
 * FeatureCard below it. Knows nothing of Jupyter: it draws `OverviewProps` and reports requests
 * through callbacks. Sorting, the search and how many rows are shown are UI-only state.
 */
import { h } from "../../core/dom";
import type { OverviewData } from "../data";
import type { SelectedLatent } from "../schema";
import {
  DEFAULT_SORT,
  type LatentRow,
  latentRows,
  type SortKey,
  toggleSort,
  visibleLatents,
} from "../table-logic";
import { NEEDS_KERNEL, renderLatentTable } from "./latent-table";
import { densityHistogram, summaryBoxes } from "./summary";

export const PAGE = 200; // rows shown at first, and added by "show more"

export interface OverviewProps {
  data: OverviewData | null; // the last good overview
  labels: Record<string, string>;
  errors: string[];
  busy: boolean;
  notice: string; // shown when data is null
  selected: SelectedLatent | null;
  cardOpen: boolean; // a card is open (drawn into `cardHost` by the widget)
  live?: boolean; // a kernel answers (false in an exported file)
}

export interface OverviewCallbacks {
  onSelect(unit: number | null): void;
  onLabel(unit: number, text: string): void;
}

export interface OverviewView {
  root: HTMLDivElement;
  cardHost: HTMLElement;
  update(props: OverviewProps): void;
  destroy(): void;
}

interface Parts {
  root: HTMLDivElement;
  banner: HTMLElement;
  busy: HTMLElement;
  head: HTMLElement;
  notice: HTMLElement;
  search: HTMLInputElement;
  count: HTMLElement;
  scroll: HTMLElement;
  more: HTMLButtonElement;
  cardArea: HTMLElement;
  cardTitle: HTMLElement;
  close: HTMLButtonElement;
  cardHost: HTMLElement;
}

interface State {
  props: OverviewProps;
  rows: LatentRow[];
  sort: SortKey;
  query: string;
  limit: number;
}

function build(): Parts {
  const root = h("div", "ov-widget");
  const banner = h("div", "ov-error");
  banner.setAttribute("role", "alert");
  banner.hidden = true;
  const busy = h("span", "ov-busy", "computing…");
  busy.hidden = true;
  const search = h("input", "ov-search");
  search.type = "search";
  search.placeholder = "search: label or token text, #12, is:dead, is:dense, is:labelled";
  search.setAttribute("aria-label", "search latents");
  const more = h("button", "ov-more", "show more");
  more.type = "button";
  const cardArea = h("div", "ov-card-area");
  cardArea.hidden = true;
  const bar = h("div", "ov-card-bar");
  const cardTitle = h("span", "ov-card-title");
  const close = h("button", "ov-close-card", "close card");
  close.type = "button";
  bar.append(cardTitle, close);
  const cardHost = h("div", "ov-card-host");
  cardArea.append(bar, cardHost);
  const controls = h("div", "ov-controls");
  const count = h("span", "ov-count");
  controls.append(search, count);
  const p: Parts = {
    root,
    banner,
    busy,
    head: h("div", "ov-head"),
    notice: h("div", "ov-notice"),
    search,
    count,
    scroll: h("div", "ov-scroll"),
    more,
    cardArea,
    cardTitle,
    close,
    cardHost,
  };
  root.append(banner, busy, p.head, p.notice, controls, p.scroll, more, cardArea);
  return p;
}

function drawHead(el: Parts, data: OverviewData | null): void {
  const head = h("div", "ov-head");
  if (data) {
    const title = h("div", "ov-title");
    title.append(h("span", "ov-name", data.source), h("span", "ov-hook", ` at ${data.hook}`));
    const notes = h("div", "ov-notes");
    for (const n of data.notes) notes.append(h("div", "ov-note", n));
    head.append(title, summaryBoxes(data.summary), densityHistogram(data), notes);
  }
  el.head.replaceWith(head);
  el.head = head;
}

function drawTable(st: State, el: Parts, cb: OverviewCallbacks): void {
  const data = st.props.data;
  if (!data) {
    el.scroll.replaceChildren();
    el.count.textContent = "";
    el.more.hidden = true;
    return;
  }
  const threshold = data.summary.dense_threshold;
  const { shown, matched } = visibleLatents(st.rows, st.query, st.sort, threshold, st.limit);
  const live = st.props.live !== false;
  const selected = ownLatent(st.props.selected, data.source);
  const table = renderLatentTable(
    shown,
    st.sort,
    {
      onSort: (column) => {
        st.sort = toggleSort(st.sort, column);
        drawTable(st, el, cb);
      },
      onSelect: live ? (unit) => cb.onSelect(unit) : undefined,
      onLabel: live ? (unit, text) => cb.onLabel(unit, text) : undefined,
    },
    selected,
  );
  el.scroll.replaceChildren(table);
  const offline = live ? "" : ` · opening cards and labelling ${NEEDS_KERNEL}`;
  el.count.textContent = `${shown.length} shown of ${matched} matching, ${st.rows.length} latents${offline}`;
  el.more.hidden = matched <= shown.length;
}

/** The selected latent's index when it is one of this SAE's (not a neuron's card opened from a card). */
export function ownLatent(selected: SelectedLatent | null, source: string): number | null {
  if (!selected || (selected.source !== undefined && selected.source !== source)) return null;
  return selected.unit;
}

/** The open card's title: `card of latent 7 — its label`, or `card of <source> #3` for another source. */
export function cardTitle(props: OverviewProps): string {
  const sel = props.selected;
  if (!sel) return "card";
  const own = ownLatent(sel, props.data?.source ?? sel.source ?? "");
  if (own === null) return `card of ${sel.source ?? "?"} #${sel.unit}`;
  const label = props.labels[String(own)] ?? "";
  return `card of latent ${own}${label ? ` — ${label}` : ""}`;
}

function drawChrome(el: Parts, props: OverviewProps): void {
  el.banner.replaceChildren(...props.errors.map((m) => h("div", "ov-error-line", m)));
  el.banner.hidden = props.errors.length === 0;
  el.notice.textContent = props.data ? "" : props.notice;
  el.notice.hidden = props.data !== null || props.notice === "";
  el.busy.hidden = !props.busy;
  el.root.setAttribute("aria-busy", String(props.busy));
  el.cardArea.hidden = !props.cardOpen;
  el.cardTitle.textContent = cardTitle(props);
}

function update(st: State, el: Parts, cb: OverviewCallbacks, next: OverviewProps): void {
  const old = st.props;
  st.props = next;
  if (next.data !== old.data) drawHead(el, next.data);
  if (next.data !== old.data || next.labels !== old.labels) {
    st.rows = next.data ? latentRows(next.data, next.labels) : [];
  }
  if (
    next.data !== old.data ||
    next.labels !== old.labels ||
    next.selected?.unit !== old.selected?.unit ||
    next.selected?.source !== old.selected?.source ||
    next.live !== old.live
  )
    drawTable(st, el, cb);
  drawChrome(el, next);
}

export function createOverview(cb: OverviewCallbacks): OverviewView {
  const el = build();
  const st: State = {
    props: {
      data: null,
      labels: {},
      errors: [],
      busy: false,
      notice: "",
      selected: null,
      cardOpen: false,
    },
    rows: [],
    sort: DEFAULT_SORT,
    query: "",
    limit: PAGE,
  };
  el.close.addEventListener("click", () => cb.onSelect(null));
  el.search.addEventListener("input", () => {
    st.query = el.search.value;
    st.limit = PAGE;
    drawTable(st, el, cb);
  });
  el.more.addEventListener("click", () => {
    st.limit += PAGE;
    drawTable(st, el, cb);
  });
  return {
    root: el.root,
    cardHost: el.cardHost,
    update: (next) => update(st, el, cb, next),
    destroy: () => el.root.remove(),
  };
}
