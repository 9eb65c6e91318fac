/**
 * The sortable node table: a name column, the node's token(s), one column per group (or
 * Left / Diff / Right per group) with a bar scaled to the column's largest |value| and the sign
 * coloured, a trace and an ablate button. Rows report hover, click (open card), trace and
 * ablate; without `onTrace` / `onAblate` (an exported file: no kernel) those buttons are
 * disabled and say why.
 */
import { h } from "../../core/dom";
import { fillToken, quoteToken } from "../../core/tokens";
import type { RowData, TableData } from "../data";
import type { SelectedNode } from "../schema";
import {
  type Column,
  cellValue,
  columnScale,
  fmtValue,
  isSelected,
  type SortKey,
  shownSign,
} from "../table-logic";
import { dynamicsCell } from "./dynamics";
import { type TraceSpec, traceButton } from "./trace";

export interface TableCallbacks {
  onSort(column: string): void;
  onHover(row: RowData | null): void;
  onSelect(row: RowData): void;
  onAblate: ((row: RowData) => void) | undefined; // undefined offline: ablate buttons disabled
  onTrace?: ((spec: TraceSpec) => void) | undefined; // undefined offline: trace buttons disabled
}

/** Why ablating is disabled in an exported file (shown by the controls, and on each button). */
export const ABLATE_NEEDS_KERNEL = "ablate needs a running kernel";

function header(
  label: string,
  key: string,
  title: string,
  sort: SortKey,
  onSort: (k: string) => void,
) {
  const th = h("th", "nt-th");
  const button = h("button", "nt-sort", label);
  button.type = "button";
  button.dataset.key = key;
  button.title = `${title} (click to sort)`;
  th.dataset.key = key;
  const active = sort.column === key;
  th.setAttribute("aria-sort", active ? (sort.descending ? "descending" : "ascending") : "none");
  if (active) button.append(h("span", "nt-arrow", sort.descending ? " ▼" : " ▲"));
  button.addEventListener("click", () => onSort(key));
  th.append(button);
  return th;
}

function tokenCell(data: TableData, row: RowData): HTMLElement {
  const td = h("td", "nt-where nt-c2");
  const tok = (pos: number) => {
    // the token at `pos` in each prompt, shown once when the prompts agree there
    const texts = data.prompts.map((p) => p.tokens[pos] ?? "");
    const shown = texts.every((t) => t === texts[0]) ? texts.slice(0, 1) : texts;
    const frag = h("span", "nt-where-toks");
    shown.forEach((text, i) => {
      if (i > 0) frag.append(h("span", "nt-where-sep", " | "));
      const s = h("span", "nt-where-tok");
      fillToken(s, text);
      s.title = `position ${pos} · token ${quoteToken(text)}${shown.length > 1 ? ` (${data.prompts[i]?.label})` : ""}`;
      frag.append(s);
    });
    return frag;
  };
  // a box of at most a few tokens' width: the sticky columns leave room for the values
  const box = h("span", "nt-where-box");
  td.append(box);
  box.append(tok(row.pos), h("span", "nt-where-pos", `@${row.pos}`));
  if (row.family.kind === "attn" && row.src >= 0) {
    box.append(
      h("span", "nt-where-arrow", " ← "),
      tok(row.src),
      h("span", "nt-where-pos", `@${row.src}`),
    );
  }
  return td;
}

/** A value bar's width in percent of its cell: |v| over the column's scale, at most 100. */
export const barWidth = (v: number, scale: number): number =>
  scale > 0 ? Math.min(100, (100 * Math.abs(v)) / scale) : 0;

