"""The activation store: an index on disk, as a directory of plain ``.npy`` arrays opened lazily.

Layout (``<store>/``)::

    manifest.json       kind, format, state ("building" | "complete"), the content key
                        (card.index_cache.pass_key), n_rows, seq_len, n_tokens, the tokens' and
                        every source's arrays (file, dtype, shape), how it was built, and
                        "about" (card.store_pass): exclude_bos, the digests behind the key
                        (model, each source, tokens, settings) and each source's hook, sizes
                        and SAELens folder, which Workspace.open reads and verifies
    tokens.npy          [n_rows, seq_len] token ids, as given
    sources/<i>/        one folder per source (its name is in the manifest, not the path):
      indptr.npy        int64 [n_units + 1]: unit f's nonzeros are [indptr[f], indptr[f+1])
      positions.npy     uint32 (int64 when n_rows * seq_len >= 2**32) [nnz]: flat positions
                        ``row * seq_len + pos``, ascending within each unit
      values.npy        float32 [nnz]: the activations, in the same order
      pos_indptr.npy    int64 [n_rows * seq_len + 1]: position t's nonzeros in the next two
      pos_units.npy     uint16 (int32 above 65,536 units) [nnz]: units, ascending at a position
      pos_values.npy    float32 [nnz]
      max_act.npy       float32 [n_units] (as IndexBuilder: at least 0 where a unit is ever 0)
      n_active.npy      int64 [n_units]: counted tokens where the unit is > 0
      sum.npy, sum_sq.npy  float64 [n_units]: Σ g and Σ g² (ActivationIndex.unit_sums)
      s_f, s_ff, s_x, s_xx, s_fx .npy  float64: NeuronCorrelationSums (neuron_n in the manifest)
    .lock               flock(2) target: builders hold it exclusively, openers shared
    build/              runs and commit records while a build is under way (store_build)

Why ``.npy`` (benchmarks/store_format.py; 3.9M nonzeros, 24,576 units, cold page cache):
opening maps each array from its header (2-4 ms for six arrays) and a column is two slices of
memory-mapped files, so only the pages of the unit's nonzeros are read (8-12 ms for the first
column, ~0.5 ms for each next one); 14.2 bytes per nonzero with both views. safetensors was
as fast to read (5-12 ms to open, 11-16 ms first column) at the same size, but keeps every
array in one file, so one source's arrays cannot be written, replaced or added alone. zarr
(3.1, zstd, 1M-entry chunks) saves 22 % of disk (11.1 bytes per nonzero) but took 118 ms to
open and 12 ms per column (a whole chunk decoded per read), and is one more dependency.

Arrays are mapped read-only (``np.load(mmap_mode="r")``) and what a caller gets is a copy of
the slices it asked for (a column, the nonzeros at some positions), so no tensor ever wraps
the map (``torch.from_numpy`` on a read-only map warns, and a writable one would let a caller
change the store). The neuron sums ``s_fx`` (units × input dims) are mapped copy-on-write
(``mmap_mode="c"``): a card reads one row, and a write would stay private to the process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..core.files import replace_atomically
from .correlation import NeuronCorrelationSums

KIND = "featurecard-store"
FORMAT = 1
MANIFEST = "manifest.json"
LOCK = ".lock"
INDEX_ARRAYS = ("indptr", "positions", "values", "pos_indptr", "pos_units", "pos_values")
STAT_ARRAYS = ("max_act", "n_active", "sum", "sum_sq")
SUMS_ARRAYS = ("s_f", "s_ff", "s_x", "s_xx", "s_fx")
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9}
_UNITS |= {"t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_BUDGET_FORMS = (
    "an int of bytes, or a string like '4GB', '512MiB', '1.5G' (KB/MB/GB/TB: powers of 1000, KiB/MiB/GiB/TiB: of 1024)"
)


def parse_memory_budget(value: int | str | None, default: int = 2**30) -> int:
    """Bytes from ``memory_budget=`` (see ``_BUDGET_FORMS``); ``None`` gives ``default``."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"memory_budget {value!r} is a {type(value).__name__}; give {_BUDGET_FORMS}")
    if isinstance(value, int):
        n = value
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
        if m is None or m.group(2).lower() not in _UNITS:
            raise ValueError(f"memory_budget {value!r} is not understood; give {_BUDGET_FORMS}")
        n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise ValueError(f"memory_budget {value!r} must be a positive number of bytes; give {_BUDGET_FORMS}")
    return n


