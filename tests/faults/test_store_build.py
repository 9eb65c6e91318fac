"""A store's build under faults: interrupted (between chunks, or while committing) it resumes
from its committed chunks and equals the uninterrupted build to the byte; two processes on one
store: one builds, the other waits and then opens it."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest

from featurecard.card import store_build
from featurecard.card.store import open_store
from featurecard.card.store_build import Chunk, open_or_build
from featurecard.card.store_merge import commits
from store_data import assert_index_equal, build_slowly, computer, reference, slow_reference, sparse_acts, spec

BUDGET = 80_000  # a commit every few chunks of this data


class StopError(Exception):
    pass


def _data() -> tuple[Any, Any]:
    return sparse_acts(48, 16, 40, density=0.3, seed=11, empty_rows=range(20, 24))


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.npy"))}


def _manifest(root: Path) -> dict[str, Any]:
    m = open_store(root).manifest
    return {k: v for k, v in m.items() if k != "build"} | {"spec": m["build"]["spec"]}


def _counting(acts: Any, keep: Any, calls: list[int], stop_at: int | None = None) -> Any:
    compute = computer(acts, keep)

    def run(row0: int, row1: int) -> Chunk:
        if row0 == stop_at:
            raise StopError
        calls.append(row0)
        return compute(row0, row1)

    return run


def test_an_interrupted_build_redoes_only_uncommitted_chunks(tmp_path: Path) -> None:
    acts, keep = _data()
    s = spec("k", acts, 4)
    open_or_build(tmp_path / "whole", s, computer(acts, keep), memory_budget=BUDGET)
    first: list[int] = []
    with pytest.raises(StopError):
        open_or_build(tmp_path / "cut", s, _counting(acts, keep, first, stop_at=44), memory_budget=BUDGET)
    done = sorted(c["rows"][0] for rec in commits(tmp_path / "cut") for c in rec["chunks"])
    assert 3 <= len(done) < len(first) == 11  # some committed, the held ones lost
    again: list[int] = []
    open_or_build(tmp_path / "cut", s, _counting(acts, keep, again), memory_budget=BUDGET)
    assert again == [r for r in range(0, 48, 4) if r not in done]
    assert _files(tmp_path / "cut") == _files(tmp_path / "whole")
    assert _manifest(tmp_path / "cut") == _manifest(tmp_path / "whole")
    assert_index_equal(open_store(tmp_path / "cut").index("a"), reference(acts, keep))


def test_a_build_interrupted_while_committing_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    acts, keep = _data()
    s = spec("k", acts, 4)
    real = store_build.replace_atomically

    def failing(out: Path, write: Any) -> None:
        if out.parent.name == "commits":  # runs and sums written, the record not
            raise OSError(28, "No space left on device")
        real(out, write)

    monkeypatch.setattr(store_build, "replace_atomically", failing)
    with pytest.raises(OSError, match="No space left"):
        open_or_build(tmp_path, s, computer(acts, keep), memory_budget=BUDGET)
    assert commits(tmp_path) == [] and any((tmp_path / "build" / "runs").rglob("*.npz"))
    monkeypatch.setattr(store_build, "replace_atomically", real)
    calls: list[int] = []
    open_or_build(tmp_path, s, _counting(acts, keep, calls), memory_budget=BUDGET)
    assert calls == list(range(0, 48, 4))  # nothing was committed: every chunk again
    assert_index_equal(open_store(tmp_path).index("a"), reference(acts, keep))
    assert not (tmp_path / "build").exists()  # the orphan runs went with the build folder


def _spawn(root: Path, marks: Path) -> Any:
    p = multiprocessing.get_context("spawn").Process(target=build_slowly, args=(str(root), str(marks)))
    p.start()
    return p


def test_two_processes_build_one_store_once(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    procs = [_spawn(tmp_path / "store", marks) for _ in range(2)]
    for p in procs:
        p.join(timeout=240)
        assert p.exitcode == 0
    pids = {m.name.split("-")[0] for m in marks.iterdir()}
    assert len(pids) == 1 and len(list(marks.iterdir())) == 6  # one process computed every chunk, once
    assert_index_equal(open_store(tmp_path / "store").index("a"), slow_reference())


def test_an_opener_waits_for_the_build_then_opens(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    root = tmp_path / "store"
    p = _spawn(root, marks)
    deadline = time.monotonic() + 120
    while not (root / "manifest.json").exists():  # the builder holds the lock from here on
        assert time.monotonic() < deadline and p.exitcode is None
        time.sleep(0.01)
    store = open_store(root)
    assert store.manifest["state"] == "complete"
    assert len(list(marks.iterdir())) == 6  # opened only after the whole build
    p.join(timeout=240)
    assert p.exitcode == 0
    assert_index_equal(store.index("a"), slow_reference())
