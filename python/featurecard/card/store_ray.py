"""A store's build on many workers: shards of its chunks as Ray tasks (the extra ``featurecard[ray]``).

The coordinator (:func:`featurecard.card.store_pass.build_index` with ``workers`` or ``ray``)
holds the store's lock, writes the manifest and the tokens, cuts the chunks not committed yet
(``StoreWriter.todo()``) into one contiguous shard per worker, and runs :func:`run_shard` on
each as a Ray task (``num_gpus=1`` on CUDA, else ``num_cpus=1``); then it merges
(``finish_store``). Each task opens its own :class:`~featurecard.card.store_build.StoreWriter`
session on the store's folder, reads the tokens from the store (``tokens.npy``, memory-mapped),
computes its chunks with the same :func:`~featurecard.card.store_chunk.chunk_pass` as the
in-process build and commits them within ``memory_budget`` (each worker's own).

The model and the sources reach the workers through Ray's object store (``ray.put`` once, read
by each task), not as folders: a build from Python has objects, not folders, and a cluster's
machines then need only the store's folder in common (a shared filesystem), not the model's.

A worker that dies (killed, out of memory) is retried by Ray (:data:`MAX_RETRIES`); the retry
reads the commit records and skips its shard's committed chunks, so a finished chunk is never
redone and never committed twice: only what the dead worker held uncommitted is computed again.
An exception in a task (a bad token id) is not retried: it fails the build with its message.

Ray is imported only here and only when used: ``import featurecard`` never loads it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from ..core.model import ModelAdapter
from ..core.sae import SparseAutoencoder
from .store_build import StoreSpec, StoreWriter
from .store_chunk import chunk_pass
from .store_merge import commits

RAY_EXTRA = "pip install 'featurecard[ray]'"
MAX_RETRIES = 3  # Ray's retries of a task whose worker died
POLL_S = 1.0  # how often the coordinator updates the progress bar from the commit records
Rows = tuple[int, int]
RunShards = Callable[[StoreWriter, list[Rows], Any], None]  # card.store_pass.RunTodo


@dataclass(frozen=True)
class ShardJob:
    """What every task of one build shares (the model and sources travel apart, via ray.put)."""

    root: str
    spec: StoreSpec
    device: str  # "cpu", "cuda" (a task's GPU: Ray sets CUDA_VISIBLE_DEVICES)
    exclude_bos: bool
    batch_size: int
    memory_budget: int


@dataclass(frozen=True)
class ShardReport:
    """What one task did: the chunks it computed and skipped (committed before), its times."""

    pid: int
    computed: tuple[Rows, ...]
    skipped: int
    setup_s: float  # the model and sources read from the object store and moved to the device
    compute_s: float


def import_ray() -> ModuleType:
    """Ray, or an ImportError naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ImportError(
            f"building with workers runs shards as Ray tasks, and Ray is not installed: {RAY_EXTRA} "
            "(or leave workers and ray unset to build in this process)"
        ) from None
    return ray


def committed(root: str | Path) -> set[Rows]:
    """The chunks (row0, row1) that a commit record names."""
    return {(int(c["rows"][0]), int(c["rows"][1])) for rec in commits(Path(root)) for c in rec["chunks"]}


