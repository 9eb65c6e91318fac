/**
 * A hand-built contribution graph for tests: the same case as tests/unit/test_contributions.py
 * (`hand_data`): one sequential layer, two positions, two heads; every state's shares sum to 1.
 * Arrays arrive as DataViews at an offset (as in a live widget), unless `as` says otherwise.
 */

import { type ArrayPayload, SCHEMA_VERSION } from "../src/core/schema";
import type { ContributionGraphState, PromoteSuppress } from "../src/graph/schema";
import { buildTokenBytes, type PayloadOptions, payload } from "./make-state";

/** The local vocabulary (ids 40, 41, ...; every entry whole text). */
function graphVocab(as: PayloadOptions["as"]) {
  const vocab = ["<b>x</b>", " the", " a", " cat"];
  return {
    vocab,
    vocab_ids: payload("uint8", [40, 41, 42, 43], { as: as ?? "dataview" }),
    vocab_bytes: buildTokenBytes([]),
  };
}

type Encode = (dtype: "float32" | "uint8", values: number[], shape?: number[]) => ArrayPayload;
type Graph = ContributionGraphState;

/** The MLP block's neurons: top units per position, their shares, activations and parts. */
function graphUnits(p: Encode): Graph["units"] {
  return [
    {
      source: "blocks.0.mlp.hook_post",
      unit: "neuron",
      hook_name: "blocks.0.mlp.hook_post",
      block: "mlp",
      layer: 0,
      level: 2,
      n_units: 64,
      ids: p("uint8", [7, 3, 9, 1], [2, 2]),
      shares: p("float32", [0.2, 0.1, 0.3, 0.05], [2, 2]),
      acts: p("float32", [1.5, 0.5, 2.0, 0], [2, 2]),
      units: p("float32", [0.4, 0.6]),
      part_names: ["bias", "rest"],
      parts: p("float32", [0.1, 0.1, 0.5, 0.3], [2, 2]),
      promote: dynamics(p, [2, 2], 0),
    },
  ];
}

/**
 * Promote / suppress of nodes of shape `lead`, k = 2 tokens each: node n promotes vocab entries
 * (n + shift) % 4 then (n + shift + 1) % 4 (entry 0 is markup) by 2 + n and 1 + n, and
 * suppresses (n + shift + 2) % 4 then (n + shift + 3) % 4 by -(2 + n) and -(1 + n).
 */
function dynamics(p: Encode, lead: number[], shift: number): PromoteSuppress {
  const n = lead.reduce((a, b) => a * b, 1);
  const tok = (off: number) =>
    Array.from({ length: 2 * n }, (_, i) => (Math.floor(i / 2) + shift + off + (i % 2)) % 4);
  const val = (sign: number) =>
    Array.from({ length: 2 * n }, (_, i) => sign * (Math.floor(i / 2) + 2 - (i % 2)));
  return {
    promote_tokens: p("uint8", tok(0), [...lead, 2]),
    promote_values: p("float32", val(1), [...lead, 2]),
    suppress_tokens: p("uint8", tok(2), [...lead, 2]),
    suppress_values: p("float32", val(-1), [...lead, 2]),
  };
}

/** Heads [1, 2, 2], attention and MLP blocks [1, 2]. */
function graphPromote(p: Encode): Graph["promote"] {
  return {
    heads: dynamics(p, [1, 2, 2], 1),
    heads_done: p("uint8", [1, 1], [1, 2]),
    attn: dynamics(p, [1, 2], 2),
    mlp: dynamics(p, [1, 2], 3),
  };
}

/** The logit lens: top tokens per level and position, and the tokens each block moves. */
function graphLens(p: Encode): Graph["lens"] {
  return {
    top_tokens: p("uint8", [1, 2, 2, 3, 3, 1, 1, 2, 2, 1, 3, 2], [3, 2, 2]),
    top_values: p(
      "float32",
      [-1, -2, -1.5, -2.5, -0.5, -3, -1, -2, -0.7, -1.1, -0.2, -4],
      [3, 2, 2],
    ),
    up_tokens: p("uint8", [3, 1, 2, 3, 1, 2, 3, 1], [2, 2, 2]),
    up_values: p("float32", [0.9, 0.4, 0.8, 0.1, 0.7, 0.3, 0.6, 0.2], [2, 2, 2]),
    down_tokens: p("uint8", [2, 3, 1, 2, 3, 2, 1, 3], [2, 2, 2]),
    down_values: p("float32", [-0.9, -0.4, -0.8, -0.1, -0.7, -0.3, -0.6, -0.2], [2, 2, 2]),
  };
}

/** The residual, bias, MLP and head shares and the attention edges. */
function graphShares(p: Encode): Pick<Graph, "resid" | "bias" | "mlp" | "heads" | "edges"> {
  return {
    resid: p("float32", [0.5, 0.3, 0.97, 0.4], [2, 2]),
    bias: p("float32", [0.02, 0.05], [1, 2]),
    mlp: p("float32", [0.03, 0.6], [1, 2]),
    heads: p("float32", [0.3, 0.18, 0.6, 0.05], [1, 2, 2]),
    edges: {
      layer: p("uint8", [0, 0, 0]),
      query: p("uint8", [0, 1, 1]),
      key: p("uint8", [0, 0, 1]),
      share: p("float32", [0.48, 0.12, 0.53]),
      heads: p("float32", [0.3, 0.18, 0.1, 0.02, 0.5, 0.03], [3, 2]),
    },
  };
}

export function makeGraphState(
  over: Partial<ContributionGraphState> = {},
  as: PayloadOptions["as"] = "dataview",
): ContributionGraphState {
  const p: Encode = (dtype, values, shape) =>
    payload(dtype, values, { as, ...(shape ? { shape } : {}) });
  return {
    schema_version: SCHEMA_VERSION,
    kind: "contribution_graph",
    n_layers: 1,
    n_heads: 2,
    n_pos: 2,
    levels: ["embed", "0.attn", "0.mlp"],
    attn_in: [0],
    attn_out: [1],
    mlp_in: [1],
    mlp_out: [2],
    tokens: p("uint8", [0, 1]),
    ...graphVocab(as),
    threshold: 0.01,
    ...graphShares(p),
    units: graphUnits(p),
    lens: graphLens(p),
    promote: graphPromote(p),
    unavailable: {},
    ...over,
  };
}
