/**
 * Axis ticks the front end chooses itself, and tick labels.
 *
 * The x ticks of both histograms come from Python (`nice_ticks`, in the state). The y axis
 * (bin counts) is the front end's: `niceTicks` picks at most `maxTicks` round values (steps of
 * 1, 2 or 5 × 10^k, integers only for counts) covering [lo, hi], as many as fit; ticks.test.ts
 * checks it against a brute-force search over every candidate step. `tickLabel` prints a tick with just the decimals its step needs,
 * so 0.1 + 0.2 prints "0.3", never "0.30000000000000004", and 12000 prints "12k".
 */

/** The smallest round step (1, 2 or 5 × 10^k) that is >= `x` (and >= 1 for integers). */
export function roundStepAbove(x: number, integer = false): number {
  if (!(x > 0) || !Number.isFinite(x)) return 1;
  const mag = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) {
    const step = clean(m * mag);
    if (step >= x * (1 - 1e-12)) return integer ? Math.max(1, step) : step;
  }
  return clean(10 * mag);
}

/** The next round step after `step` (1 -> 2 -> 5 -> 10 ...). */
function nextStep(step: number): number {
  return roundStepAbove(step * 1.5);
}

/**
 * Round values covering [lo, hi]: the most ticks not above `maxTicks`, on the smallest round
 * step that allows it; never empty. Steps below span / (maxTicks + 1) always give too many
 * ticks, so the search starts there.
 */
export function niceTicks(lo: number, hi: number, maxTicks = 5, integer = false): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new Error(`featurecard: tick range must be finite, got [${lo}, ${hi}]`);
  }
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo || maxTicks < 1) return [lo];
  let step = roundStepAbove((hi - lo) / (maxTicks + 1), integer);
  for (let guard = 0; guard < 60; guard++) {
    const ticks = range(lo, hi, step);
    if (ticks.length <= maxTicks) return ticks.length > 0 ? ticks : [lo];
    step = nextStep(step);
  }
  return [lo];
}

function range(lo: number, hi: number, step: number): number[] {
  const first = Math.ceil(lo / step - 1e-9);
  const last = Math.floor(hi / step + 1e-9);
  const out: number[] = [];
  for (let i = first; i <= last; i++) out.push(clean(i * step));
  return out;
}

/** Removes binary noise: 0.30000000000000004 -> 0.3 (12 significant digits). */
function clean(v: number): number {
  return v === 0 ? 0 : Number.parseFloat(v.toPrecision(12));
}

/** Decimals needed to tell ticks `step` apart (0 for integer steps). */
export function stepDecimals(step: number): number {
  if (!(step > 0) || !Number.isFinite(step)) return 0;
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

/** A tick's label: decimals from the tick step; thousands as "k" / millions as "M". */
export function tickLabel(v: number, step: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e6 && step >= 1e5) return `${clean(v / 1e6)}M`;
  if (a >= 1e4 && step >= 1e3) return `${clean(v / 1e3)}k`;
  const text = v.toFixed(Math.min(stepDecimals(step), 12));
  return text === "-0" || /^-0\.0*$/.test(text) ? text.slice(1) : text;
}

/** The step between consecutive ticks (their smallest gap; 1 for a single tick). */
export function tickStep(ticks: ArrayLike<number>): number {
  let step = Number.POSITIVE_INFINITY;
  for (let i = 1; i < ticks.length; i++) {
    const d = Math.abs((ticks[i] ?? 0) - (ticks[i - 1] ?? 0));
    if (d > 0 && d < step) step = d;
  }
  if (Number.isFinite(step)) return step;
  const only = Math.abs(ticks[0] ?? 0);
  return only > 0 ? 10 ** Math.floor(Math.log10(only)) : 1;
}
