import { describe, expect, it } from "vitest";
import type { SearchHit, SearchResult } from "../../core/schema";
import {
  buildResults,
  hitTitle,
  isStrong,
  STRONG_FRAC,
  searchSummary,
  showResults,
} from "./search-results";

const hit = (feature: number, act: number, max: number): SearchHit => ({
  feature,
  act,
  frac: max > 0 ? act / max : 0,
  pos: 2,
  token: " x",
});

const result = (hits: SearchHit[]): SearchResult => ({
  query: "q",
  source: "sae",
  n_tokens: 3,
  hits,
});

describe("how strong a search's hits are", () => {
  it("a hit is strong from half its unit's dataset max on", () => {
    expect(STRONG_FRAC).toBe(0.5);
    expect([hit(1, 0.99, 2), hit(2, 1, 2), hit(3, 3.03, 3)].map(isStrong)).toEqual([
      false,
      true,
      true,
    ]);
    expect(isStrong(hit(4, 5, 0))).toBe(false); // never fires in the dataset: no max to reach
  });

  it("counts the strong hits, or says none is and how far the best gets", () => {
    expect(searchSummary(result([hit(1, 3, 2), hit(2, 0.2, 2), hit(3, 1.5, 2)]))).toBe(
      "2 of 3 hits fire strongly (≥ 50.0% of its max)",
    );
    // a nonsense query: every hit far below its max; the best reaches 0.3 / 2 = 15%
    expect(searchSummary(result([hit(1, 0.2, 4), hit(2, 0.3, 2)]))).toBe(
      "no strong matches: the best hit reaches 15.0% of its max (strong: ≥ 50.0% of its max)",
    );
    expect(searchSummary(result([hit(1, 0.2, 0)]))).toContain(
      "reaches a unit that never fires in the dataset",
    );
    expect(searchSummary(result([]))).toBe("no unit of sae fires on this text");
  });

  it("explains a percentage above 100 with the unit's dataset max", () => {
    const t = hitTitle(hit(7, 2.02, 2));
    expect(t).toContain("101% of its largest activation over the dataset (2.000)");
    expect(t).toContain("above 100% when your text drives it harder than any dataset token");
    expect(hitTitle(hit(8, 1, 0))).toContain("never fires in the dataset");
  });
});

describe("the results panel", () => {
  it("lists the hits with the weak ones marked, the summary and what % of max is", () => {
    const panel = buildResults();
    expect(panel.root.hidden).toBe(true);
    showResults(panel, null, "searching…");
    expect([panel.root.hidden, panel.status.textContent, panel.list.hidden]).toEqual([
      false,
      "searching…",
      true,
    ]);
    showResults(panel, result([hit(1, 3, 2), hit(2, 0.2, 2)]), "");
    const buttons = Array.from(panel.list.querySelectorAll<HTMLButtonElement>("button.fc-hit"));
    expect(buttons.map((b) => [b.dataset.feature, b.classList.contains("fc-hit-weak")])).toEqual([
      ["1", false],
      ["2", true],
    ]);
    expect(buttons.map((b) => b.querySelector(".fc-hit-frac")?.textContent)).toEqual([
      "150% of max",
      "10.0% of max",
    ]);
    expect(panel.help.hidden).toBe(false);
    expect(panel.help.textContent).toContain(
      "it can pass 100% because your text is not in the dataset",
    );
    expect(panel.status.classList.contains("fc-search-weak")).toBe(false);
    showResults(panel, result([hit(2, 0.2, 2)]), "");
    expect(panel.status.classList.contains("fc-search-weak")).toBe(true);
    showResults(panel, null, "");
    expect(panel.root.hidden).toBe(true);
  });
});
