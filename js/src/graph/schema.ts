/**
 * The ContributionGraph's versioned payload, from the kernel to the front end.
 *
 * Mirrors python/featurecard/graph/payload.py key for key
 * (tests/unit/test_schema_sync.py parses both files with regexes): keep each interface
 * flat, one `key: type;` per line. The graph carries the one SCHEMA_VERSION of
 * ../core/schema and `kind: "contribution_graph"`; the open card is a FeatureCardState.
 */
import type { ArrayPayload, FeatureCardState, TokenBytes } from "../core/schema";

/** Attention edges resid(attn_in[layer], key) -> attn(layer, query) above the threshold. */
export interface GraphEdges {
  layer: ArrayPayload; // uint8 | uint16 [n_edge]
  query: ArrayPayload; // uint8 | uint16 | int32 [n_edge]
  key: ArrayPayload; // uint8 | uint16 | int32 [n_edge]
  share: ArrayPayload; // float32 [n_edge], of the query's state, summed over heads, before renormalising
  heads: ArrayPayload; // float16 [n_edge, n_heads], the same share split by head
}

/**
 * The tokens a node's write promotes and suppresses most: its logit contribution through the
 * final LayerNorm at the frozen scale of its position and W_U (core/dynamics.py).
 */
export interface PromoteSuppress {
  promote_tokens: ArrayPayload; // [..., k], indices into vocab, largest first
  promote_values: ArrayPayload; // float32 [..., k], logit contribution
  suppress_tokens: ArrayPayload; // [..., k], most negative first
  suppress_values: ArrayPayload; // float32 [..., k]
}

/** Promote / suppress of every attention head and block at every position. */
export interface NodePromote {
  heads: PromoteSuppress; // [n_layers, n_pos, n_heads, k], each head's OV output at the query
  heads_done: ArrayPayload; // uint8 [n_layers, n_pos]: 1 where heads holds the node's heads (others: "promote_heads")
  attn: PromoteSuppress; // [n_layers, n_pos, k], the attention block's output (b_O included)
  mlp: PromoteSuppress | null; // [n_layers, n_pos, k], the MLP's output; null without MLPs
}

/** The top units (neurons or SAE latents) of one block, or residual state, at each position. */
export interface UnitTops {
  source: string; // the hook name for neurons, the SAE's Workspace name for latents
  unit: "neuron" | "latent";
  hook_name: string;
  block: "attn" | "mlp" | "resid";
  layer: number;
  level: number; // the residual level whose state these shares are of
  n_units: number;
  ids: ArrayPayload; // uint16 | int32 [n_pos, k], unit indices, largest share first
  shares: ArrayPayload; // float16 [n_pos, k]
  acts: ArrayPayload; // float32 [n_pos, k], the unit's activation
  units: ArrayPayload; // float16 [n_pos], all units together
  part_names: string[]; // the other parts: "bias", "error" (SAEs), "rest"
  parts: ArrayPayload; // float16 [n_parts, n_pos]
  promote: PromoteSuppress | null; // [n_pos, k, k_tokens], each listed unit's; null when not computed
}

/** Top tokens of every residual state, and the rises and falls from the state before. */
export interface LogitLens {
  top_tokens: ArrayPayload; // [n_levels, n_pos, k], indices into vocab
  top_values: ArrayPayload; // float16, log-probabilities
  up_tokens: ArrayPayload; // [n_levels - 1, n_pos, k], state r + 1 against state r
  up_values: ArrayPayload; // float16, change of log-probability, largest first
  down_tokens: ArrayPayload; // [n_levels - 1, n_pos, k]
  down_values: ArrayPayload; // float16, most negative first
}

/** Everything the graph needs to redraw without a kernel. */
export interface ContributionGraphState {
  schema_version: number;
  kind: "contribution_graph";
  n_layers: number;
  n_heads: number;
  n_pos: number;
  levels: string[]; // residual levels, bottom up: "embed", "0.attn", "0.mlp", ...
  attn_in: number[]; // per layer, the level the attention block reads
  attn_out: number[]; // ... and the level it writes
  mlp_in: number[]; // [] without MLPs
  mlp_out: number[];
  tokens: ArrayPayload; // [n_pos], indices into vocab
  vocab: string[]; // the texts of the tokens shown (prompt and logit lens), see ../core/vocab.ts
  vocab_ids: ArrayPayload; // uint [n_vocab], the model's token id of each vocab entry
  vocab_bytes: TokenBytes; // raw bytes of the vocab entries that are not whole UTF-8 text
  threshold: number; // `edges` holds every edge whose share exceeds this
  resid: ArrayPayload; // float32 [n_levels - 1, n_pos], share of state r in state r + 1
  bias: ArrayPayload; // float32 [n_layers, n_pos], share of b_O in the attention block's state
  mlp: ArrayPayload; // float32 [n_layers, n_pos], share of the MLP (zeros without MLPs)
  heads: ArrayPayload; // float16 [n_layers, n_pos, n_heads], each head's share over all sources
  edges: GraphEdges;
  units: UnitTops[];
  lens: LogitLens | null;
  promote: NodePromote | null; // null when the graph was made with promote=False
  unavailable: Record<string, string>; // part name -> why it is not shown
}

/** `state`, `selected` or `card` before they are set: Python's `{}`. */
export type EmptyObject = Record<string, never>;

/** The unit whose FeatureCard is open: an SAE's name or a neuron hook, and its index. */
export interface SelectedUnit {
  source: string;
  unit: number;
}

/** The synced traitlets of the ContributionGraph widget (GRAPH_TRAITS in contribution_graph.py). */
export interface GraphModel {
  state: ContributionGraphState | EmptyObject; // the last good graph
  target: number; // the token position whose routes are drawn; the kernel sets it ("target" request)
  threshold: number; // keep parts whose share exceeds it; the kernel sets it ("threshold" request)
  selected: SelectedUnit | EmptyObject; // the neuron or latent whose card is open
  card: FeatureCardState | EmptyObject; // the open unit's card
  error: string; // why the last request failed ('' when it did not); the last good state stays
  busy: boolean; // a computation is running
  nodes: Record<string, unknown>; // the traced NodeTable's traits below the graph ("trace" request), or {}
}
