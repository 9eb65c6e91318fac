// A small SAE overview state for the overview's tests (python/featurecard/overview/payload.py's shape).
import type { OverviewState } from "../src/overview/schema";
import { payload } from "./make-state";

export const OVERVIEW_VOCAB = [" the", "</script><b>x</b>", "\u202eevil", "\n"];

/** Six latents: 0 dead, 1 dense, the rest in between; top tokens index OVERVIEW_VOCAB. */
export function makeOverviewState(over: Partial<OverviewState> = {}): OverviewState {
  return {
    schema_version: 3,
    kind: "sae_overview",
    source: "mlp0",
    hook: "blocks.0.mlp.hook_post",
    summary: {
      n_latents: 6,
      n_tokens: 1000,
      n_dead: 1,
      n_dense: 1,
      dense_threshold: 0.1,
      mean_l0: 0.7,
      explained_variance: 0.81,
      ce_clean: 3.2,
      ce_sae: 3.5,
      ce_zero: 6.2,
      ce_recovered: 0.9,
      recon_rows: 64,
      recon_tokens: 4032,
    },
    histogram: {
      edges: payload("float32", [-3, -2, -1, 0]),
      counts: payload("int32", [2, 1, 2]),
      ticks: payload("float32", [-3, -2, -1, 0]),
    },
    latents: {
      density: payload("float32", [0, 0.5, 0.001, 0.02, 0.003, 0.05]),
      max_act: payload("float32", [0, 2.5, 7.25, 1, 3, 0.5]),
      top_token: payload("int32", [-1, 0, 1, 2, 3, 0]),
    },
    vocab: OVERVIEW_VOCAB,
    vocab_ids: payload("uint16", [10, 11, 12, 13]),
    vocab_bytes: {
      ids: payload("uint8", []),
      offsets: payload("uint8", [0]),
      data: payload("uint8", []),
    },
    notes: ["every counted token of the dataset"],
    ...over,
  };
}
