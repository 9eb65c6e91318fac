import { describe, expect, it } from "vitest";
import { makeGraphState } from "../../testing/make-graph-state";
import { decodeGraph } from "./data";
import {
  CHAR_WIDTH,
  columnWidth,
  DEFAULT_LAYOUT,
  labelChars,
  layoutFor,
  MAX_COL,
  MIN_COL,
  MIN_FIT_COL,
} from "./layout";

describe("the token columns", () => {
  it("share the width there is, within [MIN_COL, MAX_COL]; 'fit' goes down to MIN_FIT_COL", () => {
    const side = DEFAULT_LAYOUT.left + 8; // the level names and the right margin
    expect(columnWidth(side + 12 * 70, 12)).toBe(70); // 12 tokens in 840 px of room
    expect(columnWidth(side + 12 * 60, 12)).toBe(MIN_COL); // ... in 720 px: they scroll
    expect(columnWidth(side + 2 * 500, 2)).toBe(MAX_COL); // a short prompt: no giant columns
    expect(columnWidth(side + 100 * 20, 100)).toBe(MIN_COL); // a long prompt scrolls
    expect(columnWidth(side + 100 * 20, 100, true)).toBe(20); // ... or fits
    expect(columnWidth(side + 1000 * 2, 1000, true)).toBe(MIN_FIT_COL);
    expect(columnWidth(0, 12)).toBe(DEFAULT_LAYOUT.colWidth); // not laid out yet
  });

  it("lay the prompt out in the width they are given", () => {
    const d = decodeGraph(makeGraphState()); // two positions
    const lay = layoutFor(d, 90);
    expect(lay.x(1) - lay.x(0)).toBe(90);
    expect(lay.width).toBe(DEFAULT_LAYOUT.left + 2 * 90 + 8);
  });

  it("cut a label only when its column has no room for it", () => {
    // 8 characters of 12 px monospace fit a 64 px column, 14 a 110 px one
    expect(labelChars(64)).toBe(8);
    expect(labelChars(110)).toBe(14);
    expect(labelChars(MIN_COL)).toBe(Math.floor((MIN_COL - 6) / CHAR_WIDTH));
    expect(labelChars(MIN_FIT_COL)).toBe(0);
  });
});
