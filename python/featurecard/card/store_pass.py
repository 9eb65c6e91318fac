"""The streaming build of a store (:mod:`featurecard.card.store`) over a real model.

The dataset's rows are cut into chunks (:class:`~featurecard.card.store_build.StoreSpec`'s grid).
For each chunk not committed yet, :func:`~featurecard.card.store_chunk.chunk_pass` runs the
model over the chunk's rows and gives each source's nonzeros at counted positions (exactly as
:meth:`~featurecard.card.index.IndexBuilder.add` keeps them) and the chunk's
:class:`~featurecard.card.correlation.NeuronCorrelationSums` to a
:class:`~featurecard.card.store_build.StoreWriter`, which commits them as sorted runs within
``memory_budget`` and merges them on disk at the end. The chunks run here, one after another,
or as shards on Ray workers (:mod:`featurecard.card.store_ray`), each worker committing its own.
An interrupted build (Ctrl-C) commits the chunks it holds and keeps its committed chunks: the
next build at the same place redoes only the others. Only one batch of activations is on the
device at a time, so the build's memory follows the budget, never the dataset; tokens may be a
memory-mapped ``.npy``.

The neuron sums of a multi-chunk build are added chunk by chunk (each chunk's Σx, Σx² summed
about its own first batch's mean, then by commit groups, which differ between writers): within
float64 rounding of the one-pass sums, not equal to the bit; the index arrays and per-unit
statistics are equal to the bit, however many workers built them.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..core.dataset import TokenRows
from ..core.inputs import check_mapping
from ..core.model import ModelAdapter
from ..core.sae import SparseAutoencoder
from ..core.sources import named_sae
from .index_cache import content_digests, key_of
from .store import LOCK, MANIFEST, Store, parse_memory_budget, read_manifest, store_lock
from .store_build import Chunk, SourceSpec, StoreSpec, StoreWriter
from .store_chunk import chunk_pass as chunk_pass  # re-exported: card.store_cache builds with it
from .store_chunk import sums_fit
from .store_ray import RayCluster, ShardJob, check_workers, import_ray

B_SUFFIX = "::B"  # source name of an SAE's encoder B: "mlp0::B"
# A chunk's share of the budget per token (its nonzeros while the pass holds them, ~12 bytes
# each, at up to a few hundred per token); a chunk is also the unit a resumed build redoes.
CHUNK_BYTES_PER_TOKEN = 4096
Compute = Callable[[int, int, Any], Chunk]  # (row0, row1, progress bar) -> the chunk
# (the coordinator's writer, the chunks to compute, progress bar): computes and commits them
RunTodo = Callable[[StoreWriter, list[tuple[int, int]], Any], None]


def open_tokens(tokens: Any) -> TokenRows:
    """Token ids ``[n_rows, seq_len]``: a tensor, a numpy array, or a path to a ``.npy`` file
    (opened memory-mapped: never read whole). Refuses other kinds, shapes and dtypes by name."""
    if isinstance(tokens, str | Path):
        path = Path(tokens).expanduser()
        if path.suffix != ".npy" or not path.is_file():
            raise ValueError(f"tokens {path}: give an existing .npy file of int token ids [n_rows, seq_len]")
        try:
            tokens = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"tokens {path} cannot be read as a .npy array ({type(e).__name__}: {e})") from None
    if isinstance(tokens, torch.Tensor):
        ok = not (tokens.dtype == torch.bool or tokens.is_floating_point() or tokens.is_complex())
    elif isinstance(tokens, np.ndarray):
        ok = tokens.dtype.kind in "iu"
    else:
        raise TypeError(f"tokens must be a tensor, a numpy array or a .npy path; got {type(tokens).__name__}")
    if not ok:
        raise TypeError(f"tokens must hold integer token ids; got dtype {tokens.dtype}")
    if tokens.ndim != 2 or tokens.shape[0] == 0 or tokens.shape[1] == 0:
        raise ValueError(f"tokens must have shape [n_rows, seq_len] with both >= 1; got {tuple(tokens.shape)}")
    rows: TokenRows = tokens
    return rows


def chunk_rows_for(budget: int, seq_len: int, batch_size: int) -> int:
    """Rows per chunk: the budget's share (:data:`CHUNK_BYTES_PER_TOKEN`), whole batches."""
    rows = max(1, budget // (CHUNK_BYTES_PER_TOKEN * seq_len))
    return rows - rows % batch_size if rows >= batch_size else rows


def _clear(root: Path) -> None:
    """Everything in a store's folder but its lock (others may be waiting on it)."""
    for p in root.iterdir():
        if p.name != LOCK:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def _unreadable(root: Path, e: Exception) -> None:
    why = (str(e).strip().splitlines() or [""])[0][:200]
    warnings.warn(
        f"featurecard: the index store {root} cannot be read ({type(e).__name__}: {why}); "
        "indexing again, and the new store replaces it",
        stacklevel=4,
    )
    _clear(root)


def _existing(root: Path, spec: StoreSpec, rebuild: bool) -> Store | int | None:
    """The complete store at ``root`` (checked), or the chunk rows of a build to resume, or
    None; ``rebuild``: an unreadable store is reported and removed, else refused."""
    if not (root / MANIFEST).exists():
        return None
    try:
        m = read_manifest(root, complete=False)
        if m["state"] == "building":
            return int(m["build"]["spec"]["chunk_rows"])
        if m["key"] != spec.key:
            raise ValueError(f"{root / MANIFEST} holds content key {m['key']}, not {spec.key}")
        if set(m["sources"]) != set(spec.sources):
            raise ValueError(f"{root / MANIFEST} holds sources {sorted(m['sources'])}, not {sorted(spec.sources)}")
        store = Store(root, m)
        store.check()
        return store
    except (ValueError, OSError, KeyError, TypeError) as e:
        if not rebuild:
            raise
        _unreadable(root, e)
        return None


def in_process(compute: Compute) -> RunTodo:
    """The build's chunks computed here, one after another, into the coordinator's writer."""

    def run(w: StoreWriter, todo: list[tuple[int, int]], bar: Any) -> None:
        for row0, row1 in todo:
            c = compute(row0, row1, bar)
            w.add(row0, c.parts, c.n_tokens, c.sums)
            del c  # the writer holds its own copy: this one must not live through the next chunk's pass

    return run


def build_store(
    root: Path,
    spec: StoreSpec,
    compute: Compute | None,
    *,
    tokens: TokenRows,
    memory_budget: int | str | None = None,
    progress: bool = True,
    rebuild_unreadable: bool = False,
    run: RunTodo | None = None,
) -> Store:
    """The complete store at ``root``: opened if built (checked from its arrays' headers),
    else built (resumed) under its exclusive lock. ``spec.chunk_rows`` gives way to that of a
    build under way there. ``rebuild_unreadable``: an unreadable store is rebuilt with a warning.
    The chunks not committed yet are computed by ``run`` (e.g. Ray workers, card.store_ray) or,
    without it, here by ``compute``; the manifest and the tokens are written before, the merge after."""
    if run is None:
        if compute is None:
            raise TypeError("build_store needs compute (in-process) or run (e.g. Ray workers)")
        run = in_process(compute)
    with store_lock(root, exclusive=True):
        found = _existing(root, spec, rebuild_unreadable)
        if isinstance(found, Store):
            return found
        if isinstance(found, int):
            spec = StoreSpec(spec.key, spec.n_rows, spec.seq_len, found, spec.sources, spec.settings, spec.about)
        try:
            w = StoreWriter(root, spec, memory_budget=memory_budget, tokens=tokens)
        except ValueError as e:  # a build of another spec under way there
            if not rebuild_unreadable or "another spec" not in str(e):
                raise
            _unreadable(root, e)
            w = StoreWriter(root, spec, memory_budget=memory_budget, tokens=tokens)
        todo = w.todo()
        left = sum(b - a for a, b in todo) * spec.seq_len
        total = spec.n_rows * spec.seq_len
        bar = tqdm(total=total, initial=total - left, unit="tok", unit_scale=True, disable=not progress,
                   desc=f"featurecard: indexing {', '.join(spec.sources)} into {root.name}")  # fmt: skip
        try:
            run(w, todo, bar)
        except KeyboardInterrupt:
            w.commit_after_interrupt()  # what it holds is kept: a rerun redoes only the rest
            raise
        finally:
            bar.close()
        w.finish()
        return Store(root, read_manifest(root))


def store_spec(
    model: Any,
    sources: Mapping[str, SparseAutoencoder],
    tokens: TokenRows,
    *,
    exclude_bos: bool,
    chunk_rows: int,
    origins: Mapping[str, str | None] | None = None,
) -> StoreSpec:
    """The spec of the store of one pass: its content key (card.index_cache) and, in ``about``,
    the digests behind it and what Workspace.open needs to rebuild the sources."""
    digests = content_digests(model, sources, tokens, exclude_bos=exclude_bos)
    about_sources = {n: {"hook_name": s.hook_name, "d_sae": s.d_sae, "d_in": s.d_in,
                         "path": (origins or {}).get(n)} for n, s in sources.items()}  # fmt: skip
    specs = {n: SourceSpec(s.d_sae, s.d_in if sums_fit(s) else None) for n, s in sources.items()}
    n_rows, seq_len = (int(n) for n in tokens.shape)
    about = {"exclude_bos": exclude_bos, "digests": digests, "sources": about_sources}
    return StoreSpec(key_of(digests), n_rows, seq_len, chunk_rows, specs, {"exclude_bos": exclude_bos}, about)


def _sources(
    adapter: ModelAdapter, saes: Mapping[str, Any], sae_b: Mapping[str, Any] | None
) -> tuple[dict[str, SparseAutoencoder], dict[str, str | None]]:
    """The sources of a build (SAEs, then encoders B as ``name::B``) and the folders they came from."""
    sources: dict[str, SparseAutoencoder] = {}
    origins: dict[str, str | None] = {}
    b = check_mapping("sae_b", sae_b)
    for name, obj in [*check_mapping("saes", saes).items(), *((f"{n}{B_SUFFIX}", o) for n, o in b.items())]:
        if name.endswith(B_SUFFIX) and name[: -len(B_SUFFIX)] not in saes:
            raise KeyError(f"sae_b has {name[: -len(B_SUFFIX)]!r}, which is not one of the SAEs {sorted(saes)}")
        sources[name] = named_sae(adapter, name, obj).to(device=adapter.device)
        origins[name] = str(Path(obj).expanduser().resolve()) if isinstance(obj, str | Path) else None
    if not sources:
        raise ValueError("build_index needs at least one SAE in saes")
    return sources, origins


def _out_folder(out: str | Path) -> Path:
    root = Path(out).expanduser()
    if root.exists() and not root.is_dir():
        raise ValueError(f"out {root} is a file; give a folder for the store")
    if root.is_dir() and not (root / MANIFEST).is_file() and any(p.name != LOCK for p in root.iterdir()):
        raise ValueError(f"out {root} is a folder that holds no featurecard store; give a new or empty folder")
    return root


def build_index(
    model: Any,
    saes: Mapping[str, Any],
    tokens: Any,
    out: str | Path,
    *,
    sae_b: Mapping[str, Any] | None = None,
    workers: int | None = None,
    ray: str | None = None,
    device: torch.device | str | None = None,
    memory_budget: int | str | None = None,
    exclude_bos: bool = True,
    batch_size: int = 32,
    progress: bool = True,
) -> Path:
    """Build the activation store of ``saes`` (and their encoders B) over ``tokens`` at ``out``,
    streaming; returns ``out``. Open it with ``fc.Workspace.open(out, model)``.

    ``tokens``: ids ``[n_rows, seq_len]`` as a tensor, a numpy array, or a path to a ``.npy``
    (memory-mapped: it may be larger than memory). ``device``: where the pass runs (the model
    is moved there). ``memory_budget``: bytes or a string like ``"4GB"`` for the build's own
    working set (held runs, merge buffers), not the model's weights; default 1 GiB. A progress
    bar shows tokens/s and the time left; an interrupted build resumes from its finished chunks
    when called again with the same inputs.

    ``workers`` (> 1) or ``ray`` (``"auto"`` or a cluster's address) build on Ray (the extra
    ``featurecard[ray]``; an ImportError naming it without): the chunks run as shards, one Ray
    task per worker (one GPU each on CUDA; default: the cluster's GPUs, or its cores on the CPU),
    each within its own ``memory_budget``; see card.store_ray. Without them the build runs here.
    """
    root = _out_folder(out)
    on_ray = check_workers(workers, ray)
    if on_ray:
        import_ray()  # without Ray: fails here, before any slow work
    elif device is not None:
        model = model.to(device)
    adapter = ModelAdapter(model)
    rows = open_tokens(tokens)
    if rows.shape[1] > adapter.n_ctx:
        raise ValueError(f"tokens have {rows.shape[1]} positions; the model's context is n_ctx={adapter.n_ctx}")
    sources, origins = _sources(adapter, saes, sae_b)
    budget = parse_memory_budget(memory_budget)
    chunk_rows = chunk_rows_for(budget, int(rows.shape[1]), batch_size)
    spec = store_spec(model, sources, rows, exclude_bos=exclude_bos, chunk_rows=chunk_rows, origins=origins)
    if on_ray:  # the model stays where it is here; the workers move their copies to `device`
        cluster = RayCluster(ray, workers, torch.device(device) if device is not None else adapter.device)
        job = ShardJob(str(root), spec, str(cluster.device), exclude_bos, batch_size, budget)
        with cluster.session():
            run = cluster.run(model, sources, job)
            build_store(root, spec, None, run=run, tokens=rows, memory_budget=budget, progress=progress)
        return root

    def compute(row0: int, row1: int, bar: Any) -> Chunk:
        return chunk_pass(adapter, sources, rows, (row0, row1), exclude_bos=exclude_bos, batch_size=batch_size,
                          bar=bar, memory_budget=budget)  # fmt: skip

    build_store(root, spec, compute, tokens=rows, memory_budget=budget, progress=progress)
    return root
