import { describe, expect, it } from "vitest";
import { makeGraphState } from "../../../testing/make-graph-state";
import { decodeGraph } from "../data";
import {
  floorNote,
  followModel,
  keptEdges,
  routeStarts,
  shownThreshold,
  statusLine,
  targetPos,
} from "./contribution-graph";

// one layer, two positions; the graph holds every edge above 0.01
const data = () => decodeGraph(makeGraphState());

describe("the slider's threshold", () => {
  it("is the slider's while it moves, else the model's, and never below the graph's", () => {
    expect(shownThreshold(null, undefined, 0.01)).toBe(0.01);
    expect(shownThreshold(null, 0.05, 0.01)).toBe(0.05);
    expect(shownThreshold(0.2, 0.05, 0.01)).toBe(0.2);
    expect(shownThreshold(0.005, 0.05, 0.01)).toBe(0.01);
  });

  it("follows the model again once it caught up, or moved elsewhere, and nothing waits", () => {
    expect(followModel(null, false, 0.1, 0.05)).toBe(false); // nothing to follow
    expect(followModel(0.1, true, 0.1, 0.05)).toBe(false); // the slider's value is not sent yet
    expect(followModel(0.1, false, 0.1, 0.05)).toBe(true); // caught up
    expect(followModel(0.1, false, 0.05, 0.05)).toBe(false); // not there yet
    expect(followModel(0.1, false, 0.07, 0.05)).toBe(true); // put back elsewhere (an error)
  });
});

describe("the target and the status line", () => {
  it("takes the requested position when the graph has it, else the last", () => {
    expect([targetPos(null, 2), targetPos(0, 2), targetPos(5, 2)]).toEqual([1, 0, 1]);
  });

  it("names the target and says when the kernel computes", () => {
    const d = data();
    expect(statusLine(d, 0, false)).toBe("target '<b>x</b>' (0)");
    expect(statusLine(d, 0, true)).toBe("target '<b>x</b>' (0) · computing…");
  });

  it("says beside the slider why it cannot go below the graph's floor, and what to do", () => {
    expect(floorNote(0.04, 0.05, true)).toBe(""); // above the floor: the graph holds the edges
    expect(floorNote(0.04, 0.04, true)).toBe("");
    expect(floorNote(0.04, 0.01, true)).toBe(
      "edges below 0.040 need a recompute: asked of the kernel",
    );
    // an exported file's slider stops at the floor: going lower needs a kernel, whatever is asked
    const file = "edges below 0.040 need a recompute: open the graph in a running kernel";
    expect([floorNote(0.04, 0.01, false), floorNote(0.04, 0.2, false)]).toEqual([file, file]);
  });
});

describe("the routes' starts and the kept edges", () => {
  it("start at the target's last state and at each pinned node", () => {
    expect(routeStarts(data(), 1, ["mlp:0:1", "junk", "attn:0:0"])).toEqual([
      { kind: "resid", index: 2, pos: 1 },
      { kind: "mlp", index: 0, pos: 1 },
      { kind: "attn", index: 0, pos: 0 },
    ]);
  });

  it("are built once per graph and threshold", () => {
    const d = data();
    const k = keptEdges(null, d, 0.04);
    expect(k.edges).toHaveLength(11); // see routes.test.ts
    expect(k.into.get("resid:1:1")?.map((e) => e.kind)).toEqual(["resid", "attn_out"]);
    expect(keptEdges(k, d, 0.04)).toBe(k);
    const higher = keptEdges(k, d, 0.2);
    expect(higher).not.toBe(k);
    expect(higher.edges).toHaveLength(10); // the 0.12 source into attention 0 at 1 goes
    expect(keptEdges(k, data(), 0.04)).not.toBe(k);
  });
});
