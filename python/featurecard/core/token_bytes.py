"""The raw bytes of each token, so text cut inside a multi-byte UTF-8 character reads right.

A byte-level BPE (GPT-2's, the demo's) may split a character such as ``"é"`` (c3 a9) or
``"—"`` (e2 80 94) between tokens. ``tokenizer.decode([id])`` of each piece alone gives
U+FFFD, and per-token strings joined together are then wrong text. The cards therefore
send, next to each token's text, the raw bytes of the tokens that are not whole UTF-8 on
their own, and the front end decodes a shown sequence's bytes together
(``js/src/core/text.ts``): every character appears once, on the token that completes it.

The bytes of token ``i``, by tokenizer family:

* tokens the tokenizer *added* (special tokens, ``add_tokens``): their content in UTF-8, as
  they are stored literally, not byte-encoded;
* byte-level BPE (a ``ByteLevel`` decoder, or a slow tokenizer's ``byte_decoder``): each
  character of the vocabulary entry maps back to one byte through GPT-2's byte table;
* SentencePiece: byte-fallback entries (``<0xE2>``) are that byte; ``▁`` is a space;
* anything else: ``decode([i])`` in UTF-8 (already whole text).

The reference is the tokenizer itself: the bytes of a sequence's tokens, joined and decoded,
equal ``tokenizer.decode(ids)`` (``tests/unit/test_token_bytes.py``).
"""

from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Iterable
from typing import Any

_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@functools.cache
def _byte_table() -> dict[str, int]:
    """GPT-2's ``bytes_to_unicode`` inverted: printable character -> byte."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    keep += list(range(ord("®"), ord("ÿ") + 1))
    chars = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(keep, chars, strict=True)}


def _is_byte_level(tok: Any) -> bool:
    if getattr(tok, "byte_decoder", None) is not None:
        return True
    backend = getattr(tok, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    return type(decoder).__name__ == "ByteLevel"


class TokenBytes:
    """Token id -> raw bytes for one tokenizer (cached per id)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tok = tokenizer
        self.byte_level = _is_byte_level(tokenizer)
        added = getattr(tokenizer, "added_tokens_decoder", None) or {}
        self.added: dict[int, str] = {int(i): str(getattr(t, "content", t)) for i, t in added.items()}
        self._cache: dict[int, bytes] = {}

    def __call__(self, ids: Iterable[int]) -> list[bytes]:
        return [self.one(int(i)) for i in ids]

    def one(self, i: int) -> bytes:
        b = self._cache.get(i)
        if b is None:
            b = self._compute(i)
            self._cache[i] = b
        return b

    def _compute(self, i: int) -> bytes:
        if i in self.added:
            return self.added[i].encode("utf-8")
        piece = self.tok.convert_ids_to_tokens(i)
        if isinstance(piece, str):
            if self.byte_level:
                table = _byte_table()
                if all(c in table for c in piece):
                    return bytes(table[c] for c in piece)
            m = _BYTE_FALLBACK.match(piece)
            if m:
                return bytes([int(m.group(1), 16)])
            if "\u2581" in piece:  # SentencePiece's word marker; decode() would drop a leading one
                return piece.replace("\u2581", " ").encode("utf-8")
        return str(self.tok.decode([i])).encode("utf-8")


_BY_TOKENIZER: weakref.WeakKeyDictionary[Any, TokenBytes] = weakref.WeakKeyDictionary()


def token_bytes_of(tokenizer: Any) -> TokenBytes:
    """The :class:`TokenBytes` of ``tokenizer``, one per tokenizer (its cache lives as long as it;
    a tokenizer that cannot be weakly referenced gets a fresh one each time)."""
    try:
        tb = _BY_TOKENIZER.get(tokenizer)
        if tb is None:
            tb = _BY_TOKENIZER[tokenizer] = TokenBytes(tokenizer)
    except TypeError:  # unhashable, or no weak references
        tb = TokenBytes(tokenizer)
    return tb


def is_whole_text(b: bytes) -> bool:
    """True when ``b`` is valid UTF-8 by itself."""
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
