"""The graph's payload sends its tokens as the card does: a local vocabulary with the raw bytes
of the pieces that are not whole UTF-8 (so the front end shows ``\\xdc`` where it used to show
U+FFFD), checked against the tokenizer and against a vocabulary built by hand."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from featurecard.core.codecs import decode_array
from featurecard.core.model import ModelAdapter
from featurecard.core.schema import TokenBytes as TokenBytesPayload
from featurecard.core.token_bytes import TokenBytes, token_bytes_of
from featurecard.graph.blocks import Layout
from featurecard.graph.build import GraphOptions, contributions
from featurecard.graph.payload import ContributionGraphState, build_graph_state

BYTES: dict[int, bytes] = {1: b" caf", 2: b"\xc3", 3: b"\xa9", 4: b"<script>", 5: b"\xdc", 6: b" x", 7: b"\xe2\x80"}


def sent_bytes(vocab: list[str], pb: TokenBytesPayload) -> list[bytes]:
    """Each vocab entry's bytes as the front end reads them: the raw bytes sent, else its text."""
    ids, offsets, data = decode_array(pb["ids"]), decode_array(pb["offsets"]), decode_array(pb["data"])
    raw = {int(j): bytes(data[offsets[n] : offsets[n + 1]]) for n, j in enumerate(ids)}
    return [raw.get(v, t.encode()) for v, t in enumerate(vocab)]


def shown_ids(st: ContributionGraphState, key: str, part: dict[str, Any] | None = None) -> np.ndarray:
    ids = decode_array(st["vocab_ids"])
    return ids[decode_array((part or st)[key])]  # type: ignore[literal-required]


def hand_data() -> SimpleNamespace:
    """A two-level graph of a 4-token prompt " caf" c3 a9 "<script>" whose lens holds byte tokens."""
    lay = Layout.of(1, 2, False, False)
    n_lev, n_pos, k = len(lay.levels), 4, 2
    top = np.resize([5, 7, 2, 4, 5], (n_lev, n_pos, k))
    z = np.zeros((n_lev, n_pos, k), np.float32)
    lens = SimpleNamespace(
        top_ids=top, top_values=z, up_ids=top[1:, ::-1], up_values=z[1:], down_ids=top[1:] * 0 + 6, down_values=z[1:]
    )
    return SimpleNamespace(
        layout=lay,
        tokens=np.array([1, 2, 3, 4]),
        lens=lens,
        edge_share=np.array([0.5]),
        edge_layer=np.array([0]),
        edge_query=np.array([1]),
        edge_key=np.array([0]),
        edge_heads=np.array([[0.25, 0.25]]),
        resid=np.zeros((n_lev - 1, n_pos)),
        bias=np.zeros((1, n_pos)),
        mlp=np.zeros((1, n_pos)),
        heads=np.zeros((1, n_pos, 2)),
        units=[],
        unavailable={},
    )


def test_byte_tokens_of_the_prompt_and_the_lens_travel_as_bytes() -> None:
    data = hand_data()
    st = build_graph_state(data, 0.1, lambda ids: [BYTES[i] for i in ids])
    pieces = sent_bytes(st["vocab"], st["vocab_bytes"])
    assert [pieces[int(v)] for v in decode_array(st["tokens"])] == [b" caf", b"\xc3", b"\xa9", b"<script>"]
    assert "<script>" in st["vocab"]  # markup is plain text in the payload; the views draw it as text
    assert decode_array(st["vocab_ids"]).tolist()[:4] == [1, 2, 3, 4]  # the prompt's tokens first
    lens = st["lens"]
    assert lens is not None
    for key, want in (("top_tokens", data.lens.top_ids), ("up_tokens", data.lens.up_ids)):
        np.testing.assert_array_equal(shown_ids(st, key, dict(lens)), want)
        got = [pieces[int(v)] for v in decode_array(lens[key]).reshape(-1)]  # type: ignore[literal-required]
        assert got == [BYTES[int(i)] for i in want.reshape(-1)]
    np.testing.assert_array_equal(shown_ids(st, "down_tokens", dict(lens)), data.lens.down_ids)
    for v, i in enumerate(decode_array(st["vocab_ids"]).tolist()):
        assert pieces[v] == BYTES[i]  # the pieces' own bytes, not the U+FFFD of their text


def test_real_prompt_with_a_cut_character_decodes_to_the_tokenizers_text(tok: Any, model: Any) -> None:
    ids = tok(" café — ok <b>", add_special_tokens=False)["input_ids"]
    assert b"\xc3" in TokenBytes(tok)(ids), "the tiny tokenizer never cut é"
    data = contributions(ModelAdapter(model), torch.tensor(ids), None, GraphOptions(keep_above=0.0, lens_k=5))
    st = build_graph_state(data, 0.1, token_bytes_of(tok))
    pieces = sent_bytes(st["vocab"], st["vocab_bytes"])
    shown = decode_array(st["tokens"])
    assert b"".join(pieces[int(v)] for v in shown).decode() == tok.decode(ids)
    np.testing.assert_array_equal(decode_array(st["vocab_ids"])[shown], ids)
    lens = st["lens"]
    assert lens is not None and data.lens is not None
    top = decode_array(lens["top_tokens"])
    np.testing.assert_array_equal(decode_array(st["vocab_ids"])[top], data.lens.top_ids.numpy())
    tb = TokenBytes(tok)
    for v, i in enumerate(decode_array(st["vocab_ids"]).tolist()):
        assert pieces[v] == tb.one(i)  # every entry's bytes are the tokenizer's, pieces included
