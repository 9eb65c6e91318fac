import { describe, expect, it } from "vitest";
import { niceTicks, roundStepAbove, stepDecimals, tickLabel, tickStep } from "./ticks";

/** Reference: among steps m·10^k (m in 1, 2, 5), the smallest giving at most maxTicks ticks. */
function bruteForce(lo: number, hi: number, maxTicks: number, integer: boolean): number[] {
  const candidates: number[] = [];
  for (let k = -12; k <= 12; k++) for (const m of [1, 2, 5]) candidates.push(m * 10 ** k);
  candidates.sort((a, b) => a - b);
  for (const step of candidates) {
    if (integer && step < 1) continue;
    const first = Math.ceil(lo / step - 1e-9);
    const last = Math.floor(hi / step + 1e-9);
    if (last - first + 1 > maxTicks) continue;
    const ticks: number[] = [];
    for (let i = first; i <= last; i++) {
      ticks.push(Number.parseFloat((i * step).toPrecision(12)));
    }
    if (ticks.length <= maxTicks) return ticks.length ? ticks : [lo];
  }
  return [lo];
}

describe("niceTicks", () => {
  it("matches a brute-force search over round steps", () => {
    const cases: [number, number][] = [
      [0, 1],
      [0, 7],
      [0, 13],
      [0, 1234],
      [-0.31, 0.29],
      [1e-5, 3e-5],
      [0.0012, 0.0013],
      [-3.7, 12.2],
      [5, 5.5],
      [0, 99999],
      [2.5, 1e6],
    ];
    for (const [lo, hi] of cases) {
      for (const max of [3, 4, 5, 6]) {
        expect(niceTicks(lo, hi, max), `${lo}..${hi} max ${max}`).toEqual(
          bruteForce(lo, hi, max, false),
        );
      }
    }
  });

  it("gives integer ticks for counts and never more than asked", () => {
    expect(niceTicks(0, 3, 4, true)).toEqual([0, 1, 2, 3]);
    expect(niceTicks(0, 1, 4, true)).toEqual([0, 1]);
    for (let hi = 1; hi < 500; hi += 7) {
      const t = niceTicks(0, hi, 4, true);
      expect(t.length).toBeLessThanOrEqual(4);
      expect(t.every(Number.isInteger)).toBe(true);
      expect(t).toEqual(bruteForce(0, hi, 4, true));
    }
  });

  it("handles equal, reversed and non-finite ranges", () => {
    expect(niceTicks(2, 2)).toEqual([2]);
    expect(niceTicks(1, 0, 3)).toEqual([0, 0.5, 1]);
    expect(() => niceTicks(0, Number.NaN)).toThrow(/finite/);
    expect(roundStepAbove(0.3)).toBe(0.5);
    expect(roundStepAbove(0.3, true)).toBe(1);
    expect(roundStepAbove(7)).toBe(10);
  });
});

describe("tick labels", () => {
  it("print just the decimals the step needs, without binary noise", () => {
    expect(stepDecimals(0.1)).toBe(1);
    expect(stepDecimals(0.05)).toBe(2);
    expect(stepDecimals(2)).toBe(0);
    expect(tickLabel(0.1 + 0.2, 0.1)).toBe("0.3");
    expect(tickLabel(-0.0000001, 0.1)).toBe("0.0");
    expect(tickLabel(0.00012, 0.00001)).toBe("0.00012");
    expect(tickLabel(12000, 2000)).toBe("12k");
    expect(tickLabel(2500000, 500000)).toBe("2.5M");
    expect(tickLabel(15, 5)).toBe("15");
  });

  it("finds the step of the state's ticks", () => {
    expect(tickStep([0, 0.5, 1, 1.5])).toBe(0.5);
    expect(tickStep([3])).toBe(1);
    expect(tickStep([0.04])).toBeCloseTo(0.01);
    expect(tickStep([])).toBe(1);
  });
});
