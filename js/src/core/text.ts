/**
 * Token text from token bytes, for sequences whose tokens may cut a UTF-8 character.
 *
 * A byte-level BPE can split "é" (c3 a9) or "—" (e2 80 94) between tokens; each piece alone
 * is not text. Python sends every token's text, plus the raw bytes of the pieces that are
 * not whole UTF-8 on their own (`vocab_bytes`). Here a shown sequence is decoded as one byte
 * stream: each character goes to the token holding its **last** byte (where it becomes
 * complete, as a streaming decoder emits it), so the joined token texts are exactly the
 * sequence's text and no character shows twice. A token that only starts a character shows
 * no text of its own (the card marks it by its bytes). A byte that cannot be part of valid
 * UTF-8 (a stray continuation byte at a window's edge, an overlong form, a surrogate) shows
 * as `\xNN` on its own token rather than as U+FFFD, so nothing is silently lost.
 *
 * The validity rules are the Unicode standard's (Table 3-7, well-formed UTF-8 sequences);
 * text.test.ts checks them against the platform's TextDecoder.
 */

/** `\xNN` for one byte (lowercase hex). */
export function byteEscape(b: number): string {
  return `\\x${b.toString(16).padStart(2, "0")}`;
}

/** Bytes as spaced hex ("e2 80"), for a token with no text of its own. */
export function hexBytes(bytes: ArrayLike<number>): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** The allowed range of the second byte after lead byte `lead` (Table 3-7); null: not a lead. */
function secondRange(lead: number): readonly [number, number] | null {
  if (lead >= 0xc2 && lead <= 0xdf) return [0x80, 0xbf];
  if (lead === 0xe0) return [0xa0, 0xbf];
  if (lead === 0xed) return [0x80, 0x9f];
  if (lead >= 0xe1 && lead <= 0xef) return [0x80, 0xbf];
  if (lead === 0xf0) return [0x90, 0xbf];
  if (lead >= 0xf1 && lead <= 0xf3) return [0x80, 0xbf];
  if (lead === 0xf4) return [0x80, 0x8f];
  return null;
}

function seqLength(lead: number): number {
  return lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
}

/**
 * Decodes consecutive token byte strings; returns each token's text (characters assigned to
 * the token that completes them, invalid bytes as `\xNN` escapes on the token holding them).
 */
export function decodePieces(pieces: readonly ArrayLike<number>[]): string[] {
  const out = pieces.map(() => "");
  const bytes: number[] = [];
  const owner: number[] = [];
  pieces.forEach((p, t) => {
    for (let i = 0; i < p.length; i++) {
      bytes.push(p[i] ?? 0);
      owner.push(t);
    }
  });
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    if (b < 0x80) {
      out[owner[i] ?? 0] += String.fromCharCode(b);
      i += 1;
      continue;
    }
    const range = secondRange(b);
    const n = range ? seqLength(b) : 1;
    let ok = range !== null && i + n <= bytes.length;
    for (let j = 1; ok && j < n; j++) {
      const c = bytes[i + j] ?? 0;
      const [lo, hi] = j === 1 && range ? range : [0x80, 0xbf];
      ok = c >= lo && c <= hi;
    }
    if (!ok) {
      out[owner[i] ?? 0] += byteEscape(b);
      i += 1;
      continue;
    }
    let cp = n === 2 ? b & 0x1f : n === 3 ? b & 0x0f : b & 0x07;
    for (let j = 1; j < n; j++) cp = (cp << 6) | ((bytes[i + j] ?? 0) & 0x3f);
    out[owner[i + n - 1] ?? 0] += String.fromCodePoint(cp);
    i += n;
  }
  return out;
}

/** One token's text on its own (logit tables, tooltips): invalid bytes as `\xNN`. */
export function standaloneText(bytes: ArrayLike<number>): string {
  return decodePieces([bytes])[0] ?? "";
}

const encoder = new TextEncoder();

/**
 * Per vocab entry: its bytes (the raw bytes Python sent for partial pieces, else the UTF-8 of
 * its text) and its standalone text.
 */
export interface VocabText {
  bytes(v: number): Uint8Array;
  partial(v: number): boolean; // not whole UTF-8 on its own
  text(v: number): string; // standalone display text
}

