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

/** The attention sources above `threshold`, by block and query: layer * nPos + query -> edge indices. */
export function keptSources(d: GraphData, threshold: number): Map<number, number[]> {
  const bySource = new Map<number, number[]>();
  for (let i = 0; i < d.edgeShare.length; i++) {
    if (!(at(d.edgeShare, i) > threshold)) continue;
    const key = at(d.edgeLayer, i) * d.nPos + at(d.edgeQuery, i);
    const list = bySource.get(key);
    if (list) list.push(i);
    else bySource.set(key, [i]);
  }
  return bySource;
}

/** The blocks that write a residual state: the layer of its attention block and of its MLP. */
export interface Writers {
  attn: number | undefined;
  mlp: number | undefined;
}

/** The kept parts of one residual state (a dropped part is 0) and their sum, the renormaliser. */
export interface StateParts {
  resid: number; // the previous state's share
  sources: number[]; // the kept attention sources (edge indices)
  sourceSum: number; // their shares summed
  bias: number; // the attention block's b_O
  mlp: number;
  total: number;
}

const kept = (share: number, threshold: number): number => (share > threshold ? share : 0);

/** The parts of residual state (r, q) kept at `threshold`; `sources` from keptSources. */
export function stateParts(
  d: GraphData,
  sources: Map<number, number[]>,
  writers: Writers,
  r: number,
  q: number,
  threshold: number,
): StateParts {
  const { attn: la, mlp: lm } = writers;
  const resid = kept(at(d.resid, (r - 1) * d.nPos + q), threshold);
  const src = la === undefined ? [] : (sources.get(la * d.nPos + q) ?? []);
  const bias = la === undefined ? 0 : kept(at(d.bias, la * d.nPos + q), threshold);
  const mlp = lm === undefined ? 0 : kept(at(d.mlp, lm * d.nPos + q), threshold);
  let sourceSum = 0;
  for (const i of src) sourceSum += at(d.edgeShare, i);
  return { resid, sources: src, sourceSum, bias, mlp, total: resid + sourceSum + bias + mlp };
}

function attnEdges(d: GraphData, layer: number, dst: NodeKey, p: StateParts): Edge[] {
  const aNode: NodeKey = { kind: "attn", index: layer, pos: dst.pos };
  const out: Edge[] = p.sources.map((i) => {
    const heads = Array.from(
      d.edgeHeads.subarray(i * d.nHeads, (i + 1) * d.nHeads),
      (x) => x / p.total,
    );
    const share = at(d.edgeShare, i);
    const from: NodeKey = { kind: "resid", index: d.attnIn[layer] ?? 0, pos: at(d.edgeKey, i) };
    return { src: from, dst: aNode, kind: "attn", share, weight: share / p.total, heads };
  });
  const s = p.sourceSum + p.bias;
  out.push({ src: aNode, dst, kind: "attn_out", share: s, weight: s / p.total, heads: null });
  return out;
}

function mlpEdges(d: GraphData, layer: number, dst: NodeKey, p: StateParts): Edge[] {
  const mNode: NodeKey = { kind: "mlp", index: layer, pos: dst.pos };
  const from: NodeKey = { kind: "resid", index: d.mlpIn[layer] ?? 0, pos: dst.pos };
  const part = { share: p.mlp, weight: p.mlp / p.total, heads: null };
  return [
    { src: from, dst: mNode, kind: "mlp_in", ...part },
    { src: mNode, dst, kind: "mlp_out", ...part },
  ];
}

/** The edges into residual state `dst` from its kept parts `p` (whose total is > 0). */
export function edgesInto(d: GraphData, dst: NodeKey, writers: Writers, p: StateParts): Edge[] {
  const out: Edge[] = [];
  if (p.resid) {
    const from: NodeKey = { kind: "resid", index: dst.index - 1, pos: dst.pos };
    out.push({
      src: from,
      dst,
      kind: "resid",
      share: p.resid,
      weight: p.resid / p.total,
      heads: null,
    });
  }
  if (writers.attn !== undefined && (p.sources.length > 0 || p.bias)) {
    out.push(...attnEdges(d, writers.attn, dst, p));
  }
  if (writers.mlp !== undefined && p.mlp) out.push(...mlpEdges(d, writers.mlp, dst, p));
  return out;
}

/** Every kept edge at `threshold` (which must be >= data.threshold to be complete). */
export function buildEdges(d: GraphData, threshold: number): Edge[] {
  const sources = keptSources(d, threshold);
  const attnInto = new Map(d.attnOut.map((r, layer) => [r, layer]));
  const mlpInto = new Map(d.mlpOut.map((r, layer) => [r, layer]));
  const edges: Edge[] = [];
  for (let r = 1; r < d.nLevels; r++) {
    const writers: Writers = { attn: attnInto.get(r), mlp: mlpInto.get(r) };
    for (let q = 0; q < d.nPos; q++) {
      const parts = stateParts(d, sources, writers, r, q, threshold);
      if (!(parts.total > 0)) continue;
      edges.push(...edgesInto(d, { kind: "resid", index: r, pos: q }, writers, parts));
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
