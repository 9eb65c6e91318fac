/** The one way components make elements: text goes in through textContent only. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A number for display: 3 decimals, or the literal for ±inf/NaN. */
export function fmt(v: number, digits = 3): string {
  return Number.isFinite(v) ? v.toFixed(digits) : String(v);
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element with attributes (numbers and strings only; text via textContent). */
export function s<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  text?: string,
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A signed number: "+0.123" / "-0.123" (3 decimals), or the literal for ±inf/NaN. */
export function signed(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  const t = v.toFixed(digits);
  return v >= 0 && !t.startsWith("-") ? `+${t}` : t;
}

/** A percentage with 3 significant digits ("1.23%", "0%"). */
export function percent(fraction: number): string {
  if (!Number.isFinite(fraction)) return String(fraction);
  const p = fraction * 100;
  return `${p === 0 ? "0" : p.toPrecision(3)}%`;
}
