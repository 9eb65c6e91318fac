import { describe, expect, it } from "vitest";
import { makeGraphState } from "../../../testing/make-graph-state";
import { decodeGraph } from "../data";
import { layoutFor } from "../layout";
import { buildEdges, routes, targetNode } from "../routes";
import { createGraphView, edgeOpacity, edgeWidth, onRouteIds, scrollToTarget } from "./graph-view";

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
    // never fainter than 0.75: graph.css's colours keep 3:1 against the background there
    expect(edgeOpacity(-1)).toBe(0.75);
    expect(edgeOpacity(0.5)).toBeCloseTo(0.875, 12);
    expect(edgeOpacity(1)).toBe(1);
  });

  it("cuts token labels only when their column has no room, and keeps the whole text in the title", () => {
    const d = decodeGraph(makeGraphState());
    d.tokens = ["long_token_12", " the"]; // 13 characters
    const labels = (width: number) => {
      const view = createGraphView({ onToken() {}, onHover() {}, onNode() {} });
      Object.defineProperty(view.root, "clientWidth", { value: width });
      view.update({ data: d, edges: [], target: 1, pinned: new Set(), selected: null });
      const texts = Array.from(view.content.querySelectorAll(".fc-g-token"), (t) => [
        t.firstChild?.textContent,
        t.querySelector("title")?.textContent,
      ]);
      view.destroy();
      return texts;
    };
    // 1200 px: two 110 px columns, room for 14 characters
    expect(labels(1200)[0]).toEqual([
      "long_token_12",
      "'long_token_12' (position 0); click: routes to this token",
    ]);
    // 200 px: no room to share, the columns are MIN_COL (64 px) wide and the graph scrolls: 8
    expect(labels(200)[0]?.[0]).toBe("long_to\u2026");
  });

  it("scrolls the target's column into view", () => {
    const d = decodeGraph(makeGraphState());
    const lay = layoutFor(d, 400); // the second column, 476..876, is out of a 300 px view
    const root = { scrollLeft: 0, scrollTop: 0, clientWidth: 300, clientHeight: 1000 };
    scrollToTarget(root as unknown as HTMLElement, lay, 1);
    expect(root.scrollLeft).toBe(lay.x(1) - 150);
    scrollToTarget(root as unknown as HTMLElement, lay, 1); // in view now: stays
    expect(root.scrollLeft).toBe(lay.x(1) - 150);
    scrollToTarget(root as unknown as HTMLElement, lay, 0);
    expect(root.scrollLeft).toBe(Math.max(0, lay.x(0) - 150));
  });
});
