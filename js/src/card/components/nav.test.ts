import { describe, expect, it } from "vitest";
import {
  clampIndex,
  createNav,
  type NavState,
  navFlags,
  randomTitle,
  stepTarget,
  typedIndex,
} from "./nav";

const state = (over: Partial<NavState> = {}): NavState => ({
  feature: 3,
  count: 10,
  choices: [],
  canBack: false,
  canForward: true,
  live: true,
  ...over,
});

describe("the index steps", () => {
  it("clamps an index to [0, count - 1]", () => {
    expect([clampIndex(-4, 10), clampIndex(5, 10), clampIndex(12, 10)]).toEqual([0, 5, 9]);
  });

  it("step by one inside the range and stop at its ends", () => {
    expect(stepTarget(3, 1, 10, [])).toBe(4);
    expect(stepTarget(3, -1, 10, [])).toBe(2);
    expect(stepTarget(9, 1, 10, [])).toBe(9);
    expect(stepTarget(0, -1, 10, [])).toBe(0);
  });

  it("start at the first or the last index when none is shown", () => {
    expect(stepTarget(null, 1, 10, [])).toBe(0);
    expect(stepTarget(null, -1, 10, [])).toBe(9);
  });

  it("walk an exported file's choices in order, whatever order they came in", () => {
    const choices = [7, 2, 5];
    expect(stepTarget(2, 1, 10, choices)).toBe(5);
    expect(stepTarget(5, 1, 10, choices)).toBe(7);
    expect(stepTarget(6, -1, 10, choices)).toBe(5);
    expect(stepTarget(7, 1, 10, choices)).toBeUndefined();
    expect(stepTarget(2, -1, 10, choices)).toBeUndefined();
    expect(stepTarget(null, -1, 10, choices)).toBe(7);
  });

  it("go nowhere without a card", () => {
    expect(stepTarget(3, 1, 0, [])).toBeUndefined();
  });
});

describe("the typed index", () => {
  it("selects an in-range integer while typing and waits on one out of range", () => {
    expect(typedIndex(" 7 ", false, 10)).toBe(7);
    expect(typedIndex("12", false, 10)).toBeNull(); // "12" may still become "1" or "123"...
    expect(typedIndex("12", true, 10)).toBe(12); // ...on Enter it is sent (and clamped there)
  });

  it("ignores an empty box or a non-integer, and resets it on commit", () => {
    expect(typedIndex("", false, 10)).toBeNull();
    expect(typedIndex("2.5", false, 10)).toBeNull();
    expect(typedIndex("2.5", true, 10)).toBe("reset");
    expect(typedIndex("  ", true, 10)).toBe("reset");
  });
});

describe("the disabled controls", () => {
  it("disable previous at the first index and next at the last", () => {
    expect(navFlags(state(), 0)).toEqual({
      max: "9",
      index: false,
      prev: true,
      next: false,
      back: true,
      forward: false,
      random: false,
      search: false,
    });
    expect(navFlags(state(), 9).next).toBe(true);
    expect(navFlags(state(), 5).prev).toBe(false);
  });

  it("bound the arrows by the file's choices and allow random among two or more", () => {
    const f = navFlags(state({ choices: [8, 4], live: false }), 4);
    expect([f.prev, f.next, f.random, f.search]).toEqual([true, false, false, true]);
    expect(navFlags(state({ choices: [8, 4], live: false }), 8).next).toBe(true);
    expect(navFlags(state({ choices: [4], live: false }), 4).random).toBe(true);
  });

  it("disable everything but history before the first card", () => {
    const f = navFlags(state({ count: 0, feature: null }), null);
    expect(f).toMatchObject({ max: "", index: true, prev: true, next: true, random: true });
  });

  it("say why random is disabled: no kernel, or no card yet", () => {
    expect(randomTitle(navFlags(state({ live: false }), 3))).toBe("random needs a running kernel");
    expect(randomTitle(navFlags(state({ count: 0, feature: null }), null))).toBe(
      "no card to pick from yet",
    );
    expect(randomTitle(navFlags(state(), 3))).toBe("random live unit");
  });
});

describe("the bar's panels", () => {
  it("take their look from the card's CSS, not inline styles, so Lab's themes reach them", () => {
    const noop = () => undefined;
    const nav = createNav({
      select: noop,
      back: noop,
      forward: noop,
      random: noop,
      search: noop,
      pick: noop,
      refuse: noop,
    });
    nav.root.querySelector<HTMLButtonElement>("button.fc-help")?.click();
    const all = [nav.root, nav.panel].flatMap((r) => [r, ...r.querySelectorAll<HTMLElement>("*")]);
    expect(nav.panel.querySelector(".fc-help-panel")?.hasAttribute("hidden")).toBe(false);
    expect(all.filter((e) => e.getAttribute("style")).map((e) => e.className)).toEqual([]);
    nav.destroy();
  });
});
