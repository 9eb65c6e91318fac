/**
 * The NodeTable's versioned payload, from the kernel to the front end.
 *
 * Mirrors python/featurecard/nodes/payload.py key for key (tests/unit/test_schema_sync.py
 * parses both files with regexes): keep each interface flat, one `key: type;` per line. The
 * table carries the one SCHEMA_VERSION of ../core/schema and `kind: "node_table"`; the open card is a FeatureCardState.
 */
import type { ArrayPayload, FeatureCardState, TokenBytes } from "../core/schema";

export type FamilyKind = "mlp" | "attn" | "sae" | "error" | "head" | "attn_layer" | "mlp_layer";

/** The roll-up families: heads summed over sources, whole attention / MLP layers (ranked apart). */
export const ROLLUP_KINDS: readonly FamilyKind[] = ["head", "attn_layer", "mlp_layer"];

/** A node type: MLP neurons, attention heads (per token pair), one SAE's latents or its error,
 * or a roll-up (heads summed over sources, whole attention / MLP layers). */
export interface NodeFamily {
  code: number; // the value of NodeRows.family for its rows
  kind: FamilyKind;
  name: string; // "mlp", "attn", the SAE's name, that name + " error", "heads", "attn layer", "mlp layer"
  hook: string; // the SAE's hook; for the others a template with {layer}
  n_units: number;
  card: boolean; // whether its nodes open a FeatureCard
  sae: string; // the SAE's name in the Workspace (sae and error families), else ""
}

/** One prompt of the table (two in side-by-side mode: Left, Right). */
export interface NodePrompt {
  label: string;
  tokens: ArrayPayload; // uint [n_pos], the prompt's tokens as indices into NodeTableState.vocab
  target: number; // the target's value, with the ablations in place
  clean_target: number; // the target's value without the ablations
  predictions: ArrayPayload; // uint [n_predictions], the most likely next tokens at the target position (vocab)
  prediction_probs: ArrayPayload; // float32 [n_predictions]
}

/** A node of the model as a target (`fc.node`): every key, null where the kind has none. */
export interface NodeSpecPayload {
  kind: "neuron" | "latent" | "error" | "attn" | "write";
  pos: number;
  layer: number | null;
  unit: number | null;
  head: number | null;
  src: number | null;
  source: string | null; // the SAE's name (latent, error)
  write_kind: "attn" | "mlp" | "block" | null;
  direction: number[] | null; // [d_model] (write); null in a roll-up row's trace request: the kernel
  // fills in the shown target's gradient at that write
  label: string | null; // what the direction is (write), "" when it is the user's
}

export type Side = "total" | "query" | "key" | "value";

/** What the gradients are of: a token's logit / log-probability / loss, or a node. */
export interface NodeTarget {
  kind: "logit_diff" | "logprob" | "loss" | "node";
  position: number; // the position whose prediction is the target; a node's own position
  token: string | null;
  distractor: string | null;
  description: string;
  node: NodeSpecPayload | null; // the node (kind "node")
  side: Side; // the attention side the gradients go through
}

/** A column: one derived scalar comparable across node types. */
export interface NodeGroup {
  name: string;
  label: string;
  signed: boolean; // bottom-k rows were selected too
  help: string;
}

/** The rows (nodes) of the table, in Python's deterministic union order. */
export interface NodeRows {
  family: ArrayPayload; // uint8 [n], NodeFamily.code
  layer: ArrayPayload; // int32 [n], -1 for nodes outside blocks
  unit: ArrayPayload; // int32 [n], neuron / head / latent index
  pos: ArrayPayload; // int32 [n], position (the query position for attention)
  src: ArrayPayload; // int32 [n], the attended-to position for attention, else -1
  values: ArrayPayload; // float32 [n_prompts, n_groups, n], NaN where undefined
  profiles: ArrayPayload; // float32 [n_prompts, n, n_pos]
}

/** The rows' token dynamics (nodes/dynamics.py): ids index NodeTableState.vocab, -1 where the
 * row has none (no write; no token read). */
export interface NodeDynamics {
  k: number;
  promote_ids: ArrayPayload; // int32 [n_prompts, n, k], the tokens the row's write raises most
  promote_values: ArrayPayload; // float32 [n_prompts, n, k], their logit change, largest first
  suppress_ids: ArrayPayload; // int32 [n_prompts, n, k]
  suppress_values: ArrayPayload; // float32 [n_prompts, n, k], most negative first
  read_ids: ArrayPayload; // int32 [n, k], neurons and latents: the tokens whose embeddings raise it most
  read_values: ArrayPayload; // float32 [n, k]
  read_notes: string[]; // [n] what the read goes through, or why there is none; "" for other rows
}

/** An ablation in place (applied to every prompt). */
export interface NodeAblation {
  family: string; // "mlp", "attn" or an SAE's name
  layer: number;
  unit: number;
  pos: number;
  mode: "zero" | "mean";
}

/** Everything the table needs to redraw without a kernel. */
export interface NodeTableState {
  schema_version: number;
  kind: "node_table";
  vocab: string[]; // the texts of the tokens shown (prompts and predictions), see ../core/vocab.ts
  vocab_ids: ArrayPayload; // uint [n_vocab], the model's token id of each vocab entry
  vocab_bytes: TokenBytes; // raw bytes of the vocab entries that are not whole UTF-8 text
  prompts: NodePrompt[];
  target: NodeTarget;
  groups: NodeGroup[];
  families: NodeFamily[];
  rows: NodeRows;
  dynamics: NodeDynamics | null; // null: not computed
  sort_by: string; // the group the table is first sorted by (descending)
  k: number;
  ablations: NodeAblation[];
  notes: string[]; // how the numbers were made, where it deviates from the default
}

/** A target the table has shown: the first is the table's own, the last the one shown now. */
export interface TraceStep {
  description: string; // NodeTarget.description
  node: NodeSpecPayload | null; // null: the table's own token target
  side: Side;
  position: number;
}

/** A node whose card is open: a row's {family, layer, unit}, or the card's own {source, unit}. */
export interface SelectedNode {
  family?: string;
  layer?: number;
  unit: number;
  source?: string;
}

/** `state` before the first table: Python's `{}`. */
export type EmptyObject = Record<string, never>;

/** The synced traitlets of the NodeTable widget (NODE_TABLE_TRAITS in nodes/payload.py). */
export interface NodesModel {
  state: NodeTableState | EmptyObject; // the last good table
  position: number; // the target position; the kernel sets it (a click asks with the "position" request)
  selected: SelectedNode | EmptyObject; // the node whose card is open; the kernel sets it ("select" request)
  card: FeatureCardState | EmptyObject; // the open node's card
  ablations: NodeAblation[]; // ablations in place; the front end adds and removes them
  trail: TraceStep[]; // the targets followed ("trace" / "back" requests), the table's own first
  error: string; // why the last request failed ('' when it did not); the last good state stays
  busy: boolean; // a computation is running
}
