/** A hand-built NodeTableState for tests (arrays encoded as a live widget receives them). */
import { SCHEMA_VERSION } from "../src/core/schema";
import type { NodePrompt, NodeTableState } from "../src/nodes/schema";
import { buildTokenBytes, payload } from "./make-state";

export const NODE_TOKENS = ["<|endoftext|>", "The", " <b>cat</b>", " sat"];
/** The table's local vocabulary: the prompts' tokens, the right prompt's " dog", the predictions. */
export const NODE_VOCAB = [...NODE_TOKENS, " dog", " <b>x</b>"];

// family, layer, unit, pos, src | write_norm, act_times_grad, direct_effect, activation
export const NODE_ROWS: [number, number, number, number, number, number[]][] = [
  [0, 0, 5, 2, -1, [1.0, 0.5, 0.3, 2.0]],
  [1, 1, 3, 3, 1, [0.8, -0.4, -0.6, 0.9]],
  [2, 0, 12, 3, -1, [0.2, 0.1, Number.NaN, 1.5]],
  [0, 1, 7, 3, -1, [0.5, -0.2, 0.9, -0.1]],
];

const GROUPS = [
  { name: "write_norm", label: "Write magnitude", signed: false, help: "w" },
  { name: "act_times_grad", label: "Est. total effect", signed: true, help: "a" },
  { name: "direct_effect", label: "Direct effect", signed: true, help: "d" },
  { name: "activation", label: "Activation", signed: false, help: "act" },
];

/** The local vocabulary (ids 100, 101, ...; every entry whole text). */
function nodeVocab(): Pick<NodeTableState, "vocab" | "vocab_ids" | "vocab_bytes"> {
  const ids = NODE_VOCAB.map((_, v) => 100 + v);
  return { vocab: NODE_VOCAB, vocab_ids: payload("uint16", ids), vocab_bytes: buildTokenBytes([]) };
}

/** Prompt `p` of `nPrompts`: the right one has " dog" at position 2. */
function nodePrompt(nPrompts: number, p: number): NodePrompt {
  return {
    label: nPrompts === 1 ? "Prompt" : p === 0 ? "Left" : "Right",
    tokens: payload("uint8", p === 0 ? [0, 1, 2, 3] : [0, 1, 4, 3]),
    target: 1.25 + p,
    clean_target: 1.25 + p,
    predictions: payload("uint8", [3, 5]),
    prediction_probs: payload("float32", [0.5, 0.25]),
  };
}

const FAMILIES: NodeTableState["families"] = [
  {
    code: 0,
    kind: "mlp",
    name: "mlp",
    hook: "blocks.{layer}.mlp.hook_post",
    n_units: 64,
    card: true,
    sae: "",
  },
  {
    code: 1,
    kind: "attn",
    name: "attn",
    hook: "blocks.{layer}.attn.hook_z",
    n_units: 4,
    card: false,
    sae: "",
  },
  {
    code: 2,
    kind: "sae",
    name: "res",
    hook: "blocks.0.hook_resid_post",
    n_units: 48,
    card: true,
    sae: "res",
  },
];

const TARGET: NodeTableState["target"] = {
  kind: "logit_diff",
  position: 3,
  token: " on",
  distractor: " in",
  description: "logit ' on' − logit ' in' at position 3",
  node: null,
  side: "total",
};

/** The rows' values [prompt, group, row] and profiles [prompt, row, pos] of `nPrompts` prompts. */
function nodeRows(nPrompts: number): NodeTableState["rows"] {
  const n = NODE_ROWS.length;
  const nPos = NODE_TOKENS.length;
  const values: number[] = [];
  const profiles: number[] = [];
  for (let p = 0; p < nPrompts; p++) {
    for (let g = 0; g < GROUPS.length; g++) {
      for (const r of NODE_ROWS) {
        const v = r[5][g] ?? 0;
        values.push(p === 0 ? v : 1 - v);
      }
    }
    for (let j = 0; j < n; j++) {
      for (let pos = 0; pos < nPos; pos++) profiles.push(pos === j % nPos ? 1 + p : 0);
    }
  }
  const col = (i: number) => NODE_ROWS.map((r) => r[i] as number);
  return {
    family: payload("uint8", col(0)),
    layer: payload("int32", col(1)),
    unit: payload("int32", col(2)),
    pos: payload("int32", col(3)),
    src: payload("int32", col(4)),
    values: payload("float32", values, { shape: [nPrompts, GROUPS.length, n] }),
    profiles: payload("float32", profiles, { shape: [nPrompts, n, nPos] }),
  };
}

/** `nPrompts` 2 gives the right prompt the left values times -1 plus 1. */
export function makeNodeState(nPrompts = 1, over: Partial<NodeTableState> = {}): NodeTableState {
  return {
    schema_version: SCHEMA_VERSION,
    kind: "node_table",
    ...nodeVocab(),
    prompts: Array.from({ length: nPrompts }, (_, p) => nodePrompt(nPrompts, p)),
    target: TARGET,
    groups: GROUPS,
    families: FAMILIES,
    rows: nodeRows(nPrompts),
    dynamics: null,
    sort_by: "direct_effect",
    k: 10,
    ablations: [],
    notes: [],
    ...over,
  };
}
