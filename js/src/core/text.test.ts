import { describe, expect, it } from "vitest";
import {
  byteEscape,
  charEscape,
  decodePieces,
  escapeInvisible,
  hexBytes,
  quoteText,
  sequenceText,
  standaloneText,
  visibleText,
  vocabText,
} from "./text";
import { tokenDisplay, tokenLabel } from "./tokens";

const enc = new TextEncoder();
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Splits bytes at the given cut points. */
function cut(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let a = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(bytes.subarray(a, c));
    a = c;
  }
  return out;
}

/** A deterministic generator (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let t = seed;
  return () => {
    t = (t + 0x6d2b79f5) | 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

describe("decodePieces (UTF-8 across token boundaries)", () => {
  it("gives a character cut between tokens to the token that completes it", () => {
    const bytes = enc.encode("café — ok"); // é = c3 a9, — = e2 80 94
    const pieces = cut(bytes, [4, 5, 7, 8]); // "caf" + c3 | a9 | " " e2 | 80 | 94 " ok"
    expect(decodePieces(pieces)).toEqual(["caf", "é", " ", "", "— ok"]);
  });

  it("joined, equals the platform's decoder on valid text, however it is cut", () => {
    const random = rng(1);
    const text = "naïve café — 日本語 😀 Ωμέγα \u0000 tab\t end\n\uFEFF";
    const bytes = enc.encode(text);
    for (let trial = 0; trial < 200; trial++) {
      const cuts = [
        ...new Set(Array.from({ length: 6 }, () => Math.floor(random() * bytes.length))),
      ]
        .filter((c) => c > 0)
        .sort((a, b) => a - b);
      const out = decodePieces(cut(bytes, cuts));
      expect(out.join("")).toBe(strict.decode(bytes));
      expect(out.join("")).toBe(text);
    }
  });

  it("accepts exactly the byte sequences the platform's strict decoder accepts", () => {
    const random = rng(7);
    for (let trial = 0; trial < 3000; trial++) {
      const n = 1 + Math.floor(random() * 4);
      const lead =
        [0x7f, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0x80, 0xc0][trial % 11] ?? 0;
      const b = Uint8Array.from([
        lead,
        ...Array.from({ length: n - 1 }, () => Math.floor(random() * 256)),
      ]);
      let valid = true;
      let want = "";
      try {
        want = strict.decode(b);
      } catch {
        valid = false;
      }
      const got = decodePieces([b]).join("");
      if (valid) expect(got).toBe(want);
      else expect(got).toContain("\\x"); // something was escaped, nothing silently replaced
      expect(got).not.toContain("\uFFFD");
    }
  });

  it("shows invalid bytes as \\xNN on the token holding them", () => {
    expect(decodePieces([Uint8Array.from([0xa9]), enc.encode("ok")])).toEqual(["\\xa9", "ok"]);
    expect(decodePieces([Uint8Array.from([0x41, 0xe2, 0x80])])).toEqual(["A\\xe2\\x80"]);
    expect(decodePieces([Uint8Array.from([0xed, 0xa0, 0x80])])).toEqual(["\\xed\\xa0\\x80"]); // surrogate
    expect(decodePieces([Uint8Array.from([0xc0, 0xaf])])).toEqual(["\\xc0\\xaf"]); // overlong "/"
    expect(decodePieces([Uint8Array.from([0xe2]), enc.encode("A")])).toEqual(["\\xe2", "A"]);
  });

  it("formats bytes", () => {
    expect(byteEscape(0x0a)).toBe("\\x0a");
    expect(hexBytes([0xe2, 0x80])).toBe("e2 80");
    expect(standaloneText(Uint8Array.from([0xe2, 0x80]))).toBe("\\xe2\\x80");
    expect(standaloneText(enc.encode("é"))).toBe("é");
  });
});

describe("vocabText / sequenceText", () => {
  const vocab = ["caf", "\uFFFD", "\uFFFD", " ok", "<b>"];
  const partial = new Map([
    [1, Uint8Array.from([0xc3])],
    [2, Uint8Array.from([0xa9])],
  ]);
  const vt = vocabText(vocab, partial);

  it("uses the raw bytes of partial entries and the text of the others", () => {
    expect(vt.partial(1)).toBe(true);
    expect(vt.partial(3)).toBe(false);
    expect(Array.from(vt.bytes(3))).toEqual([0x20, 0x6f, 0x6b]);
    expect(vt.text(1)).toBe("\\xc3");
    expect(vt.text(4)).toBe("<b>");
  });

  it("decodes a sequence together only when it holds partial pieces", () => {
    expect(sequenceText(vt, [0, 1, 2, 3])).toEqual(["caf", "", "é", " ok"]);
    expect(sequenceText(vt, [0, 3, 4])).toEqual(["caf", " ok", "<b>"]);
    expect(sequenceText(vt, [2, 3])).toEqual(["\\xa9", " ok"]); // a window starting mid-character
  });
});

// The characters that change how other text draws, from Unicode's UAX #9 (Bidi_Class LRE RLE PDF
// LRO RLO LRI RLI FSI PDI, and the marks LRM RLM ALM), plus the invisible ones that hide a token's
// content: zero-width space / non-joiner / joiner, word joiner, BOM, soft hyphen, line and
// paragraph separators, a tag character, and C0 / C1 controls. Written out by hand, not by the
// regular expression under test.
const BIDI = [
  0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200e, 0x200f, 0x061c,
];
const HIDDEN = [
  0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0x00ad, 0x2028, 0x2029, 0xe0001, 0x00, 0x1b, 0x7f, 0x85,
  0x9f,
];

describe("visibleText", () => {
  it("shows every bidi control and invisible character as an escape of its code point", () => {
    for (const cp of [...BIDI, ...HIDDEN]) {
      const c = String.fromCodePoint(cp);
      const hex = cp.toString(16);
      const want =
        cp <= 0xff
          ? `\\x${hex.padStart(2, "0")}`
          : cp <= 0xffff
            ? `\\u${hex.padStart(4, "0")}`
            : `\\u{${hex}}`;
      expect(visibleText(`a${c}b`), `U+${hex}`).toBe(`a${want}b`);
      expect(visibleText(c)).toMatch(/^[\x20-\x7e]+$/); // printable ASCII only: nothing left to hide or reorder
    }
  });

  it("escapes U+202E so the text after it is drawn as written", () => {
    expect(visibleText("abc\u202edef")).toBe("abc\\u202edef");
    expect(visibleText("\u2067x\u2069")).toBe("\\u2067x\\u2069");
  });

  it("keeps newline, tab and CR as arrows, and \\xNN for other C0 / C1 controls", () => {
    expect(visibleText("a\nb\tc\rd")).toBe("a↵b⇥c␍d");
    expect(visibleText("\u000b\u0085")).toBe("\\x0b\\x85");
  });

  it("leaves visible text alone, right-to-left scripts and emoji included", () => {
    const text = " héllo עברית العربية 日本語 🙂 <b>&amp; \u00a0x";
    expect(visibleText(text)).toBe(text);
    // every printable ASCII character is itself
    for (let cp = 0x20; cp < 0x7f; cp++)
      expect(visibleText(String.fromCharCode(cp))).toBe(String.fromCharCode(cp));
  });

  it("escapes a lone surrogate instead of drawing U+FFFD", () => {
    expect(visibleText("a\ud800b")).toBe("a\\ud800b");
  });

  it("is what the card's tokens and the graph's labels show", () => {
    expect(tokenDisplay(" \u202eab")).toEqual({ lead: "·", rest: "\\u202eab" });
    expect(tokenLabel("\u202eab c")).toBe("\\u202ea…");
    expect(tokenLabel("\u200bx", 16)).toBe("\\u200bx");
  });
});

describe("quoteText and escapeInvisible", () => {
  it("quote a token with quotes, backslashes and invisible characters escaped", () => {
    expect(quoteText("it's")).toBe("'it\\'s'");
    expect(quoteText("a\\b")).toBe("'a\\\\b'");
    expect(quoteText("x\n\t\r")).toBe("'x\\n\\t\\r'");
    expect(quoteText("\u202eevil")).toBe("'\\u202eevil'");
  });

  it("turn the unescaped bidi controls of a JSON string into JSON escapes", () => {
    const quoted = escapeInvisible(JSON.stringify("a\u202eb\n"));
    expect(quoted).toBe('"a\\u202eb\\n"');
    expect(JSON.parse(quoted)).toBe("a\u202eb\n"); // still JSON, same string
  });

  it("charEscape widens with the code point", () => {
    expect([0x0a, 0xad, 0x202e, 0xe0001].map((c) => charEscape(String.fromCodePoint(c)))).toEqual([
      "\\x0a",
      "\\xad",
      "\\u202e",
      "\\u{e0001}",
    ]);
  });
});
