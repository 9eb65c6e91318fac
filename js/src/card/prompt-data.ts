/**
 * A card's prompt block (FeatureCardState.prompt: the prompt view it was opened from) -> the
 * plain data its prompt row draws. The block's tokens index its own local vocabulary, decoded
 * together from their bytes as an example row's are (../core/text.ts).
 */
import { decodeArray, decodeInts, type NumericArray } from "../core/codecs";
import type { FeatureCardState } from "../core/schema";
import { sequenceText, type VocabText } from "../core/text";
import { checkVocabIndices, decodeVocab } from "../core/vocab";

export interface CardPromptData {
  text: string; // the prompt as given ('' when given as token ids)
  tokens: string[]; // each token's text, decoded together
  vocab: ArrayLike<number>; // per token, its entry of the block's vocabulary
  acts: NumericArray; // the unit's activation at each token
  focus: number; // the token the card was opened from (-1: none)
  dfa: NumericArray | null; // the unit's DFA at focus to sources 0 .. focus (attention-output SAEs)
  vocabText: VocabText;
}

/** The card's prompt block, decoded and checked; null when the card has none. */
export function decodeCardPrompt(state: FeatureCardState): CardPromptData | null {
  const p = state.prompt;
  if (p === undefined || p === null) return null;
  const vocab = decodeVocab(p);
  const local = decodeInts(p.tokens, "prompt.tokens");
  checkVocabIndices(local, vocab.size, "prompt.tokens");
  const acts = decodeArray(p.acts);
  if (acts.length !== local.length)
    throw new Error(
      `featurecard: prompt.acts has ${acts.length} entries, expected ${local.length}`,
    );
  if (!(Number.isInteger(p.focus) && p.focus >= -1 && p.focus < local.length))
    throw new Error(
      `featurecard: prompt.focus ${p.focus} is not one of its ${local.length} tokens`,
    );
  const dfa = p.dfa ? decodeArray(p.dfa) : null;
  if (dfa && dfa.length !== p.focus + 1)
    throw new Error(`featurecard: prompt.dfa has ${dfa.length} entries, expected ${p.focus + 1}`);
  return {
    text: p.text,
    tokens: sequenceText(vocab.text, local),
    vocab: local,
    acts,
    focus: p.focus,
    dfa,
    vocabText: vocab.text,
  };
}
