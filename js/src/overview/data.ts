/**
 * OverviewState (binary payloads) -> the plain numbers the overview draws.
 *
 * Decoded and cross-checked once per state, so a malformed overview fails with one clear
 * message instead of half-drawing. Top tokens come from the state's local vocabulary
 * (../core/vocab.ts) as standalone texts; they reach the DOM only through textContent.
 */
import { decodeArray, decodeInts } from "../core/codecs";
import { decodeVocab } from "../core/vocab";
import type { OverviewState, OverviewSummary } from "./schema";

export interface Histogram {
  edges: number[]; // log10 density, n_bins + 1
  counts: number[];
  ticks: number[];
}

export interface OverviewData {
  source: string;
  hook: string;
  summary: OverviewSummary;
  histogram: Histogram;
  density: Float32Array;
  maxAct: Float32Array;
  topToken: (string | null)[]; // the token at each latent's largest activation, null if dead
  notes: string[];
}

function floats(a: ReturnType<typeof decodeArray>, what: string): Float32Array {
  if (!(a instanceof Float32Array)) throw new Error(`featurecard: ${what} is not float32`);
  return a;
}

/** Decodes and checks an overview; throws an Error naming the first problem found. */
export function decodeOverview(state: OverviewState): OverviewData {
  const n = state.summary.n_latents;
  const density = floats(decodeArray(state.latents.density), "latents.density");
  const maxAct = floats(decodeArray(state.latents.max_act), "latents.max_act");
  const top = decodeInts(state.latents.top_token, "latents.top_token");
  for (const [what, a] of [
    ["density", density],
    ["max_act", maxAct],
    ["top_token", top],
  ] as const) {
    if (a.length !== n)
      throw new Error(`featurecard: latents.${what} has ${a.length} entries, expected ${n}`);
  }
  const vocab = decodeVocab(state);
  const topToken = Array.from(top, (v) => {
    if (v === -1) return null;
    if (!(v >= 0 && v < vocab.size))
      throw new Error(
        `featurecard: latents.top_token index ${v} is outside vocab (size ${vocab.size})`,
      );
    return vocab.text.text(v);
  });
  const edges = Array.from(decodeArray(state.histogram.edges));
  const counts = Array.from(decodeArray(state.histogram.counts));
  if (edges.length !== counts.length + 1)
    throw new Error(
      `featurecard: histogram.edges has ${edges.length} entries, expected ${counts.length + 1}`,
    );
  return {
    source: state.source,
    hook: state.hook,
    summary: state.summary,
    histogram: { edges, counts, ticks: Array.from(decodeArray(state.histogram.ticks)) },
    density,
    maxAct,
    topToken,
    notes: state.notes ?? [],
  };
}
