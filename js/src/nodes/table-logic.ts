/**
 * The table's pure logic: its columns, sorting and filtering. No DOM here (tested in vitest).
 *
 * One prompt: one column per group. Two prompts: Left / Diff / Right per group, as in
 * Transformer Debugger, with Diff = Right − Left. Sorting is stable and puts NaN (a value a node
 * does not have, e.g. the direct effect of a latent on mlp.hook_pre) last in both directions.
 */
import type { RowData, TableData } from "./data";
import type { NodeGroup } from "./schema";

export type View = "value" | "left" | "diff" | "right";

export interface Column {
  key: string; // unique, e.g. "direct_effect" or "direct_effect:diff"
  group: number; // index into the groups
  view: View;
  label: string;
  title: string; // tooltip
  signed: boolean;
}

export function columnsFor(groups: NodeGroup[], nPrompts: number): Column[] {
  const out: Column[] = [];
  groups.forEach((g, i) => {
    if (nPrompts < 2) {
      out.push({
        key: g.name,
        group: i,
        view: "value",
        label: g.label,
        title: g.help,
        signed: g.signed,
      });
      return;
    }
    for (const view of ["left", "diff", "right"] as const) {
      const what =
        view === "diff" ? "Right − Left" : view === "left" ? "Left prompt" : "Right prompt";
      out.push({
        key: `${g.name}:${view}`,
        group: i,
        view,
        label: view === "diff" ? "Diff" : view === "left" ? "Left" : "Right",
        title: `${g.label}, ${what}: ${g.help}`,
        signed: g.signed || view === "diff",
      });
    }
  });
  return out;
}

/** A row's value in a column (NaN where the node has none). */
export function cellValue(row: RowData, col: Column): number {
  const left = row.values[0]?.[col.group] ?? Number.NaN;
  if (col.view === "value" || col.view === "left") return left;
  const right = row.values[1]?.[col.group] ?? Number.NaN;
  return col.view === "right" ? right : right - left;
}

export interface SortKey {
  column: string; // a Column.key, or "name" / "pos"
  descending: boolean;
}

/** The first sort: the state's `sort_by` group (its Left column for two prompts), descending. */
export function defaultSort(data: TableData, columns: Column[]): SortKey {
  const g = data.groups.findIndex((x) => x.name === data.sortBy);
  const col = columns.find(
    (c) => c.group === Math.max(g, 0) && (c.view === "value" || c.view === "left"),
  );
  return { column: col?.key ?? "name", descending: true };
}

/** Clicking a header: the same column flips direction; another starts descending (names ascending). */
export function toggleSort(current: SortKey, column: string): SortKey {
  if (current.column === column) return { column, descending: !current.descending };
  return { column, descending: column !== "name" && column !== "pos" };
}

function compareKeys(a: RowData, b: RowData): number {
  return (
    a.family.code - b.family.code ||
    a.layer - b.layer ||
    a.unit - b.unit ||
    a.pos - b.pos ||
    a.src - b.src
  );
}

/** A sorted copy (stable: equal values keep Python's order). */
export function sortRows(
  rows: readonly RowData[],
  columns: readonly Column[],
  key: SortKey,
): RowData[] {
  const sign = key.descending ? -1 : 1;
  const out = [...rows];
  if (key.column === "name")
    return out.sort((a, b) => sign * compareKeys(a, b) || a.index - b.index);
  if (key.column === "pos")
    return out.sort((a, b) => sign * (a.pos - b.pos || a.src - b.src) || a.index - b.index);
  const col = columns.find((c) => c.key === key.column);
  if (!col) return out;
  return out.sort((a, b) => {
    const va = cellValue(a, col);
    const vb = cellValue(b, col);
    const na = Number.isNaN(va);
    const nb = Number.isNaN(vb);
    if (na || nb) return na && nb ? a.index - b.index : na ? 1 : -1;
    return sign * (va - vb) || a.index - b.index;
  });
}

export interface Filter {
  hidden: ReadonlySet<string>; // family names not shown
  layer: number | null; // only this layer (null: all)
}

export const NO_FILTER: Filter = { hidden: new Set(), layer: null };

export function filterRows(rows: readonly RowData[], filter: Filter): RowData[] {
  return rows.filter(
    (r) => !filter.hidden.has(r.family.name) && (filter.layer === null || r.layer === filter.layer),
  );
}

/** The layers the rows come from, ascending (-1 for nodes outside blocks). */
export function layersOf(rows: readonly RowData[]): number[] {
  return [...new Set(rows.map((r) => r.layer))].sort((a, b) => a - b);
}

/** The bar scale of a column: the largest |value| over the rows (0 for none). */
export function columnScale(rows: readonly RowData[], col: Column): number {
  let m = 0;
  for (const r of rows) {
    const v = Math.abs(cellValue(r, col));
    if (Number.isFinite(v) && v > m) m = v;
  }
  return m;
}

/** Which set of a two-prompt table's columns is shown: one at a time, so they fit. */
export type CompareView = "left" | "diff" | "right";

export const COMPARE_VIEWS: readonly { view: CompareView; label: string; title: string }[] = [
  { view: "left", label: "Left", title: "the left prompt's values" },
  { view: "right", label: "Right", title: "the right prompt's values" },
  { view: "diff", label: "Diff", title: "Right − Left" },
];

/** The columns shown: all of a one-prompt table's, else only those of `view`. */
export const visibleColumns = (columns: readonly Column[], view: CompareView): Column[] =>
  columns.filter((c) => c.view === "value" || c.view === view);

/** The sort after switching to `view`: a value column's key moves to the same group's column
 * of `view` (direction kept); name and position sorts stay. */
export function sortInView(sort: SortKey, view: CompareView): SortKey {
  const m = /^(.*):(left|diff|right)$/.exec(sort.column);
  return m ? { ...sort, column: `${m[1]}:${view}` } : sort;
}

/** A value as the table prints it (3 decimals); a value that rounds to zero prints "0.000",
 * never "-0.000". */
export function fmtValue(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  const s = v.toFixed(digits);
  return /^-0\.?0*$/.test(s) ? s.slice(1) : s;
}

/** The sign a printed value shows: -1, 0 (it prints as zero) or 1. */
export function shownSign(v: number, digits = 3): number {
  const s = fmtValue(v, digits);
  return Number(s) === 0 ? 0 : Math.sign(v);
}

/** Whether `row` is the node whose card is open (a neuron's layer must match; an SAE's
 * latent is named by its family and unit alone). */
export function isSelected(
  row: RowData,
  sel: { family?: string; layer?: number; unit: number } | null,
): boolean {
  if (!sel || sel.family !== row.family.name || sel.unit !== row.unit) return false;
  return row.family.kind !== "mlp" || sel.layer === row.layer;
}
