"""The index pass: one streamed pass over the dataset, then cards as slices of the index.

``index_pass`` runs the model once over the token dataset in batches, with a progress bar
(:func:`~featurecard.core.dataset.dataset_batches`), captures every hook the sources read,
encodes each source (an SAE, or a hook's neurons via the identity "SAE") and feeds the
activations to one :class:`~featurecard.card.index.IndexBuilder` per source. Peers re-run
the model for every batch of 256 features; we never do.

The same pass accumulates what the cards need later: streamed correlation sums against each
source's input dimensions and, when it fits the budget, the final residual at every position
(for exact hover effects). Cards are assembled in :mod:`featurecard.card.assemble`. Everything stays
on the model's device until the state layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from ..core.dataset import FINAL_RESID_BUDGET, dataset_batches
from ..core.model import ModelAdapter, flatten_hook_activation
from ..core.sae import SparseAutoencoder
from .correlation import NeuronCorrelationSums
from .index import CardIndex, IndexBuilder

# Streamed neuron-correlation sums cost d_sae x d_in float64s; above this we skip that table.
NEURON_SUMS_BUDGET = 512 * 2**20


@dataclass
class PassResult:
    """What one streamed pass leaves behind for the cards."""

    indexes: dict[str, CardIndex]
    neuron_sums: dict[str, NeuronCorrelationSums | None]
    final_resid: Tensor | None  # [batch, pos, d_model], or None when over budget


@torch.no_grad()
def index_pass(
    adapter: ModelAdapter,
    sources: Mapping[str, SparseAutoencoder],
    tokens: Int[Tensor, "batch pos"],
    *,
    exclude_bos: bool = True,
    batch_size: int = 32,
    progress: bool = True,
    keep_final_resid: bool = True,
) -> PassResult:
    """One forward pass over ``tokens`` for all ``sources`` at once (see the module docstring)."""
    device = adapter.device
    n_rows, seq_len = tokens.shape
    builders = {name: IndexBuilder(s.d_sae, seq_len, device=device) for name, s in sources.items()}
    sums: dict[str, NeuronCorrelationSums | None] = {
        name: NeuronCorrelationSums(s.d_sae, s.d_in, device=device)
        if s.d_sae * s.d_in * 8 <= NEURON_SUMS_BUDGET
        else None
        for name, s in sources.items()
    }
    final_hook = adapter.final_resid_hook
    d_model = int(adapter.model.cfg.d_model)
    store = keep_final_resid and n_rows * seq_len * d_model * 4 <= FINAL_RESID_BUDGET
    final = torch.empty(n_rows, seq_len, d_model, device=device) if store else None
    hooks = sorted({s.hook_name for s in sources.values()} | ({final_hook} if store else set()))
    desc = f"featurecard: indexing {', '.join(sources)}"
    batches = dataset_batches(
        adapter, tokens, hooks, exclude_bos=exclude_bos, batch_size=batch_size, progress=progress, desc=desc
    )
    for b in batches:
        if final is not None:
            final[b.row0 : b.row1] = b.acts[final_hook].float()
        for name, sae in sources.items():
            x = flatten_hook_activation(b.acts[sae.hook_name], sae.d_in, sae.hook_name)
            f = sae.encode(x)
            rows, units, values = builders[name].add(f, b.row0, b.keep)
            s = sums[name]
            if s is not None:
                s.add_nonzeros(rows, units, values, x.flatten(0, 1), b.keep.flatten())
    return PassResult({name: b.finish() for name, b in builders.items()}, sums, final)
