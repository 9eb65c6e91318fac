/**
 * What the prompt view computes from its data, with no DOM: a token's latents in each ranking,
 * and a latent's DFA over the prompt's source tokens.
 *
 * Rankings: by activation (largest first), by quantile over the dataset (highest first: the
 * rarest values), by the loss effect of removing the latent's write at the token, on the next
 * token or on the prompt's mean loss (largest |change| first: a latent that hurts the prediction
 * matters as much as one that helps). Ties keep the kernel's order (largest activation first);
 * NaN (no next token at the prompt's end, no loss computed) sorts last.
 */
import type { Pair, PromptData } from "./data";

export type RankKey = "act" | "quantile" | "lossNext" | "lossPrompt";

/** The rankings a user switches between: key, button text, what it means. */
export const RANKINGS: ReadonlyArray<readonly [RankKey, string, string]> = [
  ["act", "activation", "the latent's activation at this token, largest first"],
  [
    "quantile",
    "quantile",
    "fraction of the dataset's tokens where the latent is lower, highest (rarest) first",
  ],
  [
    "lossNext",
    "Δ loss, next token",
    "next-token loss without the latent's write here minus with it, largest |change| first",
  ],
  [
    "lossPrompt",
    "Δ loss, prompt",
    "the prompt's mean loss without the latent's write here minus with it, largest |change| first",
  ],
];

function score(p: Pair, key: RankKey): number {
  switch (key) {
    case "act":
      return p.act;
    case "quantile":
      return p.quantile;
    case "lossNext":
      return Math.abs(p.lossNext);
    case "lossPrompt":
      return Math.abs(p.lossPrompt);
  }
}

/** `pairs` ranked by `key` (a new array; stable; NaN last). */
export function rankPairs(pairs: readonly Pair[], key: RankKey): Pair[] {
  return pairs
    .map((p, i) => ({ p, i, v: score(p, key) }))
    .sort((a, b) => {
      const an = Number.isNaN(a.v);
      const bn = Number.isNaN(b.v);
      if (an !== bn) return an ? 1 : -1;
      if (!an && a.v !== b.v) return b.v - a.v;
      return a.i - b.i;
    })
    .map((x) => x.p);
}

/** The latents firing at token `pos`, ranked by `key` ([] for a token out of range). */
export function latentsAt(data: PromptData, pos: number, key: RankKey): Pair[] {
  return rankPairs(data.byPos[pos] ?? [], key);
}

/** One source token's share of a latent's pre-activation at its query token. */
export interface DfaBar {
  pos: number;
  token: string;
  value: number;
}

/** The DFA of `pair` over sources 0 .. pair.pos, its pre-activation and bias terms; null without DFA. */
export function dfaOf(
  data: PromptData,
  pair: Pair,
): { bars: DfaBar[]; pre: number; bias: number } | null {
  const d = data.dfa;
  if (d === null) return null;
  const start = d.offsets[pair.index] ?? 0;
  const bars: DfaBar[] = [];
  for (let s = 0; s <= pair.pos; s++) {
    bars.push({ pos: s, token: data.tokens[s] ?? "", value: d.values[start + s] ?? Number.NaN });
  }
  return { bars, pre: d.pre[pair.index] ?? Number.NaN, bias: d.bias[pair.index] ?? Number.NaN };
}

/** The first counted token with a firing latent (the token selected when the view opens), or -1. */
export function firstToken(data: PromptData): number {
  return data.byPos.findIndex((ps) => ps.length > 0);
}

/** A quantile as a percentile: 0.9931 -> "99.31%"; NaN -> "–". */
export function quantileText(q: number): string {
  if (!Number.isFinite(q)) return "–";
  return `${(q * 100).toFixed(q >= 0.999 ? 3 : 2)}%`;
}
