"""Quality metrics of a demo build, all on the held-out sequences.

* ``heldout_loss``: mean next-token cross-entropy in nats over every position.
* ``unigram_entropy``: entropy (nats) of the training tokens' unigram distribution, the loss of
  the best context-free predictor; a trained model must beat it.
* SAE metrics at the non-BOS positions of the SAE's hook, with the saved (scale-folded) SAE:
  ``explained_variance = 1 − Σ‖x − x̂‖² / Σ‖x − mean(x)‖²``; ``l0``, the mean number of active
  latents per token; ``dead_fraction``, latents that never activate on the held-out tokens.
* ``ce_recovered = (CE_zero − CE_spliced) / (CE_zero − CE_clean)``: the held-out loss with the
  SAE's reconstruction spliced into the hook (``CE_spliced``) against zero-ablating the hook
  (``CE_zero``), both at non-BOS positions only; 1 means the SAE loses nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from ..core.sae import SparseAutoencoder
from .sae_train import hook_acts
from .train import next_token_loss


def unigram_entropy(tokens: NDArray[np.integer], vocab_size: int) -> float:
    counts = np.bincount(np.asarray(tokens).ravel(), minlength=vocab_size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


@torch.no_grad()
def _loss(model: Any, tokens: Tensor, patch: Callable[[Tensor], Tensor] | None, hook: str, batch: int) -> float:
    total, count = 0.0, 0
    for start in range(0, len(tokens), batch):
        rows = tokens[start : start + batch]
        if patch is None:
            loss = next_token_loss(model, rows)
        else:

            def fn(act: Tensor, hook: Any = None) -> Tensor:  # noqa: ARG001 - TransformerLens passes the HookPoint
                out = act.clone()
                out[:, 1:] = patch(act[:, 1:])
                return out

            with model.hooks(fwd_hooks=[(hook, fn)]):
                loss = next_token_loss(model, rows)
        n = rows[:, 1:].numel()
        total += float(loss) * n
        count += n
    return total / count


@torch.no_grad()
def evaluate(model: Any, sae: SparseAutoencoder, heldout: Tensor, batch: int = 32) -> dict[str, float]:
    """Held-out loss and SAE metrics (see the module docstring)."""
    model.eval()
    hook = sae.hook_name
    clean = _loss(model, heldout, None, hook, batch)
    x = hook_acts(model, heldout, hook, batch)
    f = sae.encode(x)
    x_hat = sae.decode(f)
    explained = 1.0 - float((x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum())
    spliced = _loss(model, heldout, lambda a: sae.decode(sae.encode(a)).to(a.dtype), hook, batch)
    zero = _loss(model, heldout, torch.zeros_like, hook, batch)
    return {
        "heldout_loss": clean,
        "heldout_tokens": int(heldout[:, 1:].numel()),
        "sae_explained_variance": explained,
        "sae_l0": float((f > 0).sum(-1).float().mean()),
        "sae_dead_fraction": float(((f > 0).sum(0) == 0).float().mean()),
        "sae_mse_per_element": float((x - x_hat).pow(2).mean()),
        "ce_clean": clean,
        "ce_spliced": spliced,
        "ce_zero_ablation": zero,
        "ce_recovered": (zero - spliced) / (zero - clean) if zero != clean else math.nan,
    }


__all__ = ["evaluate", "unigram_entropy"]