function valueCell(v: number, scale: number): HTMLElement {
  const td = h("td", "nt-val");
  if (!Number.isFinite(v)) {
    td.classList.add("nt-nan");
    td.title = "not defined for this node";
    return td;
  }
  const bar = h("div", `nt-bar ${v < 0 ? "nt-neg" : "nt-posv"}`);
  bar.style.width = `${barWidth(v, scale)}%`;
  const sign = shownSign(v);
  const num = h("span", `nt-num ${sign < 0 ? "nt-neg" : sign > 0 ? "nt-posv" : ""}`, fmtValue(v));
  td.dataset.value = String(v);
  td.append(bar, num);
  return td;
}

/** A value column's heading: the group's label before the view's, unless it is the only view. */
export const columnLabel = (c: Column, group: string): string =>
  c.view === "value" ? c.label : `${group} · ${c.label}`;

/** What the ablate button of a row says it does. */
export function ablateTitle(row: RowData): string {
  return row.family.kind === "attn"
    ? `ablate head ${row.unit} of layer ${row.layer} at position ${row.pos} (its output there)`
    : `ablate ${row.name} at position ${row.pos}`;
}

function headerRow(
  data: TableData,
  columns: Column[],
  sort: SortKey,
  onSort: (k: string) => void,
): HTMLElement {
  const hr = h("tr", "");
  const node = header("Node", "name", "node type, layer and index", sort, onSort);
  const where = header(
    "Token",
    "pos",
    "the node's position (attention: query ← source)",
    sort,
    onSort,
  );
  node.classList.add("nt-c1");
  where.classList.add("nt-c2");
  hr.append(node, where);
  for (const c of columns) {
    const group = data.groups[c.group]?.label ?? "";
    const th = header(columnLabel(c, group), c.key, c.title, sort, onSort);
    th.classList.add("nt-th-val");
    hr.append(th);
  }
  if (data.rows.some((r) => r.dynamics)) {
    const dyn = h("th", "nt-th nt-th-dyn", "Promotes / suppresses");
    dyn.title =
      "the tokens the node's write raises and lowers most: through the final LayerNorm at its " +
      "frozen scale and the unembedding (top / bottom 10); neurons and latents: the token read";
    hr.append(dyn);
  }
  hr.append(h("th", "nt-th", ""));
  return hr;
}

function nameCell(row: RowData, onSelect: (row: RowData) => void): HTMLElement {
  const td = h("td", "nt-name nt-c1");
  if (row.family.card) {
    const b = h("button", "nt-open", row.name);
    b.type = "button";
    b.title = `open the feature card of ${row.name}`;
    b.addEventListener("click", () => onSelect(row));
    td.append(b);
    return td;
  }
  const label = h("span", "nt-label", row.name);
  const why = ROLLUP_TITLE[row.family.kind];
  if (why) label.title = why;
  td.append(label);
  return td;
}

/** What the rows that are not units are (their name's title). */
const ROLLUP_TITLE: Partial<Record<RowData["family"]["kind"], string>> = {
  error:
    "the SAE's error at this position: the hook's value minus the SAE's reconstruction " +
    "(activation = its norm); it has no feature card",
  head: "the head's pairs at this query summed over every source (write norm: of the summed write)",
  attn_layer: "every head of the layer at this position, summed (b_O excluded)",
  mlp_layer: "every neuron of the layer at this position, summed (b_out excluded)",
};

/** Rows the table can ablate: neurons, head pairs (the head at the query), latents. */
export const ablatable = (row: RowData): boolean =>
  row.family.kind === "mlp" || row.family.kind === "attn" || row.family.kind === "sae";

function actionCell(row: RowData, callbacks: TableCallbacks): HTMLElement {
  const act = h("td", "nt-actions");
  const { onAblate } = callbacks;
  const trace = traceButton(row, callbacks.onTrace);
  if (trace) act.append(trace);
  if (ablatable(row)) {
    // an SAE's error term and the roll-ups are not units the table ablates
    const ab = h("button", "nt-ablate", "ablate");
    ab.type = "button";
    ab.title = onAblate ? ablateTitle(row) : `${ABLATE_NEEDS_KERNEL}: ${ablateTitle(row)}`;
    ab.disabled = !onAblate;
    if (onAblate) ab.addEventListener("click", () => onAblate(row));
    act.append(ab);
  }
  return act;
}

