"""One chunk of a store's build: the model's pass over the chunk's rows, its nonzeros and sums.

:func:`chunk_pass` runs :func:`~featurecard.core.dataset.dataset_batches` over one chunk's rows
with every source's hook, encodes each source, keeps its nonzeros at counted positions exactly
as :meth:`~featurecard.card.index.IndexBuilder.add` does
(:func:`~featurecard.card.index.kept_nonzeros`) and the chunk's
:class:`~featurecard.card.correlation.NeuronCorrelationSums`. The same function runs in-process
(:mod:`featurecard.card.store_pass`) and on Ray workers (:mod:`featurecard.card.store_ray`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..core.dataset import TokenRows, dataset_batches
from ..core.model import ModelAdapter, flatten_hook_activation
from ..core.sae import SparseAutoencoder
from .correlation import NeuronCorrelationSums
from .index import kept_nonzeros
from .index_pass import NEURON_SUMS_BUDGET
from .store_build import Chunk, Nonzeros


def check_rows(adapter: ModelAdapter, part: TokenRows, row0: int) -> None:
    lo, hi = int(part.min()), int(part.max())
    if lo < 0 or hi >= adapter.d_vocab:
        raise ValueError(
            f"token ids of rows {row0}..{row0 + part.shape[0] - 1} span [{lo}, {hi}]; "
            f"the vocabulary accepts [0, {adapter.d_vocab - 1}]"
        )


# One encoder call's dense activations (tokens x latents, float32) take at most this share of
# the build's memory budget: a batch of 4,096 tokens of a 24,576-latent SAE alone is 403 MB.
ENCODE_SHARE = 1 / 32


def encode_rows(memory_budget: int | None, seq_len: int, d_sae: int, batch_size: int) -> int:
    """Rows per encoder call: the whole batch, or fewer where its dense activations would pass
    :data:`ENCODE_SHARE` of ``memory_budget`` (at least one row)."""
    if memory_budget is None:
        return batch_size
    return max(1, min(batch_size, int(memory_budget * ENCODE_SHARE) // (seq_len * d_sae * 4)))


class _Growing:
    """One source's nonzeros of a chunk, appended part by part into three buffers that double when
    full. Few, large buffers (untouched capacity is not resident): a small tensor per encoder call,
    kept between the encoder's large temporaries, fragmented the heap (RssAnon grew by 2.2 GB over
    a 241k-token chunk of a 24,576-latent SAE, measured)."""

    START = 1 << 23  # entries (32 MB of virtual capacity per buffer)

    def __init__(self) -> None:
        self.n, self.bufs = 0, [torch.empty(0, dtype=torch.int32), torch.empty(0, dtype=torch.int32), torch.empty(0)]

    def add(self, pos: torch.Tensor, units: torch.Tensor, values: torch.Tensor) -> None:
        m = int(pos.numel())
        if self.n + m > self.bufs[0].numel():
            cap = max(self.START, 2 * self.bufs[0].numel(), self.n + m)
            bigger = [torch.empty(cap, dtype=b.dtype) for b in (self.bufs[0], self.bufs[1], values)]
            for new, old in zip(bigger, self.bufs, strict=True):
                new[: self.n] = old[: self.n]
            self.bufs = bigger
        for buf, a in zip(self.bufs, (pos, units, values), strict=True):
            buf[self.n : self.n + m] = a
        self.n += m

    def nonzeros(self) -> Nonzeros:
        return Nonzeros(*(b[: self.n] for b in self.bufs))  # views: only the filled pages are resident


def sums_fit(sae: SparseAutoencoder) -> bool:
    """Whether the neuron-correlation sums of ``sae`` fit NEURON_SUMS_BUDGET (else none are kept)."""
    return sae.d_sae * sae.d_in * 8 <= NEURON_SUMS_BUDGET


@torch.no_grad()
def chunk_pass(
    adapter: ModelAdapter,
    sources: Mapping[str, SparseAutoencoder],
    tokens: TokenRows,
    rows: tuple[int, int],
    *,
    exclude_bos: bool = True,
    batch_size: int = 32,
    bar: Any = None,
    memory_budget: int | None = None,
) -> Chunk:
    """One chunk's nonzeros (flat positions within the chunk) and neuron sums per source; each
    batch encoded in parts of :func:`encode_rows` rows."""
    row0, row1 = rows
    check_rows(adapter, tokens[row0:row1], row0)
    seq_len = int(tokens.shape[1])
    found = {name: _Growing() for name in sources}
    sums = {n: NeuronCorrelationSums(s.d_sae, s.d_in, device=adapter.device) if sums_fit(s) else None
            for n, s in sources.items()}  # fmt: skip
    n_tokens = 0
    hooks = sorted({s.hook_name for s in sources.values()})
    for b in dataset_batches(adapter, tokens, hooks, exclude_bos=exclude_bos, batch_size=batch_size,
                             progress=False, rows=rows):  # fmt: skip
        n_tokens += int(b.keep.sum())
        for name, sae in sources.items():
            x = flatten_hook_activation(b.acts[sae.hook_name], sae.d_in, sae.hook_name)
            step = encode_rows(memory_budget, seq_len, sae.d_sae, x.shape[0])
            parts = [
                kept_nonzeros(sae.encode(x[r : r + step]), b.keep[r : r + step]) for r in range(0, x.shape[0], step)
            ]
            t = torch.cat([p[0] + r * seq_len for p, r in zip(parts, range(0, x.shape[0], step), strict=True)])
            u, v = torch.cat([p[1] for p in parts]), torch.cat([p[2] for p in parts])
            s = sums[name]
            if s is not None:  # once per batch: its dense product costs as much for one row as for all
                s.add_nonzeros(t, u, v, x.flatten(0, 1), b.keep.flatten())
            pos = t + (b.row0 - row0) * seq_len
            found[name].add(pos.to(torch.int32).cpu(), u.to(torch.int32).cpu(), v.float().cpu())
        if bar is not None:
            bar.update(b.tokens.numel())
    return Chunk({n: f.nonzeros() for n, f in found.items()}, n_tokens, sums)
