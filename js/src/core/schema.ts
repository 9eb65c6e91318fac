/**
 * The versioned payloads that travel from the kernel to the front end: the card's, which every
 * view carries (the graph and the table open a card inline), and the request protocol.
 *
 * Mirrors python/featurecard/core/schema.py key for key (tests/unit/test_schema_sync.py parses
 * both files with regexes): keep each interface flat, one `key: type;` per line.
 */

/** One version for every view's payload (each also says its `kind`); python/featurecard/core/schema.py. */
export const SCHEMA_VERSION = 4;

// "uint" below: the smallest of uint8, uint16, int32 that holds the values (decodeInts reads all).

export type DType = "float32" | "float16" | "int32" | "uint16" | "uint8";

/** Where an ArrayPayload's bytes can come from: a live widget gives a DataView (often over a
 * larger buffer, at an offset); an exported HTML file gives a base64 string. */
export type ByteSource = DataView | ArrayBuffer | ArrayBufferView | string;

/** A typed array: little-endian `dtype` values in row-major `shape`. */
export interface ArrayPayload {
  dtype: DType;
  shape: number[];
  buffer: ByteSource; // bytes live (a DataView here); base64 str in an exported file
}

/** A titled run of consecutive example sequences (e.g. "Top activations"). */
export interface ExampleGroup {
  title: string;
  count: number; // how many sequences, following the previous group's
}

/**
 * Direct feature attribution of the first `count` example sequences (the top activations), for
 * an SAE on an attention output: the latent's pre-activation at each one's own token, split over
 * its source tokens (every head summed). `sum(values) + outside == pre - bias` per example.
 */
export interface ExampleDfa {
  count: number; // how many sequences, from the first, have DFA
  values: ArrayPayload; // float32 [their n_tok], each shown token's DFA as a source (0 after the focus)
  outside: ArrayPayload; // float32 [count], the DFA of the sources before the shown window
  pre: ArrayPayload; // float32 [count], the pre-activation at the focus token
  bias: ArrayPayload; // float32 [count], its bias terms (no source carries them)
}

/** Ragged example sequences; sequence s is tokens[seq_offsets[s]:seq_offsets[s+1]]. */
export interface Examples {
  groups: ExampleGroup[];
  seq_offsets: ArrayPayload; // uint [n_seq + 1]
  tokens: ArrayPayload; // uint [n_tok], indices into FeatureCardState.vocab
  acts: ArrayPayload; // float32 [n_tok], the unit's activation at each shown token
  seq_batch: ArrayPayload; // uint [n_seq], dataset row of the sequence
  seq_pos0: ArrayPayload; // uint [n_seq], dataset position of the sequence's first shown token
  seq_focus: ArrayPayload; // uint [n_seq], index in the sequence of the token that selected it
  dfa: ExampleDfa | null; // null unless the SAE reads an attention output (see unavailable.dfa)
}

/** Direct logit effect of the unit's output direction (through the unembedding). */
export interface LogitTable {
  top_tokens: ArrayPayload; // uint [k], indices into vocab, largest first
  top_values: ArrayPayload; // float32 [k]
  bottom_tokens: ArrayPayload; // uint [k], indices into vocab, most negative first
  bottom_values: ArrayPayload; // float32 [k]
  vocab_values: ArrayPayload; // float16 [n_vocab], direct logit of every vocab entry (hover markers)
}

/** Equal-width bins with a few round ticks. */
export interface Histogram {
  edges: ArrayPayload; // float32 [n_bins + 1]
  counts: ArrayPayload; // uint [n_bins]
  ticks: ArrayPayload; // float32 [n_ticks], at most 6
}

/** The units most correlated (Pearson) with this one, with their cosine similarity. */
export interface CorrelationTable {
  ids: ArrayPayload; // int32 [k], unit indices
  pearson: ArrayPayload; // float32 [k]
  cosine: ArrayPayload; // float32 [k]
}

/** The input neurons the decoder direction weighs most (by |weight|). */
export interface AlignmentTable {
  ids: ArrayPayload; // int32 [k], input neuron indices
  values: ArrayPayload; // float32 [k], decoder weights
  l1_share: ArrayPayload; // float32 [k], |weight| / sum of |weights|
}

/** The left column's tables; null where a table does not apply (see `unavailable`). */
export interface LeftPanels {
  alignment: AlignmentTable | null;
  neurons: CorrelationTable | null; // correlated input neurons
  latents: CorrelationTable | null; // correlated latents of the same SAE (over all latents)
  latents_b: CorrelationTable | null; // correlated latents of encoder B
}

/** Raw bytes of the vocab entries that are not whole UTF-8 text on their own (pieces of a
 * character cut by byte-level BPE); ./text.ts decodes a sequence's bytes together. */
export interface TokenBytes {
  ids: ArrayPayload; // int32 [m], indices into vocab
  offsets: ArrayPayload; // int32 [m + 1], entry j's bytes are data[offsets[j]:offsets[j + 1]]
  data: ArrayPayload; // uint8 [n_bytes]
}

/** Exact next-token effects at every shown token where the unit is nonzero. */
export interface Hover {
  token_row: ArrayPayload; // uint [n_tok], row in the arrays below; n_hover where the unit is silent
  top_tokens: ArrayPayload; // uint [n_hover, k], vocab indices, log-prob most raised first
  top_values: ArrayPayload; // float16 [n_hover, k], change of log p
  bottom_tokens: ArrayPayload; // uint [n_hover, k], log-prob most lowered first
  bottom_values: ArrayPayload; // float16 [n_hover, k]
  loss_change: ArrayPayload; // float16 [n_hover], drawn under the next token (NaN at a row's end)
}

