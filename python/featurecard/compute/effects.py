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

import numpy as np
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
    direction: Float[Tensor, " d_model"] | Float[Tensor, "n_dir d_model"],
    readout: Readout,
    next_ids: Int[Tensor, " n"],
    k: int = 5,
    chunk: int = 128,
    which: Int[Tensor, " n"] | None = None,
) -> TokenEffects:
    """Effects at ``n`` tokens; ``next_ids`` is −1 where the sequence ends.

    ``direction`` is one unit's, or one per unit of several (the cards made together), with
    ``which[i]`` the unit of token ``i`` (tokens of one unit together)."""
    d = direction.to(final_resid.dtype)
    dirs = d[None] if d.ndim == 1 else d
    n = final_resid.shape[0]
    unit = np.zeros(n, dtype=np.int64) if which is None else np.asarray(which.cpu(), dtype=np.int64)
    pair = _factored(readout, dirs) if isinstance(readout, NormUnembed) else None
    outs: list[tuple[Tensor, ...]] = []
    # Chunks never mix units, so a unit's numbers do not depend on the units made with it.
    cuts = np.flatnonzero(np.diff(unit)) + 1
    for lo, hi in zip(np.r_[0, cuts].tolist(), np.r_[cuts, n].tolist(), strict=True) if n else ():
        u = int(unit[lo])
        for s in range(lo, hi, chunk):
            r = final_resid[s : min(s + chunk, hi)]
            a = acts[s : min(s + chunk, hi)].to(r.dtype)
            if pair is not None:
                clean_logits, ablated_logits = pair(r, a, u)
            else:
                assert callable(readout)
                # Clean and ablated rows go through the readout as one batch of two.
                both = readout(torch.stack([r, r - a[:, None] * dirs[u]])).float()
                clean_logits, ablated_logits = both.unbind(0)
            delta = torch.log_softmax(clean_logits, -1).sub_(torch.log_softmax(ablated_logits, -1))
            (top_v, top_i), (bottom_v, bottom_i) = top_and_bottom(delta, k)
            nxt = next_ids[s : min(s + chunk, hi)].to(delta.device)
            loss = -delta.gather(-1, nxt.clamp(min=0)[:, None])[:, 0]
            loss = torch.where(nxt >= 0, loss, torch.full_like(loss, float("nan")))
            outs.append((top_i, top_v, bottom_i, bottom_v, loss))
    if not outs:
        empty_i = torch.zeros(0, k, dtype=torch.int64)
        empty_f = torch.zeros(0, k)
        return TokenEffects(empty_i, empty_f, empty_i, empty_f, torch.zeros(0))
    cols = [torch.cat(c) for c in zip(*outs, strict=True)]
    return TokenEffects(*cols)


# Vocabulary entries per block in top_and_bottom.
TOPK_BLOCK = 64


def top_and_bottom(
    x: Float[Tensor, "n v"], k: int
) -> tuple[tuple[Float[Tensor, "n k"], Int[Tensor, "n k"]], tuple[Float[Tensor, "n k"], Int[Tensor, "n k"]]]:
    """The ``k`` largest values of each row (descending) and the ``k`` smallest (ascending), with
    their column indices, as ``torch.topk`` gives them.

    A row's ``k`` largest entries lie in the ``k`` blocks of :data:`TOPK_BLOCK` columns whose
    maxima are largest (a larger entry outside them would need ``k`` larger block maxima, each
    a larger entry), so ``topk`` runs on those blocks (and the columns past the last whole
    block) instead of the whole row: 5x faster at a 50k vocabulary. Ties may pick other
    indices of equal value; tables with NaN (or both infinities) go through ``topk`` whole."""
    n, v = x.shape
    b = TOPK_BLOCK
    n_blocks = v // b
    k = min(k, v)
    if n_blocks <= k or bool(x.sum().isnan()):  # NaN anywhere (a sum is ~10x cheaper than isnan)
        top, bottom = x.topk(k, dim=-1), x.topk(k, dim=-1, largest=False)
        return (top.values, top.indices), (bottom.values, bottom.indices)
    blocks = x[:, : n_blocks * b].view(n, n_blocks, b)
    within = torch.arange(b, device=x.device)
    tail = torch.arange(n_blocks * b, v, device=x.device).expand(n, -1)
    out = []
    for largest in (True, False):
        edge = blocks.amax(-1) if largest else blocks.amin(-1)
        chosen = edge.topk(k, dim=-1, largest=largest).indices
        cols = torch.cat([(chosen[..., None] * b + within).flatten(1), tail], dim=1)
        best = x.gather(1, cols).topk(k, dim=-1, largest=largest)
        out.append((best.values, cols.gather(1, best.indices)))
    return out[0], out[1]


def _factored(
    ro: NormUnembed, dirs: Float[Tensor, "n_dir d_model"]
) -> Callable[[Tensor, Tensor, int], tuple[Float[Tensor, "n d_vocab"], Float[Tensor, "n d_vocab"]]]:
    """Clean and ablated logits from one matmul (see :class:`NormUnembed`)."""
    w_u, bias = ro.folded
    d = dirs.float()
    d_c = d - d.mean(-1, keepdim=True) if ro.center else d
    d_logits = d_c @ w_u

    def pair(r: Tensor, a: Tensor, u: int) -> tuple[Tensor, Tensor]:
        r, a = r.float(), a.float()
        c = r - r.mean(-1, keepdim=True) if ro.center else r
        c_a = c - a[:, None] * d_c[u]
        inv = (c.pow(2).mean(-1) + ro.eps).rsqrt()
        inv_a = (c_a.pow(2).mean(-1) + ro.eps).rsqrt()
        g = c @ w_u
        clean = torch.addcmul(bias, g, inv[:, None])
        ablated = torch.addr(bias.expand_as(g), -(a * inv_a), d_logits[u]).addcmul_(g, inv_a[:, None])
        return soft_cap(clean, ro.softcap), soft_cap(ablated, ro.softcap)

    return pair
