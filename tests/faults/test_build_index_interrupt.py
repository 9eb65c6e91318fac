"""fc.build_index interrupted (Ctrl-C at a model forward in the middle of the dataset), then run
again: the rerun runs the model only over the chunks not committed, and the store equals an
uninterrupted build to the bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import featurecard as fc
import tiny
from featurecard.card.store import INDEX_ARRAYS, STAT_ARRAYS, open_store
from featurecard.core.model import ModelAdapter

HOOK = "blocks.0.mlp.hook_post"
BUDGET = 200_000  # 2-row chunks of 24 tokens (one forward each at batch_size 2), commits every few


def _build(model: Any, rows: torch.Tensor, out: Path) -> Path:
    sae = {**tiny.random_sae_weights(64, 48, seed=2), "hook_name": HOOK}
    return fc.build_index(model, {"s": sae}, rows, out, memory_budget=BUDGET, batch_size=2, progress=False)


@pytest.mark.parametrize("at", [7, 13])
def test_an_interrupted_build_redoes_only_its_unfinished_chunks(
    model: Any, tok: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: int
) -> None:
    rows = tiny.random_tokens(tok, batch=40, pos=24, seed=9)
    forwards: list[int] = []
    tripped: list[bool] = []
    real = ModelAdapter.capture_dataset

    def counted(self: ModelAdapter, batch: torch.Tensor, hooks: Any) -> Any:
        forwards.append(int(batch.shape[0]))
        if len(forwards) == at and not tripped:
            tripped.append(True)
            raise KeyboardInterrupt
        return real(self, batch, hooks)

    monkeypatch.setattr(ModelAdapter, "capture_dataset", counted)
    with pytest.raises(KeyboardInterrupt):
        _build(model, rows, tmp_path / "st")
    assert len(forwards) == at
    forwards.clear()
    _build(model, rows, tmp_path / "st")
    # chunks 0 .. at-2 finished before the interrupt (committed then): only the others are redone
    assert len(forwards) == 20 - (at - 1), forwards
    monkeypatch.setattr(ModelAdapter, "capture_dataset", real)
    got, want = open_store(tmp_path / "st"), open_store(_build(model, rows, tmp_path / "whole"))
    assert got.key == want.key
    for name in (*INDEX_ARRAYS, *STAT_ARRAYS):
        a, b = got.index("s")._map(name), want.index("s")._map(name)
        assert a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8)), name
    assert not (tmp_path / "st" / "build").exists()
