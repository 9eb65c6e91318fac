/**
 * FeatureCardState (binary payloads) -> the plain data the components draw.
 *
 * All payloads are decoded and cross-checked here, once per state, so a malformed card
 * fails with one clear message instead of half-drawing. Token text of example sequences is
 * decoded per sequence from token bytes (../core/text.ts), so a character that byte-level BPE cut
 * between two tokens reads right. A widened example row (the kernel's answer to a `window`
 * request) is decoded the same way, from its own local vocabulary (`decodeWindow`).
 */
import { decodeArray, decodeInts, type NumericArray } from "../core/codecs";
import type { ExampleWindow, FeatureCardState } from "../core/schema";
import { sequenceText, type VocabText } from "../core/text";
import { checkVocabIndices, decodeVocab } from "../core/vocab";
import {
  decodeExampleDfa,
  decodeHist,
  decodeHover,
  decodeLeft,
  type HistData,
  type HoverData,
  type LeftData,
  lengthIs,
  type SeqDfa,
  shownGroups,
} from "./panel-data";
import { type CardPromptData, decodeCardPrompt } from "./prompt-data";

export type { HistData, HoverData, LeftData, SeqDfa, TableRow } from "./panel-data";

export interface SeqData {
  tokens: string[]; // token text, one per shown position (decoded together: see ../core/text.ts)
  vocab: ArrayLike<number>; // vocab index per shown position
  acts: NumericArray; // activation per shown position
  row: number; // dataset row (batch index)
  pos0: number; // dataset position of tokens[0]
  focus: number; // index into tokens of the token that selected this sequence
  start: number; // index of tokens[0] in the card's flat token arrays
  group: number; // index of the group the sequence belongs to
  dfa: SeqDfa | null; // DFA to the example's token (a top example of an attention-output SAE)
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
  pending: string[]; // panels waiting for the complete index
  vocab: VocabText;
  vocabIds: ArrayLike<number>; // the model's token id of each vocab entry
  hover: HoverData | null;
  actHist: HistData;
  logitHist: HistData | null;
  left: LeftData;
  prompt?: CardPromptData | null; // the prompt view's prompt, in a card opened from one
  label: string | null; // the latent's label ('' none yet); null: the host has no labels
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
  const lengths = Array.from({ length: nSeq }, (_, s) => at(offsets, s + 1) - at(offsets, s));
  const dfa = decodeExampleDfa(state, lengths);

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
      dfa: dfa[s] ?? null,
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
    pending: Array.isArray(state.pending) ? state.pending.filter((k) => typeof k === "string") : [],
    vocab: vt,
    vocabIds: vocab.ids,
    hover: decodeHover(state, nTok),
    actHist: decodeHist(state.act_hist, "act_hist") ?? EMPTY_HIST,
    logitHist: decodeHist(state.logit_hist, "logit_hist"),
    left: decodeLeft(state),
    prompt: decodeCardPrompt(state),
    label: typeof state.label === "string" ? state.label : null,
  };
}

/** An example row widened to ±20 tokens of its dataset row (the kernel's `window` answer). */
export interface WindowData {
  source: string;
  feature: number;
  row: number; // dataset row
  start: number; // dataset position of tokens[0]
  focus: number; // index into tokens of the example's own token
  tokens: string[]; // token text, decoded together (../core/text.ts)
  vocab: ArrayLike<number>; // per token, its entry of the window's own vocabulary
  acts: NumericArray; // the unit's activation per token
  text: VocabText; // the window's vocabulary: each entry's bytes and text
  ids: ArrayLike<number>; // the model's token id of each entry
}

const isWindow = (x: unknown): x is ExampleWindow =>
  typeof x === "object" && x !== null && "tokens" in x && "acts" in x && "vocab" in x;

/** Decodes and checks a `window` reply; throws an Error naming the first problem found. */
export function decodeWindow(reply: unknown): WindowData {
  if (!isWindow(reply)) throw new Error("featurecard: the kernel sent no window of tokens");
  const vocab = decodeVocab(reply);
  const local = decodeInts(reply.tokens, "window.tokens");
  checkVocabIndices(local, vocab.size, "window.tokens");
  const acts = decodeArray(reply.acts);
  lengthIs(acts, local.length, "window.acts");
  const { source, feature, row, start, focus } = reply;
  if (!(Number.isInteger(focus) && focus >= 0 && focus < local.length)) {
    throw new Error(`featurecard: window.focus ${focus} is not one of its ${local.length} tokens`);
  }
  const tokens = sequenceText(vocab.text, local);
  return {
    source,
    feature,
    row,
    start,
    focus,
    tokens,
    vocab: local,
    acts,
    text: vocab.text,
    ids: vocab.ids,
  };
}
