/**
 * Decoding of the panels around the examples: hover effects, histograms and the left column's
 * tables (the vocabulary: ../core/vocab.ts). Each decoder checks the lengths it relies on, so a
 * malformed card fails once, with a message naming the array, instead of half-drawing.
 */
import { decodeArray, decodeInts, type NumericArray } from "../core/codecs";
import type { ArrayPayload, CorrelationTable, FeatureCardState, Histogram } from "../core/schema";
import { checkVocabIndices } from "../core/vocab";

export function lengthIs(a: ArrayLike<number>, n: number, what: string): void {
  if (a.length !== n)
    throw new Error(`featurecard: ${what} has ${a.length} entries, expected ${n}`);
}

/** Exact next-token effects, one row per distinct shown (row, pos) where the unit fires. */
export interface HoverData {
  n: number; // rows
  k: number; // tokens per side
  tokenRow: Int32Array; // per flat shown token: its row, or -1 where the unit is silent
  topTokens: ArrayLike<number>; // [n * k] vocab indices, log-prob most raised first
  topValues: NumericArray; // [n * k] change of log p
  bottomTokens: ArrayLike<number>;
  bottomValues: NumericArray;
  loss: NumericArray; // [n] loss with the unit minus without, for the next token
}

export function decodeHover(state: FeatureCardState, nTok: number): HoverData | null {
  const hv = state.hover;
  if (hv === null || hv === undefined) return null;
  const n = hv.loss_change.shape[0] ?? 0;
  const k = hv.top_tokens.shape[1] ?? 0;
  const raw = decodeInts(hv.token_row, "hover.token_row");
  lengthIs(raw, nTok, "hover.token_row");
  const tokenRow = Int32Array.from(raw, (r) => {
    if (r > n || r < 0) throw new Error(`featurecard: hover.token_row ${r} is not a row of ${n}`);
    return r === n ? -1 : r;
  });
  const part = (what: "top" | "bottom") => {
    const toks = decodeInts(hv[`${what}_tokens`], `hover.${what}_tokens`);
    const vals = decodeArray(hv[`${what}_values`]);
    lengthIs(toks, n * k, `hover.${what}_tokens`);
    lengthIs(vals, n * k, `hover.${what}_values`);
    checkVocabIndices(toks, state.vocab.length, `hover.${what}_tokens`);
    return [toks, vals] as const;
  };
  const [topTokens, topValues] = part("top");
  const [bottomTokens, bottomValues] = part("bottom");
  const loss = decodeArray(hv.loss_change);
  lengthIs(loss, n, "hover.loss_change");
  return { n, k, tokenRow, topTokens, topValues, bottomTokens, bottomValues, loss };
}

export interface HistData {
  edges: NumericArray; // [n_bins + 1]
  counts: ArrayLike<number>; // [n_bins]
  ticks: NumericArray; // x-axis ticks Python chose (nice_ticks)
}

export function decodeHist(h: Histogram | null, what: string): HistData | null {
  if (h === null || h === undefined) return null;
  const edges = decodeArray(h.edges);
  const counts = decodeInts(h.counts, `${what}.counts`);
  lengthIs(edges, counts.length + 1, `${what}.edges`);
  return { edges, counts, ticks: decodeArray(h.ticks) };
}

/** A row of a left-column table: a unit index and two values. */
export interface TableRow {
  id: number; // unit index (a neuron or latent)
  value: number; // alignment: decoder weight; correlation tables: Pearson
  second: number; // alignment: share of the L1 norm; correlation tables: cosine
}

export interface LeftData {
  alignment: TableRow[] | null;
  neurons: TableRow[] | null;
  latents: TableRow[] | null;
  latentsB: TableRow[] | null;
}

function rows(ids: ArrayPayload, a: ArrayPayload, b: ArrayPayload, what: string): TableRow[] {
  const id = decodeInts(ids, `${what}.ids`);
  const va = decodeArray(a);
  const vb = decodeArray(b);
  lengthIs(va, id.length, `${what} values`);
  lengthIs(vb, id.length, `${what} second values`);
  return Array.from(id, (u, i) => ({
    id: u,
    value: va[i] ?? Number.NaN,
    second: vb[i] ?? Number.NaN,
  }));
}

function corr(t: CorrelationTable | null, what: string): TableRow[] | null {
  return t ? rows(t.ids, t.pearson, t.cosine, what) : null;
}

