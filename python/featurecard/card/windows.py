"""What one card shows, computed from a unit's column of the activation index.

* ``top_windows``: the k largest activations whose example windows (``buffer`` tokens before
  and after, clipped to the sequence) do not overlap, chosen greedily from the largest down,
  as sae_vis does (SAEDashboard keeps overlapping windows).
* ``logit_table``: the direct logit effect of the unit's residual-stream direction,
  ``direction @ W_U``, its top and bottom k tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor


@dataclass(frozen=True)
class Window:
    row: int  # dataset row
    start: int  # first shown position (inclusive)
    stop: int  # last shown position + 1
    focus: int  # position of the token that selected the window


def top_windows(
    positions: Int[Tensor, " nnz"],
    values: Float[Tensor, " nnz"],
    seq_len: int,
    k: int = 20,
    buffer: tuple[int, int] = (5, 5),
) -> list[Window]:
    """The k largest positive activations with non-overlapping windows (largest first)."""
    if positions.numel() == 0:
        return []
    order = torch.argsort(values, descending=True, stable=True)
    before, after = buffer
    taken: dict[int, list[tuple[int, int]]] = {}
    out: list[Window] = []
    for flat, v in _candidates(positions[order], values[order]):
        if v <= 0 or len(out) >= k:
            break
        row, p = divmod(int(flat), seq_len)
        start, stop = max(0, p - before), min(seq_len, p + after + 1)
        spans = taken.setdefault(row, [])
        if any(start < b and a < stop for a, b in spans):
            continue
        spans.append((start, stop))
        out.append(Window(row, start, stop, p))
    return out


def _candidates(pos: Tensor, val: Tensor, first: int = 256) -> Iterator[tuple[int, float]]:
    """(position, value) pairs as Python numbers, converted a growing slice at a time (the
    greedy pick rarely reads past the first few hundred of a column's nonzeros)."""
    lo, step = 0, first
    while lo < pos.numel():
        yield from zip(pos[lo : lo + step].tolist(), val[lo : lo + step].tolist(), strict=True)
        lo, step = lo + step, step * 4


@dataclass(frozen=True)
class LogitTableData:
    top_ids: Int[Tensor, " k"]
    top_values: Float[Tensor, " k"]
    bottom_ids: Int[Tensor, " k"]
    bottom_values: Float[Tensor, " k"]


@torch.no_grad()
def direct_logits(
    direction: Float[Tensor, " d_model"], W_U: Float[Tensor, "d_model d_vocab"]
) -> Float[Tensor, " d_vocab"]:
    """The logit change per unit of activation along ``direction`` (no LayerNorm, as peers)."""
    return direction.to(W_U.dtype) @ W_U


def logit_table(logits: Float[Tensor, " d_vocab"], k: int = 10) -> LogitTableData:
    k = min(k, logits.shape[-1])
    top = torch.topk(logits, k)
    bottom = torch.topk(-logits, k)
    return LogitTableData(top.indices, top.values, bottom.indices, -bottom.values)
