"""The token dataset: the positions that count, what a pass over it may keep in memory, and the
one batched pass over it (:func:`dataset_batches`) that every dataset-wide computation reads.

A pass reads the dataset in batches of whole rows, each moved to the model's device when it is
read, so the token ids may be a tensor or a numpy array or memory-mapped file larger than
memory (``[n_rows, seq_len]``); ``rows`` limits it to a range of rows (a chunk, a worker's
share). For each batch it gives its consumer the batch's first row, its tokens, the positions
that count (:func:`keep_mask`) and the wanted hooks' activations, captured with the fused
attention of :meth:`~featurecard.core.model.ModelAdapter.capture_dataset`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Bool, Int
from torch import Tensor
from tqdm.auto import tqdm

from .model import ModelAdapter

# The final residual at every dataset position (for exact hover effects) is kept below this;
# above it, the few rows a card shows are re-run instead.
FINAL_RESID_BUDGET = 2 * 2**30

# Token ids [n_rows, seq_len]: a tensor, or a numpy array or memmap (read one batch at a time).
TokenRows = Tensor | np.ndarray


def keep_mask(tokens: Int[Tensor, "batch pos"], bos_token_id: int | None, exclude_bos: bool) -> Tensor:
    """True where a token counts for examples and statistics (BOS excluded by default)."""
    keep = torch.ones_like(tokens, dtype=torch.bool)
    if exclude_bos and bos_token_id is not None:
        keep &= tokens != bos_token_id
    return keep


@dataclass(frozen=True)
class DatasetBatch:
    """One batch of a pass: its first row in the dataset, its tokens and counted positions (on the
    model's device), and the activations of the pass's hooks (keyed by hook name)."""

    row0: int
    tokens: Int[Tensor, "batch pos"]
    keep: Bool[Tensor, "batch pos"]
    acts: dict[str, Tensor]

    @property
    def row1(self) -> int:
        """One past the batch's last row."""
        return self.row0 + int(self.tokens.shape[0])


def row_range(n_rows: int, rows: tuple[int, int] | None) -> tuple[int, int]:
    """``rows`` (start, stop) checked against a dataset of ``n_rows`` rows; None: all of them."""
    if rows is None:
        return 0, n_rows
    start, stop = rows
    if not 0 <= start <= stop <= n_rows:
        raise IndexError(f"row range {rows} is out of range: accepted 0 <= start <= stop <= {n_rows}")
    return start, stop


def read_rows(tokens: TokenRows, start: int, stop: int, device: torch.device) -> Int[Tensor, "batch pos"]:
    """Rows ``start .. stop - 1`` of ``tokens`` on ``device`` (numpy rows as int64 ids)."""
    part = tokens[start:stop]
    if isinstance(part, np.ndarray):
        return torch.from_numpy(np.asarray(part, dtype=np.int64)).to(device)
    return part.to(device)


def dataset_batches(
    adapter: ModelAdapter,
    tokens: TokenRows,
    hooks: Sequence[str],
    *,
    exclude_bos: bool = True,
    batch_size: int = 32,
    progress: bool = True,
    desc: str = "featurecard: reading",
    rows: tuple[int, int] | None = None,
) -> Iterator[DatasetBatch]:
    """The dataset (or its ``rows``) in batches of ``batch_size`` rows, each with ``hooks``
    captured (see the module docstring), behind a progress bar counting tokens."""
    start, stop = row_range(int(tokens.shape[0]), rows)
    seq_len = int(tokens.shape[1])
    bar = tqdm(total=(stop - start) * seq_len, unit="tok", unit_scale=True, disable=not progress, desc=desc)
    for row0 in range(start, stop, batch_size):
        batch = read_rows(tokens, row0, min(row0 + batch_size, stop), adapter.device)
        keep = keep_mask(batch, adapter.bos_token_id, exclude_bos)
        yield DatasetBatch(row0, batch, keep, adapter.capture_dataset(batch, hooks))
        bar.update(batch.numel())
    bar.close()
