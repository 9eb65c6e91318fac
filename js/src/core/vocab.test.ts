import { describe, expect, it } from "vitest";
import { buildTokenBytes, payload } from "../../testing/make-state";
import { sequenceLabels } from "./text";
import { decodeVocab } from "./vocab";

// " caf", c3, a9 ("é" cut in two), "<script>", dc (a stray byte), e2 80 (two thirds of "—")
const VOCAB = [" caf", "\uFFFD", "\uFFFD", "<script>", "\uFFFD", "\uFFFD"];
const BYTES = buildTokenBytes([
  [1, [0xc3]],
  [2, [0xa9]],
  [4, [0xdc]],
  [5, [0xe2, 0x80]],
]);

describe("decodeVocab", () => {
  const v = decodeVocab({
    vocab: VOCAB,
    vocab_ids: payload("uint16", [10, 11, 12, 13, 14, 15]),
    vocab_bytes: BYTES,
  });

  it("gives each entry's ids, bytes and standalone text (pieces as \\xNN, never U+FFFD)", () => {
    expect(v.size).toBe(6);
    expect(Array.from(v.ids)).toEqual([10, 11, 12, 13, 14, 15]);
    expect(Array.from(v.text.bytes(5))).toEqual([0xe2, 0x80]);
    expect(Array.from(VOCAB.keys(), (j) => v.text.text(j))).toEqual([
      " caf",
      "\\xc3",
      "\\xa9",
      "<script>",
      "\\xdc",
      "\\xe2\\x80",
    ]);
  });

  it("labels a sequence decoded together; a token that only starts a character shows its bytes", () => {
    expect(sequenceLabels(v.text, [0, 1, 2, 3])).toEqual([" caf", "\\xc3", "é", "<script>"]);
    expect(sequenceLabels(v.text, [4, 0])).toEqual(["\\xdc", " caf"]);
    expect(sequenceLabels(v.text, [0, 3])).toEqual([" caf", "<script>"]); // whole text: as sent
  });

  it("reads a payload without ids or bytes (hand-made) as whole text", () => {
    const plain = decodeVocab({ vocab: ["a", "\uFFFD"] });
    expect(Array.from(plain.ids)).toEqual([-1, -1]);
    expect(plain.text.text(1)).toBe("\uFFFD");
    expect(plain.text.partial(1)).toBe(false);
  });

  it("names what is malformed", () => {
    expect(() => decodeVocab({ vocab: ["a"], vocab_ids: payload("uint8", [1, 2]) })).toThrow(
      "vocab_ids has 2 entries, expected 1",
    );
    expect(() =>
      decodeVocab({ vocab: ["a"], vocab_bytes: buildTokenBytes([[3, [0xc3]]]) }),
    ).toThrow("vocab_bytes.ids index 3 is outside vocab (size 1)");
    const bad = { ...BYTES, offsets: payload("int32", [0, 9, 9, 9, 9]) };
    expect(() => decodeVocab({ vocab: VOCAB, vocab_bytes: bad })).toThrow("outside the data");
  });
});
