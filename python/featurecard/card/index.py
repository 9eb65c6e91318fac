"""The activation index: every unit's nonzero activations over the dataset, by unit.

One streamed pass over the dataset feeds batches of activations ``[batch, pos, d_sae]`` into an
:class:`IndexBuilder`; it keeps only the nonzeros (flat token position, unit, value) plus
per-unit running statistics, and ``finish`` sorts them by unit into CSR form. A unit's column
is then a slice: ``positions[indptr[f]:indptr[f+1]]`` are the flat dataset positions
(``row * seq_len + pos``, ascending) where unit ``f`` is nonzero, ``values`` its activations.
Memory grows with the number of nonzeros, never with tokens × units dense.

The same nonzeros are also kept in dataset order (by position: ``by_position``), where the
units active at one token are a slice; correlating a unit with every other unit then costs
(its nonzeros × the units active at each), not a pass over the whole index.

Positions excluded from the dataset (BOS by default) are masked before anything is kept, so
they count neither for examples nor for density.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor


class CardIndex(Protocol):
    """What cards, search, correlation and the node table's latent means read of a source's
    complete index: :class:`ActivationIndex` (in memory) and
    :class:`~featurecard.card.store.StoredIndex` (memory-mapped from a store) both give it."""

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
    def at_positions(
        self, positions: Int[Tensor, " k"]
    ) -> tuple[Int[Tensor, " m"], Int[Tensor, " m"], Float[Tensor, " m"]]: ...
    def unit_sums(self) -> tuple[Float[Tensor, " n_units"], Float[Tensor, " n_units"]]: ...
    def nbytes(self) -> int: ...


@dataclass
class ActivationIndex:
    """CSR-by-unit nonzero activations and per-unit statistics (see the module docstring)."""

    indptr: Int[Tensor, " n_units_plus_1"]
    positions: Int[Tensor, " nnz"]
    values: Float[Tensor, " nnz"]
    max_act: Float[Tensor, " n_units"]
    n_active: Int[Tensor, " n_units"]  # tokens where the unit is > 0
    n_tokens: int  # counted tokens (excluded positions left out)
    seq_len: int
    # The same nonzeros by flat position: units active at position t are
    # pos_units[pos_indptr[t]:pos_indptr[t+1]], with their values in pos_values.
    pos_indptr: Int[Tensor, " n_positions_plus_1"] | None = None
    pos_units: Int[Tensor, " nnz"] | None = None
    pos_values: Float[Tensor, " nnz"] | None = None
    _unit_sums: tuple[Tensor, Tensor] | None = field(default=None, repr=False)

    @property
    def n_units(self) -> int:
        return int(self.indptr.shape[0] - 1)

    def column(self, unit: int) -> tuple[Int[Tensor, " k"], Float[Tensor, " k"]]:
        lo, hi = int(self.indptr[unit]), int(self.indptr[unit + 1])
        return self.positions[lo:hi], self.values[lo:hi]

    def nbytes(self) -> int:
        parts = (self.indptr, self.positions, self.values, self.pos_indptr, self.pos_units, self.pos_values)
        return sum(t.numel() * t.element_size() for t in parts if t is not None)

    def unit_sums(self) -> tuple[Float[Tensor, " n_units"], Float[Tensor, " n_units"]]:
        """``Σ g`` and ``Σ g²`` per unit over the dataset (float64; computed once)."""
        if self._unit_sums is None:
            units = torch.repeat_interleave(
                torch.arange(self.n_units, device=self.indptr.device), self.indptr[1:] - self.indptr[:-1]
            )
            v = self.values.double()
            s_g = torch.zeros(self.n_units, dtype=torch.float64, device=v.device).index_add_(0, units, v)
            s_gg = torch.zeros_like(s_g).index_add_(0, units, v * v)
            self._unit_sums = (s_g, s_gg)
        return self._unit_sums

    def at_positions(
        self, positions: Int[Tensor, " k"]
    ) -> tuple[Int[Tensor, " m"], Int[Tensor, " m"], Float[Tensor, " m"]]:
        """Every nonzero at the given flat positions: (which of ``positions``, unit, value)."""
        if self.pos_indptr is None or self.pos_units is None or self.pos_values is None:
            raise ValueError("this index was built without its by-position view")
        p = positions.long()
        starts, ends = self.pos_indptr[p], self.pos_indptr[p + 1]
        lens = ends - starts
        which = torch.repeat_interleave(torch.arange(p.numel(), device=p.device), lens)
        offsets = torch.arange(int(lens.sum()), device=p.device) - torch.repeat_interleave(
            torch.cumsum(lens, 0) - lens, lens
        )
        idx = starts[which] + offsets
        return which, self.pos_units[idx].long(), self.pos_values[idx]


class IndexBuilder:
    """Accumulates batches of activations in dataset order; ``finish`` returns the index."""

    def __init__(self, n_units: int, seq_len: int, device: torch.device | str = "cpu") -> None:
        self.n_units, self.seq_len = n_units, seq_len
        self._pos: list[Tensor] = []
        self._unit: list[Tensor] = []
        self._val: list[Tensor] = []
        self.max_act = torch.full((n_units,), float("-inf"), device=device)
        self.n_active = torch.zeros(n_units, dtype=torch.int64, device=device)
        self.n_nonzero = torch.zeros(n_units, dtype=torch.int64, device=device)
        self.n_tokens = 0
        self.n_rows = 0

    @torch.no_grad()
    def add(
        self,
        acts: Float[Tensor, "batch pos n_units"],
        row0: int,
        keep: Bool[Tensor, "batch pos"],
    ) -> tuple[Int[Tensor, " m"], Int[Tensor, " m"], Float[Tensor, " m"]]:
        """Add the activations of dataset rows ``row0 .. row0 + batch - 1``.

        Returns the batch's kept nonzeros as (flat position within the batch, unit, value),
        so other streamed statistics can reuse them.
        """
        batch, pos, _ = acts.shape
        self.n_tokens += int(keep.sum())
        self.n_rows = max(self.n_rows, row0 + batch)
        t, u64, val = kept_nonzeros(acts, keep)
        b, p = t // pos, t % pos
        self.n_nonzero += torch.bincount(u64, minlength=self.n_units).to(self.n_nonzero.device)
        self.n_active += torch.bincount(u64[val > 0], minlength=self.n_units).to(self.n_active.device)
        self.max_act = self.max_act.scatter_reduce(0, u64.to(self.max_act.device), val.to(self.max_act.device), "amax")
        self._pos.append(((b + row0) * self.seq_len + p).to(torch.int32))
        self._unit.append(u64.to(torch.int32))
        self._val.append(val)
        return t, u64, val

    def finish(self, by_position: bool = True) -> ActivationIndex:
        dev = self.max_act.device
        pos = torch.cat(self._pos) if self._pos else torch.zeros(0, dtype=torch.int32, device=dev)
        unit = torch.cat(self._unit) if self._unit else torch.zeros(0, dtype=torch.int32, device=dev)
        val = torch.cat(self._val) if self._val else torch.zeros(0, device=dev)
        # Stable sort by unit keeps dataset order (ascending position) within each unit.
        order = torch.sort(unit, stable=True).indices
        counts = torch.bincount(unit.long(), minlength=self.n_units)
        indptr = torch.zeros(self.n_units + 1, dtype=torch.int64, device=dev)
        indptr[1:] = torch.cumsum(counts, 0)
        # Batches arrive in dataset order, so the nonzeros are already sorted by position.
        pos_indptr = _position_indptr(pos, self.n_rows * self.seq_len) if by_position else None
        # A unit that is zero on some counted token has a maximum of at least 0.
        max_act = self.max_act.clone()
        max_act = torch.where(self.n_nonzero < self.n_tokens, max_act.clamp(min=0), max_act)
        max_act = torch.where(torch.isinf(max_act), torch.zeros_like(max_act), max_act)
        self._pos, self._unit, self._val = [], [], []
        return ActivationIndex(
            indptr=indptr,
            positions=pos[order],
            values=val[order],
            max_act=max_act,
            n_active=self.n_active,
            n_tokens=self.n_tokens,
            seq_len=self.seq_len,
            pos_indptr=pos_indptr,
            pos_units=unit if by_position else None,
            pos_values=val if by_position else None,
        )


@torch.no_grad()
def kept_nonzeros(
    acts: Float[Tensor, "batch pos n_units"], keep: Bool[Tensor, "batch pos"]
) -> tuple[Int[Tensor, " m"], Int[Tensor, " m"], Float[Tensor, " m"]]:
    """The nonzeros of ``acts`` at kept positions, in dataset order: (flat position within the
    batch ``b * pos + p``, unit, value as float32); what :meth:`IndexBuilder.add` keeps."""
    batch, pos, n_units = acts.shape
    flat = acts.reshape(batch * pos, n_units)
    t, u64 = torch.nonzero(flat, as_tuple=True)
    if int(keep.sum()) < batch * pos:  # drop excluded positions' nonzeros (cheaper than masking acts)
        kept = keep.reshape(-1)[t]
        t, u64 = t[kept], u64[kept]
    return t, u64, flat.reshape(-1)[t * n_units + u64].float()


def _position_indptr(positions: Int[Tensor, " nnz"], n_positions: int) -> Int[Tensor, " n_positions_plus_1"]:
    """Where each flat position's nonzeros start in a by-position list (``positions`` sorted)."""
    indptr = torch.zeros(n_positions + 1, dtype=torch.int64, device=positions.device)
    indptr[1:] = torch.cumsum(torch.bincount(positions.long(), minlength=n_positions), 0)
    return indptr


