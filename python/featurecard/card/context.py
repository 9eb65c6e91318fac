"""What a card reads: the unit's column of the index, and the Workspace's pass (model, SAE, kept tensors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jaxtyping import Float, Int
from torch import Tensor

from ..core.model import ModelAdapter
from ..core.sae import SparseAutoencoder
from .correlation import NeuronCorrelationSums
from .index import CardIndex

if TYPE_CHECKING:
    from .final_rows import FinalRows
    from .first_cards import QuickColumns


@dataclass(frozen=True)
class UnitColumn:
    """One unit's nonzeros over the dataset and its statistics (from either kind of index)."""

    positions: Int[Tensor, " k"]
    values: Float[Tensor, " k"]
    max_act: float
    n_active: int
    n_tokens: int
    n_units: int
    seq_len: int

    @classmethod
    def of(cls, index: CardIndex, unit: int, n_units: int | None = None) -> UnitColumn:
        pos, val = index.column(unit)
        return cls(
            pos,
            val,
            float(index.max_act[unit]),
            int(index.n_active[unit]),
            index.n_tokens,
            index.n_units if n_units is None else n_units,
            index.seq_len,
        )


@dataclass
class CardContext:
    """Everything a card reads; the Workspace fills it from its pass.

    ``index`` is the complete index of every unit; while it is being built (``staged``: the
    kept SAE inputs, see :mod:`featurecard.card.quick_cards`) the panels that need every unit are pending.
    """

    adapter: ModelAdapter
    source: str
    sae: SparseAutoencoder
    index: CardIndex | None
    tokens: Int[Tensor, "batch pos"]
    neuron_sums: NeuronCorrelationSums | None
    final_resid: Float[Tensor, "batch pos d_model"] | None
    index_b: CardIndex | None = None
    staged: QuickColumns | None = None  # some units' columns (card/first_cards.py)
    final_rows: FinalRows | None = None  # the final residual by row, on demand (without final_resid)
    has_b: bool = False  # the SAE has an encoder B (pending while ``index_b`` is None)
    quick: bool = False  # a first card: panels that would read much of the index wait (card/assemble.py)

    def column(self, unit: int) -> UnitColumn:
        if self.index is not None:
            return UnitColumn.of(self.index, unit)
        if self.staged is None:
            raise ValueError("a card needs the complete index or the staged inputs")
        block, offset = self.staged.column(unit)
        return UnitColumn.of(block, offset, n_units=self.sae.d_sae)
