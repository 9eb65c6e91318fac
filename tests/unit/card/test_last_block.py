"""The last block at chosen positions (FinalRows' spot path) against the model's own forward.

Reference: ``run_with_cache`` of the whole HookedTransformer on the same tokens, read at
``blocks.{L-1}.hook_resid_post``; nothing of featurecard's is on that side. The models are
hand-built TL configurations that exercise each branch of the glue: rotary queries at
scattered positions (GPT-NeoX and GPT-J pairings, partial rotary), grouped-query attention with
RMSNorm and a gated MLP, parallel attention and MLP, attention-only blocks, a local window,
Gemma-2 style normalisation after each sublayer, and a model with a block in between.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import tiny

pytestmark = pytest.mark.skipif(tiny.tl_major() >= 4, reason="HookedTransformer is gone in TransformerLens 4")

CONFIGS = {
    **tiny.BLOCK_VARIANTS,
    "local-window": {"use_local_attn": True, "attn_types": ["global", "local"], "window_size": 5},
    "norm-before-and-after": {"use_normalization_before_and_after": True, "normalization_type": "RMS"},
    "three-layers": {"n_layers": 3},
}


def _final_rows(model: Any, tokens: torch.Tensor, batch_size: int = 3) -> Any:
    from featurecard.card.final_rows import FinalRows
    from featurecard.core.model import ModelAdapter

    adapter = ModelAdapter(model)
    hook = "blocks.0.hook_resid_post"
    resid = adapter.capture(tokens, [hook])[hook].clone()
    return FinalRows(adapter, resid, hook, batch_size)


def _reference(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    hook = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    _, cache = model.run_with_cache(tokens, names_filter=[hook])
    return cache[hook]


def _spots(n_rows: int, seq_len: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_rows, n), rng.integers(0, seq_len, n)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_last_block_at_chosen_positions_equals_the_models_forward(tok: Any, name: str) -> None:
    model = tiny.hooked_transformer(tok, **CONFIGS[name])
    tokens = tiny.random_tokens(tok, batch=7, pos=20)
    ref = _reference(model, tokens)
    fr = _final_rows(model, tokens)
    assert fr.spots is not None, fr.why_rows  # the spot path, not whole rows
    for seed in range(3):  # several cards in turn: kept keys/values and kept outputs are reused
        rows, pos = _spots(7, 20, 25, seed)
        got = fr.at(rows, pos)
        torch.testing.assert_close(got, ref[torch.as_tensor(rows), torch.as_tensor(pos)], atol=2e-5, rtol=1e-5)
    assert fr.spots is not None, fr.why_rows  # the one-row check passed
    # Only the checked row ran whole; the others hold just the positions asked for.
    assert 0 < fr.done.sum() < fr.done.size - 20


def test_an_unsupported_block_runs_whole_rows_and_says_why(tok: Any) -> None:
    model = tiny.hooked_transformer(tok, positional_embedding_type="alibi")
    tokens = tiny.random_tokens(tok, batch=4, pos=12)
    fr = _final_rows(model, tokens)
    assert fr.spots is None and "positions other than standard or rotary" in fr.why_rows
    rows, pos = _spots(4, 12, 9, 0)
    torch.testing.assert_close(fr.at(rows, pos), _reference(model, tokens)[torch.as_tensor(rows), torch.as_tensor(pos)])
    assert fr.done[np.unique(rows)].all()  # whole rows


def test_a_spot_path_that_disagrees_with_the_forward_is_dropped_before_use(
    tok: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forward the glue does not foresee (here: a block whose output we perturb) fails the
    one-row check, and every number then comes from the model's own forward."""
    from featurecard.card.last_block import LastBlockAtSpots

    real = LastBlockAtSpots.__call__
    monkeypatch.setattr(LastBlockAtSpots, "__call__", lambda self, *a: real(self, *a) + 1e-2)
    model = tiny.hooked_transformer(tok)
    tokens = tiny.random_tokens(tok, batch=5, pos=16)
    fr = _final_rows(model, tokens)
    rows, pos = _spots(5, 16, 30, 1)
    torch.testing.assert_close(fr.at(rows, pos), _reference(model, tokens)[torch.as_tensor(rows), torch.as_tensor(pos)])
    assert fr.spots is None and "differs from the model's forward" in fr.why_rows


def test_keys_and_values_over_budget_are_computed_for_each_call(tok: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("featurecard.card.final_rows.KV_BUDGET", 0)
    model = tiny.hooked_transformer(tok, positional_embedding_type="rotary", rotary_dim=16)
    tokens = tiny.random_tokens(tok, batch=6, pos=16)
    fr, ref = _final_rows(model, tokens), _reference(model, tokens)
    for seed in range(2):
        rows, pos = _spots(6, 16, 20, seed)
        torch.testing.assert_close(
            fr.at(rows, pos), ref[torch.as_tensor(rows), torch.as_tensor(pos)], atol=2e-5, rtol=1e-5
        )
    assert fr.kv == {} and fr.kv_keep is False and fr.spots is not None


def test_keys_and_values_are_computed_once_per_row(tok: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from featurecard.card.last_block import LastBlockAtSpots

    model = tiny.hooked_transformer(tok)
    tokens = tiny.random_tokens(tok, batch=6, pos=16)
    fr = _final_rows(model, tokens, batch_size=64)
    fr.at(np.array([0]), np.array([3]))  # the one-row check (row 0)
    seen: list[int] = []
    real = LastBlockAtSpots.keys_values
    monkeypatch.setattr(LastBlockAtSpots, "keys_values", lambda self, x: seen.append(x.shape[0]) or real(self, x))
    fr.at(np.array([1, 2, 2]), np.array([5, 1, 9]))
    fr.at(np.array([2, 3, 1]), np.array([4, 4, 4]))
    assert seen == [2, 1]  # rows 1 and 2, then row 3 only
