/**
 * Activation -> colour. Positive values go from white to orange, negative ones from white to
 * blue, linearly in |value| / scale and clamped at the full colour; exactly 0 (or anything
 * not finite, or a zero scale) is transparent. The background is opaque (mixed with white),
 * so the text colour that reads best on it can be chosen by contrast.
 */

export type RGB = readonly [number, number, number];

export const POSITIVE: RGB = [255, 127, 14]; // orange
export const NEGATIVE: RGB = [31, 119, 180]; // blue
const WHITE: RGB = [255, 255, 255];

/** |value| / scale clamped to [0, 1]; 0 for a non-finite value or a non-positive scale. */
export function intensity(value: number, scale: number): number {
  if (!Number.isFinite(value) || !(scale > 0)) return 0;
  return Math.min(1, Math.abs(value) / scale);
}

/** The background colour as RGB, or null for "transparent". */
export function actRGB(value: number, scale: number): RGB | null {
  const t = intensity(value, scale);
  if (t === 0) return null;
  const [r, g, b] = value > 0 ? POSITIVE : NEGATIVE;
  const mix = (w: number, c: number) => Math.round(w + (c - w) * t);
  return [mix(WHITE[0], r), mix(WHITE[1], g), mix(WHITE[2], b)];
}

/** CSS background for an activation: "transparent" for 0, else `rgb(r, g, b)`. */
export function actColor(value: number, scale: number): string {
  const c = actRGB(value, scale);
  return c ? `rgb(${c[0]}, ${c[1]}, ${c[2]})` : "transparent";
}

function luminance([r, g, b]: RGB): number {
  const lin = (v: number) => {
    const s = v / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** The text colour with the higher WCAG contrast on actColor(value, scale);
 * "" (inherit the theme's colour) when the background is transparent. */
export function textColor(value: number, scale: number): string {
  const c = actRGB(value, scale);
  if (!c) return "";
  const l = luminance(c);
  const onBlack = (l + 0.05) / 0.05;
  const onWhite = 1.05 / (l + 0.05);
  return onBlack >= onWhite ? "#000" : "#fff";
}

/** The largest |x| over finite values (0 for none). */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Math.abs(values[i] ?? 0);
    if (Number.isFinite(v) && v > m) m = v;
  }
  return m;
}

export const LOSS_UP: RGB = [214, 39, 40]; // red: the unit raises the loss (hurts the prediction)
export const LOSS_DOWN: RGB = [31, 119, 180]; // blue: the unit lowers the loss (helps it)

/** Colour of the loss underline: red when the unit raises the next token's loss, blue when
 * it lowers it; its opacity grows with |change| / scale; "" for none (0, NaN, no scale). */
export function lossColor(change: number, scale: number): string {
  const t = intensity(change, scale);
  if (t === 0) return "";
  const [r, g, b] = change > 0 ? LOSS_UP : LOSS_DOWN;
  const alpha = Math.round((0.25 + 0.75 * t) * 100) / 100;
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

/** The fill of a value bar (full colour of the value's sign), or "transparent" for 0/NaN. */
export function barColor(value: number): string {
  if (!Number.isFinite(value) || value === 0) return "transparent";
  const [r, g, b] = value > 0 ? POSITIVE : NEGATIVE;
  return `rgb(${r}, ${g}, ${b})`;
}

/** Width of a value bar as a CSS percentage of its cell: |value| / scale, clamped. */
export function barWidth(value: number, scale: number): string {
  return `${Math.round(intensity(value, scale) * 1000) / 10}%`;
}

/** The full colour of a mark (a histogram bar's outline): a darker orange than POSITIVE, so
 * both keep a 3:1 contrast on white and on a dark theme's background (WCAG, non-text). */
export const MARK_POSITIVE: RGB = [201, 87, 0];
export const MARK_NEGATIVE: RGB = NEGATIVE;

/** The colour of a mark for a value's sign; "transparent" for 0 or NaN. */
export function markColor(value: number): string {
  if (!Number.isFinite(value) || value === 0) return "transparent";
  const [r, g, b] = value > 0 ? MARK_POSITIVE : MARK_NEGATIVE;
  return `rgb(${r}, ${g}, ${b})`;
}

/** actColor with at least `floor` of the full colour for any nonzero value: a bar of small
 * values keeps its colour instead of fading to white. */
export function shadeColor(value: number, scale: number, floor = 0.3): string {
  const t = intensity(value, scale);
  if (t === 0) return "transparent";
  return actColor(Math.sign(value) * (floor + (1 - floor) * t), 1);
}

/** WCAG contrast ratio of two colours. */
export function contrast(a: RGB, b: RGB): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

/** A row's shade in a ranked table: the table's largest |value| full, its smallest `floor`,
 * linear in between (every row equal: full), so the rows' order shows as a gradation. */
export function rankIntensity(value: number, values: ArrayLike<number>, floor = 0.15): number {
  let lo = Number.POSITIVE_INFINITY;
  let hi = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Math.abs(values[i] ?? Number.NaN);
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const v = Math.abs(value);
  if (!Number.isFinite(v) || !(hi > 0)) return 0;
  if (!(hi > lo)) return 1;
  return floor + ((1 - floor) * (Math.min(hi, Math.max(lo, v)) - lo)) / (hi - lo);
}
