"""The token dataset: the positions that count, and what a pass over it may keep in memory."""

from __future__ import annotations

import torch
from jaxtyping import Int
from torch import Tensor

# The final residual at every dataset position (for exact hover effects) is kept below this;
# above it, the few rows a card shows are re-run instead.
FINAL_RESID_BUDGET = 2 * 2**30


def keep_mask(tokens: Int[Tensor, "batch pos"], bos_token_id: int | None, exclude_bos: bool) -> Tensor:
    """True where a token counts for examples and statistics (BOS excluded by default)."""
    keep = torch.ones_like(tokens, dtype=torch.bool)
    if exclude_bos and bos_token_id is not None:
        keep &= tokens != bos_token_id
    return keep
