import { describe, expect, it } from "vitest";
import {
  buildExamples,
  buildLogits,
  buildTokenBytes,
  makeState,
  payload,
  toBase64,
  VOCAB,
} from "../../testing/make-state";
import { toBytes } from "../core/codecs";
import type { ArrayPayload } from "../core/schema";
import { tokenDisplay } from "../core/tokens";
import { decodeCard } from "./card-data";

describe("decodeCard", () => {
  it("splits ragged sequences into titled groups", () => {
    const card = decodeCard(makeState());
    expect(card.groups.map((g) => [g.title, g.seqs.length])).toEqual([
      ["Top activations", 2],
      ["Quantile 1", 1],
    ]);
    const s = card.groups[0]?.seqs[0];
    expect(s?.tokens).toEqual(["<|endoftext|>", " The", " cat", " sat"]);
    expect(Array.from(s?.acts ?? [])).toEqual([0, 0.5, 2, 1]);
    expect([s?.row, s?.pos0, s?.focus]).toEqual([5, 16, 2]);
    expect(card.logits?.bottom).toEqual([
      { token: "<b>x</b>", vocab: 4, value: Math.fround(-0.9) },
      { token: "</script>", vocab: 5, value: Math.fround(-0.2) },
    ]);
  });

  it("reads base64 payloads (exported HTML) the same way", () => {
    const b64 = (p: ArrayPayload): ArrayPayload => ({ ...p, buffer: toBase64(toBytes(p.buffer)) });
    const st = makeState();
    const ex = st.examples;
    st.examples = {
      groups: ex.groups,
      seq_offsets: b64(ex.seq_offsets),
      tokens: b64(ex.tokens),
      acts: b64(ex.acts),
      seq_batch: b64(ex.seq_batch),
      seq_pos0: b64(ex.seq_pos0),
      seq_focus: b64(ex.seq_focus),
      dfa: null,
    };
    expect(decodeCard(st).groups).toEqual(decodeCard(makeState()).groups);
  });

  it("names the problem in a malformed card", () => {
    const badToken = makeState({
      examples: buildExamples([{ title: "t", seqs: [{ tokens: [99], acts: [1] }] }]),
    });
    expect(() => decodeCard(badToken)).toThrow(
      /examples.tokens index 99 is outside vocab \(size 7\)/,
    );
    const badLogit = makeState({ logits: buildLogits([[42, 1]], []) });
    expect(() => decodeCard(badLogit)).toThrow(/logits index 42/);
    const st = makeState();
    st.examples = { ...st.examples, acts: payload("float32", [1]) };
    expect(() => decodeCard(st)).toThrow(/examples.acts has 1 entries, expected 9/);
    const st2 = makeState();
    st2.examples = { ...st2.examples, seq_offsets: payload("int32", [0, 5, 3, 9]) };
    expect(() => decodeCard(st2)).toThrow(/seq_offsets\[1..2\] = 5..3/);
  });

  it("accepts a card with no examples", () => {
    const card = decodeCard(makeState({ examples: buildExamples([]), hover: null }));
    expect(card.groups).toEqual([]);
  });

  it("shows a byte token on its own as \\xNN, as the graph and the node table do", () => {
    const vocab = [...VOCAB, "\uFFFD", "\uFFFD"]; // 7: dc (a byte that is no text), 8: c3
    const card = decodeCard(
      makeState({
        vocab,
        vocab_ids: payload(
          "uint16",
          vocab.map((_, i) => 1000 + i),
        ),
        vocab_bytes: buildTokenBytes([
          [7, [0xdc]],
          [8, [0xc3]],
        ]),
        logits: buildLogits(
          [
            [7, 0.8],
            [8, 0.3],
          ],
          [[4, -0.9]],
          vocab.map(() => 0),
        ),
        hover: null,
      }),
    );
    expect(card.logits?.top.map((r) => r.token)).toEqual(["\\xdc", "\\xc3"]);
    expect(card.vocab.text(7)).toBe("\\xdc");
    expect(Array.from(card.vocabIds).slice(7)).toEqual([1007, 1008]);
  });
});

describe("tokenDisplay", () => {
  it("marks leading spaces and control characters", () => {
    expect(tokenDisplay(" the")).toEqual({ lead: "·", rest: "the" });
    expect(tokenDisplay("   ")).toEqual({ lead: "···", rest: "" });
    expect(tokenDisplay("a b")).toEqual({ lead: "", rest: "a b" });
    expect(tokenDisplay("\n\n")).toEqual({ lead: "", rest: "↵↵" });
    expect(tokenDisplay("\t")).toEqual({ lead: "", rest: "⇥" });
    expect(tokenDisplay("a\u000bb\u007f\u0085")).toEqual({ lead: "", rest: "a\\x0bb\\x7f\\x85" });
  });
});
