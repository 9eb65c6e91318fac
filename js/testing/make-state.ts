/**
 * Hand-built cards for tests. Arrays are encoded the way they arrive in a live widget: the
 * Python side sends `bytes`, which the front end receives as a DataView, here a window at an
 * offset into a larger ArrayBuffer (as ipywidgets slices one comm message).
 */
import type {
  ArrayPayload,
  CorrelationTable,
  DType,
  ExampleGroup,
  FeatureCardState,
  Hover,
  LogitTable,
  TokenBytes,
} from "../src/core/schema";
import { SCHEMA_VERSION } from "../src/core/schema";

const SIZE: Record<DType, number> = { float32: 4, float16: 2, int32: 4, uint16: 2, uint8: 1 };

/** Little-endian bytes of `values` as `dtype`; for float16, `values` are the raw half bits. */
export function encode(dtype: DType, values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * SIZE[dtype]);
  const v = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const x = values[i] ?? 0;
    if (dtype === "float32") v.setFloat32(i * 4, x, true);
    else if (dtype === "int32") v.setInt32(i * 4, x, true);
    else if (dtype === "uint16" || dtype === "float16") v.setUint16(i * 2, x, true);
    else v.setUint8(i, x);
  }
  return out;
}

/** `bytes` as a DataView at `offset` into a buffer with junk before and after. */
export function dataViewAt(bytes: Uint8Array, offset: number): DataView {
  const big = new Uint8Array(offset + bytes.length + 7).fill(0xee);
  big.set(bytes, offset);
  return new DataView(big.buffer, offset, bytes.length);
}

/** Base64 of some bytes (what an exported HTML file holds). */
export function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export interface PayloadOptions {
  shape?: number[]; // default [values.length]
  as?: "dataview" | "base64" | "arraybuffer" | "uint8array";
  offset?: number; // DataView offset into the bigger buffer (default 8)
}

export function payload(
  dtype: DType,
  values: ArrayLike<number>,
  opts: PayloadOptions = {},
): ArrayPayload {
  const bytes = encode(dtype, values);
  const shape = opts.shape ?? [values.length];
  const as = opts.as ?? "dataview";
  const buffer =
    as === "base64"
      ? toBase64(bytes)
      : as === "arraybuffer"
        ? (bytes.buffer as ArrayBuffer)
        : as === "uint8array"
          ? bytes
          : dataViewAt(bytes, opts.offset ?? 8);
  return { dtype, shape, buffer };
}

export interface SeqSpec {
  tokens: number[]; // indices into vocab
  acts: number[];
  row?: number;
  pos0?: number;
  focus?: number;
}

export interface GroupSpec {
  title: string;
  seqs: SeqSpec[];
}

/** Examples in the schema's ragged layout. */
export function buildExamples(groups: GroupSpec[]): FeatureCardState["examples"] {
  const seqs = groups.flatMap((g) => g.seqs);
  const offsets = [0];
  for (const s of seqs) offsets.push((offsets[offsets.length - 1] ?? 0) + s.tokens.length);
  return {
    groups: groups.map((g): ExampleGroup => ({ title: g.title, count: g.seqs.length })),
    seq_offsets: payload("int32", offsets),
    tokens: payload(
      "int32",
      seqs.flatMap((s) => s.tokens),
    ),
    acts: payload(
      "float32",
      seqs.flatMap((s) => s.acts),
    ),
    seq_batch: payload(
      "int32",
      seqs.map((s) => s.row ?? 0),
    ),
    seq_pos0: payload(
      "int32",
      seqs.map((s) => s.pos0 ?? 0),
    ),
    seq_focus: payload(
      "int32",
      seqs.map((s) => s.focus ?? 0),
    ),
    dfa: null,
  };
}

export function buildLogits(
  top: [number, number][],
  bottom: [number, number][],
  vocabValues: number[] = VOCAB.map((_, i) => i / 10),
): LogitTable {
  return {
    vocab_values: payload("float32", vocabValues),
    top_tokens: payload(
      "int32",
      top.map(([t]) => t),
    ),
    top_values: payload(
      "float32",
      top.map(([, v]) => v),
    ),
    bottom_tokens: payload(
      "int32",
      bottom.map(([t]) => t),
    ),
    bottom_values: payload(
      "float32",
      bottom.map(([, v]) => v),
    ),
  };
}

/** vocab indices used by makeState */
export const VOCAB = ["<|endoftext|>", " The", " cat", "\n", "<b>x</b>", "</script>", " sat"];

