"""DFA of the prompt view's firing (position, latent) pairs, and of one unit at one prompt token.

The method (and its exactness: DFA sums to the pre-activation minus its bias terms) is
:mod:`featurecard.core.dfa`, which the card's examples use too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Int
from torch import Tensor

from ..core.dfa import dfa_at, dfa_inputs, dfa_unavailable
from ..core.model import ModelAdapter
from ..core.sae import SparseAutoencoder


@dataclass(frozen=True)
class PromptDfa:
    """DFA of every firing pair, ragged: pair ``i``'s sources ``0 .. pos_i`` at ``offsets[i]``."""

    offsets: np.ndarray  # int64 [m + 1]
    values: np.ndarray  # float32 [Σ (pos_i + 1)]
    pre: np.ndarray  # float32 [m], the pair's pre-activation
    bias: np.ndarray  # float32 [m], its bias terms (pre − Σ DFA)


@torch.no_grad()
def prompt_dfa(
    adapter: ModelAdapter, sae: SparseAutoencoder, ids: Int[Tensor, " pos"], pos: np.ndarray, latent: np.ndarray
) -> PromptDfa:
    """DFA of each (position, latent) pair (pairs grouped by position, as :mod:`.firing` gives them)."""
    inputs = dfa_inputs(adapter, sae, ids)
    m = int(pos.shape[0])
    offsets = np.zeros(m + 1, np.int64)
    offsets[1:] = np.cumsum(pos + 1)
    values = np.zeros(int(offsets[-1]), np.float32)
    pre, bias = np.zeros(m, np.float32), np.zeros(m, np.float32)
    for q in np.unique(pos):
        at = np.nonzero(pos == q)[0]
        d, p, c = dfa_at(sae, inputs, int(q), torch.as_tensor(latent[at]))
        d_np = d.float().cpu().numpy()
        for j, i in enumerate(at):
            values[offsets[i] : offsets[i + 1]] = d_np[j]
        pre[at], bias[at] = p.float().cpu().numpy(), c.float().cpu().numpy()
    return PromptDfa(offsets, values, pre, bias)


@torch.no_grad()
def unit_dfa(
    adapter: ModelAdapter, sae: SparseAutoencoder, ids: Int[Tensor, " pos"], q: int, unit: int
) -> np.ndarray | None:
    """DFA of latent ``unit`` at query ``q`` to sources ``0 .. q`` (float32), or None where DFA is
    not defined (an SAE off attention outputs, no query token)."""
    if q < 0 or dfa_unavailable(sae):
        return None
    dfa, _, _ = dfa_at(sae, dfa_inputs(adapter, sae, ids), q, torch.tensor([unit]))
    return dfa[0].float().cpu().numpy()
