/**
 * The card's rules that need no DOM: which links are live, the random pick, the cache of
 * recently shown cards, the navigation bar's state, what a hovered token marks, and the
 * colour scale of the examples. createFeatureCard (./feature-card.ts) wires them to the page.
 */
import { maxAbs } from "../../core/colors";
import type { CardData, SeqData } from "../card-data";
import type { Unit } from "../history";
import type { NavState } from "./nav";

export const unitKey = (u: Unit) => `${u.source}\u0000${u.feature}`;
export const unitOf = (d: CardData): Unit => ({
  source: d.header.source,
  feature: d.header.feature,
});
export const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Where the card may open a unit from: the source shown, and what the host allows. */
export interface OpenScope {
  source: string; // the source shown now
  live: boolean;
  choices: readonly number[];
  anySource: boolean; // the host opens units of other sources (`open` is given)
}

/** Whether a link to (source, feature) is live: offline, only the file's own cards are. */
export function canOpenUnit(source: string, feature: number, at: OpenScope): boolean {
  if (source !== at.source && !at.anySource) return false;
  if (at.live) return true;
  return source === at.source && at.choices.includes(feature);
}

/** A random pick among `choices` other than `current`, from `r` in [0, 1); none: undefined. */
export function randomChoice(
  choices: readonly number[],
  current: number | null,
  r: number,
): number | undefined {
  const others = choices.filter((c) => c !== current);
  return others[Math.floor(r * others.length)];
}

/** Keeps `d` as the newest entry of `cache`, dropping the oldest beyond `size`. */
export function rememberCard(cache: Map<string, CardData>, d: CardData, size: number): void {
  const k = unitKey(unitOf(d));
  cache.delete(k);
  cache.set(k, d);
  if (cache.size > size) cache.delete(cache.keys().next().value as string);
}

/** The navigation bar's state from the card's. */
export function navStateOf(
  props: { feature: number | null; choices: readonly number[]; live: boolean },
  shown: CardData | null,
  history: { canBack(): boolean; canForward(): boolean },
  searchable: boolean,
): NavState {
  return {
    feature: props.feature ?? shown?.header.feature ?? null,
    count: shown?.header.n_features ?? 0,
    choices: props.choices,
    canBack: history.canBack(),
    canForward: history.canForward(),
    live: props.live && searchable,
  };
}

/** The sequence holding flat token `t`, `t`'s index in it, its activation and its token's logit. */
export function hoverMarks(
  data: CardData,
  t: number,
): { seq: SeqData; i: number; act: number | null; logit: number | null } | null {
  const seq = data.seqs.find((s) => t >= s.start && t < s.start + s.tokens.length);
  if (!seq) return null;
  const i = t - seq.start;
  const v = seq.vocab[i] ?? 0;
  const logit = data.logits ? (data.logits.vocabValues[v] ?? null) : null;
  return { seq, i, act: seq.acts[i] ?? null, logit };
}

/** The examples' colour scale: |max act|, or the largest |act| shown when that is not usable. */
export function colourScale(data: CardData): number {
  const m = Math.abs(data.header.max_act);
  if (Number.isFinite(m) && m > 0) return m;
  return Math.max(0, ...data.seqs.map((s) => maxAbs(s.acts)));
}
