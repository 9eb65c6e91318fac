/**
 * Where each node sits: tokens along the bottom, residual levels up the side (level 0, the
 * embeddings, lowest), as in LLM Transparency Tool. Residual states sit on a grid; a block
 * node sits halfway between the levels it reads and writes, a little to the right of its
 * column (with parallel attention and MLP, attention to the left and MLP to the right), so
 * the straight residual edge never runs through it.
 */
import type { GraphData } from "./data";
import type { NodeKey } from "./routes";

export interface LayoutOptions {
  colWidth: number;
  rowHeight: number;
  left: number; // room for the level names
  top: number;
  bottom: number; // room for the token labels
}

export const DEFAULT_LAYOUT: LayoutOptions = {
  colWidth: 64,
  rowHeight: 46,
  left: 76,
  top: 16,
  bottom: 44,
};

/** A token column's width: no narrower than this unless "fit" asks for the whole prompt in view. */
export const MIN_COL = 64; // room for 8 characters
export const MAX_COL = 110;
/** The narrowest column "fit" draws (labels go; the dots and edges stay apart). */
export const MIN_FIT_COL = 6;
/** The advance of one character of the token labels (12 px monospace), and the gap beside it. */
export const CHAR_WIDTH = 7.2;
const LABEL_GAP = 6;

/**
 * The width of a token column when `avail` pixels are there for the graph: the room each of
 * `nPos` columns has, within [MIN_COL, MAX_COL] (a longer prompt scrolls), or within
 * [MIN_FIT_COL, MAX_COL] with `fit` (the whole prompt in view).
 */
export function columnWidth(
  avail: number,
  nPos: number,
  fit = false,
  options: LayoutOptions = DEFAULT_LAYOUT,
): number {
  if (!(avail > 0) || nPos < 1) return options.colWidth;
  const room = (avail - options.left - 8) / nPos;
  return Math.min(MAX_COL, Math.max(fit ? MIN_FIT_COL : MIN_COL, Math.floor(room)));
}

/** How many characters of a token label fit in a column `colWidth` wide (0: none). */
export const labelChars = (colWidth: number): number =>
  Math.max(0, Math.floor((colWidth - LABEL_GAP) / CHAR_WIDTH));

export interface Layout {
  width: number;
  height: number;
  options: LayoutOptions;
  x(pos: number): number; // the centre of a token's column
  y(level: number): number; // the row of a residual level
  point(n: NodeKey): { x: number; y: number };
  tokenY: number; // the baseline of the token labels
}

/** The layout with token columns `colWidth` wide (the other sizes from DEFAULT_LAYOUT). */
export const layoutFor = (d: GraphData, colWidth: number): Layout =>
  makeLayout(d, { ...DEFAULT_LAYOUT, colWidth });

export function makeLayout(d: GraphData, options: LayoutOptions = DEFAULT_LAYOUT): Layout {
  const { colWidth, rowHeight, left, top, bottom } = options;
  const x = (pos: number) => left + pos * colWidth + colWidth / 2;
  const y = (level: number) => top + (d.nLevels - 1 - level) * rowHeight;
  const between = (a: number | undefined, b: number | undefined) => (y(a ?? 0) + y(b ?? 0)) / 2;
  const point = (n: NodeKey) => {
    if (n.kind === "resid") return { x: x(n.pos), y: y(n.index) };
    const parallel = d.mlpIn[n.index] !== undefined && d.mlpIn[n.index] === d.attnIn[n.index];
    if (n.kind === "attn") {
      const dx = parallel ? -0.28 : 0.28;
      return { x: x(n.pos) + dx * colWidth, y: between(d.attnIn[n.index], d.attnOut[n.index]) };
    }
    return { x: x(n.pos) + 0.28 * colWidth, y: between(d.mlpIn[n.index], d.mlpOut[n.index]) };
  };
  const tokenY = y(0) + 26;
  return {
    width: left + d.nPos * colWidth + 8,
    height: y(0) + bottom,
    options,
    x,
    y,
    point,
    tokenY,
  };
}
