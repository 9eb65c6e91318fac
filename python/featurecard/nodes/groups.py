"""Top-k across groups of comparable units: which nodes become rows of the table.

A **group** is one derived scalar that is comparable across node types (write norm, act × grad,
direct effect, activation). Every node family (MLP neurons of a layer, attention pairs of a
layer, latents of an SAE) contributes a :class:`Block`: one tensor per group, shaped
``[batch, pos, unit]`` or ``[batch, pos, unit, src]``. Transformer Debugger's multi-group top-k
(``MultiGroupDerivedScalarStore.topk``), made deterministic:

1. for each prompt (batch row) and each group, in order: the ``k`` largest positive values over
   all blocks, then, for signed groups, the ``k`` most negative; zeros and NaNs are never
   selected (a node with nothing in a group is not "top" in it);
2. ties are broken by block order, then by flat index within the block;
3. the table is the union of the selected nodes in first-seen order, and every group's value is
   then read for every row and every prompt.

Per block we take a stable top-k first (all values ``>=`` the k-th, sorted stably), so no tensor
holding every node of every block is ever built; the merge is exact under the order above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

Scalars = dict[str, Tensor]

GROUPS: tuple[str, ...] = ("write_norm", "act_times_grad", "direct_effect", "activation")
SIGNED: frozenset[str] = frozenset({"act_times_grad", "direct_effect"})


@dataclass(frozen=True)
class Block:
    """One node family's values for every group (non-batch dims ``pos, unit[, src]``)."""

    family: int
    layer: int
    scalars: Scalars

    def shape(self) -> tuple[int, ...]:
        return tuple(next(iter(self.scalars.values())).shape[1:])


@dataclass
class Selection:
    """The table's rows: node keys in union order and every group's value for every prompt."""

    family: Int[Tensor, " n"]
    layer: Int[Tensor, " n"]
    unit: Int[Tensor, " n"]
    pos: Int[Tensor, " n"]
    src: Int[Tensor, " n"]  # -1 for nodes without a source token
    values: Float[Tensor, "batch group n"]
    groups: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.family.shape[0])


def stable_top(values: Float[Tensor, " n"], k: int, largest: bool = True) -> Int[Tensor, " m"]:
    """Indices of the ``k`` largest positive (or most negative) finite values, best first, ties
    in ascending index order; fewer when fewer qualify."""
    x = values if largest else -values
    idx = torch.nonzero(torch.isfinite(x) & (x > 0)).squeeze(1)
    xs = x[idx]
    if xs.numel() > k:
        threshold = xs.topk(k).values[-1]
        keep = xs >= threshold
        idx, xs = idx[keep], xs[keep]
    order = torch.sort(xs, descending=True, stable=True).indices
    return idx[order][:k]


def _top_over_blocks(flat: Sequence[Tensor], k: int, largest: bool) -> list[tuple[int, int]]:
    cand_v: list[Tensor] = []
    cand_b: list[Tensor] = []
    cand_i: list[Tensor] = []
    for b, v in enumerate(flat):
        idx = stable_top(v, k, largest)
        cand_v.append(v[idx] if largest else -v[idx])
        cand_b.append(torch.full_like(idx, b))
        cand_i.append(idx)
    if not cand_v:
        return []
    vals = torch.cat(cand_v)
    # Candidates are concatenated in (block, within-block best-first) order, so a stable sort
    # on the value alone breaks ties by block, then by index.
    order = torch.sort(vals, descending=True, stable=True).indices[:k]
    blocks, idxs = torch.cat(cand_b)[order].tolist(), torch.cat(cand_i)[order].tolist()
    return list(zip(blocks, idxs, strict=True))


def select_nodes(
    blocks: Sequence[Block],
    k: int = 10,
    groups: Sequence[str] = GROUPS,
    signed: frozenset[str] = SIGNED,
    n_batch: int | None = None,
) -> Selection:
    """The union of every group's top-k (and bottom-k for signed groups) over all blocks
    (``n_batch``: the prompts' count when there may be no block at all)."""
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}")
    for g in groups:
        for blk in blocks:
            if g not in blk.scalars:
                raise KeyError(
                    f"group {g!r} is missing from a block of family {blk.family}; it has {sorted(blk.scalars)}"
                )
    n_batch = int(next(iter(blocks[0].scalars.values())).shape[0]) if blocks else (n_batch or 0)
    seen: dict[tuple[int, int], None] = {}
    for row in range(n_batch):
        for g in groups:
            flat = [blk.scalars[g][row].reshape(-1) for blk in blocks]
            for key in _top_over_blocks(flat, k, largest=True):
                seen.setdefault(key, None)
            if g in signed:
                for key in _top_over_blocks(flat, k, largest=False):
                    seen.setdefault(key, None)
    return gather(blocks, list(seen), groups, n_batch)


def gather(
    blocks: Sequence[Block], keys: Sequence[tuple[int, int]], groups: Sequence[str], n_batch: int | None = None
) -> Selection:
    """Every group's value at the given ``(block, flat index)`` nodes, with their keys."""
    n = len(keys)
    cols = {name: torch.full((n,), -1, dtype=torch.int64) for name in ("family", "layer", "unit", "pos", "src")}
    n_batch = int(next(iter(blocks[0].scalars.values())).shape[0]) if blocks else (n_batch or 0)
    values = torch.full((n_batch, len(groups), n), float("nan"))
    block_of = torch.tensor([b for b, _ in keys], dtype=torch.int64)
    flat_of = torch.tensor([i for _, i in keys], dtype=torch.int64)
    for b, blk in enumerate(blocks):
        rows = torch.nonzero(block_of == b).squeeze(1)
        if rows.numel() == 0:
            continue
        shape = blk.shape()
        idx = flat_of[rows]
        coords = torch.unravel_index(idx, shape)
        cols["family"][rows], cols["layer"][rows] = blk.family, blk.layer
        cols["pos"][rows], cols["unit"][rows] = coords[0], coords[1]
        if len(shape) == 3:
            cols["src"][rows] = coords[2]
        for gi, g in enumerate(groups):
            t = blk.scalars[g].reshape(n_batch, -1)
            values[:, gi, rows] = t[:, idx.to(t.device)].float().cpu()
    return Selection(
        family=cols["family"],
        layer=cols["layer"],
        unit=cols["unit"],
        pos=cols["pos"],
        src=cols["src"],
        values=values,
        groups=tuple(groups),
    )
