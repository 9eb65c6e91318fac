import { describe, expect, it } from "vitest";
import { intersect } from "../../core/boxes";
import { hoverPosition } from "./hover";

const view = { left: 100, top: 50, right: 900, bottom: 650 };
const size = { w: 300, h: 200 };
const inside = (p: { left: number; top: number }) =>
  p.left >= view.left &&
  p.top >= view.top &&
  p.left + size.w <= view.right &&
  p.top + size.h <= view.bottom;

describe("the hover box's place", () => {
  it("is right of and below a node with room there", () => {
    expect(hoverPosition({ x: 200, y: 100 }, size, view)).toEqual({ left: 212, top: 106 });
  });

  it("flips left of and above a node near the right and bottom edges, and stays inside", () => {
    const p = hoverPosition({ x: 880, y: 640 }, size, view);
    expect(p).toEqual({ left: 880 - 12 - 300, top: 640 - 6 - 200 });
    expect(inside(p)).toBe(true);
  });

  it("stays inside near every edge", () => {
    for (const x of [view.left, 150, 500, 850, view.right])
      for (const y of [view.top, 100, 350, 600, view.bottom])
        expect(inside(hoverPosition({ x, y }, size, view)), `${x},${y}`).toBe(true);
  });

  it("starts at the top-left of a view smaller than itself", () => {
    const small = { left: 0, top: 0, right: 200, bottom: 100 };
    expect(hoverPosition({ x: 150, y: 80 }, size, small)).toEqual({ left: 0, top: 0 });
  });

  it("is bounded by the part of the graph in the window", () => {
    const graph = { left: -50, top: 300, right: 1400, bottom: 2000 };
    const win = { left: 0, top: 0, right: 1280, bottom: 900 };
    expect(intersect(graph, win)).toEqual({ left: 0, top: 300, right: 1280, bottom: 900 });
  });
});
