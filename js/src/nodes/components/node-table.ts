/**
 * The whole NodeTable view: errors, the target and its values, ablations in place, the
 * prompt's tokens, filters, the sortable table and the open FeatureCard below it. Knows
 * nothing of Jupyter: it draws `NodeTableProps` and reports requests through callbacks.
 * Sorting, filters and hover are UI-only state and never leave this component.
 */

import { h } from "../../core/dom";
import type { RowData, TableData } from "../data";
import type { NodeAblation, SelectedNode, TraceStep } from "../schema";
import {
  type Column,
  type CompareView,
  columnsFor,
  defaultSort,
  type Filter,
  filterRows,
  NO_FILTER,
  type SortKey,
  sortInView,
  sortRows,
  toggleSort,
  visibleColumns,
} from "../table-logic";
import { familyBoxes, layerSelect, modeSelect, offlineNote, viewSwitch } from "./controls";
import { type PromptStrip, renderPrompts } from "./prompt";
import {
  ABLATE_NEEDS_KERNEL,
  renderTable,
  revealSelected,
  revealSort,
  stickColumns,
  type TableCallbacks,
} from "./table";
import { drawTrail, type TraceSpec, targetLine } from "./trace";

export interface NodeTableProps {
  data: TableData | null; // the last good table
  position: number | null; // the requested target position
  errors: string[];
  busy: boolean;
  notice: string; // shown in place of the table when data is null
  ablations: NodeAblation[]; // the requested ablations
  selected: SelectedNode | null;
  cardOpen: boolean; // a card is open (drawn into `cardHost` by the widget)
  live?: boolean; // a kernel answers (false in an exported file: ablating and tracing are disabled)
  trail?: TraceStep[]; // the targets followed, the table's own first
}

export interface NodeTableCallbacks {
  onPosition(pos: number): void;
  onSelect(node: SelectedNode | null): void;
  onAblations(list: NodeAblation[]): void;
  onTrace?(spec: TraceSpec): void; // a row's "trace": a table with its node as the target
  onBack?(index: number): void; // a crumb of the trail: back to that target
}

export interface NodeTableView {
  root: HTMLDivElement;
  cardHost: HTMLElement; // where the open FeatureCard is drawn
  update(props: NodeTableProps): void;
  destroy(): void;
}

export function ablationLabel(a: NodeAblation): string {
  const what =
    a.family === "mlp"
      ? `mlp L${a.layer} n${a.unit}`
      : a.family === "attn"
        ? `attn L${a.layer} H${a.unit}`
        : `${a.family} #${a.unit}`;
  return `${a.mode}-ablated ${what} @${a.pos}`;
}

export function selectedLabel(s: SelectedNode): string {
  if (s.family === "mlp") return `mlp L${s.layer} n${s.unit}`;
  return `${s.family ?? s.source ?? "?"} #${s.unit}`;
}

export { familyLabel, layerLabel } from "./controls";
export { targetText } from "./trace";

/** `filter` with family `name` shown or hidden. */
export function withFamily(filter: Filter, name: string, shown: boolean): Filter {
  const hidden = new Set(filter.hidden);
  if (shown) hidden.delete(name);
  else hidden.add(name);
  return { ...filter, hidden };
}

/** Whether two column lists have the same keys in the same order (then the sort stays). */
export const sameColumns = (a: readonly Column[], b: readonly Column[]): boolean =>
  a.length === b.length && a.every((c, i) => c.key === b[i]?.key);

/** The ablation of `row` at its position, in `mode`. */
export const ablationOf = (row: RowData, mode: NodeAblation["mode"]): NodeAblation => ({
  family: row.family.name,
  layer: row.layer,
  unit: row.unit,
  pos: row.pos,
  mode,
});

/** The view's UI-only state (it never leaves this component). */
interface TableState {
  props: NodeTableProps;
  columns: Column[];
  sort: SortKey;
  filter: Filter;
  hovered: number | null;
  mode: NodeAblation["mode"];
  view: CompareView; // which set of a two-prompt table's columns is shown
  stick: ResizeObserver | null; // keeps the Token column's sticky offset at the Node column's width
  reveal: boolean; // a newly selected node's card is to be scrolled into view once it is open
}

