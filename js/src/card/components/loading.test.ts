import { describe, expect, it } from "vitest";
import { makeState } from "../../../testing/make-state";
import { decodeCard } from "../card-data";
import { createLoading, loadingOf, loadingText } from "./loading";

const shown = decodeCard(makeState({ source: "sae", feature: 3 }));

describe("a card that loads another unit", () => {
  it("loads when the asked unit is not the shown one", () => {
    expect(loadingOf({ source: "sae", feature: 3 }, shown)).toBeNull();
    expect(loadingOf({ source: "sae", feature: 8 }, shown)).toEqual({ source: "sae", feature: 8 });
    expect(loadingOf({ source: "hook", feature: 3 }, shown)).toEqual({
      source: "hook",
      feature: 3,
    });
    expect(loadingOf({ source: "", feature: 8 }, shown)).toEqual({ source: "sae", feature: 8 });
    expect(loadingOf({ source: "sae", feature: null }, shown)).toBeNull();
    expect(loadingOf({ source: "sae", feature: 8 }, null)).toBeNull(); // nothing drawn to mark
  });

  it("says which unit, naming its source when it is another", () => {
    expect(loadingText({ source: "sae", feature: 8 }, shown)).toBe("loading #8…");
    expect(loadingText({ source: "hook", feature: 8 }, shown)).toBe("loading hook #8…");
  });

  it("shows a progress bar and marks the card stale until it is done", () => {
    const view = createLoading();
    const card = document.createElement("div");
    view.update({ source: "sae", feature: 8 }, shown, card);
    expect(view.root.hidden).toBe(false);
    expect(view.root.querySelector("progress")).not.toBeNull();
    expect(view.root.textContent).toBe("loading #8…");
    expect([card.classList.contains("fc-stale"), card.dataset.loading]).toEqual([true, "sae#8"]);
    view.update(null, shown, card);
    expect([view.root.hidden, card.classList.contains("fc-stale"), card.dataset.loading]).toEqual([
      true,
      false,
      undefined,
    ]);
  });
});
