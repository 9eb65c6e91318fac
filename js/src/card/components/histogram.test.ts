import { describe, expect, it } from "vitest";
import { axisTicks, barRect, countAxis, histFrame, markerAt, visibleTicks } from "./histogram";

const hist = (edges: number[], counts: number[], ticks: number[] = []) => ({
  edges: Float32Array.from(edges),
  counts,
  ticks: Float32Array.from(ticks),
});

// 300 x 122 with margins left 44, right 8, top 14, bottom 30: x in [44, 292], y in [92, 14]
describe("the histogram's frame", () => {
  it("maps the edges' range to the plot's width and counts to its height", () => {
    const f = histFrame(hist([0, 1, 2], [1, 3]), 300, 122);
    expect([f.lo, f.hi, f.x0, f.x1, f.y0, f.y1]).toEqual([0, 2, 44, 292, 92, 14]);
    expect(f.yTicks).toEqual([0, 1, 2, 3]);
    expect(f.top).toBe(3);
    expect(f.x(1)).toBe(44 + 248 / 2);
    expect(f.y(3)).toBe(14);
    expect(f.y(1)).toBe(92 - 78 / 3);
  });

  it("widens a single value by 0.5 each way and rounds the top up to its last tick", () => {
    const f = histFrame(hist([2, 2], [5]), 300, 122);
    expect([f.lo, f.hi]).toEqual([1.5, 2.5]);
    expect(f.yTicks).toEqual([0, 2, 4]); // 0..5 by 1 is six ticks, over the four allowed
    expect(f.top).toBe(5); // the largest count is above the last tick
    expect(f.x(2)).toBe(168);
  });

  it("has one tick and a top of 1 when every bin is empty", () => {
    const f = histFrame(hist([0, 1], [0]), 200, 112);
    expect(f.yTicks).toEqual([0]);
    expect(f.top).toBe(1);
    expect([f.x1, f.y0]).toEqual([192, 82]);
  });
});

describe("the histogram's marks", () => {
  it("draws a bin as a bar from its left edge, 0.5 px short of the next", () => {
    const f = histFrame(hist([0, 1, 2], [1, 3]), 300, 122);
    expect(barRect(f, 0, 1, 1)).toEqual({ x: 44, y: 66, width: 123.5, height: 26 });
    expect(barRect(f, 1, 2, 3)).toEqual({ x: 168, y: 14, width: 123.5, height: 78 });
  });

  it("draws a bin of one value as a 6 px bar centred on it", () => {
    const f = histFrame(hist([2, 2], [5]), 300, 122);
    expect(barRect(f, 2, 2, 5)).toEqual({ x: 165, y: 14, width: 6, height: 78 });
  });

  it("keeps the ticks inside the range, with a relative slack for rounding", () => {
    expect(visibleTicks([-0.5, -1e-12, 0, 1, 2, 2 + 1e-10, 3], 0, 2)).toEqual([0, 1, 2, 2 + 1e-10]);
  });

  it("clamps the hover marker to the plot and keeps its label inside", () => {
    const f = histFrame(hist([0, 1, 2], [1, 3]), 300, 122);
    expect(markerAt(f, -5)).toEqual({ px: 44, anchor: "start" });
    expect(markerAt(f, 1)).toEqual({ px: 168, anchor: "middle" });
    expect(markerAt(f, 1.99)).toEqual({ px: 44 + 124 * 1.99, anchor: "end" });
    expect(markerAt(f, 9)).toEqual({ px: 292, anchor: "end" });
  });
});

describe("the histogram's axes", () => {
  it("reaches 0 on x when asked (a ReLU unit's activations start above it)", () => {
    const f = histFrame(hist([0.5, 1, 2], [1, 3]), 300, 122, { zero: true });
    expect([f.lo, f.hi]).toEqual([0, 2]);
    const g = histFrame(hist([-3, -1], [2]), 300, 122, { zero: true });
    expect([g.lo, g.hi]).toEqual([-3, 0]);
  });

  it("adds a 0 tick when the range holds it, dropping a tick whose label would overlap it", () => {
    expect(axisTicks([1, 1.5], 0, 2)).toEqual([0, 1, 1.5]);
    expect(axisTicks([0.1, 1, 2], 0, 2)).toEqual([0, 1, 2]); // 0.1 is within 8% of 0
    expect(axisTicks([-0.1, 0, 0.1], -0.2, 0.2)).toEqual([-0.1, 0, 0.1]);
    expect(axisTicks([1, 2], 0.5, 2)).toEqual([1, 2]); // 0 is outside
  });

  it("puts counts on a log(1 + count) axis with powers of ten", () => {
    expect(countAxis(10_000, true)).toEqual({ ticks: [0, 1, 10, 100, 1000, 10_000], top: 10_000 });
    expect(countAxis(3, true)).toEqual({ ticks: [0, 1, 10], top: 10 });
    expect(countAxis(0, true)).toEqual({ ticks: [0], top: 1 });
    const f = histFrame(hist([0, 1, 2], [10_000, 1]), 300, 122, { log: true });
    expect(f.y(10_000)).toBeCloseTo(14, 9);
    // one token in a bin is log10(2) / log10(10001) of the plot: 2.6 px tall, not 0.008 px
    expect(f.y0 - f.y(1)).toBeCloseTo((78 * Math.log10(2)) / Math.log10(10_001), 9);
    const lin = histFrame(hist([0, 1, 2], [10_000, 1]), 300, 122);
    expect(lin.y0 - lin.y(1)).toBeCloseTo(78 / 10_000, 9);
  });
});