/** The view's elements; `head` and `prompts` are replaced when the table changes. */
interface TableParts {
  root: HTMLDivElement;
  banner: HTMLElement;
  busy: HTMLElement;
  trail: HTMLElement;
  head: HTMLElement;
  ablations: HTMLElement;
  prompts: PromptStrip;
  controls: HTMLElement;
  count: HTMLElement;
  scroll: HTMLElement;
  notice: HTMLElement;
  notes: HTMLElement;
  cardArea: HTMLElement;
  cardTitle: HTMLElement;
  close: HTMLButtonElement;
  cardHost: HTMLElement;
}

/** What the view's steps share. */
interface NodeTable {
  cb: NodeTableCallbacks;
  st: TableState;
  el: TableParts;
}

const noPrompts = (): PromptStrip => ({ root: h("div", "nt-prompts"), highlight: () => {} });

function buildNodeTable(): TableParts {
  const root = h("div", "nt-widget");
  const banner = h("div", "nt-error");
  banner.setAttribute("role", "alert");
  banner.hidden = true;
  const busy = h("span", "nt-busy", "computing…");
  busy.hidden = true;
  const cardArea = h("div", "nt-card-area");
  cardArea.hidden = true;
  const cardBar = h("div", "nt-card-bar");
  const cardTitle = h("span", "nt-card-title");
  const close = h("button", "nt-close-card", "close card");
  close.type = "button";
  cardBar.append(cardTitle, close);
  const cardHost = h("div", "nt-card-host");
  cardArea.append(cardBar, cardHost);
  const el = {
    root,
    banner,
    busy,
    trail: h("nav", "nt-trail"),
    head: h("div", "nt-head"),
    ablations: h("div", "nt-ablations"),
    prompts: noPrompts(),
    controls: h("div", "nt-controls"),
    count: h("div", "nt-count"),
    scroll: h("div", "nt-scroll"),
    notice: h("div", "nt-notice"),
    notes: h("div", "nt-notes"),
    cardArea,
    cardTitle,
    close,
    cardHost,
  };
  const { trail, head, ablations, prompts, controls, count, notice, scroll, notes } = el;
  root.append(banner, busy, trail, head, ablations, prompts.root, controls, count);
  root.append(notice, scroll, notes, cardArea);
  return el;
}

function tableCallbacks(t: NodeTable): TableCallbacks {
  const { st, el, cb } = t;
  return {
    onSort: (key) => {
      st.sort = toggleSort(st.sort, key);
      drawTable(t);
    },
    onHover: (row) => {
      st.hovered = row?.index ?? null;
      el.prompts.highlight(row);
      for (const tr of el.scroll.querySelectorAll<HTMLElement>("tr.nt-row")) {
        tr.classList.toggle("nt-hovered", tr.dataset.index === String(st.hovered));
      }
    },
    onSelect: (row) => cb.onSelect({ family: row.family.name, layer: row.layer, unit: row.unit }),
    onAblate:
      st.props.live === false
        ? undefined
        : (row) => cb.onAblations([...st.props.ablations, ablationOf(row, st.mode)]),
    onTrace: st.props.live === false || !cb.onTrace ? undefined : (spec) => cb.onTrace?.(spec),
  };
}

function drawTable(t: NodeTable): void {
  const { st, el } = t;
  const data = st.props.data;
  if (!data) {
    el.scroll.replaceChildren();
    el.count.textContent = "";
    return;
  }
  const rows = sortRows(filterRows(data.rows, st.filter), st.columns, st.sort);
  const shown = visibleColumns(st.columns, st.view);
  const sel = st.props.selected;
  const table = renderTable(data, shown, rows, st.sort, tableCallbacks(t), sel);
  el.scroll.replaceChildren(table);
  st.stick?.disconnect();
  st.stick = stickColumns(table, () => revealSort(el.scroll));
  el.count.textContent = `${rows.length} of ${data.rows.length} nodes (top ${data.k} per group)`;
}

/** The controls over the table (the Left / Right / Diff switch only for two prompts). */
function controls(t: NodeTable, data: TableData): HTMLElement[] {
  const { st } = t;
  const out: HTMLElement[] = [
    familyBoxes(data, st.filter.hidden, (name, shown) => {
      st.filter = withFamily(st.filter, name, shown);
      drawTable(t);
    }),
    layerSelect(data, st.filter.layer, (layer) => {
      st.filter = { ...st.filter, layer };
      drawTable(t);
    }),
    modeSelect(
      st.mode,
      (mode) => {
        st.mode = mode;
      },
      st.props.live !== false,
    ),
  ];
  if (st.props.live === false) out.push(offlineNote());
  if (data.prompts.length > 1) {
    out.push(
      viewSwitch(st.view, (view) => {
        st.view = view;
        st.sort = sortInView(st.sort, view);
        drawTable(t);
      }),
    );
  }
  return out;
}

