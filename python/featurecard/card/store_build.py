"""Building a store (card.store) in bounded memory: sorted runs per chunk, merged on disk.

The dataset's rows are cut into chunks of ``chunk_rows`` (a fixed grid, so a restarted or
remote worker names the same chunks). A :class:`StoreWriter` receives whole chunks, in any
order, from any number of writers (sessions: processes, Ray tasks): a chunk's nonzeros per
source, as IndexBuilder.add returns them for the chunk's rows (flat position within the chunk,
unit, value), its count of counted tokens, and optionally its NeuronCorrelationSums.

The writer holds chunks until they fill a third of the budget, then commits them: each
chunk is cut at token boundaries into runs, each run sorted by unit (stable: positions stay
ascending) and written with its units and per-unit counts; the neuron sums of the committed
chunks go to one file; last, one commit record (``build/commits/*.json``, written atomically)
names the chunks, their runs and that file. A chunk is finished once a record names it: an
interrupted build loses only uncommitted chunks, and ``todo()`` lists those to redo.

:func:`finish_store` merges the runs without comparing anything: the runs are visited in row
order, so scattering each run's per-unit segments at offsets from the summed counts leaves
every unit's positions ascending (the unit-major view), and appending the runs' entries in
position order gives the position-major view. Outputs are ``.npy`` files mapped for writing.

Memory (``memory_budget``) counts what this module holds: chunks held before a commit (a third
of what the neuron sums leave), the sort of one run while they are held (runs are cut so that its
order and sorted copies, :data:`SORT_BYTES_PER_ENTRY`, take at most as much again), two copies of
the neuron sums (the group's, which are the first chunk's taken over, and those of the chunk the
caller computes next), and in the finish the per-unit arrays (~60 bytes a unit) plus one run and
its temporaries (:data:`FINISH_BYTES_PER_ENTRY`). Not counted: the caller's own nonzeros of the
chunk being computed, the forward pass's activations, pages of the memory-mapped outputs
(file-backed: the kernel writes them back and evicts them), and Python's object overhead.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..core.files import replace_atomically
from .correlation import NeuronCorrelationSums
from .store import (
    FORMAT,
    KIND,
    MANIFEST,
    SUMS_ARRAYS,
    Store,
    parse_memory_budget,
    position_dtype,
    read_manifest,
    store_lock,
    unit_dtype,
    write_manifest,
)
from .store_merge import commits, finish_store

FINISH_BYTES_PER_ENTRY = 64  # one run's arrays and the merge's temporaries, per nonzero (upper bound)
SORT_BYTES_PER_ENTRY = 24  # sorting a run at a commit: its int64 order and the sorted copies, per nonzero
FINISH_BYTES_PER_UNIT = 64  # counts, cursors, max, n_active, Σg, Σg² (52 bytes; rounded up)


@dataclass(frozen=True)
class SourceSpec:
    n_units: int
    d_in: int | None = None  # input dimension of the neuron sums, None: no sums


@dataclass(frozen=True)
class StoreSpec:
    """What a store holds; equal specs (the content key first) let a build resume."""

    key: str
    n_rows: int
    seq_len: int
    chunk_rows: int
    sources: Mapping[str, SourceSpec]
    settings: Mapping[str, str | int | float | bool] = field(default_factory=dict)
    about: Mapping[str, Any] = field(default_factory=dict)  # the manifest's "about" (not compared)

    def chunks(self) -> list[tuple[int, int]]:
        return [(r, min(r + self.chunk_rows, self.n_rows)) for r in range(0, self.n_rows, self.chunk_rows)]

    def layout(self) -> dict[str, Any]:
        src = {n: {"n_units": s.n_units, "d_in": s.d_in} for n, s in self.sources.items()}
        return {"key": self.key, "n_rows": self.n_rows, "seq_len": self.seq_len, "chunk_rows": self.chunk_rows,
                "sources": src, "settings": dict(self.settings)}  # fmt: skip


@dataclass(frozen=True)
class Nonzeros:
    """One source's nonzeros in one chunk, in dataset order (as IndexBuilder.add returns them)."""

    positions: Tensor | np.ndarray  # flat position within the chunk: (row - row0) * seq_len + pos
    units: Tensor | np.ndarray
    values: Tensor | np.ndarray


