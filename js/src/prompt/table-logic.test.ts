import { describe, expect, it } from "vitest";
import { makePromptState } from "../../testing/make-prompt-state";
import { payload } from "../../testing/make-state";
import { decodePrompt } from "./data";
import { dfaOf, firstToken, latentsAt, quantileText, rankPairs } from "./table-logic";

const data = () => decodePrompt(makePromptState());
const latents = (key: Parameters<typeof latentsAt>[2], pos: number) =>
  latentsAt(data(), pos, key).map((p) => p.latent);

describe("the prompt view's rankings", () => {
  it("ranks a token's latents by activation, quantile and |loss effect|", () => {
    expect(latents("act", 2)).toEqual([5, 7, 9]);
    expect(latents("quantile", 2)).toEqual([9, 5, 7]); // 0.999, 0.9, 0.1
    expect(latents("lossNext", 2)).toEqual([7, 5, 9]); // |−1| > 0.25 > 0.0625
    expect(latents("lossPrompt", 2)).toEqual([9, 5, 7]); // 1 > |−0.25| > 0.0625
    expect(latents("lossNext", 1)).toEqual([3, 7]); // |−0.5| > 0.125: a harmful latent ranks too
    expect(latents("act", 0)).toEqual([]); // BOS lists none
    expect(latents("act", 9)).toEqual([]);
  });

  it("puts NaN last and keeps the kernel's order on ties", () => {
    const d = data();
    const ps = [...(d.byPos[2] ?? []), ...(d.byPos[3] ?? [])];
    expect(rankPairs(ps, "lossNext").map((p) => p.latent)).toEqual([7, 5, 9, 3]); // the last token's NaN
    const tied = ps.map((p) => ({ ...p, quantile: 0.5 }));
    expect(rankPairs(tied, "quantile").map((p) => p.index)).toEqual([2, 3, 4, 5]);
  });

  it("gives a pair's DFA over its source tokens, summing as the kernel sent it", () => {
    const d = data();
    const pair = d.byPos[2]?.[1];
    expect(pair?.latent).toBe(7);
    if (!pair) return;
    const got = dfaOf(d, pair);
    expect(got?.bars.map((b) => b.pos)).toEqual([0, 1, 2]);
    expect(got?.bars.map((b) => b.token)).toEqual(["<|endoftext|>", " the", "</script><b>x</b>"]);
    // pair 3 starts at offset 2 + 2 + 3 = 7: values ((i % 5) − 2) / 4 for i = 7, 8, 9
    expect(got?.bars.map((b) => b.value)).toEqual([0, 0.25, 0.5]);
    expect(got?.pre).toBe(0.5);
    expect(dfaOf(decodePrompt(makePromptState({ dfa: null })), pair)).toBeNull();
  });

  it("opens on the first token with latents and writes quantiles as percentiles", () => {
    expect(firstToken(data())).toBe(1);
    expect(quantileText(0.9931)).toBe("99.31%");
    expect(quantileText(0.99951)).toBe("99.951%");
    expect(quantileText(Number.NaN)).toBe("–");
  });
});

describe("decodePrompt", () => {
  it("refuses a pair outside the prompt, a short array and a DFA of the wrong length", () => {
    const st = makePromptState();
    const outside = { ...st.pairs, pos: payload("uint8", [1, 1, 2, 2, 2, 9]) };
    expect(() => decodePrompt({ ...st, pairs: outside })).toThrow(
      /pairs\.pos\[5\] = 9 is not one of the 4 tokens/,
    );
    const short = { ...st.pairs, act: payload("float32", [1, 2]) };
    expect(() => decodePrompt({ ...st, pairs: short })).toThrow(
      /pairs\.act has 2 entries, expected 6/,
    );
    const dfa = st.dfa;
    if (!dfa) throw new Error("the test state has DFA");
    const wrong = { ...dfa, offsets: payload("int32", [0, 2, 4, 7, 10, 13]) };
    expect(() => decodePrompt({ ...st, dfa: wrong })).toThrow(
      /dfa\.offsets has 6 entries, expected 7/,
    );
    const ragged = { ...dfa, offsets: payload("int32", [0, 2, 4, 7, 10, 12, 16]) };
    expect(() => decodePrompt({ ...st, dfa: ragged })).toThrow(/dfa of pair 4 spans 10\.\.12/);
  });
});
