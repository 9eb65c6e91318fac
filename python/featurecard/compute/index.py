"""The activation index: every unit's nonzero activations over the dataset, by unit.

One streamed pass over the dataset feeds batches of activations ``[batch, pos, d_sae]`` into an
:class:`IndexBuilder`; it keeps only the nonzeros (flat token position, unit, value) plus
per-unit running statistics, and ``finish`` sorts them by unit into CSR form. A unit's column
is then a slice: ``positions[indptr[f]:indptr[f+1]]`` are the flat dataset positions
(``row * seq_len + pos``, ascending) where unit ``f`` is nonzero, ``values`` its activations.
Memory grows with the number of nonzeros, never with tokens × units dense.

Positions excluded from the dataset (BOS by default) are masked before anything is kept, so
they count neither for examples nor for density.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor


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

    @property
    def n_units(self) -> int:
        return int(self.indptr.shape[0] - 1)

    def column(self, unit: int) -> tuple[Int[Tensor, " k"], Float[Tensor, " k"]]:
        lo, hi = int(self.indptr[unit]), int(self.indptr[unit + 1])
        return self.positions[lo:hi], self.values[lo:hi]

    def density(self, unit: int) -> float:
        return float(self.n_active[unit]) / max(self.n_tokens, 1)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.indptr, self.positions, self.values))


class IndexBuilder:
    """Accumulates batches of activations in dataset order; ``finish`` returns the index."""

    def __init__(self, n_units: int, seq_len: int, device: torch.device | str = "cpu") -> None:
        self.n_units, self.seq_len = n_units, seq_len
        self._pos: list[Tensor] = []
        self._unit: list[Tensor] = []
        self._val: list[Tensor] = []
        self.max_act = torch.full((n_units,), float("-inf"), device=device)
        self.n_active = torch.zeros(n_units, dtype=torch.int64, device=device)
        self.n_tokens = 0

    @torch.no_grad()
    def add(
        self,
        acts: Float[Tensor, "batch pos n_units"],
        row0: int,
        keep: Bool[Tensor, "batch pos"],
    ) -> None:
        """Add the activations of dataset rows ``row0 .. row0 + batch - 1``."""
        batch, pos, _ = acts.shape
        acts = acts * keep.unsqueeze(-1).to(acts.dtype)
        self.n_tokens += int(keep.sum())
        masked = acts.masked_fill(~keep.unsqueeze(-1), float("-inf"))
        self.max_act = torch.maximum(self.max_act, masked.flatten(0, 1).amax(0).to(self.max_act.device))
        self.n_active += (acts > 0).flatten(0, 1).sum(0).to(self.n_active.device)
        b, p, u = torch.nonzero(acts, as_tuple=True)
        self._pos.append(((b + row0) * self.seq_len + p).to(torch.int32))
        self._unit.append(u.to(torch.int32))
        self._val.append(acts[b, p, u].float())
        del batch, pos

    def finish(self) -> ActivationIndex:
        dev = self.max_act.device
        pos = torch.cat(self._pos) if self._pos else torch.zeros(0, dtype=torch.int32, device=dev)
        unit = torch.cat(self._unit) if self._unit else torch.zeros(0, dtype=torch.int32, device=dev)
        val = torch.cat(self._val) if self._val else torch.zeros(0, device=dev)
        # Stable sort by unit keeps dataset order (ascending position) within each unit.
        order = torch.sort(unit, stable=True).indices
        counts = torch.bincount(unit.long(), minlength=self.n_units)
        indptr = torch.zeros(self.n_units + 1, dtype=torch.int64, device=dev)
        indptr[1:] = torch.cumsum(counts, 0)
        max_act = torch.where(torch.isinf(self.max_act), torch.zeros_like(self.max_act), self.max_act)
        self._pos, self._unit, self._val = [], [], []
        return ActivationIndex(
            indptr=indptr,
            positions=pos[order],
            values=val[order],
            max_act=max_act,
            n_active=self.n_active,
            n_tokens=self.n_tokens,
            seq_len=self.seq_len,
        )