def concat_indexes(parts: list[ActivationIndex], n_rows: int) -> ActivationIndex:
    """Indexes of consecutive unit ranges over the same dataset, as one index (with its by-position view)."""
    if not parts:
        raise ValueError("concat_indexes needs at least one index")
    first = parts[0]
    dev = first.indptr.device
    counts = torch.cat([p.indptr[1:] - p.indptr[:-1] for p in parts])
    indptr = torch.zeros(counts.numel() + 1, dtype=torch.int64, device=dev)
    indptr[1:] = torch.cumsum(counts, 0)
    positions = torch.cat([p.positions for p in parts])
    values = torch.cat([p.values for p in parts])
    units = torch.repeat_interleave(torch.arange(counts.numel(), device=dev), counts).to(torch.int32)
    # A stable sort by position keeps units ascending at each position, as the one-pass builder does.
    order = torch.sort(positions, stable=True).indices
    by_pos = positions[order]
    return ActivationIndex(
        indptr=indptr,
        positions=positions,
        values=values,
        max_act=torch.cat([p.max_act for p in parts]),
        n_active=torch.cat([p.n_active for p in parts]),
        n_tokens=first.n_tokens,
        seq_len=first.seq_len,
        pos_indptr=_position_indptr(by_pos, n_rows * first.seq_len),
        pos_units=units[order],
        pos_values=values[order],
    )
