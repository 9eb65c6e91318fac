/**
 * FeatureCardState (binary payloads) -> the plain data the components draw.
 *
 * All payloads are decoded and cross-checked here, once per state, so a malformed card
 * fails with one clear message instead of half-drawing. Token text of example sequences is
 * decoded per sequence from token bytes (../core/text.ts), so a character that byte-level BPE cut
 * between two tokens reads right.
 */
import { decodeArray, decodeInts, type NumericArray } from "../core/codecs";
import type { FeatureCardState } from "../core/schema";
import { sequenceText, type VocabText } from "../core/text";
import { checkVocabIndices, decodeVocab } from "../core/vocab";
import {
  decodeHist,
  decodeHover,
  decodeLeft,
  type HistData,
  type HoverData,
  type LeftData,
  lengthIs,
  shownGroups,
} from "./panel-data";

export type { HistData, HoverData, LeftData, TableRow } from "./panel-data";

export interface SeqData {
  tokens: string[]; // token text, one per shown position (decoded together: see ../core/text.ts)
  vocab: ArrayLike<number>; // vocab index per shown position
  acts: NumericArray; // activation per shown position
  row: number; // dataset row (batch index)
  pos0: number; // dataset position of tokens[0]
  focus: number; // index into tokens of the token that selected this sequence
  start: number; // index of tokens[0] in the card's flat token arrays
  group: number; // index of the group the sequence belongs to
}

export interface GroupData {
  title: string;
  seqs: SeqData[];
}

export interface LogitRow {
  token: string; // standalone text
  vocab: number; // vocab index
  value: number;
}

export interface LogitsData {
  top: LogitRow[];
  bottom: LogitRow[];
  vocabValues: NumericArray; // direct logit of every vocab entry
}

/** The header fields, as sent. */
export type CardHeader = Pick<
  FeatureCardState,
  "source" | "unit" | "hook_name" | "feature" | "n_features" | "n_tokens" | "max_act" | "density"
>;

export interface CardData {
  header: CardHeader;
  groups: GroupData[];
  seqs: SeqData[]; // every sequence sent, in group order (groups leave out repeats)
  logits: LogitsData | null;
  unavailable: Record<string, string>;
  vocab: VocabText;
  vocabIds: ArrayLike<number>; // the model's token id of each vocab entry
  hover: HoverData | null;
  actHist: HistData;
  logitHist: HistData | null;
  left: LeftData;
}

function at(a: ArrayLike<number>, i: number): number {
  return a[i] ?? Number.NaN;
}

function decodeSeqs(state: FeatureCardState, vt: VocabText): SeqData[] {
  const ex = state.examples;
  const offsets = decodeInts(ex.seq_offsets, "examples.seq_offsets");
  const tokens = decodeInts(ex.tokens, "examples.tokens");
  const acts = decodeArray(ex.acts);
  const nSeq = Math.max(0, offsets.length - 1);
  lengthIs(acts, tokens.length, "examples.acts");
  checkVocabIndices(tokens, state.vocab.length, "examples.tokens");
  const batch = decodeInts(ex.seq_batch, "examples.seq_batch");
  const pos0 = decodeInts(ex.seq_pos0, "examples.seq_pos0");
  const focus = decodeInts(ex.seq_focus, "examples.seq_focus");
  lengthIs(batch, nSeq, "examples.seq_batch");
  lengthIs(pos0, nSeq, "examples.seq_pos0");
  lengthIs(focus, nSeq, "examples.seq_focus");
  const total = ex.groups.reduce((sum, g) => sum + g.count, 0);
  if (total !== nSeq) {
    throw new Error(`featurecard: example groups count ${total} sequences, but there are ${nSeq}`);
  }
  const groupOf: number[] = ex.groups.flatMap((g, gi) => Array<number>(g.count).fill(gi));

  const seqs: SeqData[] = [];
  for (let s = 0; s < nSeq; s++) {
    const a = at(offsets, s);
    const b = at(offsets, s + 1);
    if (!(a >= 0 && a <= b && b <= tokens.length)) {
      throw new Error(
        `featurecard: examples.seq_offsets[${s}..${s + 1}] = ${a}..${b} is not a range inside ${tokens.length} tokens`,
      );
    }
    const ids = tokens.subarray(a, b);
    seqs.push({
      tokens: sequenceText(vt, ids),
      vocab: ids,
      acts: acts.subarray(a, b),
      row: at(batch, s),
      pos0: at(pos0, s),
      focus: at(focus, s),
      start: a,
      group: groupOf[s] ?? 0,
    });
  }
  return seqs;
}

function decodeLogits(state: FeatureCardState, vt: VocabText): LogitsData | null {
  const l = state.logits;
  if (l === null || l === undefined) return null;
  const rows = (tokPayload: typeof l.top_tokens, valPayload: typeof l.top_values, what: string) => {
    const toks = decodeInts(tokPayload, `logits.${what}_tokens`);
    checkVocabIndices(toks, state.vocab.length, "logits");
    const vals = decodeArray(valPayload);
    lengthIs(vals, toks.length, `logits.${what}_values`);
    return Array.from(toks, (v, i) => ({ token: vt.text(v), vocab: v, value: at(vals, i) }));
  };
  const vocabValues = l.vocab_values
    ? decodeArray(l.vocab_values)
    : new Float32Array(state.vocab.length).fill(Number.NaN);
  lengthIs(vocabValues, state.vocab.length, "logits.vocab_values");
  return {
    top: rows(l.top_tokens, l.top_values, "top"),
    bottom: rows(l.bottom_tokens, l.bottom_values, "bottom"),
    vocabValues,
  };
}

const EMPTY_HIST: HistData = {
  edges: new Float32Array([0, 0]),
  counts: new Int32Array([0]),
  ticks: new Float32Array(0),
};

/** Decodes and checks a card; throws an Error naming the first problem found. */
export function decodeCard(state: FeatureCardState): CardData {
  const { source, unit, hook_name, feature, n_features, n_tokens, max_act, density } = state;
  const vocab = decodeVocab(state);
  const vt = vocab.text;
  const seqs = decodeSeqs(state, vt);
  let next = 0;
  const sent = state.examples.groups.map((g) => {
    const group = { title: g.title, seqs: seqs.slice(next, next + g.count) };
    next += g.count;
    return group;
  });
  const groups = shownGroups(sent); // `seqs` keeps every sequence: hover and marks index it
  const nTok = state.examples.tokens.shape[0] ?? 0;
  return {
    header: { source, unit, hook_name, feature, n_features, n_tokens, max_act, density },
    groups,
    seqs,
    logits: decodeLogits(state, vt),
    unavailable: state.unavailable ?? {},
    vocab: vt,
    vocabIds: vocab.ids,
    hover: decodeHover(state, nTok),
    actHist: decodeHist(state.act_hist, "act_hist") ?? EMPTY_HIST,
    logitHist: decodeHist(state.logit_hist, "logit_hist"),
    left: decodeLeft(state),
  };
}