def position_dtype(n_positions: int) -> np.dtype:
    """uint32 where every flat position fits, else int64."""
    return np.dtype(np.uint32) if n_positions < 2**32 else np.dtype(np.int64)


def unit_dtype(n_units: int) -> np.dtype:
    return np.dtype(np.uint16) if n_units <= 2**16 else np.dtype(np.int32)


@contextlib.contextmanager
def store_lock(root: str | Path, exclusive: bool = True) -> Iterator[None]:
    """Hold ``<root>/.lock`` (``flock``): exclusive to build or change a store, shared to open
    one; waits for the other holders. Two kernels on one machine never see a half-built store."""
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    replace_atomically(root / MANIFEST, lambda tmp: tmp.write_text(json.dumps(manifest, indent=1) + "\n"))


def read_manifest(root: str | Path, *, complete: bool = True) -> dict[str, Any]:
    """The manifest of the store at ``root``, checked (ValueError naming the file and what is
    wrong); ``complete``: refuse a store whose build has not finished."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {root} is not a featurecard store")
    try:
        m = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a featurecard store manifest: not valid JSON ({e})") from None
    if not isinstance(m, dict) or m.get("kind") != KIND:
        got = m.get("kind") if isinstance(m, dict) else type(m).__name__
        raise ValueError(f"{path} is not a featurecard store manifest: its kind is {got!r}, not {KIND!r}")
    if m.get("format") != FORMAT:
        raise ValueError(f"{path} holds store format {m.get('format')!r}; this featurecard reads format {FORMAT}")
    missing = [k for k in ("state", "key", "n_rows", "seq_len", "sources", "build") if k not in m]
    if missing:
        raise ValueError(f"{path} is not a complete store manifest: it lacks {missing}")
    if complete and m["state"] != "complete":
        raise ValueError(f"{path}: the store's build has not finished (state {m['state']!r}, not 'complete')")
    return m


def array_entry(path: Path, root: Path) -> dict[str, Any]:
    """A manifest entry for the ``.npy`` file at ``path`` (read from its header)."""
    a = np.load(path, mmap_mode="r")
    return {"file": path.relative_to(root).as_posix(), "dtype": a.dtype.str, "shape": list(a.shape)}


def map_array(root: Path, entry: dict[str, Any], mode: Literal["r", "c"] = "r") -> np.ndarray:
    """The array of a manifest entry, memory-mapped; its dtype and shape are checked."""
    path = root / entry["file"]
    try:
        a: np.ndarray = np.load(path, mmap_mode=mode)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} cannot be read as the store's array ({type(e).__name__}: {e})") from None
    if a.dtype.str != entry["dtype"] or list(a.shape) != entry["shape"]:
        raise ValueError(
            f"{path} holds {a.dtype.str}{list(a.shape)}; the manifest says {entry['dtype']}{entry['shape']}"
        )
    return a


@dataclass
class StoredIndex:
    """One source's index in a store; stands in for ActivationIndex where cards read it."""

    root: Path
    entry: dict[str, Any]
    n_tokens: int
    seq_len: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # where read tensors go
    _maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n_units(self) -> int:
        return int(self.entry["n_units"])

    @property
    def nnz(self) -> int:
        return int(self.entry["nnz"])

    def _map(self, name: str) -> np.ndarray:
        if name not in self._maps:
            self._maps[name] = map_array(self.root, self.entry["arrays"][name])
        return self._maps[name]

    def column(self, unit: int) -> tuple[Int[Tensor, " k"], Float[Tensor, " k"]]:
        """Unit ``unit``'s flat positions (int64, ascending) and values (float32), read from disk."""
        if not 0 <= unit < self.n_units:
            raise IndexError(f"unit {unit} is out of range: this index has units 0..{self.n_units - 1}")
        lo, hi = (int(x) for x in self._map("indptr")[unit : unit + 2])
        pos = torch.from_numpy(self._map("positions")[lo:hi].astype(np.int64))
        return pos.to(self.device), torch.from_numpy(np.array(self._map("values")[lo:hi])).to(self.device)

    def at_positions(
        self, positions: Int[Tensor, " k"]
    ) -> tuple[Int[Tensor, " m"], Int[Tensor, " m"], Float[Tensor, " m"]]:
        """Every nonzero at the given flat positions: (which of ``positions``, unit, value)."""
        p = positions.detach().cpu().long().numpy()
        ptr = self._map("pos_indptr")
        starts, lens = ptr[p], ptr[p + 1] - ptr[p]
        which = np.repeat(np.arange(p.size), lens)
        idx = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
        units = self._map("pos_units")[idx].astype(np.int64)
        values = np.array(self._map("pos_values")[idx])
        dev = positions.device
        return torch.from_numpy(which).to(dev), torch.from_numpy(units).to(dev), torch.from_numpy(values).to(dev)

    def _stat(self, name: str) -> Tensor:
        return torch.from_numpy(np.array(self._map(name))).to(self.device)

    @cached_property
    def max_act(self) -> Float[Tensor, " n_units"]:
        return self._stat("max_act")

    @cached_property
    def n_active(self) -> Int[Tensor, " n_units"]:
        return self._stat("n_active")

    @cached_property
    def _sums(self) -> tuple[Tensor, Tensor]:
        return self._stat("sum"), self._stat("sum_sq")

    def unit_sums(self) -> tuple[Float[Tensor, " n_units"], Float[Tensor, " n_units"]]:
        """``Σ g`` and ``Σ g²`` per unit (float64), stored by the build."""
        return self._sums

    def nbytes(self) -> int:
        """Bytes of both views on disk (what ActivationIndex.nbytes counts in memory)."""
        return sum((self.root / self.entry["arrays"][n]["file"]).stat().st_size for n in INDEX_ARRAYS)


