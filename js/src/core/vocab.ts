/**
 * A payload's local vocabulary, decoded the same way for every view (card, graph, node table).
 *
 * Python's one builder (python/featurecard/core/vocab.py) sends the distinct tokens a view
 * shows as `vocab` (each entry's text), `vocab_ids` (the model's token id of each entry) and
 * `vocab_bytes` (the raw bytes of the entries that are not whole UTF-8 on their own); every
 * token array of the payload indexes into them. The text a view draws comes from ./text.ts:
 * `sequenceText` / `sequenceLabels` for a token sequence (decoded together), `VocabText.text`
 * for a token on its own (a byte piece shows as `\xdc`, never as U+FFFD).
 */
import { decodeArray, decodeInts } from "./codecs";
import type { ArrayPayload, TokenBytes } from "./schema";
import { type VocabText, vocabText } from "./text";

/** The keys a payload's local vocabulary travels in. */
export interface VocabFields {
  vocab: string[];
  vocab_ids?: ArrayPayload; // absent in a hand-made payload: ids unknown (-1)
  vocab_bytes?: TokenBytes; // absent: every entry is whole text
}

export interface DecodedVocab {
  size: number;
  text: VocabText; // each entry's bytes and standalone text
  ids: ArrayLike<number>; // the model's token id of each entry (-1 where not sent)
}

/** Throws unless every value of `a` indexes an entry of a vocabulary of `size` entries. */
export function checkVocabIndices(a: ArrayLike<number>, size: number, what: string): void {
  for (let i = 0; i < a.length; i++) {
    const v = a[i] ?? -1;
    if (!(v >= 0 && v < size)) {
      throw new Error(`featurecard: ${what} index ${v} is outside vocab (size ${size})`);
    }
  }
}

/** The raw bytes of the entries that are not whole UTF-8 text, by entry. */
export function decodePartialBytes(
  vb: TokenBytes | undefined,
  size: number,
): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  if (!vb) return out;
  const ids = decodeInts(vb.ids, "vocab_bytes.ids");
  const offsets = decodeInts(vb.offsets, "vocab_bytes.offsets");
  const data = decodeArray(vb.data);
  if (offsets.length !== ids.length + 1) {
    throw new Error(
      `featurecard: vocab_bytes.offsets has ${offsets.length} entries, expected ${ids.length + 1}`,
    );
  }
  checkVocabIndices(ids, size, "vocab_bytes.ids");
  ids.forEach((v, j) => {
    const a = offsets[j] ?? 0;
    const b = offsets[j + 1] ?? 0;
    if (!(a >= 0 && a <= b && b <= data.length)) {
      throw new Error(
        `featurecard: vocab_bytes.offsets[${j}..${j + 1}] = ${a}..${b} is outside the data`,
      );
    }
    out.set(v, Uint8Array.from(data.subarray(a, b)));
  });
  return out;
}

/** Decodes and checks a payload's local vocabulary; throws an Error naming the first problem. */
export function decodeVocab(p: VocabFields): DecodedVocab {
  const size = p.vocab.length;
  const ids = p.vocab_ids ? decodeInts(p.vocab_ids, "vocab_ids") : new Int32Array(size).fill(-1);
  if (ids.length !== size) {
    throw new Error(`featurecard: vocab_ids has ${ids.length} entries, expected ${size}`);
  }
  return { size, text: vocabText(p.vocab, decodePartialBytes(p.vocab_bytes, size)), ids };
}
