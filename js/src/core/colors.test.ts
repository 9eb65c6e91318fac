import { describe, expect, it } from "vitest";
import {
  actColor,
  actRGB,
  barColor,
  barWidth,
  contrast,
  intensity,
  LOSS_DOWN,
  LOSS_UP,
  lossColor,
  MARK_NEGATIVE,
  MARK_POSITIVE,
  markColor,
  maxAbs,
  NEGATIVE,
  POSITIVE,
  rankIntensity,
  shadeColor,
  textColor,
} from "./colors";

describe("colours", () => {
  it("0, non-finite values and a zero scale are transparent", () => {
    expect(actColor(0, 2)).toBe("transparent");
    expect(actColor(-0, 2)).toBe("transparent");
    expect(actColor(Number.NaN, 2)).toBe("transparent");
    expect(actColor(1, 0)).toBe("transparent");
    expect(textColor(0, 2)).toBe("");
  });

  it("positive is orange, negative is blue", () => {
    expect(actRGB(2, 2)).toEqual(POSITIVE);
    expect(actRGB(-2, 2)).toEqual(NEGATIVE);
    const [r, , b] = actRGB(1, 2) ?? [0, 0, 0];
    expect(r).toBeGreaterThan(b); // warm
    const [r2, , b2] = actRGB(-1, 2) ?? [0, 0, 0];
    expect(b2).toBeGreaterThan(r2); // cool
  });

  it("scales with |value| / scale from white and clamps at the full colour", () => {
    const weak = actRGB(0.01, 2) ?? [0, 0, 0];
    for (const c of weak) expect(c).toBeGreaterThan(245);
    expect(actRGB(10, 2)).toEqual(POSITIVE);
    expect(actRGB(-10, 2)).toEqual(NEGATIVE);
    expect(intensity(1, 4)).toBe(0.25);
    expect(intensity(-8, 4)).toBe(1);
    expect(actColor(2, 2)).toBe(`rgb(${POSITIVE.join(", ")})`);
  });

  it("picks a readable text colour", () => {
    expect(textColor(0.1, 2)).toBe("#000"); // near white
    expect(["#000", "#fff"]).toContain(textColor(-2, 2));
  });

  it("maxAbs ignores non-finite values", () => {
    expect(maxAbs([1, -3, Number.NaN, Number.POSITIVE_INFINITY, 2])).toBe(3);
    expect(maxAbs([])).toBe(0);
  });
});

describe("loss underline and value bars", () => {
  it("red when the unit raises the loss, blue when it lowers it, stronger with |change|", () => {
    expect(lossColor(1, 1)).toBe(`rgba(${LOSS_UP.join(", ")}, 1)`);
    expect(lossColor(-1, 1)).toBe(`rgba(${LOSS_DOWN.join(", ")}, 1)`);
    expect(lossColor(-0.5, 1)).toBe(`rgba(${LOSS_DOWN.join(", ")}, 0.63)`); // 0.25 + 0.75 * 0.5
    expect(lossColor(5, 1)).toBe(`rgba(${LOSS_UP.join(", ")}, 1)`); // clamped
    expect(lossColor(0, 1)).toBe("");
    expect(lossColor(Number.NaN, 1)).toBe("");
    expect(lossColor(1, 0)).toBe("");
  });

  it("bars take the sign's colour and |value| / scale of the width", () => {
    expect(barColor(0.2)).toBe(`rgb(${POSITIVE.join(", ")})`);
    expect(barColor(-0.2)).toBe(`rgb(${NEGATIVE.join(", ")})`);
    expect(barColor(0)).toBe("transparent");
    expect(barWidth(0.25, 0.5)).toBe("50%");
    expect(barWidth(-1, 0.5)).toBe("100%");
    expect(barWidth(1 / 3, 1)).toBe("33.3%");
    expect(barWidth(1, 0)).toBe("0%");
  });
});

describe("marks and ranked shades", () => {
  it("keeps a histogram bar's colour for small values (no fade to white)", () => {
    expect(shadeColor(0, 2)).toBe("transparent");
    expect(shadeColor(1e-6, 2)).toBe(actColor(0.3, 1)); // the floor
    expect(shadeColor(2, 2)).toBe(actColor(1, 1));
    expect(shadeColor(-1, 2)).toBe(actColor(-0.65, 1));
  });
  it("gives marks a 3:1 contrast on white and on a dark background", () => {
    for (const c of [MARK_POSITIVE, MARK_NEGATIVE]) {
      expect(contrast(c, [255, 255, 255])).toBeGreaterThanOrEqual(3);
      expect(contrast(c, [30, 30, 30])).toBeGreaterThanOrEqual(3);
    }
    expect(markColor(-2)).toBe(`rgb(${MARK_NEGATIVE.join(", ")})`);
  });
  it("shades a ranked table from its largest |value| (full) to its smallest (the floor)", () => {
    const v = [3.1, 3.0, 2.8, 2.6];
    const want = [1, 0.15 + (0.85 * 0.4) / 0.5, 0.15 + (0.85 * 0.2) / 0.5, 0.15];
    for (const [i, x] of v.entries())
      expect(rankIntensity(x, v)).toBeCloseTo(want[i] ?? Number.NaN, 12);
    expect(rankIntensity(-1, [-1, -1])).toBe(1);
    expect(rankIntensity(Number.NaN, v)).toBe(0);
  });
});
