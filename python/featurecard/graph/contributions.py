"""Contributions of parts to a residual state by proximity, chunked over query positions.

**The measure** (LLM Transparency Tool, Ferrando & Voita 2024): a residual state ``whole`` is an
exact sum of parts ``p_i``. The contribution of a part is its L1 proximity to the whole::

    score_i = max(‖whole‖₁ − ‖whole − p_i‖₁, ε)        ε = 1e-5
    c_i     = score_i / Σ_j score_j                       (the c_i of one whole sum to 1)

A part close to the whole scores high; a part that points away, or is zero, scores ε.

**The parts, every term once.** After the attention block of layer L, at query position q::

    resid_mid[q] = Σ_h Σ_{k≤q} A[h,q,k] · (v[k,h] @ W_O[h])  +  b_O  +  resid_pre[q]

One part per (head h, source token k ≤ q), one for the output bias ``b_O`` (it belongs to no
head), one for the residual. TransformerLens's ``hook_v`` already holds the value bias ``b_V``,
so it is not added again (LLM Transparency Tool adds it twice, its issue #35). Source tokens
after q are not parts (causal attention writes nothing from them). After the MLP the parts
are the MLP output and the residual; with parallel attention and MLP (GPT-J, NeoX) one
whole, ``resid_post``, has all of them. Per-unit breakdowns (MLP neurons, SAE latents) use the
same measure: one part per unit (activation × its write direction), one for the biases, one
for an SAE's reconstruction error, one for the rest of the residual.

**Memory.** The attention parts form a ``pos × key_pos × head × d_model`` tensor (36 GiB in
fp32 for 1,024 tokens on GPT-2 small); LLM Transparency Tool builds it whole and peaks near 4×
that. We only need one score per (q, k, h), so we walk over blocks of query positions (and
keys ≤ the block's last query), holding one ``chunk × key_pos × head × d_model`` buffer whose
size ``chunk_elements`` bounds. A part's L1 distance is one fused ``addcmul`` then an L1
``vector_norm``. Per-unit parts are walked the same way, over positions and the units that are
active there: a unit with activation 0 is a zero part and scores exactly ε, so it is counted,
not computed.

Everything here is pure torch over tensors of one prompt (no batch), in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

EPS = 1e-5
DEFAULT_CHUNK_ELEMENTS = 1 << 24  # 64 MiB of float32 per working buffer


def proximity(whole: Float[Tensor, "*pos d_model"], parts: Float[Tensor, "*pos d_model"]) -> Float[Tensor, " *pos"]:
    """``max(‖whole‖₁ − ‖whole − part‖₁, ε)`` along the last dimension (broadcasting)."""
    norm: Tensor = torch.linalg.vector_norm(whole, ord=1, dim=-1)
    dist: Tensor = torch.linalg.vector_norm(whole - parts, ord=1, dim=-1)
    return (norm - dist).clamp(min=EPS)


def block_contributions(
    whole: Float[Tensor, "pos d_model"], parts: Float[Tensor, "n_part pos d_model"]
) -> Float[Tensor, "n_part pos"]:
    """Normalised contributions of a few whole-vector parts (e.g. MLP output and residual)."""
    scores = proximity(whole.unsqueeze(0), parts)
    return scores / scores.sum(0, keepdim=True)


@dataclass(frozen=True)
class AttentionContributions:
    """Normalised contributions to one whole per query position, kept sparse for source edges.

    ``heads[q, h]`` sums head h's parts over source tokens; ``others[i, q]`` are the
    whole-vector parts (``b_O``, the residual, the MLP when parallel); for every q,
    ``heads[q].sum() + others[:, q].sum() == 1``. An edge (q, k) is the sum over heads of the
    (h, k) parts; only edges whose sum exceeds ``keep_above`` are listed, each with its heads.
    """

    heads: Float[Tensor, "pos head_index"]
    others: Float[Tensor, "n_other pos"]
    edge_query: Int[Tensor, " edge"]
    edge_key: Int[Tensor, " edge"]
    edge_share: Float[Tensor, " edge"]
    edge_heads: Float[Tensor, "edge head_index"]


def _chunk(chunk_elements: int, per_row: int) -> int:
    if chunk_elements < 1:
        raise ValueError(f"chunk_elements must be >= 1; got {chunk_elements}")
    return max(1, chunk_elements // max(1, per_row))


def _query_blocks(n_pos: int, per_pair: int, chunk_elements: int) -> list[tuple[int, int]]:
    """Blocks ``[q0, q1)`` of queries with ``(q1 - q0) · q1 · per_pair <= chunk_elements`` (causal:
    a block reads keys ``< q1``), or one query where even that is over."""
    blocks, q0 = [], 0
    while q0 < n_pos:
        c = min(n_pos - q0, _chunk(chunk_elements, (q0 + 1) * per_pair))
        while c > 1 and c * (q0 + c) * per_pair > chunk_elements:
            c = _chunk(chunk_elements, (q0 + c) * per_pair)
        blocks.append((q0, q0 + c))
        q0 += c
    return blocks


@torch.no_grad()
def attention_contributions(
    pattern: Float[Tensor, "head_index pos key_pos"],
    head_writes: Float[Tensor, "key_pos head_index d_model"],
    whole: Float[Tensor, "pos d_model"],
    others: Float[Tensor, "n_other pos d_model"],
    *,
    keep_above: float = 0.0,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> AttentionContributions:
    """Contributions of (head, source token) parts and whole-vector parts to ``whole``.

    ``head_writes[k, h]`` is what head h writes per unit of attention to source k
    (``v[k, h] @ W_O[h]``); the part is ``pattern[h, q, k] * head_writes[k, h]`` for k <= q.
    """
    n_pos, n_heads, d_model = whole.shape[0], pattern.shape[0], whole.shape[1]
    pattern = pattern.float()
    head_writes = head_writes.float()
    whole = whole.float()
    other_scores = proximity(whole.unsqueeze(0), others.float())  # [n_other, pos]
    norms = torch.linalg.vector_norm(whole, ord=1, dim=-1)  # [pos]
    heads = torch.empty(n_pos, n_heads, device=whole.device)
    others_out = torch.empty_like(other_scores)
    eq: list[Tensor] = []
    ek: list[Tensor] = []
    es: list[Tensor] = []
    eh: list[Tensor] = []
    per = n_heads * d_model  # elements of one (query, key) pair
    buf = torch.empty(min(max(chunk_elements, n_pos * per), n_pos * n_pos * per), device=whole.device)
    for q0, q1 in _query_blocks(n_pos, per, chunk_elements):
        a = pattern[:, q0:q1, :q1].permute(1, 2, 0)  # [c, k, h]
        diff = buf[: (q1 - q0) * q1 * per].view(q1 - q0, q1, n_heads, d_model)
        torch.addcmul(whole[q0:q1, None, None, :], a.unsqueeze(-1), head_writes[None, :q1], value=-1.0, out=diff)
        dist = torch.linalg.vector_norm(diff, ord=1, dim=-1)  # [c, k, h]
        scores = (norms[q0:q1, None, None] - dist).clamp_(min=EPS)
        causal = torch.arange(q1, device=whole.device)[None, :] <= torch.arange(q0, q1, device=whole.device)[:, None]
        scores.mul_(causal.unsqueeze(-1))  # sources after q are not parts
        total = scores.sum((1, 2)) + other_scores[:, q0:q1].sum(0)  # [c]
        shares = scores / total[:, None, None]
        heads[q0:q1] = shares.sum(1)
        others_out[:, q0:q1] = other_scores[:, q0:q1] / total
        edge = shares.sum(-1)  # [c, k]
        qi, ki = torch.nonzero(edge > keep_above, as_tuple=True)
        eq.append(qi + q0)
        ek.append(ki)
        es.append(edge[qi, ki])
        eh.append(shares[qi, ki])
    return AttentionContributions(
        heads=heads,
        others=others_out,
        edge_query=torch.cat(eq),
        edge_key=torch.cat(ek),
        edge_share=torch.cat(es),
        edge_heads=torch.cat(eh) if eh else torch.zeros(0, n_heads),
    )


@dataclass(frozen=True)
class UnitContributions:
    """The top units (neurons, latents) of each position, by normalised contribution.

    ``units[q]`` sums all units' shares at q (including the ε of silent units); ``others[i, q]``
    are the remaining parts (biases, reconstruction error, the rest of the residual);
    ``units[q] + others[:, q].sum() == 1``.
    """

    ids: Int[Tensor, "pos k"]
    shares: Float[Tensor, "pos k"]
    units: Float[Tensor, " pos"]
    others: Float[Tensor, "n_other pos"]


@torch.no_grad()
def unit_contributions(
    coefs: Float[Tensor, "pos n_unit"],
    rows: Float[Tensor, "n_unit d_model"],
    whole: Float[Tensor, "pos d_model"],
    others: Float[Tensor, "n_other pos d_model"],
    *,
    top_k: int = 10,
    n_units: int | None = None,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> UnitContributions:
    """Contributions of unit parts ``coefs[q, j] * rows[j]`` and whole-vector parts to ``whole``.

    Only the units active at a position are computed (a silent unit scores exactly ε), so a
    sparse SAE costs its L0, not its width. ``n_units`` (>= the columns given) counts further
    units, silent at every position, that are parts too (an SAE's latents that never fire on
    the prompt need no column).
    """
    n_pos, n_unit = coefs.shape
    n_total = n_unit if n_units is None else n_units
    if n_total < n_unit:
        raise ValueError(f"n_units={n_units} is below the {n_unit} columns of coefs")
    coefs, rows, whole = coefs.float(), rows.float(), whole.float()
    k = min(top_k, n_unit)
    other_scores = proximity(whole.unsqueeze(0), others.float())
    norms = torch.linalg.vector_norm(whole, ord=1, dim=-1)
    ids = torch.zeros(n_pos, k, dtype=torch.long, device=whole.device)
    shares = torch.zeros(n_pos, k, device=whole.device)
    units = torch.empty(n_pos, device=whole.device)
    others_out = torch.empty_like(other_scores)
    active = (coefs != 0).sum(-1).tolist()  # active units per position
    d_model = whole.shape[1]
    buf = torch.empty(min(max(chunk_elements, n_unit * d_model), n_pos * n_unit * d_model), device=whole.device)
    q0 = 0
    while q0 < n_pos:
        # a block of positions, each given the most active units any of them has (>= k), that fits
        q1, m = q0 + 1, max(k, active[q0])
        while q1 < n_pos and (q1 + 1 - q0) * max(m, active[q1]) * d_model <= chunk_elements:
            q1, m = q1 + 1, max(m, active[q1])
        c_abs, idx = coefs[q0:q1].abs().topk(m, dim=-1)  # silent units sort last
        parts = buf[: idx.numel() * d_model].view(q1 - q0, m, d_model)
        torch.index_select(rows, 0, idx.flatten(), out=parts.view(-1, d_model))
        parts.mul_(coefs[q0:q1].gather(1, idx).unsqueeze(-1)).sub_(whole[q0:q1, None, :])  # part - whole
        dist = torch.linalg.vector_norm(parts, ord=1, dim=-1)
        scores = (norms[q0:q1, None] - dist).clamp_(min=EPS)
        scores = torch.where(c_abs > 0, scores, torch.full_like(scores, EPS))
        unit_total = scores.sum(-1) + (n_total - m) * EPS  # the silent units beyond m
        total = unit_total + other_scores[:, q0:q1].sum(0)
        top, where = scores.topk(k, dim=-1)
        ids[q0:q1] = idx.gather(1, where)
        shares[q0:q1] = top / total[:, None]
        units[q0:q1] = unit_total / total
        others_out[:, q0:q1] = other_scores[:, q0:q1] / total
        q0 = q1
    return UnitContributions(ids=ids, shares=shares, units=units, others=others_out)
