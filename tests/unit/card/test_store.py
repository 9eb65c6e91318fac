"""The activation store built from chunks equals the in-memory index (IndexBuilder) to the bit:
chunks in any order, budgets that force many runs, empty chunks and dead units; the finish
holds one run, never the index; manifests that are not ours are refused by name."""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from featurecard.card.store import (
    open_store,
    parse_memory_budget,
    position_dtype,
    unit_dtype,
)
from featurecard.card.store_build import Nonzeros, StoreWriter, open_or_build
from featurecard.card.store_merge import commits, finish_store
from store_data import (
    assert_index_equal,
    chunk_nonzeros,
    chunk_sums,
    computer,
    reference,
    run_files,
    sparse_acts,
    spec,
)


def _build_shuffled(root: Path, acts: torch.Tensor, keep: torch.Tensor, chunk_rows: int, budget: int | str) -> int:
    w = StoreWriter(root, spec("k", acts, chunk_rows), memory_budget=budget, tokens=torch.zeros(acts.shape[:2]))
    order = w.todo()
    random.Random(0).shuffle(order)
    for row0, row1 in order:
        nz, n = chunk_nonzeros(acts, keep, row0, row1)
        w.add(row0, {"a": nz}, n)
    w.commit()
    n_runs = len(run_files(root))
    finish_store(root)
    return n_runs


def test_store_from_shuffled_chunks_equals_the_in_memory_index(tmp_path: Path) -> None:
    acts, keep = sparse_acts(40, 12, 50, dead=[3, 17, 49], empty_rows=range(8, 16))
    n_runs = _build_shuffled(tmp_path, acts, keep, chunk_rows=8, budget="1GiB")
    assert n_runs == 5  # one run per chunk, the empty chunk included
    store = open_store(tmp_path, key="k")
    assert_index_equal(store.index("a"), reference(acts, keep))
    assert not (tmp_path / "build").exists()
    assert np.array_equal(store.tokens(), np.zeros((40, 12), dtype=np.float32))


def test_a_budget_smaller_than_the_data_gives_many_runs_and_the_same_index(tmp_path: Path) -> None:
    acts, keep = sparse_acts(64, 16, 50, density=0.3, seed=1, dead=[0])
    want = reference(acts, keep)
    assert want.nbytes() > 100_000
    n_runs = _build_shuffled(tmp_path, acts, keep, chunk_rows=16, budget=80_000)
    assert n_runs > 4 * 2  # the 4 chunks are cut into several runs each
    assert_index_equal(open_store(tmp_path).index("a"), want)


def test_more_than_65536_units_store_int32_units(tmp_path: Path) -> None:
    acts, keep = sparse_acts(4, 3, 70_000, density=0.001, seed=2)
    _build_shuffled(tmp_path, acts, keep, chunk_rows=1, budget="64MB")
    idx = open_store(tmp_path).index("a")
    assert idx._map("pos_units").dtype == np.int32
    assert_index_equal(idx, reference(acts, keep))


