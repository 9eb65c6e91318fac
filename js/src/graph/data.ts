/**
 * Decodes a ContributionGraphState into typed arrays with small accessors, once per state.
 * Every array's shape is checked against the state's sizes, so a malformed state fails here,
 * with a message, instead of drawing nonsense.
 */
import { decodeArray, decodeInts } from "../core/codecs";
import type { ArrayPayload } from "../core/schema";
import { sequenceLabels } from "../core/text";
import { checkVocabIndices, decodeVocab } from "../core/vocab";
import type { ContributionGraphState, PromoteSuppress, UnitTops } from "./schema";

type Ints = Int32Array | Uint16Array | Uint8Array;

/** Promote / suppress of a set of nodes: k tokens each, flat row-major over the nodes. */
export interface PromoteData {
  k: number;
  up: Ints; // [..., k], vocab indices, largest logit contribution first
  upValues: Float32Array;
  down: Ints; // [..., k], most negative first
  downValues: Float32Array;
}

/** Heads [n_layers, n_pos, n_heads], attention and MLP blocks [n_layers, n_pos]. */
export interface BlockPromote {
  heads: PromoteData;
  headsDone: Ints; // [n_layers, n_pos]: 1 where `heads` holds the node's heads (others on request)
  attn: PromoteData;
  mlp: PromoteData | null;
}

export interface UnitData {
  source: string;
  unit: "neuron" | "latent";
  hookName: string;
  block: "attn" | "mlp" | "resid";
  layer: number;
  level: number;
  nUnits: number;
  k: number;
  ids: Ints; // [n_pos, k]
  shares: Float32Array;
  acts: Float32Array;
  total: Float32Array; // [n_pos], all units together
  partNames: string[];
  parts: Float32Array; // [n_parts, n_pos]
  promote: PromoteData | null; // [n_pos, k units] nodes
}

export interface LensData {
  k: number;
  top: Ints; // [n_levels, n_pos, k], vocab indices
  topValues: Float32Array;
  up: Ints; // [n_levels - 1, n_pos, k]
  upValues: Float32Array;
  down: Ints;
  downValues: Float32Array;
}

export interface GraphData {
  nLayers: number;
  nHeads: number;
  nPos: number;
  nLevels: number;
  levels: string[];
  attnIn: number[];
  attnOut: number[];
  mlpIn: number[];
  mlpOut: number[];
  tokens: string[]; // each position's token text (the prompt decoded together, ../core/text.ts)
  vocab: string[]; // each vocab entry's text on its own (a byte piece as `\xdc`, as the card shows it)
  vocabIds: ArrayLike<number>; // the model's token id of each vocab entry
  threshold: number; // the state holds every edge above this
  resid: Float32Array; // [n_levels - 1, n_pos]
  bias: Float32Array; // [n_layers, n_pos]
  mlp: Float32Array; // [n_layers, n_pos]
  heads: Float32Array; // [n_layers, n_pos, n_heads]
  edgeLayer: Ints;
  edgeQuery: Ints;
  edgeKey: Ints;
  edgeShare: Float32Array;
  edgeHeads: Float32Array; // [n_edge, n_heads]
  units: UnitData[];
  lens: LensData | null;
  promote: BlockPromote | null;
  unavailable: Record<string, string>;
}

function floats(p: ArrayPayload, what: string, shape: number[]): Float32Array {
  const a = decodeArray(p);
  if (!(a instanceof Float32Array)) throw new Error(`${what} must be float32 or float16`);
  checkShape(p, what, shape);
  return a;
}

function ints(p: ArrayPayload, what: string, shape: number[]): Ints {
  checkShape(p, what, shape);
  return decodeInts(p, what);
}

/** Indices into the vocabulary of `size` entries, of the given shape. */
function vocabInts(p: ArrayPayload, what: string, shape: number[], size: number): Ints {
  const a = ints(p, what, shape);
  checkVocabIndices(a, size, what);
  return a;
}

function checkShape(p: ArrayPayload, what: string, shape: number[]): void {
  const ok = p.shape.length === shape.length && p.shape.every((d, i) => d === shape[i]);
  if (!ok)
    throw new Error(`${what} has shape [${p.shape.join(", ")}], expected [${shape.join(", ")}]`);
}

/** Promote / suppress over nodes of shape `lead` (each with k tokens), indices checked. */
function decodePromote(
  p: PromoteSuppress,
  what: string,
  lead: number[],
  size: number,
): PromoteData {
  const k = p.promote_tokens.shape[lead.length] ?? 0;
  const shape = [...lead, k];
  return {
    k,
    up: vocabInts(p.promote_tokens, `${what}: promote_tokens`, shape, size),
    upValues: floats(p.promote_values, `${what}: promote_values`, shape),
    down: vocabInts(p.suppress_tokens, `${what}: suppress_tokens`, shape, size),
    downValues: floats(p.suppress_values, `${what}: suppress_values`, shape),
  };
}

