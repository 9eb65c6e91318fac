import { describe, expect, it } from "vitest";
import { barRect, histFrame, markerAt, visibleTicks } from "./histogram";

const hist = (edges: number[], counts: number[], ticks: number[] = []) => ({
  edges: Float32Array.from(edges),
  counts,
  ticks: Float32Array.from(ticks),
});

// 300 x 110 with margins left 34, right 8, top 14, bottom 18: x in [34, 292], y in [92, 14]
describe("the histogram's frame", () => {
  it("maps the edges' range to the plot's width and counts to its height", () => {
    const f = histFrame(hist([0, 1, 2], [1, 3]), 300, 110);
    expect([f.lo, f.hi, f.x0, f.x1, f.y0, f.y1]).toEqual([0, 2, 34, 292, 92, 14]);
    expect(f.yTicks).toEqual([0, 1, 2, 3]);
    expect(f.top).toBe(3);
    expect(f.x(1)).toBe(34 + 258 / 2);
    expect(f.y(3)).toBe(14);
    expect(f.y(1)).toBe(92 - 78 / 3);
  });

  it("widens a single value by 0.5 each way and rounds the top up to its last tick", () => {
    const f = histFrame(hist([2, 2], [5]), 300, 110);
    expect([f.lo, f.hi]).toEqual([1.5, 2.5]);
    expect(f.yTicks).toEqual([0, 2, 4]); // 0..5 by 1 is six ticks, over the four allowed
    expect(f.top).toBe(5); // the largest count is above the last tick
    expect(f.x(2)).toBe(163);
  });

  it("has one tick and a top of 1 when every bin is empty", () => {
    const f = histFrame(hist([0, 1], [0]), 200, 100);
    expect(f.yTicks).toEqual([0]);
    expect(f.top).toBe(1);
    expect([f.x1, f.y0]).toEqual([192, 82]);
  });
});

describe("the histogram's marks", () => {
  it("draws a bin as a bar from its left edge, 0.5 px short of the next", () => {
    const f = histFrame(hist([0, 1, 2], [1, 3]), 300, 110);
    expect(barRect(f, 0, 1, 1)).toEqual({ x: 34, y: 66, width: 128.5, height: 26 });
    expect(barRect(f, 1, 2, 3)).toEqual({ x: 163, y: 14, width: 128.5, height: 78 });
  });

  it("draws a bin of one value as a 6 px bar centred on it", () => {
    const f = histFrame(hist([2, 2], [5]), 300, 110);
    expect(barRect(f, 2, 2, 5)).toEqual({ x: 160, y: 14, width: 6, height: 78 });
  });

  it("keeps the ticks inside the range, with a relative slack for rounding", () => {
    expect(visibleTicks([-0.5, -1e-12, 0, 1, 2, 2 + 1e-10, 3], 0, 2)).toEqual([0, 1, 2, 2 + 1e-10]);
  });

  it("clamps the hover marker to the plot and keeps its label inside", () => {
    const f = histFrame(hist([0, 1, 2], [1, 3]), 300, 110);
    expect(markerAt(f, -5)).toEqual({ px: 34, anchor: "start" });
    expect(markerAt(f, 1)).toEqual({ px: 163, anchor: "middle" });
    expect(markerAt(f, 1.99)).toEqual({ px: 34 + 129 * 1.99, anchor: "end" });
    expect(markerAt(f, 9)).toEqual({ px: 292, anchor: "end" });
  });
});
