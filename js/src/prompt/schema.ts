/**
 * The prompt view's versioned payload, from the kernel to the front end.
 *
 * Mirrors python/featurecard/prompt/payload.py key for key (tests/unit/core/test_schema_sync.py
 * parses both files with regexes): keep each interface flat, one `key: type;` per line. The view
 * carries the one SCHEMA_VERSION of ../core/schema and `kind: "prompt_view"`; the open card is a
 * FeatureCardState with its `prompt` block.
 */
import type { ArrayPayload, FeatureCardState, TokenBytes } from "../core/schema";

/** Every (position, latent) pair where a latent fires, by position, largest activation first. */
export interface PromptPairs {
  pos: ArrayPayload; // uint [m], token position in the prompt
  latent: ArrayPayload; // int32 [m]
  act: ArrayPayload; // float32 [m], the latent's activation there
  quantile: ArrayPayload; // float32 [m], fraction of the dataset's counted tokens where it is lower
  loss_next: ArrayPayload; // float32 [m], next-token loss without its write minus with it (NaN at the end)
  loss_prompt: ArrayPayload; // float32 [m], the prompt's mean next-token loss, same difference
}

/** DFA of each pair to its source tokens: pair i's sources 0 .. pos[i] are values[offsets[i]:offsets[i + 1]]. */
export interface PromptDfa {
  offsets: ArrayPayload; // int32 [m + 1]
  values: ArrayPayload; // float32 [sum(pos + 1)]
  pre: ArrayPayload; // float32 [m], the pair's pre-activation
  bias: ArrayPayload; // float32 [m], its bias terms, carried by no source token
}

/** Everything the prompt view needs to redraw without a kernel. */
export interface PromptState {
  schema_version: number;
  kind: "prompt_view";
  source: string; // the SAE's name in the Workspace
  hook: string;
  n_latents: number;
  text: string; // the prompt as given ('' when given as token ids)
  tokens: ArrayPayload; // uint [n_pos], indices into vocab
  counted: ArrayPayload; // uint8 [n_pos], 1 where the dataset counts the token (0: BOS, excluded)
  clean_loss: ArrayPayload; // float32 [n_pos - 1], next-token loss of the clean prompt
  pairs: PromptPairs;
  dfa: PromptDfa | null; // null unless the SAE reads an attention output (see unavailable)
  n_tokens: number; // counted tokens of the dataset the quantiles are over
  vocab: string[]; // the prompt's token texts, see ../core/vocab.ts
  vocab_ids: ArrayPayload; // uint [n_vocab], the model's token id of each vocab entry
  vocab_bytes: TokenBytes; // raw bytes of the vocab entries that are not whole UTF-8 text
  unavailable: Record<string, string>; // "dfa" / "loss" -> why it is not shown
  notes: string[]; // how the numbers were made
}

/** `state` before the first view: Python's `{}`. */
export type EmptyObject = Record<string, never>;

/** The latent whose card is open: a list row's {unit, pos}, or the card's own {source, unit}. */
export interface SelectedLatent {
  unit: number;
  pos?: number;
  source?: string;
}

/** The synced traitlets of the PromptView widget (PROMPT_TRAITS in prompt/payload.py). */
export interface PromptModel {
  state: PromptState | EmptyObject; // the prompt view
  selected: SelectedLatent | EmptyObject; // the latent whose card is open ("select" request)
  card: FeatureCardState | EmptyObject; // the open latent's card, the prompt above its examples
  error: string; // why the last request failed ('' when it did not); the last good state stays
  busy: boolean; // a computation is running
}
