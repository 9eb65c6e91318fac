/**
 * The graph decodes its local vocabulary as the card does (../core/vocab.ts): a byte token in
 * the logit lens reads `\xdc`, as in the card's logit table (card-data.test.ts), never U+FFFD,
 * and a prompt whose "é" is cut between two tokens reads "é" once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { makeGraphState } from "../../testing/make-graph-state";
import { buildTokenBytes, payload } from "../../testing/make-state";
import { mountWidget, q } from "../../testing/mount-widget";
import { decodeGraph } from "./data";
import type { ContributionGraphState, GraphModel } from "./schema";
import widget from "./widget";

// 0: " caf", 1: c3, 2: a9 ("é" cut in two), 3: "<script>", 4: dc (a byte that is no text)
const VOCAB = [" caf", "\uFFFD", "\uFFFD", "<script>", "\uFFFD"];

function byteState(): ContributionGraphState {
  const base = makeGraphState();
  const lens = base.lens;
  if (!lens) throw new Error("makeGraphState has a lens");
  const top = [1, 2, 2, 3, 3, 1, 1, 2, 2, 1, 4, 3]; // level 2, position 1: dc first, then <script>
  return {
    ...base,
    tokens: payload("uint8", [1, 2]),
    vocab: VOCAB,
    vocab_ids: payload("uint16", [1000, 195, 169, 300, 220]),
    vocab_bytes: buildTokenBytes([
      [1, [0xc3]],
      [2, [0xa9]],
      [4, [0xdc]],
    ]),
    lens: { ...lens, top_tokens: payload("uint8", top, { shape: [3, 2, 2] }) },
  };
}

afterEach(() => document.body.replaceChildren());

describe("the graph's tokens", () => {
  it("decode like the card's: pieces of a character together, a lone byte as \\xNN", () => {
    const d = decodeGraph(byteState());
    expect(d.tokens).toEqual(["\\xc3", "é"]);
    expect(d.vocab).toEqual([" caf", "\\xc3", "\\xa9", "<script>", "\\xdc"]);
    expect(Array.from(d.vocabIds)).toEqual([1000, 195, 169, 300, 220]);
  });

  it("are drawn as text: the lens shows \\xdc and markup, the prompt é", () => {
    const { el } = mountWidget<GraphModel>(widget, {
      state: byteState(),
      target: 1,
      threshold: 0.04,
      selected: {},
      card: {},
      error: "",
      busy: false,
      nodes: {},
    });
    const labels = Array.from(el.querySelectorAll(".fc-g-token"), (t) => t.firstChild?.textContent);
    expect(labels).toEqual(["\\xc3", "é"]);
    q(el, "[data-node='resid:2:1']").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    const cells = Array.from(
      el.querySelectorAll(".fc-g-lens-top td:first-child"),
      (c) => c.textContent,
    );
    expect(cells).toEqual(["\\xdc", "<script>"]);
    expect(el.textContent).not.toContain("\uFFFD");
    expect(el.querySelector(".fc-g-lens-top script")).toBeNull();
  });

  it("refuse an index outside the vocabulary, naming the array", () => {
    const st = byteState();
    expect(() => decodeGraph({ ...st, tokens: payload("uint8", [1, 5]) })).toThrow(
      "tokens index 5 is outside vocab (size 5)",
    );
  });
});
