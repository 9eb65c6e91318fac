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

from ..adapters.model import NormUnembed, soft_cap


@dataclass(frozen=True)
class TokenEffects:
    top_ids: Int[Tensor, "n k"]
    top_values: Float[Tensor, "n k"]
    bottom_ids: Int[Tensor, "n k"]
    bottom_values: Float[Tensor, "n k"]
    loss_change: Float[Tensor, " n"]  # NaN where there is no next token


#: How effects read logits from final residuals: the factored form, or any function (the
#: model's own ``ln_final``, unembedding and final soft cap).
Readout = NormUnembed | Callable[[Tensor], Tensor]


@torch.no_grad()
def token_effects(
    final_resid: Float[Tensor, "n d_model"],
    acts: Float[Tensor, " n"],
    direction: Float[Tensor, " d_model"],
    readout: Readout,
    next_ids: Int[Tensor, " n"],
    k: int = 5,
    chunk: int = 128,
) -> TokenEffects:
    """Effects at ``n`` tokens; ``next_ids`` is −1 where the sequence ends."""
    outs: list[tuple[Tensor, ...]] = []
    d = direction.to(final_resid.dtype)
    pair = _factored(readout, d) if isinstance(readout, NormUnembed) else None
    for s in range(0, final_resid.shape[0], chunk):
        r = final_resid[s : s + chunk]
        a = acts[s : s + chunk].to(r.dtype)
        if pair is not None:
            clean_logits, ablated_logits = pair(r, a)
        else:
            assert callable(readout)
            # Clean and ablated rows go through the readout as one batch of two.
            clean_logits, ablated_logits = readout(torch.stack([r, r - a[:, None] * d])).float().unbind(0)
        clean, ablated = torch.log_softmax(clean_logits, -1), torch.log_softmax(ablated_logits, -1)
        delta = clean - ablated
        top = delta.topk(k, dim=-1)
        bottom = delta.topk(k, dim=-1, largest=False)
        nxt = next_ids[s : s + chunk].to(delta.device)
        has = nxt >= 0
        safe = nxt.clamp(min=0)[:, None]
        loss = -delta.gather(-1, safe)[:, 0]
        loss = torch.where(has, loss, torch.full_like(loss, float("nan")))
        outs.append((top.indices, top.values, bottom.indices, bottom.values, loss))
    if not outs:
        empty_i = torch.zeros(0, k, dtype=torch.int64)
        empty_f = torch.zeros(0, k)
        return TokenEffects(empty_i, empty_f, empty_i, empty_f, torch.zeros(0))
    cols = [torch.cat(c) for c in zip(*outs, strict=True)]
    return TokenEffects(*cols)


def _factored(
    ro: NormUnembed, d: Float[Tensor, " d_model"]
) -> Callable[[Tensor, Tensor], tuple[Float[Tensor, "n d_vocab"], Float[Tensor, "n d_vocab"]]]:
    """Clean and ablated logits from one matmul (see :class:`NormUnembed`)."""
    w_u, bias = ro.folded
    d = d.float()
    d_c = d - d.mean() if ro.center else d
    d_logits = d_c @ w_u

    def pair(r: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
        r, a = r.float(), a.float()
        c = r - r.mean(-1, keepdim=True) if ro.center else r
        c_a = c - a[:, None] * d_c
        inv = (c.pow(2).mean(-1) + ro.eps).rsqrt()
        inv_a = (c_a.pow(2).mean(-1) + ro.eps).rsqrt()
        g = c @ w_u
        clean = torch.addcmul(bias, g, inv[:, None])
        ablated = torch.addr(bias.expand_as(g), -(a * inv_a), d_logits).addcmul_(g, inv_a[:, None])
        return soft_cap(clean, ro.softcap), soft_cap(ablated, ro.softcap)

    return pair
