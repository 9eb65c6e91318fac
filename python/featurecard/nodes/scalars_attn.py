"""Derived scalars of attention heads, one node per (layer, head, query position, source token).

As in Transformer Debugger, an attention node is a head at a pair of tokens: query position
``q`` attending to source (key) position ``k``. Head ``h`` of layer ``L`` moves
``A[h, q, k] · v[k, h]`` from source ``k`` to ``q`` (``v`` includes ``b_V``), and writes
``A[h, q, k] · v[k, h] · W_O[h]`` to the residual stream at ``q`` (``b_O`` belongs to no head):

* activation          ``A[h, q, k]``, the attention probability
* write norm          ``A · ‖v[k, h] W_O[h]‖``
* direct effect       ``A · (v[k, h] W_O[h]) · g[q]``, ``g`` the final-residual gradient
* act × grad          ``A · ∂T/∂A = A · (∂T/∂z[q, h] · v[k, h])``, because the head's output
  ``z[q, h] = Σ_k A[h, q, k] v[k, h]`` is the only way ``A`` reaches the target. Taking the
  gradient at ``hook_z`` rather than ``hook_pattern`` also works on TransformerBridge, whose
  ``hook_pattern`` is an observation point.

Summing a pair's direct effects (or writes) over ``k`` gives the head's at ``q``. Nothing of
size ``pos × pos × head × d_model`` is materialised: ``W_O[h] g[q]`` is contracted first.
Pairs with ``k > q`` have ``A = 0`` and so zero in every group.
"""

from __future__ import annotations

import torch
from jaxtyping import Float, Int
from torch import Tensor

from .groups import Scalars


@torch.no_grad()
def attn_scalars(
    pattern: Float[Tensor, "batch head_index query_pos key_pos"],
    v: Float[Tensor, "batch key_pos head_index d_head"],
    grad_z: Float[Tensor, "batch query_pos head_index d_head"],
    W_O: Float[Tensor, "head_index d_head d_model"],
    grad_final: Float[Tensor, "batch query_pos d_model"],
) -> Scalars:
    """Every group's value, each ``[batch, query_pos, head_index, key_pos]``."""
    a = pattern.float().permute(0, 2, 1, 3)  # [batch, q, head, k]
    vf, wo = v.float(), W_O.float()
    write_norm = torch.einsum("bkhe,hed->bkhd", vf, wo).norm(dim=-1)  # [batch, k, head]
    wg = torch.einsum("hed,bqd->bqhe", wo, grad_final.float())
    return {
        "activation": a,
        "write_norm": a * write_norm.permute(0, 2, 1)[:, None],
        "direct_effect": a * torch.einsum("bqhe,bkhe->bqhk", wg, vf),
        "act_times_grad": a * torch.einsum("bqhe,bkhe->bqhk", grad_z.float(), vf),
    }


@torch.no_grad()
def attn_write_vectors(
    pattern: Float[Tensor, "batch head_index query_pos key_pos"],
    v: Float[Tensor, "batch key_pos head_index d_head"],
    W_O: Float[Tensor, "head_index d_head d_model"],
    batch: Int[Tensor, " n"],
    query: Int[Tensor, " n"],
    head: Int[Tensor, " n"],
    key: Int[Tensor, " n"],
) -> Float[Tensor, "n d_model"]:
    """What each chosen (head, query, source) pair adds to the residual stream at its query."""
    a = pattern[batch, head, query, key].float()
    return a[:, None] * torch.einsum("ne,ned->nd", v[batch, key, head].float(), W_O[head].float())
