"""Every card fits the state budget: at most 32 KB on the wire (default options), by construction.

A card's size grows with the hover rows (one per distinct shown token where the unit fires,
each naming ``2k`` tokens that join the card's vocabulary) and with the text of long tokens.
The builder cuts both to fit :data:`~featurecard.card.payload.CARD_BUDGET`; these tests
build the worst cases on purpose (every shown token active, every token distinct and long)
and measure through ``payload_nbytes`` (binary buffers plus the JSON of the rest, what the comm
carries). The embedded default's densest cards are measured too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import featurecard as fc
import tiny
from featurecard.card.assemble import CardOptions
from featurecard.card.payload import (
    CARD_BUDGET,
    HOVER_CUT,
    ExampleSeq,
    HoverRows,
    LogitRows,
    build_feature_card_state,
)
from featurecard.core.codecs import decode_array, payload_nbytes

BUDGET = 32_000
# Long token texts of every JSON cost: ASCII, escaped controls, non-ASCII (\uXXXX), astral (two).
LONG = ["x" * 90, "\u0007\u202e" * 30, "é" * 60, "😀" * 30]


def test_the_budget_is_32_kb() -> None:
    assert CARD_BUDGET == BUDGET and CardOptions().max_bytes == BUDGET


def _worst_case(n_seqs: int = 80, width: int = 11, k: int = 5) -> dict[str, Any]:
    """Default options' most examples (80 windows of 11 tokens), every token distinct, long and
    active, a hover row for each with 2k more distinct tokens, some not whole UTF-8."""
    opt = CardOptions()
    assert n_seqs == opt.n_top + opt.n_intervals * opt.per_interval + opt.n_bottom
    assert width == sum(opt.buffer) + 1
    rng = np.random.default_rng(0)
    seqs = [
        ExampleSeq(
            row=i,
            start=3,
            focus=3 + i % width,
            token_ids=np.arange(i * width, (i + 1) * width),
            acts=rng.uniform(0.1, 9.0, width).astype(np.float32),
        )
        for i in range(n_seqs)
    ]
    n = n_seqs * width
    first = n + 100
    hover = HoverRows(
        rows=np.repeat(np.arange(n_seqs), width),
        pos=np.tile(np.arange(3, 3 + width), n_seqs),
        top_ids=first + np.arange(n * k).reshape(n, k),
        top_values=rng.normal(size=(n, k)).astype(np.float32),
        bottom_ids=first + n * k + np.arange(n * k).reshape(n, k),
        bottom_values=rng.normal(size=(n, k)).astype(np.float32),
        loss_change=rng.normal(size=n).astype(np.float32),
    )

    def token_bytes(ids: list[int]) -> list[bytes]:
        return [LONG[i % 4].encode() + (b"\xe2\x80" if i % 7 == 0 else b"") + str(i).encode() for i in ids]

    groups = [("Top activations", seqs[:20]), ("Interval", seqs[20:70]), ("Bottom activations", seqs[70:])]
    logits = np.arange(2 * n * k + first, dtype=np.float32)
    return {
        "source": "s",
        "unit": "latent",
        "hook_name": "blocks.0.mlp.hook_post",
        "feature": 0,
        "n_features": 10,
        "n_tokens": n,
        "max_act": 9.0,
        "density": 1.0,
        "groups": groups,
        "logits": LogitRows(np.arange(10), logits[:10], np.arange(10, 20), logits[10:20], of_token=lambda i: logits[i]),
        "unavailable": {},
        "token_bytes": token_bytes,
        "hover": hover,
    }


def test_a_worst_case_card_is_cut_to_the_budget() -> None:
    kw = _worst_case()
    assert payload_nbytes(build_feature_card_state(**kw, budget=None)) > 10 * BUDGET  # the case is a real one
    st = build_feature_card_state(**kw)
    assert payload_nbytes(st) <= BUDGET
    # The examples are whole; the hover rows kept are the windows' own tokens first.
    hover, seqs = kw["hover"], [s for _, g in kw["groups"] for s in g]
    assert decode_array(st["examples"]["tokens"]).size == sum(len(s.token_ids) for s in seqs)
    assert HOVER_CUT in st["unavailable"]
    token_row = decode_array(st["hover"]["token_row"]).astype(np.int64)
    n_kept = st["hover"]["loss_change"]["shape"][0]
    assert n_kept < hover.rows.size
    kept_tokens = np.flatnonzero(token_row < n_kept)
    focus = np.array([i * 11 + (s.focus - s.start) for i, s in enumerate(seqs)])
    if n_kept >= focus.size:
        assert set(focus) <= set(kept_tokens.tolist())
    else:
        assert set(kept_tokens.tolist()) == set(focus[:n_kept].tolist())
    # The kept rows carry their own numbers (not another token's).
    kept_hover = np.sort(np.unique(token_row[token_row < n_kept]))
    got = decode_array(st["hover"]["loss_change"]).astype(np.float32)
    want = hover.loss_change[kept_tokens]  # hover row i is shown token i here
    np.testing.assert_allclose(np.sort(got), np.sort(want.astype(np.float16).astype(np.float32)))
    assert kept_hover.size == n_kept


def test_a_card_without_hover_room_cuts_token_texts() -> None:
    kw = _worst_case()
    st = build_feature_card_state(**{**kw, "hover": None})
    assert payload_nbytes(st) <= BUDGET
    assert any(t.endswith("…") for t in st["vocab"])
    # Cut texts travel as text alone: the raw bytes listed are only those of uncut tokens.
    partial = decode_array(st["vocab_bytes"]["ids"])
    assert all(not st["vocab"][int(j)].endswith("…") for j in partial)


def test_a_small_card_is_not_cut() -> None:
    kw = _worst_case(n_seqs=80)
    small = {**kw, "groups": [(t, g[:1]) for t, g in kw["groups"]]}
    small["hover"] = None
    st = build_feature_card_state(**small)
    assert payload_nbytes(st) <= BUDGET and HOVER_CUT not in st["unavailable"]
    assert not any(t.endswith("…") for t in st["vocab"])


def test_a_latent_firing_everywhere_on_a_vocabulary_of_long_tokens(tmp_path: Path) -> None:
    """A real model: 3,000 long tokens, a latent that fires on every token."""
    extra = tuple(f"{LONG[i % 4][:40]}{i}" for i in range(3000))
    tok = tiny.make_tokenizer(tmp_path, extra_tokens=extra)
    model = tiny.hooked_transformer(tok, n_ctx=64) if tiny.tl_major() < 4 else tiny.bridge(tok, n_ctx=64)
    tokens = tiny.random_tokens(tok, batch=16, pos=64)
    w = dict(tiny.random_sae_weights(64, 16))
    w["b_enc"] = w["b_enc"].clone()
    w["b_enc"][0] = 20.0  # fires on every token, by how much depends on the token
    ws = fc.Workspace(model, saes={"s": {**w, "hook_name": "blocks.0.mlp.hook_post"}}, tokens=tokens, progress=False)
    assert int(ws.index("s").n_active[0]) == tokens.numel() - tokens.shape[0]  # every token but BOS
    for complete in (False, True):
        st = ws.card_state("s", 0, complete=complete)
        assert payload_nbytes(st) <= BUDGET
        assert st["hover"] is not None and st["hover"]["loss_change"]["shape"][0] > 0


@pytest.mark.slow
def test_default_cards_fit_32_kb() -> None:
    from featurecard.cli import pick_live_feature

    model, sae, tokens = fc.demo(progress=False)
    ws = fc.Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)
    idx = ws.index("mlp0")
    densest = torch.argsort(idx.n_active, descending=True)[:10].tolist()
    sizes: dict[int, Any] = {
        f: payload_nbytes(ws.card_state("mlp0", f)) for f in [pick_live_feature(ws, "mlp0"), *densest]
    }
    assert max(sizes.values()) <= BUDGET, sizes


def test_a_worst_case_card_with_dfa_rows_fits_and_keeps_them_whole() -> None:
    """An SAE on ``hook_z``: the top examples' DFA (one float32 per shown token, three per
    example) always travels whole, and the card still fits."""
    from featurecard.card.dfa_payload import ExampleDfa

    kw = _worst_case()
    top = kw["groups"][0][1]
    n_tok = sum(len(s.token_ids) for s in top)
    values = np.linspace(-1, 1, n_tok, dtype=np.float32)
    ones = np.ones(len(top), np.float32)
    st = build_feature_card_state(**kw, dfa=ExampleDfa(values, ones, 2 * ones, ones / 2))
    assert payload_nbytes(st) <= BUDGET
    d = st["examples"]["dfa"]
    assert d is not None and d["count"] == len(top) == 20
    np.testing.assert_array_equal(decode_array(d["values"]), values)
