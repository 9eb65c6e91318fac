import { describe, expect, it } from "vitest";
import { intervalTitle, shownGroups } from "./panel-data";

const seq = (row: number, pos0: number) => ({ row, pos0 });

describe("the example groups shown", () => {
  it("counts an interval's examples instead of a share that rounds to 0.0%", () => {
    expect(intervalTitle("Interval 1.39 – 1.56 · contains 0.0%", 0, 0)).toBe(
      "Interval 1.39 – 1.56 · empty",
    );
    expect(intervalTitle("Interval 1.39 – 1.56 · contains 0.0%", 4, 0)).toBe(
      "Interval 1.39 – 1.56 · 4 examples · < 0.1% of activations",
    );
    expect(intervalTitle("Interval 0.5 – 1 · contains 34.8%", 1, 0)).toBe(
      "Interval 0.5 – 1 · 1 example · 34.8% of activations",
    );
    expect(intervalTitle("Top activations", 3, 0)).toBe("Top activations");
  });

  it("leaves out of the intervals the sequences Top activations shows, by (row, start)", () => {
    const groups = [
      { title: "Top activations", seqs: [seq(1, 0), seq(2, 5)] },
      { title: "Interval 2 – 3 · contains 4.3%", seqs: [seq(2, 5), seq(2, 6), seq(3, 0)] },
      { title: "Interval 1 – 2 · contains 9.0%", seqs: [seq(1, 0)] },
      { title: "Bottom activations", seqs: [seq(1, 0)] },
    ];
    const shown = shownGroups(groups);
    expect(shown.map((g) => [g.title, g.seqs])).toEqual([
      ["Top activations", [seq(1, 0), seq(2, 5)]],
      [
        "Interval 2 – 3 · 2 examples · 1 more in Top activations · 4.3% of activations",
        [seq(2, 6), seq(3, 0)],
      ],
      ["Interval 1 – 2 · no other examples · 1 more in Top activations · 9.0% of activations", []],
      ["Bottom activations", [seq(1, 0)]],
    ]);
  });
});
