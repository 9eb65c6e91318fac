/**
 * PromptState (binary payloads) -> the plain numbers the prompt view draws.
 *
 * Decoded and cross-checked once per state, so a malformed view fails with one clear message
 * instead of half-drawing. The prompt's token texts are decoded together from their bytes
 * (../core/text.ts), so a character byte-level BPE cut between two tokens reads right; they reach
 * the DOM only through textContent.
 */
import { decodeArray, decodeInts } from "../core/codecs";
import { sequenceText } from "../core/text";
import { checkVocabIndices, decodeVocab } from "../core/vocab";
import type { PromptState } from "./schema";

/** One firing (position, latent) pair. */
export interface Pair {
  index: number; // its index in the state's pair arrays
  pos: number;
  latent: number;
  act: number;
  quantile: number;
  lossNext: number; // NaN at the prompt's last token
  lossPrompt: number;
}

export interface DfaData {
  offsets: ArrayLike<number>;
  values: Float32Array;
  pre: Float32Array;
  bias: Float32Array;
}

export interface PromptData {
  source: string;
  hook: string;
  nLatents: number;
  text: string;
  tokens: string[]; // each token's text, decoded together
  counted: boolean[];
  cleanLoss: Float32Array; // [n_pos - 1]
  pairs: Pair[]; // by position, largest activation first
  byPos: Pair[][]; // the pairs at each position
  dfa: DfaData | null;
  nTokens: number;
  unavailable: Record<string, string>;
  notes: string[];
}

function floats(p: PromptState["clean_loss"], what: string, n: number): Float32Array {
  const a = decodeArray(p);
  if (!(a instanceof Float32Array)) throw new Error(`featurecard: ${what} is not float32`);
  if (n >= 0 && a.length !== n)
    throw new Error(`featurecard: ${what} has ${a.length} entries, expected ${n}`);
  return a;
}

function decodeDfa(state: PromptState, pos: ArrayLike<number>): DfaData | null {
  const d = state.dfa;
  if (d === null || d === undefined) return null;
  const m = pos.length;
  const offsets = decodeInts(d.offsets, "dfa.offsets");
  if (offsets.length !== m + 1)
    throw new Error(`featurecard: dfa.offsets has ${offsets.length} entries, expected ${m + 1}`);
  const values = floats(d.values, "dfa.values", -1);
  for (let i = 0; i < m; i++) {
    const a = offsets[i] ?? 0;
    const b = offsets[i + 1] ?? 0;
    if (b - a !== (pos[i] ?? 0) + 1 || b > values.length)
      throw new Error(
        `featurecard: dfa of pair ${i} spans ${a}..${b}, not its ${(pos[i] ?? 0) + 1} sources`,
      );
  }
  return { offsets, values, pre: floats(d.pre, "dfa.pre", m), bias: floats(d.bias, "dfa.bias", m) };
}

/** Decodes and checks a prompt view; throws an Error naming the first problem found. */
export function decodePrompt(state: PromptState): PromptData {
  const vocab = decodeVocab(state);
  const local = decodeInts(state.tokens, "tokens");
  checkVocabIndices(local, vocab.size, "tokens");
  const n = local.length;
  const counted = decodeInts(state.counted, "counted");
  if (counted.length !== n)
    throw new Error(`featurecard: counted has ${counted.length} entries, expected ${n}`);
  const p = state.pairs;
  const pos = decodeInts(p.pos, "pairs.pos");
  const m = pos.length;
  const latent = decodeInts(p.latent, "pairs.latent");
  if (latent.length !== m)
    throw new Error(`featurecard: pairs.latent has ${latent.length} entries, expected ${m}`);
  const act = floats(p.act, "pairs.act", m);
  const quantile = floats(p.quantile, "pairs.quantile", m);
  const lossNext = floats(p.loss_next, "pairs.loss_next", m);
  const lossPrompt = floats(p.loss_prompt, "pairs.loss_prompt", m);
  const byPos: Pair[][] = Array.from({ length: n }, () => []);
  const pairs: Pair[] = [];
  for (let i = 0; i < m; i++) {
    const at = pos[i] ?? -1;
    const slot = byPos[at];
    if (slot === undefined)
      throw new Error(`featurecard: pairs.pos[${i}] = ${at} is not one of the ${n} tokens`);
    const pair: Pair = {
      index: i,
      pos: at,
      latent: latent[i] ?? 0,
      act: act[i] ?? Number.NaN,
      quantile: quantile[i] ?? Number.NaN,
      lossNext: lossNext[i] ?? Number.NaN,
      lossPrompt: lossPrompt[i] ?? Number.NaN,
    };
    pairs.push(pair);
    slot.push(pair);
  }
  return {
    source: state.source,
    hook: state.hook,
    nLatents: state.n_latents,
    text: state.text,
    tokens: sequenceText(vocab.text, local),
    counted: Array.from(counted, (c) => c !== 0),
    cleanLoss: floats(state.clean_loss, "clean_loss", Math.max(0, n - 1)),
    pairs,
    byPos,
    dfa: decodeDfa(state, pos),
    nTokens: state.n_tokens,
    unavailable: state.unavailable ?? {},
    notes: state.notes ?? [],
  };
}