export const DEFAULT_GROUPS: GroupSpec[] = [
  {
    title: "Top activations",
    seqs: [
      { tokens: [0, 1, 2, 6], acts: [0, 0.5, 2, 1], row: 5, pos0: 16, focus: 2 },
      { tokens: [4, 5, 3], acts: [1.5, -0.5, 0], row: 9, pos0: 0, focus: 0 },
    ],
  },
  { title: "Quantile 1", seqs: [{ tokens: [1, 2], acts: [0.25, 0], row: 11, pos0: 3, focus: 0 }] },
];

/** Hover rows for flat shown tokens: `rows[t]` is a row index or -1 (silent). */
export function buildHover(
  rows: number[],
  top: number[][], // per hover row: k vocab indices
  topValues: number[][],
  bottom: number[][],
  bottomValues: number[][],
  loss: number[],
): Hover {
  const n = loss.length;
  const k = top[0]?.length ?? 0;
  return {
    token_row: payload(
      "uint16",
      rows.map((r) => (r < 0 ? n : r)),
    ),
    top_tokens: payload("uint8", top.flat(), { shape: [n, k] }),
    top_values: payload("float32", topValues.flat(), { shape: [n, k] }),
    bottom_tokens: payload("uint8", bottom.flat(), { shape: [n, k] }),
    bottom_values: payload("float32", bottomValues.flat(), { shape: [n, k] }),
    loss_change: payload("float32", loss),
  };
}

export function buildTokenBytes(entries: [number, number[]][]): TokenBytes {
  const offsets = [0];
  for (const [, b] of entries) offsets.push((offsets[offsets.length - 1] ?? 0) + b.length);
  return {
    ids: payload(
      "int32",
      entries.map(([v]) => v),
    ),
    offsets: payload("int32", offsets),
    data: payload(
      "uint8",
      entries.flatMap(([, b]) => b),
    ),
  };
}

export function buildCorrelation(rows: [number, number, number][]): CorrelationTable {
  return {
    ids: payload(
      "int32",
      rows.map(([i]) => i),
    ),
    pearson: payload(
      "float32",
      rows.map(([, p]) => p),
    ),
    cosine: payload(
      "float32",
      rows.map(([, , c]) => c),
    ),
  };
}

/** Hover data for DEFAULT_GROUPS: rows where the act is nonzero (tokens 1..4, 5, 6, 9). */
export const DEFAULT_HOVER: Hover = buildHover(
  [-1, 0, 1, 2, 3, 4, -1, 5, -1],
  [
    [1, 2],
    [2, 6],
    [6, 1],
    [4, 5],
    [5, 4],
    [1, 6],
  ],
  [
    [0.5, 0.25],
    [0.75, 0.125],
    [0.375, 0.0625],
    [1.5, 1.25],
    [0.5, 0.25],
    [0.25, 0.125],
  ],
  [
    [3, 0],
    [0, 3],
    [3, 4],
    [1, 2],
    [2, 1],
    [0, 1],
  ],
  [
    [-0.5, -0.25],
    [-0.75, -0.125],
    [-0.375, -0.0625],
    [-1.5, -1.25],
    [-0.5, -0.25],
    [-0.25, -0.125],
  ],
  [-0.25, 0.5, Number.NaN, 0.125, -1, 0.0625],
);

/** A small valid card; `over` replaces top-level keys. */
export function makeState(over: Partial<FeatureCardState> = {}): FeatureCardState {
  return {
    schema_version: SCHEMA_VERSION,
    kind: "feature_card",
    source: "gpt2-small-res-jb",
    unit: "latent",
    hook_name: "blocks.8.hook_resid_pre",
    feature: 3,
    n_features: 24,
    n_tokens: 10000,
    max_act: 2,
    density: 0.0123,
    vocab: VOCAB,
    vocab_ids: payload(
      "uint16",
      VOCAB.map((_, i) => 1000 + i),
    ),
    vocab_bytes: buildTokenBytes([]),
    examples: buildExamples(DEFAULT_GROUPS),
    logits: buildLogits(
      [
        [2, 0.8],
        [6, 0.3],
      ],
      [
        [4, -0.9],
        [5, -0.2],
      ],
    ),
    unavailable: {},
    pending: [],
    hover: DEFAULT_HOVER,
    act_hist: {
      edges: payload("float32", [0, 1, 2]),
      counts: payload("int32", [3, 1]),
      ticks: payload("float32", [0, 1, 2]),
    },
    logit_hist: {
      edges: payload("float32", [-1, 0, 1]),
      counts: payload("uint16", [2, 5]),
      ticks: payload("float32", [-1, 0, 1]),
    },
    left: {
      alignment: null,
      neurons: buildCorrelation([
        [7, 0.5, 0.25],
        [2, -0.25, 0.125],
      ]),
      latents: buildCorrelation([
        [11, 0.75, 0.5],
        [4, 0.5, 0.25],
      ]),
      latents_b: null,
    },
    label: null,
    ...over,
  };
}
