import { describe, expect, it } from "vitest";
import { columnChars, MAX_SEQ_CHARS, seqChars } from "./examples";

describe("examples column width", () => {
  it("counts a row's shown characters and the tokens' padding", () => {
    // " the" shows as "·the" (4), "\n" as "↵" (1), "" still takes a cell (1); 3 tokens: +1
    expect(seqChars({ tokens: [" the", "\n", ""] })).toBe(4 + 1 + 1 + 1);
  });
  it("sizes the columns for the longest row, within bounds", () => {
    const row = (n: number) => ({ tokens: Array<string>(n).fill("ab") });
    expect(columnChars([row(10), row(30)])).toBe(30 * 2 + 9 + 2);
    expect(columnChars([row(1)])).toBe(20);
    expect(columnChars([row(500)])).toBe(MAX_SEQ_CHARS);
    expect(columnChars([])).toBe(20);
  });
});
