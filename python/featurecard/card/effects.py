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

from ..core.model import NormUnembed, soft_cap


@dataclass(frozen=True)
class TokenEffects:
    top_ids: Int[Tensor, "n k"]
    top_values: Float[Tensor, "n k"]
    bottom_ids: Int[Tensor, "n k"]
    bottom_values: Float[Tensor, "n k"]
    loss_change: Float[Tensor, " n"]  # NaN where there is no next token


#: The bound on how much a token's effects (log-probability changes, loss change) may move
#: with the rows computed beside it, relative to (1 + its largest |logit|): float32 sums of
#: ``d_model`` terms in another order (see :func:`token_effects`). The bound tested; the gaps
#: seen are ~1e-6.
ROUNDING_TOLERANCE = 1e-5

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
    ``which[i]`` the unit of token ``i``.

    Every step works row by row, and every chunk is padded to ``chunk`` rows, so tokens of
    several units share chunks and a row's numbers depend on its own inputs only, up to the
    order of the float32 sums in the unembedding matmul: the BLAS picks its kernel (and so
    that order) by the matmul's shape and, on some CPUs, by a row's place in its block. So a
    unit's numbers made with other cards equal those made alone within
    :data:`ROUNDING_TOLERANCE` × (1 + the row's largest |logit|), not to the bit (tested
    against another kernel, a chunk of one row); the token lists differ only where two
    tokens' changes are that close."""
    d = direction.to(final_resid.dtype)
    dirs = d[None] if d.ndim == 1 else d
    n, dev = final_resid.shape[0], final_resid.device
    if n == 0:
        return _no_effects(k)
    unit = torch.zeros(n, dtype=torch.int64, device=dev) if which is None else which.to(dev, torch.int64)
    nxt_all = next_ids.to(dev)
    logits_of = _logit_pair(readout, dirs, chunk)
    logp: Tensor | None = None  # log-softmax buffers, reused by every chunk
    outs: list[tuple[Tensor, ...]] = []
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        clean_logits, ablated_logits = logits_of(*_padded_chunk(final_resid, acts, unit, s, m, chunk))
        if logp is None:
            logp = clean_logits.new_empty(2, *clean_logits.shape)
        outs.append(_chunk_effects(clean_logits[:m], ablated_logits[:m], logp[:, :m], nxt_all[s : s + m], k))
    cols = [torch.cat(c) for c in zip(*outs, strict=True)]
    return TokenEffects(*cols)


def _no_effects(k: int) -> TokenEffects:
    empty_i = torch.zeros(0, k, dtype=torch.int64)
    empty_f = torch.zeros(0, k)
    return TokenEffects(empty_i, empty_f, empty_i, empty_f, torch.zeros(0))


def _padded_chunk(
    final_resid: Float[Tensor, "n d_model"],
    acts: Float[Tensor, " n"],
    unit: Int[Tensor, " n"],
    s: int,
    m: int,
    chunk: int,
) -> tuple[Float[Tensor, "chunk d_model"], Float[Tensor, " chunk"], Int[Tensor, " chunk"]]:
    """Rows ``s .. s + m`` of the residuals, activations and units, padded with zeros to ``chunk`` rows."""
    r = final_resid.new_zeros(chunk, final_resid.shape[1])
    r[:m] = final_resid[s : s + m]
    a = r.new_zeros(chunk)
    a[:m] = acts[s : s + m].to(r.dtype)
    u = unit.new_zeros(chunk)
    u[:m] = unit[s : s + m]
    return r, a, u


