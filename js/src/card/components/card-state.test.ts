import { describe, expect, it } from "vitest";
import { buildExamples, makeState } from "../../../testing/make-state";
import { type CardData, decodeCard } from "../card-data";
import { History } from "../history";
import {
  canOpenUnit,
  colourScale,
  hoverMarks,
  navStateOf,
  randomChoice,
  rememberCard,
} from "./card-state";

const card = (feature: number, source = "s") => decodeCard(makeState({ feature, source }));

describe("which links a card can open", () => {
  const scope = { source: "s", live: true, choices: [], anySource: false };

  it("opens any unit of its own source with a kernel, others only when the host can", () => {
    expect(canOpenUnit("s", 99, scope)).toBe(true);
    expect(canOpenUnit("t", 1, scope)).toBe(false);
    expect(canOpenUnit("t", 1, { ...scope, anySource: true })).toBe(true);
  });

  it("opens only the file's own cards offline", () => {
    const offline = { ...scope, live: false, choices: [2, 5], anySource: true };
    expect(canOpenUnit("s", 5, offline)).toBe(true);
    expect(canOpenUnit("s", 4, offline)).toBe(false);
    expect(canOpenUnit("t", 5, offline)).toBe(false);
  });
});

describe("the random pick among a file's cards", () => {
  it("never picks the card shown and maps [0, 1) evenly over the others", () => {
    expect(randomChoice([2, 5, 9], 5, 0)).toBe(2);
    expect(randomChoice([2, 5, 9], 5, 0.49)).toBe(2);
    expect(randomChoice([2, 5, 9], 5, 0.5)).toBe(9);
    expect(randomChoice([2, 5, 9], null, 0.99)).toBe(9);
  });

  it("has nothing to pick when the card shown is the only one", () => {
    expect(randomChoice([5], 5, 0.3)).toBeUndefined();
    expect(randomChoice([], null, 0.3)).toBeUndefined();
  });
});

describe("the cache of recent cards", () => {
  it("keeps the newest `size` cards and refreshes one shown again", () => {
    const cache = new Map<string, CardData>();
    const [a, b, c] = [card(1), card(2), card(3)];
    rememberCard(cache, a, 2);
    rememberCard(cache, b, 2);
    rememberCard(cache, a, 2); // a is the newest now
    rememberCard(cache, c, 2); // so b goes
    expect([...cache.values()]).toEqual([a, c]);
    expect([...cache.keys()]).toEqual(["s\u00001", "s\u00003"]);
  });
});

describe("the navigation bar's state", () => {
  it("shows the requested index, else the shown card's, and counts the shown card's units", () => {
    const h = new History();
    const props = { feature: null, choices: [], live: true };
    expect(navStateOf(props, null, h, true)).toEqual({
      feature: null,
      count: 0,
      choices: [],
      canBack: false,
      canForward: false,
      live: true,
    });
    h.visit({ source: "s", feature: 1 });
    h.visit({ source: "s", feature: 3 });
    const st = navStateOf({ ...props, feature: 7 }, card(3), h, false);
    expect([st.feature, st.count, st.canBack, st.live]).toEqual([7, 24, true, false]);
    expect(navStateOf(props, card(3), h, true).feature).toBe(3);
  });
});

describe("what a hovered token marks", () => {
  // shown tokens, flat: [0, 1, 2, 6] (start 0), [4, 5, 3] (start 4), [1, 2] (start 7);
  // the logit histogram's value of vocab index v is v / 10
  const data = decodeCard(makeState());

  it("finds the token's sequence, its activation and its token's logit", () => {
    const a = hoverMarks(data, 5);
    expect([a?.seq.start, a?.i, a?.act, a?.logit]).toEqual([4, 1, -0.5, Math.fround(0.5)]);
    const b = hoverMarks(data, 8);
    expect([b?.seq.start, b?.i, b?.act, b?.logit]).toEqual([7, 1, 0, Math.fround(0.2)]);
    expect(hoverMarks(data, 3)?.act).toBe(1);
  });

  it("marks nothing past the last token, and no logit without logits", () => {
    expect(hoverMarks(data, 9)).toBeNull();
    expect(hoverMarks(decodeCard(makeState({ logits: null })), 2)?.logit).toBeNull();
  });
});

describe("the examples' colour scale", () => {
  const seqs = [{ tokens: [1, 2], acts: [0.25, -1.75] }];
  const examples = buildExamples([{ title: "T", seqs }]);

  it("is |max act| when that is usable", () => {
    expect(colourScale(decodeCard(makeState({ max_act: -3, examples, hover: null })))).toBe(3);
  });

  it("falls back on the largest |activation| shown", () => {
    expect(colourScale(decodeCard(makeState({ max_act: 0, examples, hover: null })))).toBe(1.75);
    expect(colourScale(decodeCard(makeState({ max_act: Number.NaN, examples, hover: null })))).toBe(
      1.75,
    );
  });
});
