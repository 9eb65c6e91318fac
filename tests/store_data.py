"""Helpers of the store tests: sparse activations, their in-memory index (IndexBuilder, the
reference) and the same data as a store's chunks; stores compared array by array, to the bit."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from featurecard.card.correlation import NeuronCorrelationSums
from featurecard.card.index import ActivationIndex, IndexBuilder
from featurecard.card.store import INDEX_ARRAYS, StoredIndex
from featurecard.card.store_build import Chunk, Nonzeros, SourceSpec, StoreSpec, open_or_build


def sparse_acts(
    n_rows: int,
    seq_len: int,
    n_units: int,
    *,
    density: float = 0.2,
    seed: int = 0,
    dead: Sequence[int] = (),
    empty_rows: Sequence[int] = (),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Activations [rows, pos, units] (some negative, some units dead, some rows empty) and the
    keep mask (position 0 excluded, as BOS is)."""
    g = torch.Generator().manual_seed(seed)
    on = torch.rand(n_rows, seq_len, n_units, generator=g) < density
    acts = torch.where(on, torch.randn(n_rows, seq_len, n_units, generator=g) * 2 + 0.5, 0.0)
    acts[..., list(dead)] = 0
    acts[list(empty_rows)] = 0
    keep = torch.ones(n_rows, seq_len, dtype=torch.bool)
    keep[:, 0] = False
    return acts, keep


def reference(acts: torch.Tensor, keep: torch.Tensor, batch: int = 8) -> ActivationIndex:
    """The in-memory index, as the pass builds it (batches in dataset order)."""
    b = IndexBuilder(acts.shape[2], acts.shape[1])
    for r in range(0, acts.shape[0], batch):
        b.add(acts[r : r + batch], r, keep[r : r + batch])
    return b.finish()


def chunk_nonzeros(acts: torch.Tensor, keep: torch.Tensor, row0: int, row1: int) -> tuple[Nonzeros, int]:
    """One chunk's nonzeros, as IndexBuilder.add returns them for the chunk's rows."""
    b = IndexBuilder(acts.shape[2], acts.shape[1])
    t, u, v = b.add(acts[row0:row1], 0, keep[row0:row1])
    return Nonzeros(t, u, v), int(keep[row0:row1].sum())


def chunk_sums(acts: torch.Tensor, keep: torch.Tensor, x: torch.Tensor, row0: int, row1: int) -> NeuronCorrelationSums:
    """One chunk's neuron-correlation sums against inputs ``x`` [rows, pos, d_in]."""
    nz, _ = chunk_nonzeros(acts, keep, row0, row1)
    s = NeuronCorrelationSums(acts.shape[2], x.shape[2])
    xs = x[row0:row1].flatten(0, 1)
    s.add_nonzeros(torch.as_tensor(nz.positions), torch.as_tensor(nz.units), torch.as_tensor(nz.values), xs,
                   keep[row0:row1].flatten())  # fmt: skip
    return s


def spec(key: str, acts: torch.Tensor, chunk_rows: int, d_in: int | None = None, name: str = "a") -> StoreSpec:
    return StoreSpec(key, acts.shape[0], acts.shape[1], chunk_rows, {name: SourceSpec(acts.shape[2], d_in)})


def computer(acts: torch.Tensor, keep: torch.Tensor, name: str = "a") -> Callable[[int, int], Chunk]:
    def compute(row0: int, row1: int) -> Chunk:
        nz, n = chunk_nonzeros(acts, keep, row0, row1)
        return Chunk({name: nz}, n)

    return compute


def _bits(a: np.ndarray) -> np.ndarray:
    """Integers as int64, floats as their bit patterns (NaN and -0.0 compared exactly)."""
    if a.dtype.kind == "f":
        return a.view(np.int32 if a.itemsize == 4 else np.int64).astype(np.int64)
    return a.astype(np.int64)


def assert_index_equal(got: StoredIndex, want: ActivationIndex) -> None:
    """Every array of both views and every statistic, to the bit; and the read methods."""
    assert got.n_units == want.n_units and got.n_tokens == want.n_tokens and got.seq_len == want.seq_len
    for name in INDEX_ARRAYS:
        w = getattr(want, name)
        assert w is not None
        a = got._map(name)
        assert np.array_equal(_bits(np.asarray(a)), _bits(w.numpy())), name
    assert np.array_equal(_bits(got.max_act.numpy()), _bits(want.max_act.numpy())), "max_act"
    assert torch.equal(got.n_active, want.n_active), "n_active"
    for g, w in zip(got.unit_sums(), want.unit_sums(), strict=True):
        assert np.array_equal(_bits(g.numpy()), _bits(w.numpy())), "unit sums"
    for u in range(want.n_units):
        (gp, gv), (wp, wv) = got.column(u), want.column(u)
        assert gp.dtype == torch.int64 and gv.dtype == torch.float32
        assert torch.equal(gp, wp.long()) and torch.equal(gv, wv), f"column {u}"
    assert want.pos_indptr is not None
    n_pos = want.pos_indptr.numel() - 1
    p = torch.randperm(n_pos, generator=torch.Generator().manual_seed(1))[:50]
    for g, w in zip(got.at_positions(p), want.at_positions(p), strict=True):
        assert torch.equal(g, w.to(g.dtype))


def run_files(root: Path) -> list[Path]:
    return sorted((root / "build" / "runs").rglob("*.npz"))


def build_slowly(root: str, marks: str) -> None:
    """A process's build of one small store, each chunk leaving a mark ``<pid>-<row0>``
    (the target of the two-process lock tests: importable by a spawned child)."""
    acts, keep = sparse_acts(24, 8, 20, seed=12)
    compute = computer(acts, keep)

    def slow(row0: int, row1: int) -> Chunk:
        (Path(marks) / f"{os.getpid()}-{row0}").touch()
        time.sleep(0.1)
        return compute(row0, row1)

    open_or_build(root, spec("k", acts, 4), slow)


def slow_reference() -> ActivationIndex:
    return reference(*sparse_acts(24, 8, 20, seed=12))