def _logit_pair(
    readout: Readout, dirs: Float[Tensor, "n_dir d_model"], chunk: int
) -> Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Clean and ablated logits of rows ``r`` with activations ``a`` of units ``u``."""
    if isinstance(readout, NormUnembed):
        return _factored(readout, dirs, chunk)
    assert callable(readout)
    read = readout

    def pair(r: Tensor, a: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        # Clean and ablated rows go through the readout as one batch of two.
        both = read(torch.stack([r, r - a[:, None] * dirs[u]])).float()
        clean_logits, ablated_logits = both.unbind(0)
        return clean_logits, ablated_logits

    return pair


def _chunk_effects(
    clean_logits: Float[Tensor, "m d_vocab"],
    ablated_logits: Float[Tensor, "m d_vocab"],
    logp: Float[Tensor, "2 m d_vocab"],
    nxt: Int[Tensor, " m"],
    k: int,
) -> tuple[Tensor, ...]:
    """One chunk's top and bottom changes and loss change (``logp``: buffers written in place)."""
    delta = torch.log_softmax(clean_logits, -1, out=logp[0])
    delta.sub_(torch.log_softmax(ablated_logits, -1, out=logp[1]))
    (top_v, top_i), (bottom_v, bottom_i) = top_and_bottom(delta, k)
    loss = -delta.gather(-1, nxt.clamp(min=0)[:, None])[:, 0]
    loss = torch.where(nxt >= 0, loss, torch.full_like(loss, float("nan")))
    return top_i, top_v, bottom_i, bottom_v, loss


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
    indices of equal value; rows with NaN (or both infinities) go through ``topk`` whole.
    Each row's result depends on that row only."""
    v = x.shape[1]
    k = min(k, v)
    if v // TOPK_BLOCK <= k:
        return _plain_top_and_bottom(x, k)
    out = _blocked_top_and_bottom(x, k)
    bad = x.sum(-1).isnan()  # rows with NaN or both infinities (a sum is ~10x cheaper than isnan)
    if bool(bad.any()):
        for (values, ids), (v_bad, i_bad) in zip(out, _plain_top_and_bottom(x[bad], k), strict=True):
            values[bad], ids[bad] = v_bad, i_bad
    return out


def _plain_top_and_bottom(
    x: Float[Tensor, "n v"], k: int
) -> tuple[tuple[Float[Tensor, "n k"], Int[Tensor, "n k"]], tuple[Float[Tensor, "n k"], Int[Tensor, "n k"]]]:
    top, bottom = x.topk(k, dim=-1), x.topk(k, dim=-1, largest=False)
    return (top.values, top.indices), (bottom.values, bottom.indices)


def _blocked_top_and_bottom(
    x: Float[Tensor, "n v"], k: int
) -> tuple[tuple[Float[Tensor, "n k"], Int[Tensor, "n k"]], tuple[Float[Tensor, "n k"], Int[Tensor, "n k"]]]:
    """:func:`top_and_bottom` through the blocks whose extremes can hold the answer."""
    n, v = x.shape
    b = TOPK_BLOCK
    n_blocks = v // b
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
    ro: NormUnembed, dirs: Float[Tensor, "n_dir d_model"], rows: int
) -> Callable[[Tensor, Tensor, Tensor], tuple[Float[Tensor, "n d_vocab"], Float[Tensor, "n d_vocab"]]]:
    """Clean and ablated logits from one matmul (see :class:`NormUnembed`), for chunks of
    ``rows`` rows written into buffers reused from chunk to chunk (fresh ``[rows, d_vocab]``
    tensors cost page faults each time; the returned logits live until the next call)."""
    w_u, bias = ro.folded
    d = dirs.float()
    d_c = d - d.mean(-1, keepdim=True) if ro.center else d
    d_logits = d_c @ w_u
    g, clean, ablated = (bias.new_empty(rows, w_u.shape[1]) for _ in range(3))

    def pair(r: Tensor, a: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        """Clean and ablated logits of rows ``r`` with activations ``a`` of units ``u``."""
        r, a = r.float(), a.float()
        c = r - r.mean(-1, keepdim=True) if ro.center else r
        c_a = c - a[:, None] * d_c[u]
        inv = (c.pow(2).mean(-1) + ro.eps).rsqrt()
        inv_a = (c_a.pow(2).mean(-1) + ro.eps).rsqrt()
        torch.mm(c, w_u, out=g)
        torch.addcmul(bias, g, inv[:, None], out=clean)
        torch.index_select(d_logits, 0, u, out=ablated)
        torch.addcmul(bias, ablated, -(a * inv_a)[:, None], out=ablated).addcmul_(g, inv_a[:, None])
        return soft_cap(clean, ro.softcap), soft_cap(ablated, ro.softcap)

    return pair