export function vocabText(vocab: readonly string[], partial: Map<number, Uint8Array>): VocabText {
  const cache = new Map<number, Uint8Array>();
  const bytes = (v: number): Uint8Array => {
    const raw = partial.get(v);
    if (raw) return raw;
    let b = cache.get(v);
    if (!b) {
      b = encoder.encode(vocab[v] ?? "");
      cache.set(v, b);
    }
    return b;
  };
  return {
    bytes,
    partial: (v) => partial.has(v),
    text: (v) => {
      const raw = partial.get(v);
      return raw ? standaloneText(raw) : (vocab[v] ?? "");
    },
  };
}

/** The shown text of each token of one sequence (vocab indices), decoded together. */
export function sequenceText(vt: VocabText, ids: ArrayLike<number>): string[] {
  const pieces: Uint8Array[] = [];
  let anyPartial = false;
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i] ?? 0;
    anyPartial ||= vt.partial(v);
    pieces.push(vt.bytes(v));
  }
  if (!anyPartial) return Array.from(ids, (v) => vt.text(v)); // the common case: texts as sent
  return decodePieces(pieces);
}

/**
 * Each token of a sequence as a label that stands alone (a graph column, a table cell): the
 * sequence decoded together (`sequenceText`), except that a token which only starts a character
 * (no text of its own there) shows its bytes as escapes (`\xe2`), as the card's tooltip shows it.
 */
export function sequenceLabels(vt: VocabText, ids: ArrayLike<number>): string[] {
  return sequenceText(vt, ids).map((t, i) => {
    const v = ids[i] ?? 0;
    return t === "" && vt.partial(v) ? vt.text(v) : t;
  });
}

/*
 * Visible text. A vocabulary entry can hold characters that draw as nothing or that change how
 * *other* text draws: a right-to-left override (U+202E) reverses everything after it up to the
 * end of the paragraph, an isolate or embedding leaks into the next tokens, a zero-width space
 * hides a token boundary. Every token drawn anywhere (card, graph, node table, tooltips) goes
 * through `visibleText` (or `quoteText` for a quoted form), which shows such characters as
 * escapes; the CSS also isolates each token element (`unicode-bidi: isolate`) so that even
 * right-to-left letters order only within their own token.
 */

/**
 * Characters shown as escapes: controls (Cc: C0, DEL, C1), format characters (Cf: the bidi
 * embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069, the marks U+200E/U+200F
 * and U+061C, zero-width space / joiners U+200B-U+200D, word joiner U+2060, BOM U+FEFF, soft
 * hyphen, tag characters ...), the line and paragraph separators (Zl, Zp: a paragraph
 * separator ends a bidi paragraph) and lone surrogates (Cs).
 */
export const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const INVISIBLE_ONE = new RegExp(INVISIBLE.source, "u");

/** The escape of one character: `\xNN` up to U+00FF, `\uNNNN` up to U+FFFF, else `\u{N}` (lowercase hex). */
export function charEscape(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  const hex = code.toString(16);
  if (code <= 0xff) return `\\x${hex.padStart(2, "0")}`;
  return code <= 0xffff ? `\\u${hex.padStart(4, "0")}` : `\\u{${hex}}`;
}

const SHOWN: Readonly<Record<string, string>> = { "\n": "↵", "\t": "⇥", "\r": "␍" };

/** One character as drawn in a token: newline / tab / CR as ↵ ⇥ ␍, other invisible ones as escapes. */
export function visibleChar(c: string): string {
  const shown = SHOWN[c];
  if (shown !== undefined) return shown;
  return INVISIBLE_ONE.test(c) ? charEscape(c) : c;
}

/** A token's text as drawn: every invisible or direction-changing character made visible. */
export function visibleText(text: string): string {
  return text.replace(INVISIBLE, visibleChar);
}

const QUOTED: Readonly<Record<string, string>> = { "\n": "\\n", "\t": "\\t", "\r": "\\r" };

/** Escapes every invisible character as `\n`, `\t`, `\r` or `\xNN` / `\uNNNN` (for quoted forms). */
export function escapeInvisible(text: string): string {
  return text.replace(INVISIBLE, (c) => QUOTED[c] ?? charEscape(c));
}

/** A token quoted for a tooltip or a label: 'x', with `\`, `'` and every invisible character escaped. */
export function quoteText(text: string): string {
  return `'${escapeInvisible(text.replace(/[\\']/g, "\\$&"))}'`;
}
