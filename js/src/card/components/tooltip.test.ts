import { describe, expect, it, vi } from "vitest";
import { type Box, intersect, placeTooltip, visibleArea } from "./tooltip";

const box = (left: number, top: number, right: number, bottom: number): Box => ({
  left,
  top,
  right,
  bottom,
});
const SIZE = { width: 200, height: 150 };
const CARD = box(100, 0, 900, 2000); // a tall card, most of it scrolled out of view
const VIEW = box(0, 500, 1280, 900); // what the notebook shows of the page

describe("placeTooltip", () => {
  it("goes under the token when the visible part of the card has room", () => {
    expect(placeTooltip(SIZE, box(300, 600, 320, 616), CARD, VIEW)).toEqual({ x: 300, y: 620 });
  });

  it("goes above a token at the bottom of the view, though the card goes on below it", () => {
    // the old rule (room inside the card) put it at y = 884, under the view's edge
    expect(placeTooltip(SIZE, box(300, 864, 320, 880), CARD, VIEW)).toEqual({ x: 300, y: 710 });
  });

  it("goes under a token at the top of the view, though the card has room above it", () => {
    expect(placeTooltip(SIZE, box(300, 505, 320, 521), CARD, VIEW)).toEqual({ x: 300, y: 525 });
  });

  it("stays inside the card: above a token on the card's last row when the card ends there", () => {
    const card = box(100, 0, 900, 880);
    expect(placeTooltip(SIZE, box(300, 860, 320, 876), card, box(0, 0, 1280, 2000))).toEqual({
      x: 300,
      y: 706,
    });
  });

  it("keeps inside the visible width, and starts at the card's edges when larger than it", () => {
    expect(placeTooltip(SIZE, box(860, 600, 880, 616), CARD, VIEW).x).toBe(698);
    const small = box(100, 600, 250, 700);
    expect(placeTooltip(SIZE, box(120, 620, 140, 636), small, VIEW)).toEqual({ x: 100, y: 600 });
  });

  it("with too little visible room either side, takes the larger side, inside the card", () => {
    const view = box(0, 600, 1280, 760); // 160 px seen: the box (150) fits only by covering the token
    expect(placeTooltip(SIZE, box(300, 640, 320, 656), CARD, view)).toEqual({ x: 300, y: 608 });
    const thin = box(0, 600, 1280, 700); // smaller than the box: below, from the token down
    expect(placeTooltip(SIZE, box(300, 640, 320, 656), CARD, thin).y).toBe(660);
  });
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
