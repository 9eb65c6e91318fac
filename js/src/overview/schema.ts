/**
 * The SAE overview's versioned payload, from the kernel to the front end.
 *
 * Mirrors python/featurecard/overview/payload.py key for key (tests/unit/core/test_schema_sync.py
 * parses both files with regexes): keep each interface flat, one `key: type;` per line. The
 * overview carries the one SCHEMA_VERSION of ../core/schema and `kind: "sae_overview"`; the open
 * card is a FeatureCardState.
 */
import type { ArrayPayload, FeatureCardState, TokenBytes } from "../core/schema";

/** The SAE's totals over the dataset, and its reconstruction metrics on the first rows. */
export interface OverviewSummary {
  n_latents: number;
  n_tokens: number; // counted tokens of the dataset (BOS excluded by default)
  n_dead: number; // latents that never fire on the dataset
  n_dense: number; // latents with density > dense_threshold
  dense_threshold: number;
  mean_l0: number; // mean number of latents active on a token
  explained_variance: number | null;
  ce_clean: number | null; // mean next-token loss of the model
  ce_sae: number | null; // with the SAE's reconstruction spliced in at its hook
  ce_zero: number | null; // with the hook zero-ablated
  ce_recovered: number | null; // (ce_zero - ce_sae) / (ce_zero - ce_clean)
  recon_rows: number; // dataset rows the four numbers above were measured on
  recon_tokens: number; // counted positions the SAE was spliced at
}

/** Live latents by log10 density: counts[i] in [edges[i], edges[i + 1]). */
export interface DensityBins {
  edges: ArrayPayload; // float32 [n_bins + 1], log10 density
  counts: ArrayPayload; // int32 [n_bins]
  ticks: ArrayPayload; // float32 [n_ticks], whole decades
}

/** Every latent, in index order. */
export interface OverviewLatents {
  density: ArrayPayload; // float32 [n], fraction of counted tokens where the latent is > 0
  max_act: ArrayPayload; // float32 [n], 0 for a dead latent
  top_token: ArrayPayload; // int32 [n], index into vocab of the token at its largest activation, -1 if dead
}

/** Everything the overview needs to redraw without a kernel. */
export interface OverviewState {
  schema_version: number;
  kind: "sae_overview";
  source: string; // the SAE's name in the Workspace
  hook: string;
  summary: OverviewSummary;
  histogram: DensityBins;
  latents: OverviewLatents;
  vocab: string[]; // the texts of the top tokens, see ../core/vocab.ts
  vocab_ids: ArrayPayload; // uint [n_vocab], the model's token id of each vocab entry
  vocab_bytes: TokenBytes; // raw bytes of the vocab entries that are not whole UTF-8 text
  notes: string[]; // how the numbers were made
}

/** `state` before the first overview: Python's `{}`. */
export type EmptyObject = Record<string, never>;

/** The latent whose card is open: a row's {unit}, or the card's own {source, unit}. */
export interface SelectedLatent {
  unit: number;
  source?: string;
}

/** The synced traitlets of the SaeOverview widget (OVERVIEW_TRAITS in overview/payload.py). */
export interface OverviewModel {
  state: OverviewState | EmptyObject; // the overview
  labels: Record<string, string>; // {str(latent): text}: the SAE's labels; the kernel sets them ("label" request)
  selected: SelectedLatent | EmptyObject; // the latent whose card is open ("select" request)
  card: FeatureCardState | EmptyObject; // the open latent's card
  error: string; // why the last request failed ('' when it did not); the last good state stays
  busy: boolean; // a computation is running
}
