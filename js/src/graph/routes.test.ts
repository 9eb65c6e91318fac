import { describe, expect, it } from "vitest";
import { makeGraphState } from "../../testing/make-graph-state";
import { decodeGraph } from "./data";
import { makeLayout } from "./layout";
import { buildEdges, type Edge, nodeId, parseNodeId, routes, targetNode } from "./routes";

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
