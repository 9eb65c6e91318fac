import { describe, expect, it } from "vitest";
import type { PromptData, RowData } from "../data";
import type { NodeFamily } from "../schema";
import { type Column, NO_FILTER } from "../table-logic";
import {
  ablationLabel,
  ablationOf,
  familyLabel,
  layerLabel,
  sameColumns,
  selectedLabel,
  targetText,
  withFamily,
} from "./node-table";

const family = (kind: NodeFamily["kind"], name: string): NodeFamily => ({
  code: 0,
  kind,
  name,
  hook: "",
  n_units: 8,
  card: kind !== "error",
  sae: kind === "sae" || kind === "error" ? name.replace(/ error$/, "") : "",
});

const prompt = (label: string, target: number, cleanTarget: number): PromptData => ({
  label,
  tokens: [],
  target,
  cleanTarget,
  predictions: [],
});

describe("the table's labels", () => {
  it("name an ablation by family, layer, unit and position", () => {
    const a = { layer: 3, unit: 7, pos: 2, mode: "zero" as const };
    expect(ablationLabel({ ...a, family: "mlp" })).toBe("zero-ablated mlp L3 n7 @2");
    expect(ablationLabel({ ...a, family: "attn", mode: "mean" })).toBe(
      "mean-ablated attn L3 H7 @2",
    );
    expect(ablationLabel({ ...a, family: "res" })).toBe("zero-ablated res #7 @2");
  });

  it("name the node whose card is open", () => {
    expect(selectedLabel({ family: "mlp", layer: 0, unit: 5 })).toBe("mlp L0 n5");
    expect(selectedLabel({ family: "res", unit: 12 })).toBe("res #12");
    expect(selectedLabel({ source: "x", unit: 4 })).toBe("x #4");
    expect(selectedLabel({ unit: 1 })).toBe("? #1");
  });

  it("give the target with its clean value and the ablations' signed effect", () => {
    expect(targetText(prompt("Prompt", 2.25, 2), 1, false)).toBe("target 2.250");
    expect(targetText(prompt("Prompt", 2.25, 2), 1, true)).toBe(
      "target 2.250 (clean 2.000, ablation effect +0.250)",
    );
    expect(targetText(prompt("Left", 1.5, 2), 2, true)).toBe(
      "Left: target 1.500 (clean 2.000, ablation effect -0.500)",
    );
  });

  it("label families and layers", () => {
    expect(familyLabel(family("mlp", "mlp"))).toBe("MLP neurons");
    expect(familyLabel(family("attn", "attn"))).toBe("attention heads");
    expect(familyLabel(family("sae", "res"))).toBe("res latents");
    expect(familyLabel(family("error", "res error"))).toBe("res error");
    expect([layerLabel(-1), layerLabel(0), layerLabel(11)]).toEqual([
      "outside blocks",
      "layer 0",
      "layer 11",
    ]);
  });
});

describe("the table's filters, columns and ablations", () => {
  it("hide and show a family without touching the filter it came from", () => {
    const hidden = withFamily(NO_FILTER, "mlp", false);
    expect([...hidden.hidden]).toEqual(["mlp"]);
    expect(NO_FILTER.hidden.size).toBe(0);
    const both = withFamily(hidden, "res", false);
    expect([...withFamily(both, "mlp", true).hidden]).toEqual(["res"]);
    expect(withFamily({ hidden: new Set(), layer: 2 }, "x", false).layer).toBe(2);
  });

  it("keep the sort when the columns keep their keys and order", () => {
    const col = (key: string) => ({ key }) as Column;
    expect(sameColumns([col("a"), col("b")], [col("a"), col("b")])).toBe(true);
    expect(sameColumns([col("a"), col("b")], [col("b"), col("a")])).toBe(false);
    expect(sameColumns([col("a")], [col("a"), col("b")])).toBe(false);
    expect(sameColumns([], [])).toBe(true);
  });

  it("ablate a row's unit at its position in the chosen mode", () => {
    const row = { family: family("attn", "attn"), layer: 1, unit: 3, pos: 4 } as RowData;
    expect(ablationOf(row, "mean")).toEqual({
      family: "attn",
      layer: 1,
      unit: 3,
      pos: 4,
      mode: "mean",
    });
  });
});
