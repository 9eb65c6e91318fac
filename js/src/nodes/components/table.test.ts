import { describe, expect, it } from "vitest";
import type { RowData } from "../data";
import type { Column } from "../table-logic";
import { ablateTitle, barWidth, columnLabel } from "./table";

describe("the table's cells", () => {
  it("draw a value's bar as |value| over the column's scale, capped at the cell", () => {
    expect(barWidth(0.5, 2)).toBe(25);
    expect(barWidth(-1.5, 2)).toBe(75);
    expect(barWidth(-3, 2)).toBe(100);
    expect(barWidth(1, 0)).toBe(0);
  });

  it("head a value column by its group when the group has several views", () => {
    const value = { view: "value", label: "Direct effect" } as Column;
    const diff = { view: "diff", label: "Diff" } as Column;
    expect(columnLabel(value, "Direct effect")).toBe("Direct effect");
    expect(columnLabel(diff, "Direct effect")).toBe("Direct effect · Diff");
  });

  it("say what the ablate button removes: a head's output, or a unit", () => {
    const attn = { family: { kind: "attn" }, unit: 3, layer: 1, pos: 4 } as RowData;
    const mlp = { family: { kind: "mlp" }, name: "mlp L0 n5", pos: 2 } as RowData;
    expect(ablateTitle(attn)).toBe("ablate head 3 of layer 1 at position 4 (its output there)");
    expect(ablateTitle(mlp)).toBe("ablate mlp L0 n5 at position 2");
  });
});
