import { describe, expect, it } from "vitest";
import { makeGraphState } from "../../../testing/make-graph-state";
import { decodeGraph } from "../data";
import { buildEdges, routes, targetNode } from "../routes";
import { edgeOpacity, edgeWidth, onRouteIds } from "./graph-view";

describe("the drawn graph", () => {
  it("marks the nodes the drawn edges join", () => {
    const d = decodeGraph(makeGraphState());
    const drawn = routes(buildEdges(d, 0.04), [targetNode(d, 0)]);
    expect([...onRouteIds(drawn)].sort()).toEqual(
      ["attn:0:0", "resid:0:0", "resid:1:0", "resid:2:0"].sort(),
    );
    expect(onRouteIds([]).size).toBe(0);
  });

  it("scales an edge's width and opacity with its weight, clamped to [0, 1]", () => {
    expect([edgeWidth(0), edgeWidth(0.5), edgeWidth(2)]).toEqual([0.75, 3.25, 5.75]);
    expect(edgeOpacity(-1)).toBe(0.2);
    expect(edgeOpacity(0.5)).toBeCloseTo(0.6, 12);
    expect(edgeOpacity(1)).toBe(1);
  });
});
