"""The node table's payload sends its tokens as the card does: prompts and predictions as indices
into one local vocabulary, with the raw bytes of the pieces that are not whole UTF-8."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.core.codecs import decode_array
from featurecard.core.schema import TokenBytes as TokenBytesPayload
from featurecard.core.token_bytes import TokenBytes
from featurecard.nodes.payload import NodeTarget, PromptData, build_node_table_state
from featurecard.nodes.session import node_table_state
from featurecard.nodes.table import NodeOptions, NodeTableRunner
from featurecard.workspace import Workspace

BYTES: dict[int, bytes] = {1: b" caf", 2: b"\xc3", 3: b"\xa9", 4: b"<script>", 5: b"\xdc", 6: b" x", 7: b"\xe2\x80"}
TARGET: NodeTarget = {"kind": "logprob", "position": 3, "token": None, "distractor": None, "description": "t"}


def sent_bytes(vocab: list[str], pb: TokenBytesPayload) -> list[bytes]:
    """Each vocab entry's bytes as the front end reads them: the raw bytes sent, else its text."""
    ids, offsets, data = decode_array(pb["ids"]), decode_array(pb["offsets"]), decode_array(pb["data"])
    raw = {int(j): bytes(data[offsets[n] : offsets[n + 1]]) for n, j in enumerate(ids)}
    return [raw.get(v, t.encode()) for v, t in enumerate(vocab)]


def test_prompts_and_predictions_share_one_vocabulary_with_bytes() -> None:
    prompts = [
        PromptData("Left", np.array([1, 2, 3, 4]), 0.5, 0.5, np.array([5, 7, 1]), np.array([0.5, 0.25, 0.125])),
        PromptData("Right", np.array([6, 2, 3, 4]), 0.1, 0.1, np.array([5, 5, 4]), np.array([0.5, 0.25, 0.125])),
    ]
    st = build_node_table_state(
        prompts=prompts,
        target=TARGET,
        groups=["activation"],
        signed=frozenset(),
        families=[],
        keys={k: np.zeros(0, np.int64) for k in ("family", "layer", "unit", "pos", "src")},
        values=np.zeros((2, 1, 0)),
        profiles=np.zeros((2, 0, 4)),
        k=10,
        ablations=[],
        notes=[],
        token_bytes=lambda ids: [BYTES[i] for i in ids],
    )
    vocab_ids = decode_array(st["vocab_ids"])
    assert vocab_ids.tolist() == [1, 2, 3, 4, 5, 7, 6]  # first appearance, prompt by prompt
    pieces = sent_bytes(st["vocab"], st["vocab_bytes"])
    for p, sent in zip(prompts, st["prompts"], strict=True):
        for key, want in (("tokens", p.token_ids), ("predictions", p.prediction_ids)):
            local = decode_array(sent[key])  # type: ignore[literal-required]
            assert sent[key]["dtype"] == "uint8"  # type: ignore[literal-required]
            np.testing.assert_array_equal(vocab_ids[local], want)
            assert [pieces[int(v)] for v in local] == [BYTES[int(i)] for i in want]
    assert "<script>" in st["vocab"] and st["vocab"][4] == "\ufffd"  # a piece's text; its bytes travel


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)


def test_a_real_table_sends_the_tokenizers_bytes(ws: Workspace, tok: Any) -> None:
    ids = tok(" café — <b>", add_special_tokens=False)["input_ids"]
    tb = TokenBytes(tok)
    assert b"\xc3" in tb(ids), "the tiny tokenizer never cut é"
    cut = tb(ids).index(b"\xc3")  # a target that is a piece of a character
    res = NodeTableRunner(ws, NodeOptions(k=3)).run([torch.tensor(ids)], ids[cut], None, len(ids) - 1, [])
    st = node_table_state(res, ws.adapter, 3)
    pieces = sent_bytes(st["vocab"], st["vocab_bytes"])
    shown = decode_array(st["prompts"][0]["tokens"])
    assert b"".join(pieces[int(v)] for v in shown).decode() == tok.decode(ids)
    np.testing.assert_array_equal(decode_array(st["vocab_ids"])[shown], ids)
    preds = decode_array(st["vocab_ids"])[decode_array(st["prompts"][0]["predictions"])]
    np.testing.assert_array_equal(preds, res.pred_ids[0].numpy())
    assert st["target"]["token"] == "\\xc3"  # as the front end shows a piece on its own, never U+FFFD
