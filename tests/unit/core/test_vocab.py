"""The one local-vocabulary builder (core/vocab.py) against a plain loop over the ids."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from featurecard.core.codecs import decode_array
from featurecard.core.schema import TokenBytes
from featurecard.core.token_bytes import token_bytes_of
from featurecard.core.vocab import cut_text, local_vocab, standalone_text

# A vocabulary with pieces of characters ("é" = c3 a9, "—" = e2 80 94), a stray continuation
# byte, markup, a right-to-left override and plain words.
BYTES: dict[int, bytes] = {
    0: b"<|endoftext|>",
    3: b"\xc3",
    4: b"\xa9",
    7: b"\xe2\x80",
    8: b"\x94",
    9: b"\xdc",
    11: b"<script>",
    12: b"</script>",
    40: b" the",
    41: "\u202eevil".encode(),
    300: b" caf\xc3",
    70_000: "日本".encode(),
}


def token_bytes(ids: list[int]) -> list[bytes]:
    return [BYTES[i] for i in ids]


def naive(parts: list[np.ndarray]) -> tuple[list[int], list[np.ndarray]]:
    """First come, first numbered, one id at a time."""
    index: dict[int, int] = {}
    local = []
    for p in parts:
        a = np.asarray(p)
        flat = [index.setdefault(int(i), len(index)) for i in a.reshape(-1)]
        local.append(np.asarray(flat, dtype=np.int64).reshape(a.shape))
    return list(index), local


def partial_bytes(pb: TokenBytes) -> dict[int, bytes]:
    ids, offsets, data = (decode_array(pb[k]) for k in ("ids", "offsets", "data"))  # type: ignore[literal-required]
    return {int(j): bytes(data[offsets[n] : offsets[n + 1]]) for n, j in enumerate(ids)}


PARTS = [
    [np.array([40, 3, 4, 40, 11, 12, 3]), np.zeros(0, np.int64), np.array([[9, 40], [7, 8]]), np.array([41, 0])],
    [np.zeros(0, np.int64), np.zeros((2, 0), np.int64)],
    [],
    [np.array([[[300, 70_000]], [[300, 9]]]), np.array([70_000]), np.array([0, 0, 0])],
]


@pytest.mark.parametrize("parts", PARTS)
def test_ids_and_indices_match_a_plain_loop(parts: list[np.ndarray]) -> None:
    v = local_vocab(parts, token_bytes)
    ids, local = naive(parts)
    assert v.ids.tolist() == ids
    assert len(v.local) == len(parts)
    for j, (got, want) in enumerate(zip(v.local, local, strict=True)):
        assert got.shape == np.shape(parts[j])
        np.testing.assert_array_equal(got, want)
        sent = v.indices(j)
        assert sent["shape"] == list(np.shape(parts[j]))
        np.testing.assert_array_equal(decode_array(sent), want)
    np.testing.assert_array_equal(decode_array(v.ids_payload), ids)


@pytest.mark.parametrize("parts", PARTS)
def test_texts_and_the_bytes_of_pieces(parts: list[np.ndarray]) -> None:
    v = local_vocab(parts, token_bytes)
    ids, _ = naive(parts)
    partial = partial_bytes(v.partial)
    assert len(v.texts) == len(ids)
    for j, i in enumerate(ids):
        raw = BYTES[i]
        try:
            assert v.texts[j] == raw.decode("utf-8")  # whole text: as it is, markup too
            assert j not in partial
        except UnicodeDecodeError:
            assert partial[j] == raw  # a piece: its raw bytes travel
            assert v.texts[j] == raw.decode("utf-8", errors="replace")
    assert set(partial) <= set(range(len(ids)))


def test_the_pieces_of_the_example_vocabulary() -> None:
    v = local_vocab([np.array([40, 3, 4, 11, 9, 7, 8, 300])], token_bytes)
    assert v.texts[3] == "<script>" and v.texts[0] == " the"
    assert partial_bytes(v.partial) == {1: b"\xc3", 2: b"\xa9", 4: b"\xdc", 5: b"\xe2\x80", 6: b"\x94", 7: b" caf\xc3"}


def test_indices_take_the_smallest_unsigned_dtype() -> None:
    small = local_vocab([np.array([40, 3, 40])], token_bytes)
    assert small.indices(0)["dtype"] == "uint8"
    many = {i: f"t{i}".encode() for i in range(70_000)}
    ids = np.arange(70_000)[::-1]
    assert local_vocab([ids[:300]], lambda x: [many[i] for i in x]).indices(0)["dtype"] == "uint16"
    big = local_vocab([ids], lambda x: [many[i] for i in x])
    assert big.indices(0)["dtype"] == "int32" and big.ids_payload["dtype"] == "int32"
    np.testing.assert_array_equal(decode_array(big.indices(0)), np.arange(70_000))


def test_text_cap_cuts_long_texts_and_drops_their_bytes() -> None:
    long = {1: ("x" * 200).encode(), 2: b"\xc3" + b"y" * 100, 3: b"ok", 4: b"\xdc"}
    v = local_vocab([np.array([1, 2, 3, 4])], lambda x: [long[i] for i in x], text_cap=16)
    assert v.texts[2] == "ok"
    for j in (0, 1):
        assert v.texts[j].endswith("…") and len(json.dumps(v.texts[j])) <= 16
        assert long[j + 1].decode("utf-8", errors="replace").startswith(v.texts[j][:-1])
    assert partial_bytes(v.partial) == {3: b"\xdc"}  # the cut piece travels as its cut text only
    assert cut_text("short", 16) is None and cut_text("x" * 200, 16) == "x" * 8 + "…"  # json: "x..x\u2026"


def test_negative_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="token id -1 is negative"):
        local_vocab([np.array([3, -1])], token_bytes)


def test_standalone_text_escapes_bytes_that_are_not_text() -> None:
    assert standalone_text(b"\xdc") == "\\xdc"
    assert standalone_text(b"\xe2\x80") == "\\xe2\\x80"
    assert standalone_text(b" caf\xc3\xa9") == " café"


def test_token_bytes_of_keeps_one_cache_per_tokenizer(tok: Any) -> None:
    assert token_bytes_of(tok) is token_bytes_of(tok)
    assert token_bytes_of(tok).one(tok.bos_token_id) == b"<|endoftext|>"

    class Plain:  # no __weakref__: a fresh TokenBytes each time, still correct
        __slots__ = ("added_tokens_decoder",)

        def __init__(self) -> None:
            self.added_tokens_decoder = {0: "<s>"}

    assert token_bytes_of(Plain()).one(0) == b"<s>"
