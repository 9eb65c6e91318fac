import { describe, expect, it } from "vitest";
import { makeOverviewState } from "../../testing/make-overview-state";
import { decodeOverview } from "./data";
import {
  DEFAULT_SORT,
  densityText,
  filterLatents,
  type LatentRow,
  latentRows,
  searchTerms,
  sortLatents,
  toggleSort,
  visibleLatents,
} from "./table-logic";

const row = (
  index: number,
  density: number,
  maxAct: number,
  topToken: string | null,
  label = "",
): LatentRow => ({
  index,
  density,
  maxAct,
  topToken,
  label,
});

const ROWS = [
  row(0, 0, 0, null),
  row(1, 0.5, 2.5, " the", "Dense THE detector"),
  row(2, 0.001, 7.25, "</script>", "closing tags"),
  row(3, 0.02, 1, " cat"),
  row(4, 0.003, 3, "12", ""),
  row(12, 0.05, 0.5, " the", "twelve"),
];
const idx = (rows: LatentRow[]) => rows.map((r) => r.index);

describe("latent rows", () => {
  it("join the decoded numbers with the labels", () => {
    const rows = latentRows(decodeOverview(makeOverviewState()), { "2": "my label", "9": "stray" });
    expect(rows).toHaveLength(6);
    expect(rows[2]).toEqual({
      index: 2,
      density: 0.0010000000474974513,
      maxAct: 7.25,
      topToken: "</script><b>x</b>",
      label: "my label",
    });
    expect(rows[0]?.topToken).toBeNull();
    expect(rows.filter((r) => r.label !== "")).toHaveLength(1);
  });
});

describe("search", () => {
  it("splits and lowercases terms", () => {
    expect(searchTerms("  Foo  BAR ")).toEqual(["foo", "bar"]);
  });
  it("matches labels and top tokens case-insensitively, every term", () => {
    expect(idx(filterLatents(ROWS, "the", 0.1))).toEqual([1, 12]);
    expect(idx(filterLatents(ROWS, "the detector", 0.1))).toEqual([1]);
    expect(idx(filterLatents(ROWS, "CLOSING", 0.1))).toEqual([2]);
    expect(idx(filterLatents(ROWS, "</script", 0.1))).toEqual([2]);
    expect(idx(filterLatents(ROWS, "nothing-like-it", 0.1))).toEqual([]);
  });
  it("reads #N as one latent and a bare number as a latent or text", () => {
    expect(idx(filterLatents(ROWS, "#12", 0.1))).toEqual([12]);
    expect(idx(filterLatents(ROWS, "12", 0.1))).toEqual([4, 12]); // latent 12, and latent 4's token "12"
    expect(idx(filterLatents(ROWS, "#7", 0.1))).toEqual([]);
  });
  it("filters by kind", () => {
    expect(idx(filterLatents(ROWS, "is:dead", 0.1))).toEqual([0]);
    expect(idx(filterLatents(ROWS, "is:dense", 0.1))).toEqual([1]);
    expect(idx(filterLatents(ROWS, "is:dense", 0.01))).toEqual([1, 3, 12]);
    expect(idx(filterLatents(ROWS, "is:labelled the", 0.1))).toEqual([1, 12]);
  });
  it("keeps every row for an empty query", () => {
    expect(idx(filterLatents(ROWS, "   ", 0.1))).toEqual(idx(ROWS));
  });
});

describe("sort", () => {
  it("sorts numbers both ways, ties by index", () => {
    expect(idx(sortLatents(ROWS, { column: "density", descending: true }))).toEqual([
      1, 12, 3, 4, 2, 0,
    ]);
    expect(idx(sortLatents(ROWS, { column: "maxAct", descending: false }))).toEqual([
      0, 12, 3, 1, 4, 2,
    ]);
    const tied = [row(5, 0.1, 1, "a"), row(2, 0.1, 1, "a"), row(9, 0.1, 1, "a")];
    expect(idx(sortLatents(tied, { column: "density", descending: true }))).toEqual([2, 5, 9]);
  });
  it("puts empty cells last in both directions", () => {
    const asc = sortLatents(ROWS, { column: "label", descending: false });
    const desc = sortLatents(ROWS, { column: "label", descending: true });
    expect(idx(asc)).toEqual([2, 1, 12, 0, 3, 4]);
    expect(idx(desc)).toEqual([12, 1, 2, 0, 3, 4]);
    expect(idx(sortLatents(ROWS, { column: "topToken", descending: false })).pop()).toBe(0);
    expect(idx(sortLatents(ROWS, { column: "topToken", descending: true })).pop()).toBe(0);
  });
  it("does not reorder its input", () => {
    const copy = [...ROWS];
    sortLatents(ROWS, { column: "index", descending: true });
    expect(ROWS).toEqual(copy);
  });
  it("toggles: the same column flips, numbers start descending, text ascending", () => {
    expect(toggleSort(DEFAULT_SORT, "density")).toEqual({ column: "density", descending: false });
    expect(toggleSort(DEFAULT_SORT, "maxAct")).toEqual({ column: "maxAct", descending: true });
    expect(toggleSort(DEFAULT_SORT, "label")).toEqual({ column: "label", descending: false });
    expect(toggleSort(DEFAULT_SORT, "index")).toEqual({ column: "index", descending: false });
  });
});

describe("visible rows", () => {
  it("are the first `limit` of the sorted matches, with the match count", () => {
    const v = visibleLatents(ROWS, "the", { column: "index", descending: true }, 0.1, 1);
    expect(idx(v.shown)).toEqual([12]);
    expect(v.matched).toBe(2);
  });
});

describe("densityText", () => {
  it("gives 0, small and large percentages", () => {
    expect(densityText(0)).toBe("0");
    expect(densityText(0.5)).toBe("50.0%");
    expect(densityText(0.00012)).toBe("0.012%");
  });
});
