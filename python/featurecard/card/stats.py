"""Distributions and example groups of one unit, beyond its top activations.

* ``histogram``: equal-width bins over values (the activation histogram over a unit's nonzero
  activations; the logit histogram over the whole vocabulary).
* ``nice_ticks``: at most ``max_ticks`` round tick values (steps of 1, 2 or 5 × 10^k) for any
  range, however small: both peers emit up to ~234k ticks when values stay within ±0.3.
* ``interval_groups``: ``n`` equal-width activation intervals between 0 and the unit's maximum,
  each with up to ``per`` examples drawn by a seeded generator and the share of the unit's
  active tokens it holds (sae_vis's "quantile" groups; its lowest interval starts at 1e-6,
  SAEDashboard's at 0, so it may sample silent tokens: ours excludes zeros).
* ``bottom_windows``: the ``k`` smallest nonzero activations, each with its window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from .windows import Window


def histogram(values: Float[Tensor, " n"], n_bins: int = 50) -> tuple[list[float], list[int]]:
    """Bin edges (``n_bins + 1``) and counts over ``[min, max]`` of ``values``."""
    if values.numel() == 0:
        return [0.0, 0.0], [0]
    v = values.detach().float().cpu()
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return [lo, hi], [int(v.numel())]
    counts = torch.histc(v, bins=n_bins, min=lo, max=hi)
    edges = torch.linspace(lo, hi, n_bins + 1)
    return [float(e) for e in edges], [int(c) for c in counts]


def nice_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Round tick values covering ``[lo, hi]``: never more than ``max_ticks``, never empty."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"tick range must be finite; got [{lo}, {hi}]")
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        return [lo]
    raw = (hi - lo) / max(max_ticks - 1, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    ticks = [round(i * step, 12) for i in range(first, last + 1)]
    while len(ticks) > max_ticks:  # guard against float edge cases
        ticks = ticks[::2]
    return ticks or [lo]


@dataclass(frozen=True)
class IntervalGroup:
    lo: float  # exclusive, except that zero activations never count
    hi: float  # inclusive
    share: float  # fraction of the unit's nonzero activations that fall in (lo, hi]
    windows: list[Window]


def _window(flat: int, seq_len: int, buffer: tuple[int, int]) -> Window:
    row, p = divmod(flat, seq_len)
    return Window(row, max(0, p - buffer[0]), min(seq_len, p + buffer[1] + 1), p)


def interval_groups(
    positions: Int[Tensor, " nnz"],
    values: Float[Tensor, " nnz"],
    seq_len: int,
    n_intervals: int = 10,
    per: int = 5,
    buffer: tuple[int, int] = (5, 5),
    seed: int = 0,
) -> list[IntervalGroup]:
    """Equal-width intervals of (0, max], highest first, with seeded samples from each."""
    pos_active = positions[values > 0]
    val_active = values[values > 0].float()
    if val_active.numel() == 0:
        return []
    top = float(val_active.max())
    edges = torch.linspace(0.0, top, n_intervals + 1, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    groups: list[IntervalGroup] = []
    total = val_active.numel()
    v64 = val_active.double().cpu()
    # Interval i holds edges[i] < v <= edges[i + 1]: its members in dataset order, all at once.
    where = (torch.searchsorted(edges, v64) - 1).clamp(max=n_intervals - 1)
    members = torch.argsort(where, stable=True)
    ends = torch.bincount(where, minlength=n_intervals).cumsum(0).tolist()
    for i in reversed(range(n_intervals)):
        lo, hi = float(edges[i]), float(edges[i + 1])
        idx = members[(ends[i - 1] if i else 0) : ends[i]]
        pick = idx[torch.randperm(idx.numel(), generator=gen)[:per]] if idx.numel() else idx
        pick = pick[torch.argsort(v64[pick], descending=True, stable=True)]
        wins = [_window(int(pos_active[j]), seq_len, buffer) for j in pick.tolist()]
        groups.append(IntervalGroup(lo, hi, idx.numel() / total, wins))
    return groups


def bottom_windows(
    positions: Int[Tensor, " nnz"],
    values: Float[Tensor, " nnz"],
    seq_len: int,
    k: int = 10,
    buffer: tuple[int, int] = (5, 5),
) -> list[Window]:
    """The k smallest nonzero activations (most negative first for signed units)."""
    nz = values != 0
    pos, val = positions[nz], values[nz]
    if val.numel() == 0:
        return []
    order = torch.argsort(val, stable=True)[:k]
    return [_window(int(pos[j]), seq_len, buffer) for j in order.tolist()]
