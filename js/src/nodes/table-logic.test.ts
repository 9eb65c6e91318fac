import { describe, expect, it } from "vitest";
import { makeNodeState } from "../../testing/make-node-state";
import { decodeTable } from "./data";
import {
  cellValue,
  columnScale,
  columnsFor,
  defaultSort,
  filterRows,
  fmtValue,
  isSelected,
  layersOf,
  NO_FILTER,
  shownSign,
  sortInView,
  sortRows,
  toggleSort,
  visibleColumns,
} from "./table-logic";

const one = decodeTable(makeNodeState(1));
const two = decodeTable(makeNodeState(2));
const names = (rows: { name: string }[]) => rows.map((r) => r.name);

describe("decoding", () => {
  it("names nodes and reads every value and profile", () => {
    expect(names(one.rows)).toEqual(["mlp L0 n5", "attn L1 H3", "res #12", "mlp L1 n7"]);
    expect(one.rows[1]?.src).toBe(1);
    expect(one.rows[0]?.src).toBe(-1);
    expect(one.rows[1]?.values[0]).toEqual([
      expect.closeTo(0.8, 6),
      expect.closeTo(-0.4, 6),
      expect.closeTo(-0.6, 6),
      expect.closeTo(0.9, 6),
    ]);
    expect(Array.from(one.rows[2]?.profiles[0] ?? [])).toEqual([0, 0, 1, 0]);
    expect(two.rows[0]?.values[1]?.[0]).toBeCloseTo(0, 6); // 1 - 1.0
  });

  it("names the payload that does not fit", () => {
    const st = makeNodeState(1);
    st.rows.values.shape = [1, 3, 4];
    expect(() => decodeTable(st)).toThrow("rows.values has shape [1, 3, 4], expected [1, 4, 4]");
  });
});

describe("columns", () => {
  it("has one column per group for one prompt, Left/Diff/Right for two", () => {
    expect(columnsFor(one.groups, 1).map((c) => c.key)).toEqual([
      "write_norm",
      "act_times_grad",
      "direct_effect",
      "activation",
    ]);
    const cols = columnsFor(two.groups, 2);
    expect(cols.slice(0, 3).map((c) => c.label)).toEqual(["Left", "Diff", "Right"]);
    const diff = cols.find((c) => c.key === "direct_effect:diff");
    const row = two.rows[3];
    if (!diff || !row) throw new Error("missing");
    expect(cellValue(row, diff)).toBeCloseTo(1 - 0.9 - 0.9, 5); // Right − Left
    expect(diff.signed).toBe(true);
  });
});

describe("sorting", () => {
  const cols = columnsFor(one.groups, 1);
  it("starts with direct effect, descending, NaN last", () => {
    const key = defaultSort(one, cols);
    expect(key).toEqual({ column: "direct_effect", descending: true });
    expect(names(sortRows(one.rows, cols, key))).toEqual([
      "mlp L1 n7",
      "mlp L0 n5",
      "attn L1 H3",
      "res #12",
    ]);
  });

  it("puts NaN last ascending too, and flips on a second click", () => {
    const key = toggleSort({ column: "direct_effect", descending: true }, "direct_effect");
    expect(key.descending).toBe(false);
    expect(names(sortRows(one.rows, cols, key))).toEqual([
      "attn L1 H3",
      "mlp L0 n5",
      "mlp L1 n7",
      "res #12",
    ]);
    expect(toggleSort(key, "activation")).toEqual({ column: "activation", descending: true });
    expect(toggleSort(key, "name")).toEqual({ column: "name", descending: false });
  });

  it("is stable for ties and sorts names by node key", () => {
    const tied = one.rows.map((r) => ({ ...r, values: [[1, 1, 1, 1]] }));
    expect(names(sortRows(tied, cols, { column: "activation", descending: true }))).toEqual(
      names(one.rows),
    );
    expect(names(sortRows(one.rows, cols, { column: "name", descending: false }))).toEqual([
      "mlp L0 n5",
      "mlp L1 n7",
      "attn L1 H3",
      "res #12",
    ]);
  });

  it("does not modify its input", () => {
    const before = names(one.rows);
    sortRows(one.rows, cols, { column: "activation", descending: true });
    expect(names(one.rows)).toEqual(before);
  });
});

describe("filtering", () => {
  it("hides families and keeps one layer", () => {
    expect(names(filterRows(one.rows, NO_FILTER))).toHaveLength(4);
    expect(names(filterRows(one.rows, { hidden: new Set(["attn", "res"]), layer: null }))).toEqual([
      "mlp L0 n5",
      "mlp L1 n7",
    ]);
    expect(names(filterRows(one.rows, { hidden: new Set(), layer: 1 }))).toEqual([
      "attn L1 H3",
      "mlp L1 n7",
    ]);
    expect(layersOf(one.rows)).toEqual([0, 1]);
  });

  it("scales bars by the largest finite |value|", () => {
    const cols = columnsFor(one.groups, 1);
    const de = cols.find((c) => c.key === "direct_effect");
    if (!de) throw new Error("missing");
    expect(columnScale(one.rows, de)).toBeCloseTo(0.9, 6);
  });
});

describe("two prompts' views, printing and the open row", () => {
  it("shows one view's columns at a time; a one-prompt table shows all", () => {
    const cols = columnsFor(two.groups, 2);
    for (const v of ["left", "diff", "right"] as const) {
      const shown = visibleColumns(cols, v);
      expect(shown.map((c) => c.key)).toEqual(two.groups.map((g) => `${g.name}:${v}`));
    }
    expect(visibleColumns(columnsFor(one.groups, 1), "diff")).toHaveLength(one.groups.length);
  });

  it("moves a value sort to the view's column of the same group, keeping direction", () => {
    const s = { column: "direct_effect:left", descending: false };
    expect(sortInView(s, "diff")).toEqual({ column: "direct_effect:diff", descending: false });
    expect(sortInView({ column: "name", descending: false }, "right").column).toBe("name");
    expect(sortInView({ column: "pos", descending: true }, "diff").column).toBe("pos");
  });

  it("prints values to 3 decimals, never -0.000", () => {
    expect([-0.0004, -0, 0, 0.0004, -0.0005, -0.0006, 1.23456].map((v) => fmtValue(v))).toEqual([
      "0.000",
      "0.000",
      "0.000",
      "0.000",
      "-0.001", // toFixed rounds the binary value of -0.0005 away from zero
      "-0.001",
      "1.235",
    ]);
    expect(fmtValue(-0.04, 1)).toBe("0.0");
    expect(fmtValue(Number.NaN)).toBe("NaN");
    expect([-0.0004, 0.0004, -0.002, 0.002].map((v) => shownSign(v))).toEqual([0, 0, -1, 1]);
  });

  it("finds the open node's rows", () => {
    const [mlp, attn, res] = one.rows;
    if (!mlp || !attn || !res) throw new Error("rows");
    expect(isSelected(mlp, { family: "mlp", layer: 0, unit: 5 })).toBe(true);
    expect(isSelected(mlp, { family: "mlp", layer: 1, unit: 5 })).toBe(false);
    expect(isSelected(mlp, { family: "res", layer: 0, unit: 5 })).toBe(false);
    expect(isSelected(res, { family: "res", layer: -1, unit: 12 })).toBe(true);
    expect(isSelected(res, { family: "res", unit: 13 })).toBe(false);
    expect(isSelected(attn, null)).toBe(false);
  });
});
