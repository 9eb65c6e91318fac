/**
 * The threshold rule and the routes, as in python/featurecard/graph/build.py (`build_graph`,
 * `Graph.routes`), so the slider and the target need no kernel:
 *
 * Into each residual state flow its parts: the previous state (residual connection), the
 * attention block's source tokens and b_O, the MLP. A part is kept when its share of the state
 * (summed over heads) exceeds the threshold; the kept parts are renormalised to sum to 1 at that
 * state. Kept sources become edges resid(in, k) -> attn(L, q) with their heads; the attention
 * block feeds the state with the sum of its kept parts (b_O included); the MLP gets
 * resid(in, q) -> mlp(L, q) -> resid(out, q). Routes: edges reached backwards from the target's
 * last residual state (and from pinned nodes).
 */
import type { GraphData } from "./data";

export type NodeKind = "resid" | "attn" | "mlp";
export type EdgeKind = "resid" | "attn" | "attn_out" | "mlp_in" | "mlp_out";

export interface NodeKey {
  kind: NodeKind;
  index: number; // the level of a residual state, the layer of a block
  pos: number;
}

export interface Edge {
  src: NodeKey;
  dst: NodeKey;
  kind: EdgeKind;
  share: number; // before renormalising
  weight: number; // after
  heads: number[] | null; // per-head weights of an "attn" edge
}

export const nodeId = (n: NodeKey): string => `${n.kind}:${n.index}:${n.pos}`;

export function parseNodeId(id: string): NodeKey | null {
  const [kind, index, pos] = id.split(":");
  if (kind !== "resid" && kind !== "attn" && kind !== "mlp") return null;
  const i = Number(index);
  const p = Number(pos);
  return Number.isInteger(i) && Number.isInteger(p) ? { kind, index: i, pos: p } : null;
}

const at = (a: ArrayLike<number>, i: number): number => a[i] ?? 0;

/** Every kept edge at `threshold` (which must be >= data.threshold to be complete). */
export function buildEdges(d: GraphData, threshold: number): Edge[] {
  const bySource = new Map<number, number[]>(); // layer * nPos + query -> edge indices
  for (let i = 0; i < d.edgeShare.length; i++) {
    if (!(at(d.edgeShare, i) > threshold)) continue;
    const key = at(d.edgeLayer, i) * d.nPos + at(d.edgeQuery, i);
    const list = bySource.get(key);
    if (list) list.push(i);
    else bySource.set(key, [i]);
  }
  const attnInto = new Map(d.attnOut.map((r, layer) => [r, layer]));
  const mlpInto = new Map(d.mlpOut.map((r, layer) => [r, layer]));
  const edges: Edge[] = [];
  for (let r = 1; r < d.nLevels; r++) {
    const la = attnInto.get(r);
    const lm = mlpInto.get(r);
    for (let q = 0; q < d.nPos; q++) {
      const res = at(d.resid, (r - 1) * d.nPos + q);
      const keptRes = res > threshold ? res : 0;
      const src = la === undefined ? [] : (bySource.get(la * d.nPos + q) ?? []);
      const b = la === undefined ? 0 : at(d.bias, la * d.nPos + q);
      const keptB = b > threshold ? b : 0;
      const m = lm === undefined ? 0 : at(d.mlp, lm * d.nPos + q);
      const keptM = m > threshold ? m : 0;
      let srcSum = 0;
      for (const i of src) srcSum += at(d.edgeShare, i);
      const total = keptRes + srcSum + keptB + keptM;
      if (!(total > 0)) continue;
      const dst: NodeKey = { kind: "resid", index: r, pos: q };
      if (keptRes) {
        const from: NodeKey = { kind: "resid", index: r - 1, pos: q };
        edges.push({
          src: from,
          dst,
          kind: "resid",
          share: keptRes,
          weight: keptRes / total,
          heads: null,
        });
      }
      if (la !== undefined && (src.length > 0 || keptB)) {
        const aNode: NodeKey = { kind: "attn", index: la, pos: q };
        for (const i of src) {
          const heads = Array.from(
            d.edgeHeads.subarray(i * d.nHeads, (i + 1) * d.nHeads),
            (x) => x / total,
          );
          const share = at(d.edgeShare, i);
          const from: NodeKey = { kind: "resid", index: d.attnIn[la] ?? 0, pos: at(d.edgeKey, i) };
          edges.push({ src: from, dst: aNode, kind: "attn", share, weight: share / total, heads });
        }
        const s = srcSum + keptB;
        edges.push({ src: aNode, dst, kind: "attn_out", share: s, weight: s / total, heads: null });
      }
      if (lm !== undefined && keptM) {
        const mNode: NodeKey = { kind: "mlp", index: lm, pos: q };
        const from: NodeKey = { kind: "resid", index: d.mlpIn[lm] ?? 0, pos: q };
        edges.push({
          src: from,
          dst: mNode,
          kind: "mlp_in",
          share: keptM,
          weight: keptM / total,
          heads: null,
        });
        edges.push({
          src: mNode,
          dst,
          kind: "mlp_out",
          share: keptM,
          weight: keptM / total,
          heads: null,
        });
      }
    }
  }
  return edges;
}

/** Edges grouped by the node they flow into. */
export function incomingIndex(edges: Edge[]): Map<string, Edge[]> {
  const into = new Map<string, Edge[]>();
  for (const e of edges) {
    const id = nodeId(e.dst);
    const list = into.get(id);
    if (list) list.push(e);
    else into.set(id, [e]);
  }
  return into;
}

/** The edges reached backwards from `starts`, in the order of `edges`. */
export function routes(edges: Edge[], starts: NodeKey[], into = incomingIndex(edges)): Edge[] {
  const seen = new Set(starts.map(nodeId));
  const todo = [...seen];
  const reached = new Set<Edge>();
  for (let id = todo.pop(); id !== undefined; id = todo.pop()) {
    for (const e of into.get(id) ?? []) {
      reached.add(e);
      const src = nodeId(e.src);
      if (!seen.has(src)) {
        seen.add(src);
        todo.push(src);
      }
    }
  }
  return edges.filter((e) => reached.has(e));
}

/** The last residual state of a token: where its routes start. */
export function targetNode(d: GraphData, pos: number): NodeKey {
  return { kind: "resid", index: d.nLevels - 1, pos };
}