const selectionKey = (s: SelectedNode | null): string =>
  s ? `${s.family ?? s.source}/${s.layer ?? -1}/${s.unit}` : "";

function drawAblations(t: NodeTable): void {
  const list = t.st.props.ablations;
  const { ablations } = t.el;
  ablations.replaceChildren();
  ablations.hidden = list.length === 0;
  list.forEach((a, i) => {
    const chip = h("span", "nt-ablation", ablationLabel(a));
    const x = h("button", "nt-unablate", "×");
    x.type = "button";
    x.title = t.st.props.live === false ? ABLATE_NEEDS_KERNEL : "remove this ablation";
    x.disabled = t.st.props.live === false;
    x.addEventListener("click", () => t.cb.onAblations(list.filter((_, j) => j !== i)));
    chip.append(x);
    ablations.append(chip);
  });
}

/** A new table: its head, columns (the sort stays when they do), controls, notes and rows. */
function drawData(t: NodeTable, data: TableData | null): void {
  const { st, el } = t;
  const head = data ? targetLine(data) : h("div", "nt-head");
  el.head.replaceWith(head);
  el.head = head;
  if (data) {
    const old = st.columns;
    st.columns = columnsFor(data.groups, data.prompts.length);
    if (!sameColumns(old, st.columns)) st.sort = defaultSort(data, st.columns);
    el.controls.replaceChildren(...controls(t, data));
  } else el.controls.replaceChildren();
  el.notes.replaceChildren(...(data?.notes ?? []).map((n) => h("div", "nt-note", n)));
  drawTable(t);
}

function drawChrome(el: TableParts, props: NodeTableProps): void {
  el.banner.replaceChildren(...props.errors.map((m) => h("div", "nt-error-line", m)));
  el.banner.hidden = props.errors.length === 0;
  el.notice.textContent = props.data ? "" : props.notice;
  el.notice.hidden = props.data !== null || props.notice === "";
  el.busy.hidden = !props.busy;
  el.root.classList.toggle("nt-is-busy", props.busy);
  el.root.setAttribute("aria-busy", String(props.busy));
  el.cardArea.hidden = !props.cardOpen;
  const sel = props.selected;
  el.cardTitle.textContent = sel ? `card of ${selectedLabel(sel)}` : "card";
}

function update(t: NodeTable, next: NodeTableProps): void {
  const { st, el } = t;
  const old = st.props;
  st.props = next;
  const data = next.data;
  if (data !== old.data || next.position !== old.position) {
    const fresh = data ? renderPrompts(data, next.position, t.cb.onPosition) : noPrompts();
    el.prompts.root.replaceWith(fresh.root);
    el.prompts = fresh;
  }
  const reselected = selectionKey(next.selected) !== selectionKey(old.selected);
  if (data !== old.data) drawData(t, data);
  else if (reselected) drawTable(t);
  if (next.ablations !== old.ablations) drawAblations(t);
  if (next.trail !== old.trail || next.live !== old.live) {
    drawTrail(el.trail, next.trail ?? [], next.live === false ? undefined : t.cb.onBack);
  }
  drawChrome(el, next);
  // a card opened here (not one already open when the view was drawn) is brought into view
  if (reselected && old.data !== null && next.selected) st.reveal = true;
  if (st.reveal && next.cardOpen) {
    st.reveal = false;
    revealSelected(el.scroll, el.cardArea);
  }
}

export function createNodeTable(callbacks: NodeTableCallbacks): NodeTableView {
  const el = buildNodeTable();
  el.close.addEventListener("click", () => callbacks.onSelect(null));
  const st: TableState = {
    props: {
      data: null,
      position: null,
      errors: [],
      busy: false,
      notice: "",
      ablations: [],
      selected: null,
      cardOpen: false,
    },
    columns: [],
    sort: { column: "name", descending: false },
    filter: NO_FILTER,
    hovered: null,
    mode: "zero",
    view: "left",
    stick: null,
    reveal: false,
  };
  const t: NodeTable = { cb: callbacks, st, el };
  drawAblations(t);
  return {
    root: el.root,
    cardHost: el.cardHost,
    update: (next) => update(t, next),
    destroy() {
      st.stick?.disconnect();
      el.root.remove();
    },
  };
}