export function decodeLeft(state: FeatureCardState): LeftData {
  const l = state.left;
  const al = l.alignment;
  return {
    alignment: al ? rows(al.ids, al.values, al.l1_share, "left.alignment") : null,
    neurons: corr(l.neurons, "left.neurons"),
    latents: corr(l.latents, "left.latents"),
    latentsB: corr(l.latents_b, "left.latents_b"),
  };
}

/**
 * The example groups as the card shows them: an activation interval's sequences that "Top
 * activations" already shows (the same dataset row and first position) are left out of it,
 * and an interval's title counts what it shows ("5 examples", "empty") instead of a share that
 * rounds to "0.0%" both for an empty interval and for one with a few activations.
 */
/** What a group needs here: a title and sequences that know their dataset row and start. */
export interface Titled<S extends { row: number; pos0: number }> {
  title: string;
  seqs: S[];
}

const TOP = "Top activations";
const INTERVAL = /^Interval (.+?) · contains ([\d.]+)%$/;

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

/** An interval's title from Python's ("Interval lo – hi · contains p%"): its counts; others as sent. */
export function intervalTitle(title: string, shown: number, repeated: number): string {
  const m = INTERVAL.exec(title);
  if (!m) return title;
  const [, range, pct] = m;
  const share = Number(pct);
  const parts = [`Interval ${range}`];
  if (shown === 0 && repeated === 0) parts.push("empty");
  else {
    parts.push(shown > 0 ? plural(shown, "example") : "no other examples");
    if (repeated > 0) parts.push(`${repeated} more in ${TOP}`);
    parts.push(share >= 0.1 ? `${pct}% of activations` : "< 0.1% of activations");
  }
  return parts.join(" · ");
}

/** The groups with the sequences "Top activations" shows left out of the others, and titles that count. */
export function shownGroups<S extends { row: number; pos0: number }>(
  groups: Titled<S>[],
): Titled<S>[] {
  const top = groups.find((g) => g.title === TOP);
  const key = (s: S) => `${s.row}:${s.pos0}`;
  const seen = new Set((top?.seqs ?? []).map(key));
  return groups.map((g) => {
    if (g === top || !INTERVAL.test(g.title)) return g;
    const seqs = g.seqs.filter((s) => !seen.has(key(s)));
    return { title: intervalTitle(g.title, seqs.length, g.seqs.length - seqs.length), seqs };
  });
}

/**
 * A card's DFA rows (FeatureCardState.examples.dfa: an SAE on an attention output): the first
 * `count` sequences (the top activations) have one, aligned token for token with their shown
 * tokens; `outside` is the DFA of the sources before the shown window, so
 * sum(values) + outside = pre - bias.
 */
export interface SeqDfa {
  values: NumericArray; // per shown token, its DFA as a source to the example's own token (0 after it)
  outside: number; // the DFA of the sources before the shown window
  pre: number; // the latent's pre-activation at the example's token
  bias: number; // its bias terms, which no source carries
}

/** Each sequence's DFA (null where it has none), checked against the sequences' token counts. */
export function decodeExampleDfa(
  state: FeatureCardState,
  lengths: readonly number[],
): (SeqDfa | null)[] {
  const d = state.examples.dfa;
  const out: (SeqDfa | null)[] = lengths.map(() => null);
  if (d === null || d === undefined) return out;
  if (!(Number.isInteger(d.count) && d.count >= 0 && d.count <= lengths.length))
    throw new Error(
      `featurecard: examples.dfa.count ${d.count} is not a number of the ${lengths.length} examples`,
    );
  const values = decodeArray(d.values);
  const outside = decodeArray(d.outside);
  const pre = decodeArray(d.pre);
  const bias = decodeArray(d.bias);
  let n = 0;
  for (let i = 0; i < d.count; i++) n += lengths[i] ?? 0;
  lengthIs(values, n, "examples.dfa.values");
  lengthIs(outside, d.count, "examples.dfa.outside");
  lengthIs(pre, d.count, "examples.dfa.pre");
  lengthIs(bias, d.count, "examples.dfa.bias");
  let at = 0;
  for (let i = 0; i < d.count; i++) {
    const len = lengths[i] ?? 0;
    out[i] = {
      values: values.subarray(at, at + len),
      outside: outside[i] ?? Number.NaN,
      pre: pre[i] ?? Number.NaN,
      bias: bias[i] ?? Number.NaN,
    };
    at += len;
  }
  return out;
}
