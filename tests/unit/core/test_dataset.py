"""The one batched pass over the dataset (core.dataset.dataset_batches), against the model's own forward."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.core.dataset import dataset_batches
from featurecard.core.model import ModelAdapter

HOOKS = ["blocks.0.mlp.hook_post", "blocks.1.hook_resid_post"]


@pytest.fixture
def adapter(model: Any) -> ModelAdapter:
    return ModelAdapter(model)


def _stitched(batches: Any, hook: str) -> torch.Tensor:
    return torch.cat([b.acts[hook] for b in batches])


def test_batches_cover_the_dataset_as_the_models_forward(adapter: ModelAdapter, tokens: torch.Tensor) -> None:
    """Rows in order, 3 at a time (the last batch short), each hook as ``run_with_cache`` gives it,
    BOS not counted."""
    batches = list(dataset_batches(adapter, tokens, HOOKS, batch_size=3, progress=False))
    assert [(b.row0, b.row1) for b in batches] == [(0, 3), (3, 6), (6, 8)]
    _, cache = adapter.model.run_with_cache(tokens)
    for hook in HOOKS:
        torch.testing.assert_close(_stitched(batches, hook), cache[hook], atol=1e-5, rtol=1e-5)
    keep = torch.cat([b.keep for b in batches])
    assert torch.equal(keep, tokens != adapter.bos_token_id)
    assert not keep[:, 0].any()  # every row starts with BOS
    every = torch.cat([b.keep for b in dataset_batches(adapter, tokens, HOOKS, exclude_bos=False, progress=False)])
    assert bool(every.all())


def test_a_row_range_of_a_memory_mapped_array(adapter: ModelAdapter, tokens: torch.Tensor, tmp_path: Path) -> None:
    """Token ids as a numpy memmap (uint16, as the demo stores them) and a range of its rows: the
    same batches, to the bit, as those rows of the tensor."""
    path = tmp_path / "tokens.u16"
    array = np.memmap(path, dtype=np.uint16, mode="w+", shape=tuple(tokens.shape))
    array[:] = tokens.numpy()
    array.flush()
    mapped = np.memmap(path, dtype=np.uint16, mode="r", shape=tuple(tokens.shape))
    got = list(dataset_batches(adapter, mapped, HOOKS, batch_size=2, progress=False, rows=(3, 7)))
    want = list(dataset_batches(adapter, tokens[3:7], HOOKS, batch_size=2, progress=False))
    assert [(b.row0, b.row1) for b in got] == [(3, 5), (5, 7)]
    for g, w in zip(got, want, strict=True):
        assert g.tokens.dtype == torch.int64
        assert torch.equal(g.tokens, w.tokens)
        assert torch.equal(g.keep, w.keep)
        for hook in HOOKS:
            assert torch.equal(g.acts[hook], w.acts[hook])


@pytest.mark.parametrize("rows", [(-1, 2), (3, 2), (0, 9)])
def test_a_row_range_out_of_range_is_refused(
    adapter: ModelAdapter, tokens: torch.Tensor, rows: tuple[int, int]
) -> None:
    with pytest.raises(IndexError, match=r"row range .* accepted 0 <= start <= stop <= 8"):
        next(dataset_batches(adapter, tokens, HOOKS, rows=rows, progress=False))


def test_an_empty_row_range_reads_nothing(adapter: ModelAdapter, tokens: torch.Tensor) -> None:
    assert list(dataset_batches(adapter, tokens, HOOKS, rows=(4, 4), progress=False)) == []


def test_the_progress_bar_counts_tokens(adapter: ModelAdapter, tok: Any, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = tiny.random_tokens(tok, batch=4, pos=8)
    for _ in dataset_batches(adapter, tokens, HOOKS, batch_size=3, desc="featurecard: test pass"):
        pass
    err = capsys.readouterr().err
    assert "featurecard: test pass" in err
    assert "100%" in err and "32.0/32.0" in err and "tok/s" in err