def run_shard(job: ShardJob, payload: tuple[Any, Mapping[str, SparseAutoencoder]], chunks: list[Rows]) -> ShardReport:
    """On a worker: compute and commit the chunks of ``chunks`` not committed yet."""
    t0 = time.perf_counter()
    device = torch.device(job.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # one core per task (num_cpus=1): threads would fight the other tasks
    model, saes = payload
    here = next(iter(model.parameters()), torch.zeros(0)).device
    if here.type != device.type or (device.index is not None and here.index != device.index):
        model = model.to(device)  # (TransformerLens prints a line when it moves a model)
    adapter = ModelAdapter(model)
    sources = {n: s.to(device=adapter.device) for n, s in saes.items()}
    tokens = np.load(Path(job.root) / "tokens.npy", mmap_mode="r")
    w = StoreWriter(job.root, job.spec, memory_budget=job.memory_budget)
    done = committed(job.root)
    left = [c for c in chunks if c not in done]
    t1 = time.perf_counter()
    for row0, row1 in left:
        c = chunk_pass(adapter, sources, tokens, (row0, row1), exclude_bos=job.exclude_bos, batch_size=job.batch_size,
                       memory_budget=job.memory_budget)  # fmt: skip
        w.add(row0, c.parts, c.n_tokens, c.sums)
    w.commit()
    return ShardReport(os.getpid(), tuple(left), len(chunks) - len(left), t1 - t0, time.perf_counter() - t1)


def shards(todo: list[Rows], n: int) -> list[list[Rows]]:
    """``todo`` cut into at most ``n`` contiguous shards of sizes differing by at most one."""
    k = max(1, min(n, len(todo)))
    return [todo[i * len(todo) // k : (i + 1) * len(todo) // k] for i in range(k)] if todo else []


def check_workers(workers: int | None, ray: str | None) -> bool:
    """Whether the build runs on Ray; refuses bad values by name."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers {workers!r}: give an int >= 1 (or None: build in this process)")
    if ray is not None and (not isinstance(ray, str) or not ray.strip()):
        raise ValueError(f"ray {ray!r}: give 'auto' or a Ray cluster's address such as '10.0.0.1:6379'")
    return ray is not None or (workers or 1) > 1


class RayCluster:
    """The Ray that runs a build's shards: this process's if it has one, else the one ``address``
    names (``"auto"``: the cluster that ``ray start`` runs on this machine, else a new local one
    with this machine's cores, shut down after the build)."""

    def __init__(self, address: str | None, workers: int | None, device: torch.device) -> None:
        self.ray = import_ray()
        self.address = address or "auto"
        self.workers = workers
        self.device = device
        self.started = False
        self.reports: list[ShardReport] = []

    def _connect(self) -> None:
        ray, quiet = self.ray, {"logging_level": logging.WARNING, "include_dashboard": False}
        if ray.is_initialized():
            return
        try:
            ray.init(address=self.address, **quiet)
        except ConnectionError:
            if self.address != "auto":
                raise
            ray.init(**quiet)  # no cluster on this machine: a local one
        self.started = True

    def _size(self) -> int:
        """Workers: as asked, else one per GPU (CUDA) or core of the cluster."""
        res = self.ray.cluster_resources()
        if self.device.type == "cuda" and res.get("GPU", 0) < 1:
            raise ValueError(f"device {self.device}: the Ray cluster has no GPU (its resources: {sorted(res)})")
        return self.workers or max(1, int(res.get("GPU" if self.device.type == "cuda" else "CPU", 1)))

    @contextlib.contextmanager
    def session(self) -> Iterator[RayCluster]:
        self._connect()
        try:
            self.workers = self._size()
            yield self
        finally:
            if self.started:
                self.ray.shutdown()

    def run(self, model: Any, sources: Mapping[str, SparseAutoencoder], job: ShardJob) -> RunShards:
        """A ``RunTodo`` for card.store_pass.build_store: the chunks as shards on this cluster."""

        def run(w: StoreWriter, todo: list[Rows], bar: Any) -> None:
            self.reports = []
            shard_job = replace(job, spec=w.spec)  # a resumed build's spec (its chunk grid) wins
            parts = shards(todo, self.workers or 1)
            if not parts:
                return
            payload = self.ray.put((model, dict(sources)))
            gpu = self.device.type == "cuda"
            task = self.ray.remote(run_shard).options(num_cpus=0 if gpu else 1, num_gpus=1 if gpu else 0,
                                                      max_retries=MAX_RETRIES, retry_exceptions=False)  # fmt: skip
            pending = {task.remote(shard_job, payload, p): p for p in parts}
            self._wait(pending, w, bar)

        return run

    def _wait(self, pending: dict[Any, list[Rows]], w: StoreWriter, bar: Any) -> None:
        """Wait for the tasks, the bar following the commit records; cancels the others on a failure."""
        ray = self.ray
        seq_len = w.spec.seq_len
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    rows = pending.pop(ref)
                    try:
                        self.reports.append(ray.get(ref))
                    except ray.exceptions.RayTaskError as e:  # the task's own exception: raised as itself
                        cause = getattr(e, "cause", None)
                        raise (cause if isinstance(cause, Exception) else e) from e
                    except ray.exceptions.RayError as e:
                        raise RuntimeError(
                            f"the Ray task of rows {rows[0][0]}..{rows[-1][1] - 1} failed after {MAX_RETRIES} "
                            f"retries ({type(e).__name__}); its committed chunks are kept: build again to resume"
                        ) from e
                done = sum(b - a for a, b in committed(w.root)) * seq_len
                bar.update(done - bar.n)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
