/**
 * FeatureCardState (binary payloads) -> the plain data the components draw.
 *
 * All payloads are decoded and cross-checked here, once per state, so a malformed card
 * fails with one clear message instead of half-drawing.
 */
import { decodeArray, decodeInts, type NumericArray } from "./codecs";
import type { FeatureCardState } from "./schema";

export interface SeqData {
  tokens: string[]; // token text, one per shown position
  acts: NumericArray; // activation per shown position
  row: number; // dataset row (batch index)
  pos0: number; // dataset position of tokens[0]
  focus: number; // index into tokens of the token that selected this sequence
}

export interface GroupData {
  title: string;
  seqs: SeqData[];
}

export interface LogitRow {
  token: string;
  value: number;
}

export interface LogitsData {
  top: LogitRow[];
  bottom: LogitRow[];
}

/** The header fields, as sent. */
export type CardHeader = Pick<
  FeatureCardState,
  "source" | "unit" | "hook_name" | "feature" | "n_features" | "n_tokens" | "max_act" | "density"
>;

export interface CardData {
  header: CardHeader;
  groups: GroupData[];
  logits: LogitsData | null;
  unavailable: Record<string, string>;
}

function vocabLookup(vocab: string[], what: string): (i: number) => string {
  return (i) => {
    const s = vocab[i];
    if (s === undefined) {
      throw new Error(`featurecard: ${what} index ${i} is outside vocab (size ${vocab.length})`);
    }
    return s;
  };
}

function at(a: ArrayLike<number>, i: number): number {
  return a[i] ?? Number.NaN;
}

function lengthIs(a: ArrayLike<number>, n: number, what: string): void {
  if (a.length !== n)
    throw new Error(`featurecard: ${what} has ${a.length} entries, expected ${n}`);
}

function decodeGroups(state: FeatureCardState): GroupData[] {
  const ex = state.examples;
  const offsets = decodeInts(ex.seq_offsets, "examples.seq_offsets");
  const tokens = decodeInts(ex.tokens, "examples.tokens");
  const acts = decodeArray(ex.acts);
  const nSeq = Math.max(0, offsets.length - 1);
  lengthIs(acts, tokens.length, "examples.acts");
  const batch = decodeInts(ex.seq_batch, "examples.seq_batch");
  const pos0 = decodeInts(ex.seq_pos0, "examples.seq_pos0");
  const focus = decodeInts(ex.seq_focus, "examples.seq_focus");
  lengthIs(batch, nSeq, "examples.seq_batch");
  lengthIs(pos0, nSeq, "examples.seq_pos0");
  lengthIs(focus, nSeq, "examples.seq_focus");
  const word = vocabLookup(state.vocab, "examples.tokens");

  const seqs: SeqData[] = [];
  for (let s = 0; s < nSeq; s++) {
    const a = at(offsets, s);
    const b = at(offsets, s + 1);
    if (!(a >= 0 && a <= b && b <= tokens.length)) {
      throw new Error(
        `featurecard: examples.seq_offsets[${s}..${s + 1}] = ${a}..${b} is not a range inside ${tokens.length} tokens`,
      );
    }
    seqs.push({
      tokens: Array.from(tokens.subarray(a, b), word),
      acts: acts.subarray(a, b),
      row: at(batch, s),
      pos0: at(pos0, s),
      focus: at(focus, s),
    });
  }

  const total = ex.groups.reduce((sum, g) => sum + g.count, 0);
  if (total !== nSeq) {
    throw new Error(`featurecard: example groups count ${total} sequences, but there are ${nSeq}`);
  }
  let next = 0;
  return ex.groups.map((g) => {
    const group = { title: g.title, seqs: seqs.slice(next, next + g.count) };
    next += g.count;
    return group;
  });
}

function decodeLogits(state: FeatureCardState): LogitsData | null {
  const l = state.logits;
  if (l === null || l === undefined) return null;
  const word = vocabLookup(state.vocab, "logits");
  const rows = (tokPayload: typeof l.top_tokens, valPayload: typeof l.top_values, what: string) => {
    const toks = decodeInts(tokPayload, `logits.${what}_tokens`);
    const vals = decodeArray(valPayload);
    lengthIs(vals, toks.length, `logits.${what}_values`);
    return Array.from(toks, (t, i) => ({ token: word(t), value: at(vals, i) }));
  };
  return {
    top: rows(l.top_tokens, l.top_values, "top"),
    bottom: rows(l.bottom_tokens, l.bottom_values, "bottom"),
  };
}

/** Decodes and checks a card; throws an Error naming the first problem found. */
export function decodeCard(state: FeatureCardState): CardData {
  const { source, unit, hook_name, feature, n_features, n_tokens, max_act, density } = state;
  return {
    header: { source, unit, hook_name, feature, n_features, n_tokens, max_act, density },
    groups: decodeGroups(state),
    logits: decodeLogits(state),
    unavailable: state.unavailable ?? {},
  };
}