def _np(x: Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def _versions() -> dict[str, str]:
    try:
        fc = version("featurecard")
    except PackageNotFoundError:
        fc = "0+unknown"
    return {"featurecard": fc, "numpy": np.__version__, "torch": torch.__version__}


def _save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.savez(f, **dict(arrays))  # type: ignore[arg-type]

    replace_atomically(path, write)


def _save_npy(path: Path, a: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.save(f, a)

    replace_atomically(path, write)


@dataclass
class _Held:
    row0: int
    row1: int
    n_tokens: int
    parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # global positions, units, values


class StoreWriter:
    """Receives chunks and commits them as runs (see the module docstring).

    The caller holds the store's lock (card.store.store_lock) where processes on one machine
    may build the same store; writers of one build on several machines coordinate by chunks.
    """

    def __init__(
        self, root: str | Path, spec: StoreSpec, *, memory_budget: int | str | None = None, tokens: Any = None
    ) -> None:
        self.root, self.spec = Path(root), spec
        self.budget = parse_memory_budget(memory_budget)
        self.session = secrets.token_hex(6)
        self._pos_dtype = position_dtype(spec.n_rows * spec.seq_len)
        self._unit_dtype = unit_dtype(max((s.n_units for s in spec.sources.values()), default=1))
        sums_bytes = sum(s.n_units * (s.d_in or 0) * 8 for s in spec.sources.values())
        floor = FINISH_BYTES_PER_UNIT * max((s.n_units for s in spec.sources.values()), default=1)
        if self.budget < 2 * (floor + sums_bytes) + 2**16:
            raise ValueError(
                f"memory_budget {self.budget} bytes is below this build's floor of "
                f"{2 * (floor + sums_bytes) + 2**16} bytes (per-unit arrays and neuron sums); give more"
            )
        self._entry_bytes = self._pos_dtype.itemsize + self._unit_dtype.itemsize + 4
        # Two copies of the neuron sums live at once: the group's, and the next chunk's while it is computed.
        self._hold_bytes = max(1, (self.budget - 2 * sums_bytes) // 3)
        # A run is sorted while the held chunks are still in memory (a commit), and merged alone (the finish).
        per_run = min((self.budget - floor) // FINISH_BYTES_PER_ENTRY, self._hold_bytes // SORT_BYTES_PER_ENTRY)
        self.run_entries = max(1, per_run)
        self._held: list[_Held] = []
        self._sums: dict[str, NeuronCorrelationSums | None] = {}
        self._gen = 0
        self._open_manifest()
        if tokens is not None:
            self._write_tokens(tokens)

    def _open_manifest(self) -> None:
        path = self.root / MANIFEST
        layout = self.spec.layout()
        if path.is_file():
            m = read_manifest(self.root, complete=False)
            if m["state"] == "complete":
                raise ValueError(f"{path}: the store is complete already; open it with card.store.open_store")
            diff = sorted(k for k in layout if m["build"]["spec"].get(k) != layout[k])
            if diff:
                raise ValueError(f"{path} is a build of another spec (differs in {diff}); remove {self.root} first")
            return
        self.root.mkdir(parents=True, exist_ok=True)
        write_manifest(self.root, {
            "kind": KIND, "format": FORMAT, "state": "building", "key": self.spec.key,
            "n_rows": self.spec.n_rows, "seq_len": self.spec.seq_len, "sources": {}, "tokens": None,
            "build": {"spec": layout, "memory_budget": self.budget, "versions": _versions()},
            "about": dict(self.spec.about),
        })  # fmt: skip

    def _write_tokens(self, tokens: Any) -> None:
        """Copy ``tokens`` [n_rows, seq_len] (a tensor or a memory-mapped array) by blocks of rows."""
        out = self.root / "tokens.npy"
        shape = (self.spec.n_rows, self.spec.seq_len)
        if tuple(tokens.shape) != shape:
            raise ValueError(f"tokens have shape {tuple(tokens.shape)}; this store's spec says {shape}")
        if out.is_file():
            return
        first = _np(tokens[:1])
        step = max(1, self._hold_bytes // max(1, first.nbytes))

        def write(tmp: Path) -> None:
            mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=first.dtype, shape=shape)
            for r in range(0, shape[0], step):
                mm[r : r + step] = _np(tokens[r : r + step])
            mm.flush()
            del mm

        replace_atomically(out, write)

    def todo(self) -> list[tuple[int, int]]:
        """The chunks (row0, row1) no commit record names yet, in row order."""
        done = {tuple(c["rows"]) for rec in commits(self.root) for c in rec["chunks"]}
        return [c for c in self.spec.chunks() if c not in done]

    def add(
        self,
        row0: int,
        parts: Mapping[str, Nonzeros],
        n_tokens: int,
        sums: Mapping[str, NeuronCorrelationSums | None] | None = None,
    ) -> None:
        """Add the chunk starting at row ``row0`` (all of it: its rows up to the next chunk). The
        writer takes ``sums`` over (the first chunk's become the group's totals, added to in place)."""
        grid = dict(self.spec.chunks())
        if row0 not in grid:
            raise ValueError(f"row {row0} starts no chunk: chunks start at multiples of {self.spec.chunk_rows}")
        if set(parts) != set(self.spec.sources):
            raise ValueError(f"chunk {row0} has sources {sorted(parts)}; the store's are {sorted(self.spec.sources)}")
        held = _Held(row0, grid[row0], int(n_tokens), {})
        for name, nz in parts.items():
            # Straight to the stored dtypes (one copy each; every flat position fits _pos_dtype).
            pos = _np(nz.positions).astype(self._pos_dtype)
            pos += pos.dtype.type(row0 * self.spec.seq_len)
            held.parts[name] = (
                pos,
                _np(nz.units).astype(self._unit_dtype),
                _np(nz.values).astype(np.float32, copy=False),
            )
        for name, s in (sums or {}).items():
            self._add_sums(name, s)
        self._held.append(held)
        if self.held_bytes() >= self._hold_bytes:
            self.commit()

    def _add_sums(self, name: str, s: NeuronCorrelationSums | None) -> None:
        if s is None:
            return
        acc = self._sums.get(name)
        if acc is None:  # the first chunk's sums become the group's (no second copy of s_fx)
            self._sums[name] = s
            return
        acc.n += s.n
        for n in SUMS_ARRAYS:
            getattr(acc, n).add_(getattr(s, n).to(getattr(acc, n).device))

    def held_bytes(self) -> int:
        return sum(int(a.nbytes) for h in self._held for p in h.parts.values() for a in p)

    def commit(self) -> None:
        """Write the held chunks' runs and sums, then one commit record naming them."""
        if not self._held:
            return
        self._gen += 1
        tag = f"{self.session}-{self._gen}"
        chunks = [self._write_chunk(h) for h in sorted(self._held, key=lambda h: h.row0)]
        sums: dict[str, str] = {}
        for name, s in self._sums.items():
            if s is not None:
                rel = f"build/sums/{self._source_id(name)}/{tag}.npz"
                arrays = {n: getattr(s, n).cpu().numpy() for n in SUMS_ARRAYS} | {"n": np.array(s.n)}
                _save_npz(self.root / rel, arrays)
                sums[name] = rel
        rec = {"session": self.session, "chunks": chunks, "sums": sums}
        out = self.root / "build" / "commits" / f"{chunks[0]['rows'][0]:012d}-{tag}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(out, lambda tmp: tmp.write_text(json.dumps(rec)))
        self._held, self._sums = [], {}

    def commit_after_interrupt(self) -> None:
        """:meth:`commit`, unless an interrupt landed in one after its record was written (the
        held chunks are recorded already: they are dropped, never committed twice)."""
        done = {tuple(c["rows"]) for rec in commits(self.root) for c in rec["chunks"]}
        if self._held and all((h.row0, h.row1) in done for h in self._held):
            self._held, self._sums = [], {}
        self.commit()

    def finish(self) -> None:
        """Commit what is held, then :func:`~featurecard.card.store_merge.finish_store`."""
        self.commit()
        finish_store(self.root, memory_budget=self.budget)

    def _source_id(self, name: str) -> int:
        return list(self.spec.sources).index(name)

    def _write_chunk(self, h: _Held) -> dict[str, Any]:
        runs: dict[str, list[dict[str, Any]]] = {}
        p_lo, p_hi = h.row0 * self.spec.seq_len, h.row1 * self.spec.seq_len
        for name, (pos, unit, val) in h.parts.items():
            runs[name] = []
            cuts = _cuts(pos, self.run_entries)
            edges = [p_lo] + [int(pos[c]) for c in cuts[1:-1]] + [p_hi]
            for j, (a, b) in enumerate(itertools.pairwise(cuts)):
                order = np.argsort(unit[a:b], kind="stable")
                u = unit[a:b][order]
                uniq, counts = np.unique(u, return_counts=True)
                rel = f"build/runs/{self._source_id(name)}/{h.row0:012d}-{self.session}-{j}.npz"
                arrays = {"positions": pos[a:b][order], "values": val[a:b][order], "units": uniq, "counts": counts}
                _save_npz(self.root / rel, arrays)
                runs[name].append({"file": rel, "p_lo": edges[j], "p_hi": edges[j + 1], "nnz": int(b - a)})
        return {"rows": [h.row0, h.row1], "n_tokens": h.n_tokens, "runs": runs}


def _cuts(pos: np.ndarray, run_entries: int) -> list[int]:
    """Entry indices cutting ``pos`` (ascending) into runs of about ``run_entries`` that never
    split one position (a run then covers whole tokens); always [0, ..., len]."""
    cuts = [0]
    while len(pos) - cuts[-1] > run_entries:
        c = int(np.searchsorted(pos, pos[cuts[-1] + run_entries], side="left"))
        if c <= cuts[-1]:  # one position holds more than run_entries: cut after it
            c = int(np.searchsorted(pos, pos[cuts[-1]], side="right"))
        if c >= len(pos):
            break
        cuts.append(c)
    return [*cuts, len(pos)]


@dataclass(frozen=True)
class Chunk:
    """What one chunk's pass gives a writer."""

    parts: Mapping[str, Nonzeros]
    n_tokens: int
    sums: Mapping[str, NeuronCorrelationSums | None] | None = None


def open_or_build(
    root: str | Path,
    spec: StoreSpec,
    compute: Callable[[int, int], Chunk],
    *,
    memory_budget: int | str | None = None,
    tokens: Any = None,
) -> Store:
    """The complete store at ``root`` with ``spec``'s key, built first where needed: under the
    store's exclusive lock, so of two processes one builds and the other waits, then opens.
    ``compute(row0, row1)`` runs the pass over one chunk; only unfinished chunks are computed."""
    path = Path(root)
    with store_lock(path, exclusive=True):
        if (path / MANIFEST).is_file():
            m = read_manifest(path, complete=False)
            if m["state"] == "complete":
                if m["key"] != spec.key:
                    raise ValueError(f"{path / MANIFEST} holds content key {m['key']}, not {spec.key}")
                return Store(path, m)
        w = StoreWriter(path, spec, memory_budget=memory_budget, tokens=tokens)
        for row0, row1 in w.todo():
            c = compute(row0, row1)
            w.add(row0, c.parts, c.n_tokens, c.sums)
        w.finish()
        return Store(path, read_manifest(path))
