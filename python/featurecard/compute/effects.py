"""Exact per-token effects of a unit on the next-token prediction.

At a token where the unit fires with activation ``a`` and writes ``a * direction`` to the
residual stream, we remove that write from the **final** residual (the input of ``ln_final``),
apply the model's own ``ln_final`` and unembedding, and compare with the clean prediction:

    Δ log p(t) = log_softmax(unembed(ln_final(r)))[t] − log_softmax(unembed(ln_final(r − a·d)))[t]

``top``/``bottom`` are the tokens whose log-probability the unit raises / lowers most, and
``loss_change`` is ``loss(with the unit) − loss(without it)`` for the true next token
(negative: the unit helps predict it). This is the direct-path convention of sae_vis, but
exact: sae_vis drops LayerNorm's square root and weights (off by up to 1.13 logits), and
SAEDashboard sends zeros. Equal, to 1e-4, to the model's own forward pass with the
contribution subtracted at ``blocks.{L-1}.hook_resid_post`` (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor


@dataclass(frozen=True)
class TokenEffects:
    top_ids: Int[Tensor, "n k"]
    top_values: Float[Tensor, "n k"]
    bottom_ids: Int[Tensor, "n k"]
    bottom_values: Float[Tensor, "n k"]
    loss_change: Float[Tensor, " n"]  # NaN where there is no next token


@torch.no_grad()
def token_effects(
    final_resid: Float[Tensor, "n d_model"],
    acts: Float[Tensor, " n"],
    direction: Float[Tensor, " d_model"],
    ln_final: Callable[[Tensor], Tensor],
    unembed: Callable[[Tensor], Tensor],
    next_ids: Int[Tensor, " n"],
    k: int = 5,
    chunk: int = 256,
) -> TokenEffects:
    """Effects at ``n`` tokens; ``next_ids`` is −1 where the sequence ends."""
    outs: list[tuple[Tensor, ...]] = []
    d = direction.to(final_resid.dtype)
    for s in range(0, final_resid.shape[0], chunk):
        r = final_resid[s : s + chunk]
        a = acts[s : s + chunk].to(r.dtype)
        # Clean and ablated rows go through ln_final and the unembedding as one batch of two.
        both = torch.stack([r, r - a[:, None] * d])
        clean, ablated = torch.log_softmax(unembed(ln_final(both)).float(), -1).unbind(0)
        delta = clean - ablated
        top = delta.topk(k, dim=-1)
        bottom = delta.topk(k, dim=-1, largest=False)
        nxt = next_ids[s : s + chunk].to(delta.device)
        has = nxt >= 0
        safe = nxt.clamp(min=0)[:, None]
        loss = -(clean.gather(-1, safe) - ablated.gather(-1, safe))[:, 0]
        loss = torch.where(has, loss, torch.full_like(loss, float("nan")))
        outs.append((top.indices, top.values, bottom.indices, bottom.values, loss))
    if not outs:
        empty_i = torch.zeros(0, k, dtype=torch.int64)
        empty_f = torch.zeros(0, k)
        return TokenEffects(empty_i, empty_f, empty_i, empty_f, torch.zeros(0))
    cols = [torch.cat(c) for c in zip(*outs, strict=True)]
    return TokenEffects(*cols)
