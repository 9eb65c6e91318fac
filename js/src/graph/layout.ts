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

export interface Layout {
  width: number;
  height: number;
  options: LayoutOptions;
  x(pos: number): number; // the centre of a token's column
  y(level: number): number; // the row of a residual level
  point(n: NodeKey): { x: number; y: number };
  tokenY: number; // the baseline of the token labels
}

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
