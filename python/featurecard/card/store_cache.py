"""The Workspace's activation stores: ``cache_dir`` as a folder of stores, and ``Workspace.open``.

``Workspace(..., cache_dir=D)`` keeps one store per content key (the key of
:func:`~featurecard.card.index_cache.pass_key`: the model, the sources, the tokens, the pass's
settings) at ``D/index-<key>/`` (:mod:`featurecard.card.store`). The complete index of a group
of sources comes from its store: opened lazily where it exists (the manifest, and the arrays'
headers as a check; no array data until a card reads it), built streaming where it does not
(:mod:`featurecard.card.store_pass`, within ``memory_budget``). Two kernels on one store wait for
each other (its file lock).

Without a ``cache_dir``, a complete index whose in-memory build would pass ``memory_budget``
(sized from the streamed first cards' blocks) is built as a store in a temporary folder,
removed with the Workspace.

A store is never a reason to fail: one that cannot be read (a manifest that is not valid or not
ours, an array missing, truncated or of another shape, other sources) is reported with its path,
cleared and built again; a ``cache_dir`` that cannot be written is reported and the index is
built in memory (the caller runs the in-memory pass).

``Workspace.open(store)`` reads the tokens and the sources from the store's manifest
(``about``: their hooks, the SAELens folders they came from, the digests behind its key);
:func:`verify_store` recomputes the digests and names what differs.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
import weakref
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from ..core.model import ModelAdapter
from ..core.sae import SparseAutoencoder
from .index import CardIndex
from .index_cache import content_digests, key_of
from .index_pass import PassResult
from .store import Store, open_store, parse_memory_budget, read_manifest
from .store_build import Chunk
from .store_pass import B_SUFFIX, build_store, chunk_pass, chunk_rows_for, store_spec


def from_store(store: Store, names: Collection[str], device: torch.device | str) -> PassResult:
    """The pass result of ``names`` read from ``store`` (no final residual: cards re-run the
    rows they show for their hover effects)."""
    indexes: dict[str, CardIndex] = {n: store.index(n, device) for n in names}
    return PassResult(indexes, {n: store.neuron_sums(n, device) for n in names}, None)


class Estimated(Protocol):
    """A source whose complete index's in-memory build can be sized before it runs."""

    def build_bytes(self) -> int: ...


class IndexStores:
    """Where a Workspace's complete indexes come from: its ``cache_dir``'s stores, the store it
    was opened from (``pinned``), and, without either, a temporary store where the in-memory
    build would pass the memory budget.

    ``streamed`` holds the Workspace's streamed first-card sources (the Workspace's own dict):
    their blocks tell how many nonzeros the complete index will have. Where that index, built
    in memory, would take more than ``memory_budget``, it is built as a store in a temporary
    folder instead (bounded by the budget while built, memory-mapped once built) and the folder
    is removed with the Workspace or at exit."""

    def __init__(self, cache_dir: str | Path | None, memory_budget: int | str | None, exclude_bos: bool = True) -> None:
        self.cache_dir = None if cache_dir is None else Path(cache_dir).expanduser()
        self.memory_budget = parse_memory_budget(memory_budget)  # a bad budget fails at construction
        self.exclude_bos = exclude_bos
        self.pinned: Store | None = None
        self.streamed: Mapping[str, Estimated] = {}
        self.spill: Path | None = None

    def _folder(self, todo: Collection[str]) -> Path | None:
        """Where the stores of ``todo`` go: ``cache_dir``, the temporary folder (made on first use)
        where their in-memory build would pass the budget, or None (built in memory)."""
        if self.cache_dir is not None:
            return self.cache_dir
        if sum(s.build_bytes() for n, s in self.streamed.items() if n in todo) <= self.memory_budget:
            return None
        if self.spill is None:
            self.spill = Path(tempfile.mkdtemp(prefix="featurecard-index-"))
            weakref.finalize(self, shutil.rmtree, self.spill, ignore_errors=True)
        return self.spill

    def holds(self, adapter: ModelAdapter, todo: Mapping[str, SparseAutoencoder], tokens: Tensor) -> bool:
        """Whether a complete store holds the indexes of ``todo`` now (read without its lock, so a
        build under way, ours or another kernel's, is not waited for: it does not hold them yet)."""
        if self.pinned is not None and set(todo) <= set(self.pinned.sources):
            return True
        if self.cache_dir is None:
            return False
        key = key_of(content_digests(adapter.model, todo, tokens, exclude_bos=self.exclude_bos))
        try:
            manifest = read_manifest(self.cache_dir / f"index-{key}")
        except (OSError, ValueError):
            return False
        return bool(manifest["key"] == key and set(todo) <= set(manifest["sources"]))

    @property
    def active(self) -> bool:
        """Whether complete indexes come from stores (so nothing is staged in memory)."""
        return self.cache_dir is not None or self.pinned is not None

    def pass_result(
        self,
        adapter: ModelAdapter,
        todo: Mapping[str, SparseAutoencoder],
        tokens: Tensor,
        *,
        exclude_bos: bool,
        batch_size: int,
        progress: bool,
    ) -> PassResult | None:
        """The indexes of ``todo`` from a store (built first where needed), or None where the
        caller runs the pass in memory (no store holds them, or the folder cannot be written)."""
        if self.pinned is not None and set(todo) <= set(self.pinned.sources):
            return from_store(self.pinned, todo, adapter.device)
        folder = self._folder(todo)
        if folder is None:
            return None
        chunk_rows = chunk_rows_for(self.memory_budget, int(tokens.shape[1]), batch_size)
        spec = store_spec(adapter.model, todo, tokens, exclude_bos=exclude_bos, chunk_rows=chunk_rows)
        root = folder / f"index-{spec.key}"

        def compute(row0: int, row1: int, bar: Any) -> Chunk:
            return chunk_pass(adapter, todo, tokens, (row0, row1), exclude_bos=exclude_bos, batch_size=batch_size,
                              bar=bar, memory_budget=self.memory_budget)  # fmt: skip

        try:
            store = build_store(root, spec, compute, tokens=tokens, memory_budget=self.memory_budget,
                                progress=progress, rebuild_unreadable=True)  # fmt: skip
        except OSError as e:
            warnings.warn(
                f"featurecard: cannot write the index store {root} ({type(e).__name__}: {e}); "
                "the index stays in memory for this Workspace only",
                stacklevel=4,
            )
            return None
        return from_store(store, todo, adapter.device)


