import { describe, expect, it } from "vitest";
import { makeGraphState } from "../../testing/make-graph-state";
import { decodeGraph } from "./data";
import { makeLayout } from "./layout";
import {
  buildEdges,
  type Edge,
  edgesInto,
  keptSources,
  nodeId,
  parseNodeId,
  routes,
  stateParts,
  targetNode,
} from "./routes";

const data = () => decodeGraph(makeGraphState());
const key = (e: Edge) => `${nodeId(e.src)}>${nodeId(e.dst)}:${e.kind}`;
const weights = (edges: Edge[]) => Object.fromEntries(edges.map((e) => [key(e), e.weight]));

describe("the threshold rule (the hand-built case of tests/unit/test_contributions.py)", () => {
  it("keeps parts above the threshold and renormalises them per state", () => {
    const got = weights(buildEdges(data(), 0.04));
    const want: Record<string, number> = {
      "resid:0:0>resid:1:0:resid": 0.5 / 0.98,
      "resid:0:0>attn:0:0:attn": 0.48 / 0.98,
      "attn:0:0>resid:1:0:attn_out": 0.48 / 0.98,
      "resid:0:1>resid:1:1:resid": 0.3,
      "resid:0:0>attn:0:1:attn": 0.12,
      "resid:0:1>attn:0:1:attn": 0.53,
      "attn:0:1>resid:1:1:attn_out": 0.7,
      "resid:1:0>resid:2:0:resid": 1,
      "resid:1:1>resid:2:1:resid": 0.4,
      "resid:1:1>mlp:0:1:mlp_in": 0.6,
      "mlp:0:1>resid:2:1:mlp_out": 0.6,
    };
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const [k, w] of Object.entries(want)) expect(got[k], k).toBeCloseTo(w, 6);
  });

  it("splits an attention edge's weight by head", () => {
    const e = buildEdges(data(), 0.04).find((x) => key(x) === "resid:0:0>attn:0:0:attn");
    expect(e?.heads?.[0]).toBeCloseTo(0.3 / 0.98, 6);
    expect(e?.heads?.[1]).toBeCloseTo(0.18 / 0.98, 6);
  });

  it("drops more at a higher threshold and renormalises what is left", () => {
    const got = weights(buildEdges(data(), 0.2));
    expect(got["resid:0:0>attn:0:1:attn"]).toBeUndefined();
    expect(got["resid:0:1>attn:0:1:attn"]).toBeCloseTo(0.53 / 0.83, 6);
    expect(got["attn:0:1>resid:1:1:attn_out"]).toBeCloseTo(0.53 / 0.83, 6);
  });
});

describe("the threshold rule's steps", () => {
  it("keeps the attention sources above the threshold, by layer * nPos + query", () => {
    // shares 0.48 (query 0), 0.12 and 0.53 (query 1), all in layer 0
    expect([...keptSources(data(), 0.04)]).toEqual([
      [0, [0]],
      [1, [1, 2]],
    ]);
    expect([...keptSources(data(), 0.2)]).toEqual([
      [0, [0]],
      [1, [2]],
    ]);
    expect(keptSources(data(), 0.6).size).toBe(0);
  });

  it("sums a state's kept parts and zeroes the dropped ones", () => {
    const d = data();
    const sources = keptSources(d, 0.04);
    // state 1 at query 0: resid 0.5, source 0.48, b_O 0.02 (dropped); no MLP writes it
    const p = stateParts(d, sources, { attn: 0, mlp: undefined }, 1, 0, 0.04);
    expect(p.sources).toEqual([0]);
    expect(p.resid).toBeCloseTo(0.5, 6);
    expect(p.sourceSum).toBeCloseTo(0.48, 6);
    expect(p.bias).toBe(0);
    expect(p.mlp).toBe(0);
    expect(p.total).toBeCloseTo(0.98, 6);
    // state 2 at query 1: resid 0.4 and the MLP's 0.6; no attention writes it
    const q = stateParts(d, sources, { attn: undefined, mlp: 0 }, 2, 1, 0.04);
    expect(q.sources).toEqual([]);
    expect(q.resid).toBeCloseTo(0.4, 6);
    expect(q.mlp).toBeCloseTo(0.6, 6);
    expect(q.total).toBeCloseTo(1, 6);
  });

  it("turns one state's parts into its edges, renormalised by their total", () => {
    const d = data();
    const writers = { attn: 0, mlp: undefined };
    const p = stateParts(d, keptSources(d, 0.04), writers, 1, 1, 0.04);
    // resid 0.3, sources 0.12 + 0.53, b_O 0.05: total 1.0
    const got = edgesInto(d, { kind: "resid", index: 1, pos: 1 }, writers, p);
    expect(got.map(key)).toEqual([
      "resid:0:1>resid:1:1:resid",
      "resid:0:0>attn:0:1:attn",
      "resid:0:1>attn:0:1:attn",
      "attn:0:1>resid:1:1:attn_out",
    ]);
    expect(got.map((e) => e.weight).map((w) => Number(w.toFixed(6)))).toEqual([
      0.3, 0.12, 0.53, 0.7,
    ]);
    expect(got[1]?.heads?.map((w) => Number(w.toFixed(6)))).toEqual([0.1, 0.02]);
  });
});

describe("routes", () => {
  it("are the edges reached backwards from the target's last state", () => {
    const d = data();
    const edges = buildEdges(d, 0.04);
    const r0 = routes(edges, [targetNode(d, 0)]).map(key);
    expect(r0.sort()).toEqual(
      [
        "resid:1:0>resid:2:0:resid",
        "resid:0:0>resid:1:0:resid",
        "resid:0:0>attn:0:0:attn",
        "attn:0:0>resid:1:0:attn_out",
      ].sort(),
    );
    expect(routes(edges, [targetNode(d, 1)])).toHaveLength(7);
  });

  it("add a pinned node's routes to the target's", () => {
    const d = data();
    const edges = buildEdges(d, 0.04);
    const both = routes(edges, [targetNode(d, 0), { kind: "attn", index: 0, pos: 1 }]);
    expect(both).toHaveLength(4 + 2); // the two sources into attention 0 at position 1
  });

  it("node ids round-trip and reject junk", () => {
    expect(parseNodeId("mlp:3:7")).toEqual({ kind: "mlp", index: 3, pos: 7 });
    expect(parseNodeId("x:1:2")).toBeNull();
    expect(parseNodeId("resid:a:2")).toBeNull();
  });
});

describe("the layout", () => {
  it("puts tokens along the bottom and levels up the side, blocks between their levels", () => {
    const d = data();
    const lay = makeLayout(d);
    expect(lay.y(0)).toBeGreaterThan(lay.y(1));
    expect(lay.y(1)).toBeGreaterThan(lay.y(2));
    expect(lay.x(1)).toBeGreaterThan(lay.x(0));
    expect(lay.tokenY).toBeGreaterThan(lay.y(0));
    const a = lay.point({ kind: "attn", index: 0, pos: 1 });
    expect(a.y).toBeCloseTo((lay.y(0) + lay.y(1)) / 2);
    expect(a.x).not.toBe(lay.x(1)); // off the residual edge's straight line
    const m = lay.point({ kind: "mlp", index: 0, pos: 0 });
    expect(m.y).toBeCloseTo((lay.y(1) + lay.y(2)) / 2);
    expect(lay.width).toBeGreaterThan(lay.x(1));
  });
});
