import { describe, expect, it } from "vitest";
import type { Box } from "../../core/boxes";
import { placeTooltip } from "./tooltip";

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
