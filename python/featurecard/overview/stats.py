"""Per-latent statistics of an SAE over the Workspace's dataset, read from its activation index.

The index (``card/index.py``; this view does not import it: it is given an object with the
:class:`LatentIndex` shape) already holds, for every latent, the number of counted tokens
where it is positive (``n_active``), its largest activation (``max_act``) and its nonzeros by
latent (``column``). From them, for the counted tokens (BOS excluded by default) of the whole
dataset:

* **density** of a latent = tokens where it is > 0 / counted tokens;
* **dead**: density 0 (it never fires on the dataset); **dense**: density > ``dense_threshold``
  (10% by default, the usual line for latents that fire too often to mean one thing);
* **mean L0** = Σ over latents of their active tokens / counted tokens: the mean number of
  latents active on a token;
* **top token**: the token at the latent's largest activation (the first such position in
  dataset order), the token a card's first top example is centred on;
* the **density histogram**: live latents by log10 density, in bins of 0.1 decade from the
  lowest decade reached up to 0 (density 1); dead latents are counted apart (log10 0 = -∞).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..core.dataset import TokenRows

DENSE_THRESHOLD = 0.1  # a latent firing on more than 10% of tokens is "dense"
BIN_WIDTH = 0.1  # decades per histogram bin


class LatentIndex(Protocol):
    """What the overview reads of a source's complete activation index."""

    @property
    def n_units(self) -> int: ...
    @property
    def n_tokens(self) -> int: ...
    @property
    def seq_len(self) -> int: ...
    @property
    def max_act(self) -> Float[Tensor, " n_units"]: ...
    @property
    def n_active(self) -> Int[Tensor, " n_units"]: ...
    def column(self, unit: int) -> tuple[Int[Tensor, " k"], Float[Tensor, " k"]]: ...


@dataclass(frozen=True)
class LatentStats:
    """Every latent's numbers (numpy, one entry per latent) and the SAE's totals."""

    density: np.ndarray  # float64 [n]
    max_act: np.ndarray  # float32 [n], 0 for a dead latent
    top_row: np.ndarray  # int64 [n], dataset row of the largest activation (-1: dead)
    top_pos: np.ndarray  # int64 [n], its position in the row (-1: dead)
    top_token: np.ndarray  # int64 [n], the model's token id there (-1: dead)
    n_tokens: int
    dense_threshold: float

    @property
    def n_dead(self) -> int:
        return int((self.density == 0).sum())

    @property
    def n_dense(self) -> int:
        return int((self.density > self.dense_threshold).sum())

    @property
    def mean_l0(self) -> float:
        return float(self.density.sum())  # Σ active tokens / tokens = Σ densities


def check_threshold(value: object) -> float:
    """A dense threshold: a number in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError(f"dense_threshold must be a number in (0, 1]; got {value!r}")
    return float(value)


def latent_stats(index: LatentIndex, tokens: TokenRows, dense_threshold: float = DENSE_THRESHOLD) -> LatentStats:
    """The statistics of every latent of ``index`` (see the module docstring); ``tokens`` are the
    dataset's ids ``[n_rows, seq_len]`` the index was built on."""
    threshold = check_threshold(dense_threshold)
    n_active = index.n_active.detach().cpu().long()
    n_tokens = int(index.n_tokens)
    density = (n_active.double() / max(n_tokens, 1)).numpy()
    max_act = index.max_act.detach().cpu().float().numpy().copy()
    max_act[n_active.numpy() == 0] = 0.0
    flat = top_positions(index)
    seq_len = int(index.seq_len)
    live = flat >= 0
    rows, pos = np.where(live, flat // seq_len, -1), np.where(live, flat % seq_len, -1)
    ids = np.full(flat.shape, -1, dtype=np.int64)
    if live.any():
        ids[live] = _tokens_at(tokens, rows[live], pos[live])
    return LatentStats(density, max_act, rows, pos, ids, n_tokens, threshold)


def _tokens_at(tokens: TokenRows, rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The token ids at (``rows``, ``pos``) of a tensor or numpy (memory-mapped) dataset."""
    if isinstance(tokens, np.ndarray):
        return np.asarray(tokens[rows, pos], dtype=np.int64)
    picked = tokens.detach().cpu()[torch.from_numpy(rows), torch.from_numpy(pos)]
    return picked.numpy().astype(np.int64)


def top_positions(index: LatentIndex) -> np.ndarray:
    """Each latent's flat dataset position (``row * seq_len + pos``) of its largest positive
    activation, the first in dataset order on a tie; -1 for a latent that is never positive.

    An in-memory index (its nonzeros as tensors ``indptr``, ``positions``, ``values``) is read in
    one vectorised step; any other (a memory-mapped store) one column at a time."""
    arrays = [getattr(index, name, None) for name in ("indptr", "positions", "values")]
    if all(isinstance(a, Tensor) for a in arrays):
        indptr, positions, values = (a.detach().cpu() for a in arrays if a is not None)
        return _segment_argmax(indptr, positions, values)
    out = np.full(index.n_units, -1, dtype=np.int64)
    for u in np.flatnonzero(index.n_active.detach().cpu().numpy() > 0).tolist():
        pos, val = index.column(u)
        out[u] = int(pos[int(torch.argmax(val))])
    return out


def _segment_argmax(indptr: Tensor, positions: Tensor, values: Tensor) -> np.ndarray:
    """Per unit of a CSR index: the smallest position where its value equals its positive maximum."""
    n = int(indptr.numel() - 1)
    counts = indptr[1:] - indptr[:-1]
    units = torch.repeat_interleave(torch.arange(n), counts)
    best = torch.full((n,), float("-inf")).scatter_reduce(0, units, values.float(), "amax")
    at_best = (values.float() == best[units]) & (values > 0)
    big = torch.iinfo(torch.int64).max
    first = torch.full((n,), big, dtype=torch.int64)
    first = first.scatter_reduce(0, units[at_best], positions[at_best].long(), "amin")
    return torch.where(first == big, -1, first).numpy()


@dataclass(frozen=True)
class DensityHistogram:
    """Live latents by log10 density: ``counts[i]`` in ``[edges[i], edges[i + 1])`` (the last bin closed)."""

    edges: np.ndarray  # float32 [n_bins + 1], log10 density
    counts: np.ndarray  # int64 [n_bins]
    ticks: np.ndarray  # float32, the whole decades in range


def density_histogram(density: np.ndarray, bin_width: float = BIN_WIDTH) -> DensityHistogram:
    """The histogram of log10 density of the latents with density > 0 (see the module docstring)."""
    live = density[density > 0]
    lo = math.floor(float(np.log10(live.min()))) if live.size else -1
    n_bins = max(1, round(-lo / bin_width))
    edges = np.linspace(lo, 0.0, n_bins + 1)
    counts, _ = np.histogram(np.log10(live), bins=edges)
    ticks = np.arange(lo, 1, dtype=np.float32)
    return DensityHistogram(edges.astype(np.float32), counts.astype(np.int64), ticks)
