// A small prompt view state for the prompt view's tests (python/featurecard/prompt/payload.py's shape).
import type { PromptState } from "../src/prompt/schema";
import { payload } from "./make-state";

export const PROMPT_VOCAB = ["<|endoftext|>", " the", "</script><b>x</b>", "\u202eevil"];

/**
 * Four tokens (BOS, " the", markup, a bidi override). Pairs, by position, largest act first:
 * token 1: latents 7 (act 2), 3 (act 1); token 2: 5 (act 3), 7 (act 0.5), 9 (act 0.25);
 * token 3 (the last): 3 (act 4). DFA of every pair over sources 0 .. pos.
 */
export function makePromptState(over: Partial<PromptState> = {}): PromptState {
  const pos = [1, 1, 2, 2, 2, 3];
  const offsets = [0];
  for (const p of pos) offsets.push((offsets[offsets.length - 1] ?? 0) + p + 1);
  const values = Array.from(
    { length: offsets[offsets.length - 1] ?? 0 },
    (_, i) => ((i % 5) - 2) / 4,
  );
  return {
    schema_version: 3,
    kind: "prompt_view",
    source: "z1",
    hook: "blocks.1.attn.hook_z",
    n_latents: 12,
    text: " the</script><b>x</b>\u202eevil",
    tokens: payload("uint8", [0, 1, 2, 3]),
    counted: payload("uint8", [0, 1, 1, 1]),
    clean_loss: payload("float32", [5, 4, 3]),
    pairs: {
      pos: payload("uint8", pos),
      latent: payload("int32", [7, 3, 5, 7, 9, 3]),
      act: payload("float32", [2, 1, 3, 0.5, 0.25, 4]),
      quantile: payload("float32", [0.5, 0.99, 0.9, 0.1, 0.999, 0.75]),
      loss_next: payload("float32", [0.125, -0.5, 0.25, -1, 0.0625, Number.NaN]),
      loss_prompt: payload("float32", [0.5, 0.125, -0.25, 0.0625, 1, 0.25]),
    },
    dfa: {
      offsets: payload("int32", offsets),
      values: payload("float32", values),
      pre: payload("float32", [2, 1, 3, 0.5, 0.25, 4]),
      bias: payload("float32", [0.25, 0.5, -0.5, 0, 0.125, 1]),
    },
    n_tokens: 1000,
    vocab: PROMPT_VOCAB,
    vocab_ids: payload("uint16", [0, 10, 11, 12]),
    vocab_bytes: {
      ids: payload("uint8", []),
      offsets: payload("uint8", [0]),
      data: payload("uint8", []),
    },
    unavailable: {},
    notes: ["how the numbers are made"],
    ...over,
  };
}
