/**
 * The node table decodes its local vocabulary as the card does (../core/vocab.ts): prompts and
 * predictions index one vocabulary; a byte token reads `\xdc` as in the card's logit table
 * (card-data.test.ts), never U+FFFD, and an "é" cut between two prompt tokens reads "é" once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { makeNodeState } from "../../testing/make-node-state";
import { buildTokenBytes, payload } from "../../testing/make-state";
import { mountWidget } from "../../testing/mount-widget";
import { decodeTable } from "./data";
import type { NodesModel, NodeTableState } from "./schema";
import widget from "./widget";

// 0: "<|endoftext|>", 1: c3, 2: a9 ("é" cut in two), 3: "<script>", 4: dc (a byte that is no text)
const VOCAB = ["<|endoftext|>", "\uFFFD", "\uFFFD", "<script>", "\uFFFD"];

function byteState(nPrompts = 1): NodeTableState {
  const base = makeNodeState(nPrompts);
  return {
    ...base,
    vocab: VOCAB,
    vocab_ids: payload("uint16", [50256, 195, 169, 300, 220]),
    vocab_bytes: buildTokenBytes([
      [1, [0xc3]],
      [2, [0xa9]],
      [4, [0xdc]],
    ]),
    prompts: base.prompts.map((p, i) => ({
      ...p,
      tokens: payload("uint8", i === 0 ? [0, 1, 2, 3] : [0, 4, 3, 3]),
      predictions: payload("uint8", [4, 3]),
    })),
  };
}

afterEach(() => document.body.replaceChildren());

describe("the node table's tokens", () => {
  it("decode like the card's: pieces of a character together, a lone byte as \\xNN", () => {
    const d = decodeTable(byteState(2));
    expect(d.prompts.map((p) => p.tokens)).toEqual([
      ["<|endoftext|>", "\\xc3", "é", "<script>"],
      ["<|endoftext|>", "\\xdc", "<script>", "<script>"],
    ]);
    expect(d.prompts[0]?.predictions.map((p) => p.token)).toEqual(["\\xdc", "<script>"]);
    expect(d.nPos).toBe(4);
  });

  it("are drawn as text in the prompt and the predictions", () => {
    const { el } = mountWidget<NodesModel>(widget, {
      state: byteState(1),
      position: 3,
      selected: {},
      card: {},
      ablations: [],
      trail: [],
      error: "",
      busy: false,
    });
    const toks = Array.from(
      el.querySelectorAll<HTMLElement>(".nt-prompt span.nt-tok"),
      (t) => t.dataset.text,
    );
    expect(toks).toEqual(["<|endoftext|>", "\\xc3", "é", "<script>"]);
    const preds = Array.from(el.querySelectorAll(".nt-pred"), (p) => p.textContent);
    expect(preds).toEqual(["'\\\\xdc' 50.0%", "'<script>' 25.0%"]); // quoted, as a card's tooltip
    expect(el.textContent).not.toContain("\uFFFD");
    expect(el.querySelector(".nt-widget script")).toBeNull();
  });

  it("refuse an index outside the vocabulary and prompts of different lengths", () => {
    const st = byteState(2);
    const [left, right] = st.prompts;
    if (!left || !right) throw new Error("two prompts");
    const bad = { ...st, prompts: [{ ...left, predictions: payload("uint8", [9]) }, right] };
    expect(() => decodeTable(bad)).toThrow("Left prompt's predictions index 9 is outside vocab");
    const short = { ...st, prompts: [left, { ...right, tokens: payload("uint8", [0, 3]) }] };
    expect(() => decodeTable(short)).toThrow("the Right prompt has 2 tokens, expected 4");
  });
});