@dataclass(frozen=True)
class OpenedStore:
    """What ``Workspace.open`` reads from a store: the Workspace's arguments, and the store."""

    store: Store
    saes: dict[str, Any]
    sae_b: dict[str, Any]
    tokens: Tensor
    exclude_bos: bool


def _recorded(store: Store, names: list[str], what: str) -> dict[str, Any]:
    about = store.manifest["about"]["sources"]
    missing = [n for n in names if not about[n].get("path")]
    if missing:
        raise ValueError(
            f"the store {store.root} does not record a SAELens folder for {missing} (they were given as "
            f"objects when it was built); pass {what}={{name: sae}} to Workspace.open"
        )
    return {n.removesuffix(B_SUFFIX): about[n]["path"] for n in names}


def open_for_workspace(
    store_dir: str | Path, saes: Mapping[str, Any] | None, sae_b: Mapping[str, Any] | None
) -> OpenedStore:
    """The store at ``store_dir`` (its manifest only) and the Workspace's arguments from it:
    the tokens, and the SAEs from the folders it records where ``saes``/``sae_b`` are None."""
    store = open_store(store_dir)
    about = store.manifest.get("about") or {}
    if "sources" not in about or "digests" not in about:
        raise ValueError(f"the store {store.root} was not built by a Workspace or fc.build_index (no 'about')")
    names = list(about["sources"])
    if saes is None:
        saes = _recorded(store, [n for n in names if not n.endswith(B_SUFFIX)], "saes")
    if sae_b is None:
        with_b = [n for n in names if n.endswith(B_SUFFIX) and n.removesuffix(B_SUFFIX) in saes]
        sae_b = _recorded(store, with_b, "sae_b")
    if store.manifest.get("tokens") is None:
        raise ValueError(f"the store {store.root} holds no tokens (tokens.npy); it cannot be opened as a Workspace")
    tokens = torch.from_numpy(np.array(store.tokens(), dtype=np.int64))
    return OpenedStore(store, dict(saes), dict(sae_b), tokens, bool(about["exclude_bos"]))


def verify_store(store: Store, model: Any, sources: Mapping[str, SparseAutoencoder], tokens: Tensor) -> None:
    """Recompute the digests of the store's content key from ``model``, ``sources`` (SAEs and
    encoders B by source name) and ``tokens``; ValueError naming each thing that differs."""
    about = store.manifest["about"]
    want = about["digests"]
    got = content_digests(model, sources, tokens, exclude_bos=about["exclude_bos"])
    diffs: list[str] = []
    if got["model"] != want["model"]:
        diffs.append("the model's weights differ")
    if set(got["sources"]) != set(want["sources"]):
        diffs.append(f"the sources differ: the store holds {sorted(want['sources'])}, given {sorted(got['sources'])}")
    for name in sorted(set(got["sources"]) & set(want["sources"])):
        if got["sources"][name] != want["sources"][name]:
            what = f"encoder B of SAE {name.removesuffix(B_SUFFIX)!r}" if name.endswith(B_SUFFIX) else f"SAE {name!r}"
            diffs.append(f"{what} differs (weights, hook or options)")
    if got["tokens"] != want["tokens"]:
        diffs.append("the tokens differ (the store's tokens.npy is not what it was built from)")
    if got["settings"] != want["settings"]:
        diffs.append("the pass's settings differ")
    if diffs:
        raise ValueError(
            f"the store {store.root} does not match what it is opened with: {'; '.join(diffs)}. "
            "Build it again (fc.build_index), or open it with verify=False to use it as it is"
        )