function bodyRow(
  data: TableData,
  columns: Column[],
  scales: number[],
  row: RowData,
  callbacks: TableCallbacks,
  selected: SelectedNode | null,
): HTMLElement {
  const tr = h("tr", `nt-row nt-kind-${row.family.kind}`); // "nt-kind-": a row kind (head, error) is no widget part
  if (isSelected(row, selected)) {
    tr.classList.add("nt-selected");
    tr.setAttribute("aria-current", "true");
  }
  tr.dataset.index = String(row.index);
  tr.dataset.family = row.family.name;
  tr.append(nameCell(row, callbacks.onSelect), tokenCell(data, row));
  columns.forEach((c, i) => {
    tr.append(valueCell(cellValue(row, c), scales[i] ?? 0));
  });
  if (data.rows.some((r) => r.dynamics)) {
    const labels = data.prompts.map((p) => p.label);
    tr.append(dynamicsCell(row.dynamics ?? null, row.name, labels));
  }
  tr.append(actionCell(row, callbacks));
  tr.addEventListener("mouseenter", () => callbacks.onHover(row));
  tr.addEventListener("mouseleave", () => callbacks.onHover(null));
  return tr;
}

export function renderTable(
  data: TableData,
  columns: Column[],
  rows: RowData[],
  sort: SortKey,
  callbacks: TableCallbacks,
  selected: SelectedNode | null = null,
): HTMLTableElement {
  const table = h("table", "nt-table");
  const head = h("thead", "");
  head.append(headerRow(data, columns, sort, callbacks.onSort));
  const scales = columns.map((c) => columnScale(rows, c));
  const body = h("tbody", "");
  for (const row of rows) body.append(bodyRow(data, columns, scales, row, callbacks, selected));
  table.append(head, body);
  return table;
}

/** The Token column sticks right of the Node column: its offset follows that column's width
 * (a ResizeObserver keeps it there; the caller disconnects it when the table is redrawn). */
export function stickColumns(table: HTMLElement, onLayout: () => void): ResizeObserver | null {
  const first = table.querySelector<HTMLElement>("th.nt-c1");
  if (!first) return null;
  const set = () => {
    table.style.setProperty("--nt-c2-left", `${first.offsetWidth}px`);
    onLayout();
  };
  set();
  if (typeof ResizeObserver === "undefined") return null;
  const obs = new ResizeObserver(set);
  obs.observe(first);
  return obs;
}

/** The open node's row scrolled into the table's view, and the card into the page's. */
export function revealSelected(scroll: HTMLElement, cardArea: HTMLElement): void {
  const row = scroll.querySelector<HTMLElement>("tr.nt-selected");
  const head = scroll.querySelector<HTMLElement>("thead");
  if (row) {
    const box = scroll.getBoundingClientRect();
    const r = row.getBoundingClientRect();
    const top = box.top + (head?.offsetHeight ?? 0);
    if (r.top < top || r.bottom > box.bottom) scroll.scrollTop += r.top - top;
  }
  cardArea.scrollIntoView?.({ block: "start" });
}

/** The sorted column scrolled sideways into the table's view, right of the sticky columns. */
export function revealSort(scroll: HTMLElement): void {
  const th = scroll.querySelector("th[aria-sort='descending'], th[aria-sort='ascending']");
  if (!th || th.classList.contains("nt-c1") || th.classList.contains("nt-c2")) return;
  const box = scroll.getBoundingClientRect();
  const r = th.getBoundingClientRect();
  const left = scroll.querySelector("th.nt-c2")?.getBoundingClientRect().right ?? box.left;
  if (r.right > box.right) scroll.scrollLeft += r.right - box.right;
  else if (r.left < left) scroll.scrollLeft -= left - r.left;
}