function decodeUnits(u: UnitTops, nPos: number, size: number): UnitData {
  const k = u.ids.shape[1] ?? 0;
  const what = `units of ${u.source} (layer ${u.layer})`;
  return {
    source: u.source,
    unit: u.unit,
    hookName: u.hook_name,
    block: u.block,
    layer: u.layer,
    level: u.level,
    nUnits: u.n_units,
    k,
    ids: ints(u.ids, `${what}: ids`, [nPos, k]),
    shares: floats(u.shares, `${what}: shares`, [nPos, k]),
    acts: floats(u.acts, `${what}: acts`, [nPos, k]),
    total: floats(u.units, `${what}: units`, [nPos]),
    partNames: u.part_names,
    parts: floats(u.parts, `${what}: parts`, [u.part_names.length, nPos]),
    promote: u.promote ? decodePromote(u.promote, `${what}: promote`, [nPos, k], size) : null,
  };
}

function blockPromote(st: ContributionGraphState, size: number): BlockPromote | null {
  const p = st.promote ?? null; // states made before promote / suppress have no key
  if (!p) return null;
  const lead = [st.n_layers, st.n_pos];
  return {
    heads: decodePromote(p.heads, "promote heads", [...lead, st.n_heads], size),
    headsDone: p.heads_done
      ? ints(p.heads_done, "promote heads_done", lead)
      : new Uint8Array(st.n_layers * st.n_pos).fill(1), // states made before heads on request
    attn: decodePromote(p.attn, "promote attn", lead, size),
    mlp: p.mlp ? decodePromote(p.mlp, "promote mlp", lead, size) : null,
  };
}

export function decodeGraph(st: ContributionGraphState): GraphData {
  const nLevels = st.levels.length;
  const { n_layers: nLayers, n_heads: nHeads, n_pos: nPos } = st;
  const vocab = decodeVocab(st);
  const tokenIdx = vocabInts(st.tokens, "tokens", [nPos], vocab.size);
  const e = st.edges;
  const nEdge = e.share.shape[0] ?? 0;
  let lens: LensData | null = null;
  if (st.lens) {
    const k = st.lens.top_tokens.shape[2] ?? 0;
    lens = {
      k,
      top: vocabInts(st.lens.top_tokens, "lens top_tokens", [nLevels, nPos, k], vocab.size),
      topValues: floats(st.lens.top_values, "lens top_values", [nLevels, nPos, k]),
      up: vocabInts(st.lens.up_tokens, "lens up_tokens", [nLevels - 1, nPos, k], vocab.size),
      upValues: floats(st.lens.up_values, "lens up_values", [nLevels - 1, nPos, k]),
      down: vocabInts(st.lens.down_tokens, "lens down_tokens", [nLevels - 1, nPos, k], vocab.size),
      downValues: floats(st.lens.down_values, "lens down_values", [nLevels - 1, nPos, k]),
    };
  }
  return {
    nLayers,
    nHeads,
    nPos,
    nLevels,
    levels: st.levels,
    attnIn: st.attn_in,
    attnOut: st.attn_out,
    mlpIn: st.mlp_in,
    mlpOut: st.mlp_out,
    tokens: sequenceLabels(vocab.text, tokenIdx),
    vocab: Array.from({ length: vocab.size }, (_, v) => vocab.text.text(v)),
    vocabIds: vocab.ids,
    threshold: st.threshold,
    resid: floats(st.resid, "resid", [nLevels - 1, nPos]),
    bias: floats(st.bias, "bias", [nLayers, nPos]),
    mlp: floats(st.mlp, "mlp", [nLayers, nPos]),
    heads: floats(st.heads, "heads", [nLayers, nPos, nHeads]),
    edgeLayer: ints(e.layer, "edges.layer", [nEdge]),
    edgeQuery: ints(e.query, "edges.query", [nEdge]),
    edgeKey: ints(e.key, "edges.key", [nEdge]),
    edgeShare: floats(e.share, "edges.share", [nEdge]),
    edgeHeads: floats(e.heads, "edges.heads", [nEdge, nHeads]),
    units: st.units.map((u) => decodeUnits(u, nPos, vocab.size)),
    lens,
    promote: blockPromote(st, vocab.size),
    unavailable: st.unavailable,
  };
}
