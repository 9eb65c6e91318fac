import { describe, expect, it } from "vitest";
import { buildExamples, DEFAULT_GROUPS, makeState, payload } from "../../../testing/make-state";
import { decodeCard } from "../card-data";
import { dfaHoverContent, dfaScale } from "./dfa-row";
import { renderExamples } from "./examples";

/** DEFAULT_GROUPS with DFA on its first top example (4 tokens, focus at index 2). */
function withDfa(values = [0.25, -0.5, 1.5, 0], count = 1) {
  const examples = buildExamples(DEFAULT_GROUPS);
  examples.dfa = {
    count,
    values: payload("float32", values),
    outside: payload("float32", [0.5]),
    pre: payload("float32", [2]),
    bias: payload("float32", [0.25]),
  };
  return makeState({ examples });
}

describe("DFA rows", () => {
  it("decodes each top example's DFA and leaves the others without", () => {
    const card = decodeCard(withDfa());
    const d = card.seqs[0]?.dfa;
    expect(Array.from(d?.values ?? [])).toEqual([0.25, -0.5, 1.5, 0]);
    expect([d?.outside, d?.pre, d?.bias]).toEqual([0.5, 2, 0.25]);
    expect(card.seqs.slice(1).map((s) => s.dfa)).toEqual([null, null]);
    expect(decodeCard(makeState()).seqs.every((s) => s.dfa === null)).toBe(true);
    expect(dfaScale(card)).toBe(1.5);
  });

  it("refuses DFA that does not fit its examples, naming the array", () => {
    expect(() => decodeCard(withDfa([1, 2, 3]))).toThrow(
      "featurecard: examples.dfa.values has 3 entries, expected 4",
    );
    expect(() => decodeCard(withDfa([1, 2, 3, 4], 4))).toThrow("examples.dfa.count 4");
  });

  it("draws a DFA row under its example, shaded by DFA, and explains it on hover", () => {
    const card = decodeCard(withDfa());
    const root = renderExamples(card, 2);
    const pairs = root.querySelectorAll(".fc-seq-pair");
    expect(pairs.length).toBe(1);
    const dfaRow = pairs[0]?.querySelector<HTMLElement>(".fc-dfa-row");
    const exampleRow = pairs[0]?.querySelector<HTMLElement>(".fc-seq[data-seq]");
    expect(dfaRow?.textContent).toBe(exampleRow?.textContent); // the same tokens
    expect(dfaRow?.dataset.seq).toBeUndefined(); // not an example row: a click widens nothing
    const spans = Array.from(dfaRow?.querySelectorAll<HTMLElement>("span.fc-tok") ?? []);
    expect(spans.map((s) => s.dataset.t)).toEqual([undefined, undefined, undefined, undefined]);
    expect(spans[2]?.classList.contains("fc-tok-max")).toBe(true); // the largest DFA
    expect(spans[2]?.classList.contains("fc-focus")).toBe(true); // the example's own token
    expect(root.querySelector(".fc-dfa-note")?.textContent).toContain("DFA");
    const tip = spans[1] ? dfaHoverContent(card, spans[1]) : null;
    const nums = Array.from(tip?.querySelectorAll<HTMLElement>("td.fc-tt-num") ?? []).map((td) =>
      Number(td.dataset.value),
    );
    expect(nums).toEqual([-0.5, 1.25, 0.5, 0.25, 2]); // 1.25 + 0.5 + 0.25 = 2: shown + earlier + bias = pre
    const exampleTok = root.querySelector<HTMLElement>(".fc-seq[data-seq] span.fc-tok");
    expect(exampleTok ? dfaHoverContent(card, exampleTok) : "none").toBeNull();
  });
});