@dataclass
class Store:
    """An opened store: the manifest in memory, every array mapped on first use."""

    root: Path
    manifest: dict[str, Any]
    _indexes: dict[str, StoredIndex] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> str:
        return str(self.manifest["key"])

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.manifest["sources"])

    @property
    def n_tokens(self) -> int:
        return int(self.manifest["n_tokens"])

    @property
    def seq_len(self) -> int:
        return int(self.manifest["seq_len"])

    def _entry(self, source: str) -> dict[str, Any]:
        if source not in self.manifest["sources"]:
            raise KeyError(f"the store {self.root} holds no source {source!r}; it holds {list(self.sources)}")
        entry: dict[str, Any] = self.manifest["sources"][source]
        return entry

    def index(self, source: str, device: torch.device | str = "cpu") -> StoredIndex:
        """Source ``source``'s index; what it reads goes to ``device``."""
        dev = torch.device(device)
        if source not in self._indexes or self._indexes[source].device != dev:
            self._indexes[source] = StoredIndex(self.root, self._entry(source), self.n_tokens, self.seq_len, dev)
        return self._indexes[source]

    def check(self) -> None:
        """Map every array from its header (no data is read): ValueError naming a file that is
        missing, truncated or not what the manifest says."""
        entries = [a for s in self.manifest["sources"].values() for a in s["arrays"].values()]
        for entry in [*entries, *([self.manifest["tokens"]] if self.manifest.get("tokens") else [])]:
            map_array(self.root, entry)

    def tokens(self) -> np.ndarray:
        """The token ids [n_rows, seq_len], memory-mapped read-only (copy rows before torch)."""
        return map_array(self.root, self.manifest["tokens"])

    def neuron_sums(self, source: str, device: torch.device | str = "cpu") -> NeuronCorrelationSums | None:
        """The streamed neuron-correlation sums (on the CPU: ``s_fx`` mapped copy-on-write), or None."""
        entry = self._entry(source)
        if entry.get("neuron_n") is None:
            return None
        arrays = {n: map_array(self.root, entry["arrays"][n], mode="c") for n in SUMS_ARRAYS}
        s = NeuronCorrelationSums(0, 0)
        s.n = int(entry["neuron_n"])
        on_cpu = torch.device(device).type == "cpu"
        for n, a in arrays.items():
            setattr(s, n, torch.from_numpy(a if n == "s_fx" and on_cpu else np.array(a)).to(device))
        return s


def open_store(root: str | Path, *, key: str | None = None) -> Store:
    """Open the complete store at ``root``: reads the manifest only (arrays map on first use),
    under a shared lock, so a build in progress is waited for. ``key``: refuse another content."""
    path = Path(root)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist: no featurecard store there")
    with store_lock(path, exclusive=False):
        manifest = read_manifest(path)
    if key is not None and manifest["key"] != key:
        raise ValueError(
            f"{path / MANIFEST} holds content key {manifest['key']}, not {key}: "
            "the store was built from another model, SAE, tokens or settings"
        )
    return Store(path, manifest)
