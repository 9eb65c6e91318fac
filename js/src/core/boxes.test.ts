import { describe, expect, it, vi } from "vitest";
import { type Box, intersect, visibleArea } from "./boxes";

const box = (left: number, top: number, right: number, bottom: number): Box => ({
  left,
  top,
  right,
  bottom,
});

describe("intersect", () => {
  it("cuts a box by another, to nothing where they do not meet", () => {
    expect(intersect(box(0, 0, 10, 10), box(5, -5, 20, 8))).toEqual(box(5, 0, 10, 8));
    const none = intersect(box(0, 0, 10, 10), box(20, 20, 30, 30));
    expect(none.right - none.left).toBe(0);
    expect(none.bottom - none.top).toBe(0);
  });
});

describe("visibleArea", () => {
  it("is the viewport cut by the ancestors that clip, through shadow roots", () => {
    const outer = document.createElement("div");
    outer.style.overflowX = "hidden";
    outer.style.overflowY = "auto";
    outer.getBoundingClientRect = () => DOMRect.fromRect({ x: 10, y: 50, width: 300, height: 200 });
    const host = document.createElement("div");
    const shadow = host.attachShadow({ mode: "open" });
    const card = document.createElement("div");
    shadow.append(card);
    outer.append(host);
    document.body.append(outer);
    // Lab's body clips (overflow: hidden) but has no height: its overflow is the viewport's
    document.body.style.overflowY = "hidden";
    const flat = vi.spyOn(document.body, "getBoundingClientRect");
    flat.mockReturnValue(DOMRect.fromRect({ x: 0, y: 0, width: 0, height: 0 }));
    expect(visibleArea(card)).toEqual(box(10, 50, 310, 250));
    flat.mockRestore();
    document.body.style.overflowY = "";
    outer.remove();
  });
});