def test_the_finish_holds_one_run_not_the_index(tmp_path: Path) -> None:
    acts, keep = sparse_acts(128, 32, 256, density=0.1, seed=3)
    want = reference(acts, keep)
    budget = 400_000
    # What a finish that materialised one view of the index would hold: over the budget.
    assert want.positions.numel() * (4 + 4 + 2) > 2 * budget
    w = StoreWriter(tmp_path, spec("k", acts, 16), memory_budget=budget)
    for row0, row1 in w.todo():
        nz, n = chunk_nonzeros(acts, keep, row0, row1)
        w.add(row0, {"a": nz}, n)
    w.commit()
    tracemalloc.start()
    try:
        finish_store(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= budget, f"the finish held {peak} bytes; the budget is {budget}"
    assert_index_equal(open_store(tmp_path).index("a"), want)


def test_neuron_sums_are_summed_over_chunks(tmp_path: Path) -> None:
    acts, keep = sparse_acts(24, 8, 30, seed=4)
    x = torch.randn(24, 8, 6, generator=torch.Generator().manual_seed(5)) + 3.0
    w = StoreWriter(tmp_path, spec("k", acts, 8, d_in=6))
    for i, (row0, row1) in enumerate(reversed(w.todo())):
        nz, n = chunk_nonzeros(acts, keep, row0, row1)
        w.add(row0, {"a": nz}, n, sums={"a": chunk_sums(acts, keep, x, row0, row1)})
        if i != 1:
            w.commit()  # commit groups of 1 and 2 chunks
    assert len(commits(tmp_path)) == 2
    w.finish()
    s = open_store(tmp_path).neuron_sums("a")
    assert s is not None
    f = acts.flatten(0, 1)[keep.flatten()].double()  # independent: dense float64 sums
    xs = x.flatten(0, 1)[keep.flatten()].double()
    assert s.n == int(keep.sum())
    torch.testing.assert_close(s.s_f, f.sum(0), rtol=1e-12, atol=1e-12)
    # The accumulator's own precision: squares and f·x products are formed in float32.
    torch.testing.assert_close(s.s_ff, (f * f).sum(0), rtol=1e-6, atol=0)
    torch.testing.assert_close(s.s_fx, f.T @ xs, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(s.s_x, xs.sum(0), rtol=1e-6, atol=0)
    torch.testing.assert_close(s.s_xx, (xs * xs).sum(0), rtol=1e-6, atol=0)
    # Against one accumulator over the same chunks in row order (the in-process pass): only
    # the float64 order of adding the chunks' sums differs.
    one = chunk_sums(acts, keep, x, 0, 8)
    for r in (8, 16):
        nz, _ = chunk_nonzeros(acts, keep, r, r + 8)
        one.add_nonzeros(*(torch.as_tensor(a) for a in (nz.positions, nz.units, nz.values)),
                         x[r : r + 8].flatten(0, 1), keep[r : r + 8].flatten())  # fmt: skip
    for name in ("s_f", "s_ff", "s_fx"):
        torch.testing.assert_close(getattr(s, name), getattr(one, name), rtol=1e-12, atol=1e-12)


def test_open_or_build_builds_once_then_opens(tmp_path: Path) -> None:
    acts, keep = sparse_acts(16, 4, 10, seed=6)
    calls: list[int] = []
    compute = computer(acts, keep)

    def counting(row0: int, row1: int):  # type: ignore[no-untyped-def]
        calls.append(row0)
        return compute(row0, row1)

    first = open_or_build(tmp_path, spec("k", acts, 4), counting)
    again = open_or_build(tmp_path, spec("k", acts, 4), counting)
    assert calls == [0, 4, 8, 12] and again.manifest == first.manifest
    with pytest.raises(ValueError, match="holds content key k, not other"):
        open_or_build(tmp_path, spec("other", acts, 4), counting)


def test_missing_or_doubled_chunks_are_refused_by_name(tmp_path: Path) -> None:
    acts, keep = sparse_acts(12, 4, 10, seed=7)
    w = StoreWriter(tmp_path, spec("k", acts, 4))
    nz, n = chunk_nonzeros(acts, keep, 4, 8)
    w.add(4, {"a": nz}, n)
    w.commit()
    with pytest.raises(ValueError, match=r"2 chunk\(s\) of rows not built yet \(0\.\.3, 8\.\.11\)"):
        finish_store(tmp_path)
    other = StoreWriter(tmp_path, spec("k", acts, 4))
    other.add(4, {"a": nz}, n)
    other.commit()
    with pytest.raises(ValueError, match=r"chunk rows 4\.\.7 was committed by two build sessions"):
        finish_store(tmp_path)
    with pytest.raises(ValueError, match="row 3 starts no chunk"):
        w.add(3, {"a": nz}, n)
    with pytest.raises(ValueError, match=r"differs in \['chunk_rows'\]"):
        StoreWriter(tmp_path, spec("k", acts, 3))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "not valid JSON"),
        ('{"kind": "something-else", "format": 1}', "its kind is 'something-else'"),
        ('["featurecard-store"]', "its kind is 'list'"),
        ('{"kind": "featurecard-store", "format": 99}', "holds store format 99; this featurecard reads format 1"),
        ('{"kind": "featurecard-store", "format": 1, "state": "complete"}', "it lacks"),
    ],
)
def test_a_foreign_or_corrupt_manifest_is_refused_naming_it(tmp_path: Path, text: str, why: str) -> None:
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ValueError, match=why) as e:
        open_store(tmp_path)
    assert str(tmp_path / "manifest.json") in str(e.value)


def test_an_unfinished_store_or_a_changed_array_is_refused(tmp_path: Path) -> None:
    acts, keep = sparse_acts(8, 4, 10, seed=8)
    w = StoreWriter(tmp_path, spec("k", acts, 4))
    with pytest.raises(ValueError, match="build has not finished"):
        open_store(tmp_path)
    for row0, row1 in w.todo():
        nz, n = chunk_nonzeros(acts, keep, row0, row1)
        w.add(row0, {"a": nz}, n)
    w.finish()
    with pytest.raises(ValueError, match="content key k, not j"):
        open_store(tmp_path, key="j")
    values = next(tmp_path.rglob("values.npy"))
    np.save(values, np.zeros(3, dtype=np.float64))
    with pytest.raises(ValueError, match=f"{values} holds <f8\\[3\\]; the manifest says <f4"):
        open_store(tmp_path).index("a").column(0)
    with pytest.raises(IndexError, match=r"unit 10 is out of range: this index has units 0..9"):
        open_store(tmp_path).index("a").column(10)


def test_memory_budget_forms() -> None:
    assert parse_memory_budget("4GB") == 4 * 10**9
    assert parse_memory_budget("512MiB") == 512 * 2**20
    assert parse_memory_budget(" 1.5 g ") == 1_500_000_000
    assert parse_memory_budget(1234) == 1234
    assert parse_memory_budget(None, default=7) == 7
    for bad in ("4 gigs", "GB", "-1GB", ""):
        with pytest.raises(ValueError, match=f"memory_budget {bad!r} is not understood; give an int of bytes"):
            parse_memory_budget(bad)
    with pytest.raises(ValueError, match="memory_budget 0 must be a positive number of bytes"):
        parse_memory_budget(0)
    with pytest.raises(TypeError, match="memory_budget True is a bool"):
        parse_memory_budget(True)
    with pytest.raises(ValueError, match="below this build's floor"):
        StoreWriter(Path("/nonexistent/never"), spec("k", torch.zeros(1, 1, 1000), 1), memory_budget=1000)


def test_smallest_dtypes() -> None:
    assert position_dtype(2**32 - 1) == np.uint32 and position_dtype(2**32) == np.int64
    assert unit_dtype(2**16) == np.uint16 and unit_dtype(2**16 + 1) == np.int32


def test_nonzeros_from_numpy_are_accepted(tmp_path: Path) -> None:
    acts, keep = sparse_acts(4, 4, 6, seed=9)
    w = StoreWriter(tmp_path, spec("k", acts, 4))
    nz, n = chunk_nonzeros(acts, keep, 0, 4)
    w.add(0, {"a": Nonzeros(*(np.asarray(a) for a in (nz.positions, nz.units, nz.values)))}, n)
    w.finish()
    assert_index_equal(open_store(tmp_path).index("a"), reference(acts, keep))
    assert json.loads((tmp_path / "manifest.json").read_text())["state"] == "complete"
