"""Token bytes: joined and decoded, they are the tokenizer's own text; cards send the pieces."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.core.codecs import decode_array
from featurecard.core.token_bytes import TokenBytes, is_whole_text
from featurecard.workspace import Workspace

TEXT = "café — naïve 日本語 😀 <b>x</b> The value\n"


@pytest.fixture(scope="module")
def markup_tok(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tiny.make_tokenizer(tmp_path_factory.mktemp("tokm"), extra_tokens=("<b>bold</b>", "a b <i>"))


def test_joined_bytes_decode_to_the_tokenizers_text(tok: Any, markup_tok: Any) -> None:
    for t in (tok, markup_tok):
        tb = TokenBytes(t)
        assert tb.byte_level
        ids = t(TEXT + " <b>bold</b> a b <i>", add_special_tokens=False)["input_ids"]
        assert b"".join(tb(ids)).decode("utf-8") == t.decode(ids)
        g = torch.Generator().manual_seed(0)
        for _ in range(50):  # random id sequences, including lone pieces of characters
            rnd = torch.randint(0, len(t), (12,), generator=g).tolist()
            assert b"".join(tb(rnd)).decode("utf-8", errors="replace") == t.decode(rnd)


def test_a_character_cut_by_bpe_has_pieces_that_are_not_text(tok: Any) -> None:
    tb = TokenBytes(tok)
    ids = tok("é", add_special_tokens=False)["input_ids"]
    assert len(ids) == 2, "the tiny tokenizer never merged é's two bytes"
    pieces = tb(ids)
    assert pieces == [b"\xc3", b"\xa9"]
    assert not any(is_whole_text(p) for p in pieces)
    assert tok.decode([ids[0]]) == "\ufffd"  # what per-token decoding used to send


def test_added_tokens_are_their_literal_text(markup_tok: Any) -> None:
    tb = TokenBytes(markup_tok)
    i = markup_tok.convert_tokens_to_ids("a b <i>")
    assert tb.one(i) == b"a b <i>"
    assert tb.one(markup_tok.bos_token_id) == b"<|endoftext|>"


def test_card_sends_text_and_the_bytes_of_pieces(model: Any, tok: Any) -> None:
    ids = tok(TEXT * 12, add_special_tokens=False)["input_ids"]
    n = len(ids) // 24
    tokens = torch.tensor(ids[: n * 24]).reshape(n, 24)
    tokens[:, 0] = tok.bos_token_id
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    ws = Workspace(model, saes={"s": sae}, tokens=tokens, progress=False)
    f = int(torch.argmax(ws.index("s").n_active))
    st = ws.card_state("s", f)
    vocab, vocab_ids = st["vocab"], decode_array(st["vocab_ids"])
    pb = st["vocab_bytes"]
    offs, data = decode_array(pb["offsets"]), decode_array(pb["data"]).tobytes()
    partial = {int(v): data[offs[j] : offs[j + 1]] for j, v in enumerate(decode_array(pb["ids"]))}
    assert partial, "the examples should show pieces of é, —, 日本語 or 😀"
    tb = TokenBytes(tok)
    for v, text in enumerate(vocab):
        raw = tb.one(int(vocab_ids[v]))
        assert partial.get(v, text.encode()) == raw  # bytes of every entry, exactly
        assert (v in partial) == (not is_whole_text(raw))
    # every shown sequence's tokens, as bytes, are the dataset's tokens' bytes
    ex = st["examples"]
    seq_offs, shown = decode_array(ex["seq_offsets"]), decode_array(ex["tokens"])
    rows, pos0 = decode_array(ex["seq_batch"]), decode_array(ex["seq_pos0"])
    for s in range(len(rows)):
        local = shown[seq_offs[s] : seq_offs[s + 1]]
        got = b"".join(partial.get(int(v), vocab[int(v)].encode()) for v in local)
        want = tokens[rows[s], pos0[s] : pos0[s] + len(local)].tolist()
        assert got == b"".join(tb(want))
    assert np.all(vocab_ids < len(tok))
