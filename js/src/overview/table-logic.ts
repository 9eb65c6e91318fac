/**
 * The latent table's logic, without the DOM: its rows, the search and the sort. UI-only state:
 * it never leaves the component, and works the same in an exported file (no kernel needed).
 *
 * Search: whitespace-separated terms, all of which a row must match (case-insensitive):
 * `#12` is latent 12; a bare number is latent 12 or a label / top token containing it; `is:dead`,
 * `is:dense`, `is:labelled` filter by kind; any other term is a substring of the label or of
 * the top token.
 *
 * Sort: by one column, ties by latent index; an empty cell (a dead latent's top token, a latent
 * without a label) sorts last in both directions.
 */
import type { OverviewData } from "./data";

export type SortColumn = "index" | "density" | "maxAct" | "topToken" | "label";

export interface SortKey {
  column: SortColumn;
  descending: boolean;
}

export interface LatentRow {
  index: number;
  density: number;
  maxAct: number;
  topToken: string | null;
  label: string; // '' when none
}

export const DEFAULT_SORT: SortKey = { column: "density", descending: true };

/** Every latent as a row, with its label from `labels` ({str(latent): text}). */
export function latentRows(data: OverviewData, labels: Record<string, string>): LatentRow[] {
  return Array.from(data.density, (density, index) => ({
    index,
    density,
    maxAct: data.maxAct[index] ?? 0,
    topToken: data.topToken[index] ?? null,
    label: labels[String(index)] ?? "",
  }));
}

/** The search's terms: lowercased, split on whitespace. */
export function searchTerms(query: string): string[] {
  return query
    .toLowerCase()
    .split(/\s+/)
    .filter((t) => t !== "");
}

function matchesTerm(row: LatentRow, term: string, denseThreshold: number): boolean {
  if (term === "is:dead") return row.density === 0;
  if (term === "is:dense") return row.density > denseThreshold;
  if (term === "is:labelled" || term === "is:labeled") return row.label !== "";
  const exact = /^#(\d+)$/.exec(term);
  if (exact) return row.index === Number(exact[1]);
  if (/^\d+$/.test(term) && row.index === Number(term)) return true;
  return (
    row.label.toLowerCase().includes(term) || (row.topToken ?? "").toLowerCase().includes(term)
  );
}

/** The rows matching every term of `query` (see the module docs), in their order. */
export function filterLatents(
  rows: readonly LatentRow[],
  query: string,
  denseThreshold: number,
): LatentRow[] {
  const terms = searchTerms(query);
  if (terms.length === 0) return [...rows];
  return rows.filter((r) => terms.every((t) => matchesTerm(r, t, denseThreshold)));
}

function cell(row: LatentRow, column: SortColumn): number | string | null {
  if (column === "topToken") return row.topToken;
  if (column === "label") return row.label === "" ? null : row.label.toLowerCase();
  return row[column];
}

function compare(a: number | string, b: number | string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `rows` sorted by `key` (a new array; ties by index; empty cells last). */
export function sortLatents(rows: readonly LatentRow[], key: SortKey): LatentRow[] {
  const sign = key.descending ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = cell(a, key.column);
    const y = cell(b, key.column);
    if (x === null || y === null) {
      if (x !== y) return x === null ? 1 : -1;
      return a.index - b.index;
    }
    return sign * compare(x, y) || a.index - b.index;
  });
}

/** A header click: the same column flips; another starts descending for numbers, ascending for text and the index. */
export function toggleSort(key: SortKey, column: SortColumn): SortKey {
  if (key.column === column) return { column, descending: !key.descending };
  return { column, descending: column === "density" || column === "maxAct" };
}

/** The rows a table shows: filtered, sorted, then the first `limit`. */
export function visibleLatents(
  rows: readonly LatentRow[],
  query: string,
  key: SortKey,
  denseThreshold: number,
  limit: number,
): { shown: LatentRow[]; matched: number } {
  const matched = sortLatents(filterLatents(rows, query, denseThreshold), key);
  return { shown: matched.slice(0, limit), matched: matched.length };
}

/** A density as a percentage with sensible precision (0 stays "0"). */
export function densityText(d: number): string {
  if (d === 0) return "0";
  const pct = 100 * d;
  if (pct >= 1) return `${pct.toFixed(1)}%`;
  return `${pct.toPrecision(2)}%`;
}
