"""The finish of a store's build: committed runs merged on disk into both index views.

Runs come from card.store_build's commit records. Visited in row order, each run (sorted by
unit, positions ascending within a unit) is scattered segment by segment to the unit-major
arrays at each unit's cursor (``indptr[f]`` plus what earlier runs put there): no comparison
merge, since every earlier run holds earlier positions. The same run, put back in position
order (a stable sort of its positions: units stay ascending at a position), is appended to the
position-major arrays. Per-unit statistics accumulate in the same order as
ActivationIndex.unit_sums adds them, so they are equal to the bit.

Held at once: the per-unit arrays and one run with its temporaries; the outputs are ``.npy``
files mapped for writing (file-backed pages, not the process's own memory).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .store import (
    INDEX_ARRAYS,
    SUMS_ARRAYS,
    array_entry,
    parse_memory_budget,
    position_dtype,
    read_manifest,
    unit_dtype,
    write_manifest,
)


def commits(root: Path) -> list[dict[str, Any]]:
    """The build's commit records, in the order of their first rows."""
    folder = root / "build" / "commits"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def _chunk_table(root: Path, records: list[dict[str, Any]], spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every chunk of the grid, once, in row order (ValueError naming missing or doubled ones)."""
    by_rows: dict[tuple[int, int], dict[str, Any]] = {}
    owner: dict[tuple[int, int], str] = {}
    for rec in records:
        for c in rec["chunks"]:
            rows = (int(c["rows"][0]), int(c["rows"][1]))
            if rows in by_rows:
                raise ValueError(
                    f"{root}: chunk rows {rows[0]}..{rows[1] - 1} was committed by two build sessions "
                    f"({owner[rows]} and {rec['session']}); remove one's record from {root / 'build' / 'commits'}"
                )
            by_rows[rows], owner[rows] = c, rec["session"]
    n_rows, step = int(spec["n_rows"]), int(spec["chunk_rows"])
    grid = [(r, min(r + step, n_rows)) for r in range(0, n_rows, step)]
    missing = [g for g in grid if g not in by_rows]
    if missing:
        shown = ", ".join(f"{a}..{b - 1}" for a, b in missing[:5])
        raise ValueError(f"{root}: {len(missing)} chunk(s) of rows not built yet ({shown}); build them first")
    return [by_rows[g] for g in grid]


@dataclass
class _Acc:
    """The per-unit state of one source's merge."""

    cursor: np.ndarray  # int64: where each unit's next nonzero goes
    max_act: np.ndarray  # float32, -inf until seen
    n_active: np.ndarray  # int64
    s_g: np.ndarray  # float64
    s_gg: np.ndarray  # float64
    off: int = 0  # nonzeros appended to the position-major view so far


def _outputs(out: Path, nnz: int, n_pos: int, pdt: np.dtype, udt: np.dtype) -> dict[str, np.ndarray]:
    f32, i64 = np.dtype(np.float32), np.dtype(np.int64)
    shapes: dict[str, tuple[int, np.dtype]] = {"positions": (nnz, pdt), "values": (nnz, f32),
              "pos_indptr": (n_pos + 1, i64), "pos_units": (nnz, udt), "pos_values": (nnz, f32)}  # fmt: skip
    arrs: dict[str, np.ndarray] = {}
    for name, (n, dt) in shapes.items():
        if n == 0:
            np.save(out / f"{name}.npy", np.zeros(0, dtype=dt))
            arrs[name] = np.zeros(0, dtype=dt)
        else:
            arrs[name] = np.lib.format.open_memmap(out / f"{name}.npy", mode="w+", dtype=dt, shape=(n,))
    arrs["pos_indptr"][:1] = 0
    return arrs


def _scatter_run(run: dict[str, Any], z: Any, outs: dict[str, np.ndarray], acc: _Acc) -> None:
    """One run into both views and the per-unit statistics (see the module docstring)."""
    pos, val, uniq, cnt = z["positions"], z["values"], z["units"], z["counts"]
    n = int(pos.shape[0])
    p_lo, p_hi = int(run["p_lo"]), int(run["p_hi"])
    if n:
        starts = np.cumsum(cnt) - cnt
        unit_rep = np.repeat(uniq, cnt)
        dest = np.arange(n, dtype=np.int64)
        dest += np.repeat(acc.cursor[uniq] - starts, cnt)
        outs["positions"][dest] = pos
        outs["values"][dest] = val
        del dest
        acc.cursor[uniq] += cnt
        acc.max_act[uniq] = np.maximum(acc.max_act[uniq], np.maximum.reduceat(val, starts))
        acc.n_active[uniq] += np.add.reduceat((val > 0).astype(np.int64), starts)
        v = val.astype(np.float64)
        np.add.at(acc.s_g, unit_rep, v)
        np.add.at(acc.s_gg, unit_rep, v * v)
        del v
        order = np.argsort(pos, kind="stable")
        outs["pos_units"][acc.off : acc.off + n] = unit_rep[order]
        outs["pos_values"][acc.off : acc.off + n] = val[order]
        del order, unit_rep
    per_pos = np.bincount(pos.astype(np.int64) - p_lo, minlength=p_hi - p_lo)
    outs["pos_indptr"][p_lo + 1 : p_hi + 1] = acc.off + np.cumsum(per_pos)
    acc.off += n


def _merge_source(
    root: Path, out: Path, runs: list[dict[str, Any]], n_units: int, n_tokens: int, spec: dict[str, Any]
) -> dict[str, Any]:
    """One source's runs into ``out``/*.npy; its manifest entry."""
    out.mkdir(parents=True, exist_ok=True)
    counts = np.zeros(n_units, dtype=np.int64)
    for r in runs:
        with np.load(root / r["file"]) as z:
            counts[z["units"]] += z["counts"]  # units are distinct within a run
    indptr = np.zeros(n_units + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    nnz = int(indptr[-1])
    n_pos = int(spec["n_rows"]) * int(spec["seq_len"])
    outs = _outputs(out, nnz, n_pos, position_dtype(n_pos), unit_dtype(n_units))
    f64 = np.float64
    acc = _Acc(indptr[:-1].copy(), np.full(n_units, -np.inf, np.float32), np.zeros(n_units, np.int64),
               np.zeros(n_units, f64), np.zeros(n_units, f64))  # fmt: skip
    for r in runs:
        with np.load(root / r["file"]) as z:
            _scatter_run(r, z, outs, acc)
    for a in outs.values():
        if isinstance(a, np.memmap):
            a.flush()
    del outs
    # As IndexBuilder.finish: a unit that is zero on some counted token has a maximum >= 0.
    zero = np.float32(0)
    max_act = np.where(counts < n_tokens, np.maximum(acc.max_act, zero), acc.max_act)
    max_act = np.where(np.isinf(max_act), zero, max_act).astype(np.float32)
    stats = {"indptr": indptr, "max_act": max_act, "n_active": acc.n_active, "sum": acc.s_g, "sum_sq": acc.s_gg}
    for name, a in stats.items():
        np.save(out / f"{name}.npy", a)
    names = (*INDEX_ARRAYS, *stats)
    return {"n_units": n_units, "nnz": nnz, "arrays": {n: array_entry(out / f"{n}.npy", root) for n in names}}


def _merge_sums(root: Path, out: Path, files: list[str]) -> dict[str, Any]:
    """The commit groups' neuron sums, added in row order, into ``out``/s_*.npy."""
    total: dict[str, np.ndarray] = {}
    n = 0
    for f in files:
        with np.load(root / f) as z:
            n += int(z["n"])
            for k in SUMS_ARRAYS:
                if k in total:
                    total[k] += z[k]
                else:
                    total[k] = np.array(z[k])
    for k, a in total.items():
        np.save(out / f"{k}.npy", a)
    return {"neuron_n": n, "arrays": {k: array_entry(out / f"{k}.npy", root) for k in SUMS_ARRAYS}}


def finish_store(root: str | Path, *, memory_budget: int | str | None = None) -> None:
    """Merge every committed run into the store's arrays and mark it complete; refuses a build
    with chunks missing or committed twice, naming them. The caller holds the store's lock.
    ``memory_budget`` is checked only: runs were sized by the writers' budget."""
    path = Path(root)
    parse_memory_budget(memory_budget)
    m = read_manifest(path, complete=False)
    if m["state"] == "complete":
        return
    spec = m["build"]["spec"]
    records = commits(path)
    chunks = _chunk_table(path, records, spec)
    n_tokens = sum(int(c["n_tokens"]) for c in chunks)
    sources: dict[str, Any] = {}
    for i, (name, s) in enumerate(spec["sources"].items()):
        out = path / "sources" / str(i)
        runs = [r for c in chunks for r in c["runs"][name]]
        entry = _merge_source(path, out, runs, int(s["n_units"]), n_tokens, spec)
        files = [rec["sums"][name] for rec in records if name in rec["sums"]]
        entry["neuron_n"] = None
        if files and len(files) != len(records):
            raise ValueError(f"{path}: neuron sums of {name!r} cover only some of the committed chunks")
        if files:
            sums = _merge_sums(path, out, files)
            entry["neuron_n"] = sums["neuron_n"]
            entry["arrays"] |= sums["arrays"]
        sources[name] = {"dir": f"sources/{i}", **entry}
    tokens = path / "tokens.npy"
    m |= {"state": "complete", "n_tokens": n_tokens, "sources": sources}
    m["tokens"] = array_entry(tokens, path) if tokens.is_file() else None
    write_manifest(path, m)
    shutil.rmtree(path / "build", ignore_errors=True)
