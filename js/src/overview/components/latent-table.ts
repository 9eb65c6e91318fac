/**
 * The latent table: one row per latent (index, density with a bar on a log scale, max
 * activation, top token, label), sortable by every column. A row click opens the latent's
 * card; the label cell's ✎ button edits the label in place (Enter saves, Escape cancels, an
 * empty label removes it). Without `onSelect` / `onLabel` (an exported file: no kernel) rows do
 * not open cards and editing is disabled, and both say why. Token text and labels go in through textContent only.
 */
import { h } from "../../core/dom";
import { fillToken } from "../../core/tokens";
import { densityText, type LatentRow, type SortColumn, type SortKey } from "../table-logic";

export interface LatentTableCallbacks {
  onSort(column: SortColumn): void;
  onSelect: ((unit: number) => void) | undefined; // undefined offline
  onLabel: ((unit: number, text: string) => void) | undefined; // undefined offline
}

/** Why labelling and opening other cards are disabled in an exported file. */
export const NEEDS_KERNEL = "needs a running kernel (this is an exported file)";

const COLUMNS: ReadonlyArray<readonly [SortColumn, string, string]> = [
  ["index", "#", "latent index"],
  ["density", "density", "fraction of dataset tokens where the latent fires"],
  ["maxAct", "max act", "largest activation over the dataset"],
  ["topToken", "top token", "the token at the latent's largest activation"],
  ["label", "label", "your label or note (searchable)"],
];

function header(sort: SortKey, onSort: (c: SortColumn) => void): HTMLElement {
  const tr = h("tr", "");
  for (const [key, label, title] of COLUMNS) {
    const th = h("th", "ov-th");
    th.dataset.key = key;
    const active = sort.column === key;
    th.setAttribute("aria-sort", active ? (sort.descending ? "descending" : "ascending") : "none");
    const button = h("button", "ov-sort", label);
    button.type = "button";
    button.title = `${title} (click to sort)`;
    if (active) button.append(h("span", "ov-arrow", sort.descending ? " ▼" : " ▲"));
    button.addEventListener("click", () => onSort(key));
    th.append(button);
    tr.append(th);
  }
  const thead = h("thead", "");
  thead.append(tr);
  return thead;
}

/** The density bar's width in % of its cell: log10 density from 1e-6 (0%) to 1 (100%). */
export function densityBar(d: number): number {
  if (d <= 0) return 0;
  return Math.max(2, Math.min(100, ((Math.log10(d) + 6) / 6) * 100));
}

function labelEditor(
  td: HTMLElement,
  row: LatentRow,
  onLabel: (u: number, t: string) => void,
): void {
  const input = h("input", "ov-label-input");
  input.type = "text";
  input.value = row.label;
  input.placeholder = "label (Enter saves, Esc cancels)";
  input.setAttribute("aria-label", `label of latent ${row.index}`);
  const shown = [...td.childNodes];
  td.replaceChildren(input);
  input.addEventListener("click", (e) => e.stopPropagation());
  input.addEventListener("keydown", (e) => {
    e.stopPropagation();
    if (e.key === "Enter") onLabel(row.index, input.value.trim());
    if (e.key === "Enter" || e.key === "Escape") td.replaceChildren(...shown);
  });
  input.focus();
}

function labelCell(row: LatentRow, onLabel: LatentTableCallbacks["onLabel"]): HTMLElement {
  const td = h("td", "ov-label");
  td.append(h("span", "ov-label-text", row.label));
  const edit = h("button", "ov-edit", "✎");
  edit.type = "button";
  edit.disabled = onLabel === undefined;
  edit.title = onLabel ? `edit the label of latent ${row.index}` : `labelling ${NEEDS_KERNEL}`;
  edit.addEventListener("click", (e) => {
    e.stopPropagation();
    if (onLabel) labelEditor(td, row, onLabel);
  });
  td.append(edit);
  return td;
}

function rowOf(row: LatentRow, cb: LatentTableCallbacks, selected: number | null): HTMLElement {
  const tr = h("tr", "ov-row");
  tr.dataset.index = String(row.index);
  tr.classList.toggle("ov-selected", row.index === selected);
  tr.classList.toggle("ov-dead", row.density === 0);
  const density = h("td", "ov-density");
  const bar = h("span", "ov-density-bar");
  bar.style.width = `${densityBar(row.density)}%`;
  density.append(bar, h("span", "ov-density-text", densityText(row.density)));
  const token = h("td", "ov-token");
  if (row.topToken !== null) {
    const tok = h("span", "ov-tok");
    fillToken(tok, row.topToken);
    token.append(tok);
  }
  tr.append(
    h("td", "ov-index", String(row.index)),
    density,
    h("td", "ov-max", row.density === 0 ? "–" : row.maxAct.toPrecision(3)),
    token,
    labelCell(row, cb.onLabel),
  );
  const open = cb.onSelect;
  if (open) tr.addEventListener("click", () => open(row.index));
  else tr.title = `opening a card ${NEEDS_KERNEL}`;
  return tr;
}

/** The table of `rows` (already filtered, sorted and cut). */
export function renderLatentTable(
  rows: readonly LatentRow[],
  sort: SortKey,
  cb: LatentTableCallbacks,
  selected: number | null,
): HTMLTableElement {
  const table = h("table", "ov-table");
  const body = h("tbody", "");
  for (const r of rows) body.append(rowOf(r, cb, selected));
  table.append(header(sort, cb.onSort), body);
  return table;
}