/**
 * The prompt a card was opened from (the prompt view), drawn above its examples with the unit's
 * activation at each token. Its tokens index its own local vocab (ids, text, bytes).
 */
export interface CardPrompt {
  text: string; // the prompt as given ('' when given as token ids)
  tokens: ArrayPayload; // uint [n], indices into vocab
  acts: ArrayPayload; // float32 [n], the unit's activation at each token (0 where the dataset leaves a token out: BOS)
  focus: number; // index of the token the card was opened from (-1: none)
  dfa: ArrayPayload | null; // float32 [focus + 1], DFA of the unit at focus to each source token (hook_z SAEs)
  vocab: string[]; // the prompt's token strings, as text
  vocab_ids: ArrayPayload; // uint [n_vocab], the model's token id of each vocab entry
  vocab_bytes: TokenBytes; // raw bytes of the vocab entries that are not whole UTF-8 text
}

/** Everything one card needs to redraw without a kernel. */
export interface FeatureCardState {
  schema_version: number;
  kind: "feature_card";
  source: string; // the SAE's name in the Workspace, or the hook name for neurons
  unit: "latent" | "neuron";
  hook_name: string; // the model hook the unit reads
  feature: number; // the unit's index
  n_features: number; // valid indices are 0 .. n_features - 1
  n_tokens: number; // dataset tokens counted (BOS excluded by default)
  max_act: number;
  density: number; // fraction of counted tokens where the unit is nonzero
  vocab: string[]; // the token strings this card shows, as text
  vocab_ids: ArrayPayload; // uint [n_vocab], the model's token id of each vocab entry
  vocab_bytes: TokenBytes; // raw bytes of the vocab entries that are not whole UTF-8 text
  examples: Examples;
  logits: LogitTable | null; // null when the hook has no linear path to the residual stream
  unavailable: Record<string, string>; // panel name -> why it cannot be shown for this unit
  pending: string[]; // panels waiting for the complete index (their reason in unavailable)
  hover: Hover | null; // null when the hook has no linear path to the residual stream
  act_hist: Histogram; // over the unit's nonzero activations
  logit_hist: Histogram | null; // over the whole vocabulary
  left: LeftPanels;
  label: string | null; // the latent's label ('' none yet); null where the card's host has no labels
  prompt?: CardPrompt; // only in a card opened from a prompt view
}

/** `state` before the first card: Python's `{}`. */
export type EmptyState = Record<string, never>;

/** How far the background build of the complete index is (tokens run through the model). */
export interface BuildProgress {
  done: number; // tokens done
  total: number; // tokens in all (every dataset token, once per pass)
  seconds: number; // since the build began
}

/** The synced traitlets of the FeatureCard widget (FEATURE_CARD_TRAITS in schema.py). */
export interface CardModel {
  source: string; // the SAE name (or "name::B" for its encoder B) or hook name whose unit is shown
  feature: number; // the unit index shown; the front end asks for another with a "show" request
  state: FeatureCardState | EmptyState; // the last good card
  error: string; // why the last request failed ('' when it did not); the last good state stays
  busy: boolean; // a computation is running
  live: boolean; // a kernel answers requests (search, random); false in an exported file
  choices: number[]; // the only features this view can show (an exported file); [] for any
  build_progress: BuildProgress | null; // while `complete` waits for the complete index; else null
}

/** A request from the front end to the kernel (a custom message), answered by one Reply
 * (python/featurecard/core/view.py; every view asks this way, never by writing a trait). */
export interface Request {
  kind: "fc-request";
  id: string;
  name: string; // card: show, search, random, complete, window; graph: target, threshold, select; table: position, select, ablations
  args: Record<string, unknown>;
}

/** One unit that fires on the searched text. */
export interface SearchHit {
  feature: number;
  act: number; // its largest activation over the text's tokens
  frac: number; // act / the unit's max over the dataset (0 when the unit is dead there)
  pos: number; // position in the text's tokens where it peaks
  token: string; // that token's text
}

/** The answer to a "search" request: units most active on a typed string. */
export interface SearchResult {
  query: string;
  source: string;
  n_tokens: number; // tokens the text became (BOS not counted)
  hits: SearchHit[];
}

/** The answer to a "window" request: ±20 tokens of one example's dataset row (the card's rows
 * show ±5), with the unit's activation at each, recomputed by the kernel. Its tokens index its
 * own local vocabulary (./vocab.ts decodes it as a card's). */
export interface ExampleWindow {
  source: string;
  feature: number;
  row: number; // dataset row
  start: number; // dataset position of tokens[0]
  focus: number; // index in tokens of the token the example was chosen for
  tokens: ArrayPayload; // uint [n], indices into vocab
  acts: ArrayPayload; // float32 [n], the unit's activation at each token (0 where the index leaves a token out: BOS)
  vocab: string[]; // the window's token strings, as text
  vocab_ids: ArrayPayload; // uint [n_vocab], the model's token id of each vocab entry
  vocab_bytes: TokenBytes; // raw bytes of the vocab entries that are not whole UTF-8 text
}

/** The kernel's answer to the Request with the same id. */
export interface Reply {
  kind: "fc-reply";
  id: string;
  ok: boolean;
  result?: unknown; // when ok
  error?: string; // when not ok: what went wrong, for the card's banner
}
