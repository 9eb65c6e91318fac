"""The local vocabulary of a payload: the token strings a view shows, and its ids as indices.

Every view (card, graph, node table) sends token ids the same way: the distinct ids it shows,
in order of first appearance (``vocab_ids``), each id array as indices into them in the
smallest unsigned dtype that holds them (:func:`~featurecard.core.codecs.encode_indices`), each
vocabulary entry's text (``vocab``) and the raw bytes of the entries that are not whole UTF-8
on their own (``vocab_bytes``: pieces of a character that byte-level BPE cut, see
:mod:`featurecard.core.token_bytes`). The front end decodes all three the same way for every
view (``js/src/core/vocab.ts``) and draws token text through ``js/src/core/text.ts``, so a byte
token reads ``\\xdc`` in the graph's logit lens as it does in the card's logit table.

A text may be cut to ``text_cap`` bytes of JSON (with "…"; the card does so to stay under its
budget); a cut entry then travels as its cut text, without bytes.

Torch-free, like every payload module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .codecs import encode_array, encode_indices
from .schema import ArrayPayload, TokenBytes

#: Token ids -> each token's raw bytes (a :class:`featurecard.core.token_bytes.TokenBytes`).
BytesOf = Callable[[list[int]], list[bytes]]


@dataclass(frozen=True)
class LocalVocab:
    """A payload's local vocabulary and its parts as indices into it."""

    ids: np.ndarray  # int64 [n_vocab], the model's token ids, in order of first appearance
    local: list[np.ndarray]  # int64, each part as indices into ``ids``, in the part's shape
    texts: list[str]  # [n_vocab], each entry's text (cut to the cap where it was over)
    partial: TokenBytes  # the raw bytes of the entries that are not whole UTF-8 on their own

    def indices(self, part: int) -> ArrayPayload:
        """Part ``part`` as local indices in the smallest unsigned dtype that holds them."""
        return encode_indices(self.local[part])

    @property
    def ids_payload(self) -> ArrayPayload:
        return encode_indices(self.ids)


def local_vocab(parts: Sequence[ArrayLike], token_bytes: BytesOf, text_cap: int | None = None) -> LocalVocab:
    """The local vocabulary of the token ids in ``parts`` (any shapes, empty ones too), with texts
    cut to ``text_cap`` bytes of JSON (None: never cut)."""
    ids, local = distinct_ids(parts)
    texts, partial = vocab_text(token_bytes(ids.tolist()), text_cap)
    return LocalVocab(ids, local, texts, partial)


def distinct_ids(parts: Sequence[ArrayLike]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct token ids of ``parts`` in order of first appearance (parts in order, each
    row-major), and each part as indices into them, in its own shape (one ``np.unique``)."""
    arrays = [np.asarray(p, dtype=np.int64) for p in parts]
    flat = [a.reshape(-1) for a in arrays]
    every = np.concatenate(flat) if flat else np.zeros(0, np.int64)
    if every.size and int(every.min()) < 0:
        raise ValueError(f"token id {int(every.min())} is negative: accepted ids >= 0")
    uniq, first, inverse = np.unique(every, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    local = rank[inverse.reshape(-1)].astype(np.int64)
    cuts = np.cumsum([f.size for f in flat])[:-1]
    pieces = np.split(local, cuts) if flat else []
    return uniq[order].astype(np.int64), [x.reshape(a.shape) for x, a in zip(pieces, arrays, strict=True)]


def vocab_text(token_bytes: Sequence[bytes], cap: int | None = None) -> tuple[list[str], TokenBytes]:
    """Each token's text, and the raw bytes of those that are not whole UTF-8; texts over
    ``cap`` bytes of JSON are cut (and shown as their cut text, without bytes)."""
    texts: list[str] = []
    partial: list[tuple[int, bytes]] = []
    for j, b in enumerate(token_bytes):
        try:
            text, whole = b.decode("utf-8"), True
        except UnicodeDecodeError:
            text, whole = b.decode("utf-8", errors="replace"), False
        cut = cut_text(text, cap) if cap is not None else None
        texts.append(text if cut is None else cut)
        if not whole and cut is None:
            partial.append((j, b))
    offsets = np.zeros(len(partial) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for _, b in partial])
    data = np.frombuffer(b"".join(b for _, b in partial), dtype=np.uint8)
    return texts, {
        "ids": encode_array([j for j, _ in partial], "int32"),
        "offsets": encode_array(offsets, "int32"),
        "data": encode_array(data, "uint8"),
    }


def cut_text(text: str, cap: int) -> str | None:
    """``text`` cut to at most ``cap`` bytes of JSON (with "…"), or None where it fits."""
    if 6 * len(text) + 2 <= cap or len(json.dumps(text)) <= cap:
        return None
    room, out = cap - len(json.dumps("…")), []
    for ch in text:
        room -= len(json.dumps(ch)) - 2
        if room < 0:
            break
        out.append(ch)
    return "".join(out) + "…"


def standalone_text(token: bytes) -> str:
    """One token's text on its own, for text made in Python (a description): bytes that are not
    valid UTF-8 as ``\\xNN``, as the front end's ``standaloneText`` shows them."""
    return token.decode("utf-8", errors="backslashreplace")
