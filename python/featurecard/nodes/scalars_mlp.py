"""Derived scalars of MLP neurons, one node per (layer, neuron, position).

Neuron ``i`` of layer ``L`` at position ``s`` has activation ``a = mlp.hook_post[s, i]`` and
writes ``a · W_out[L][i]`` to the residual stream (the output bias belongs to no neuron). With
``g[s]`` the gradient of the target with respect to the final residual at ``s`` (zero except at
the target position) and ``∂T/∂a`` the gradient at the neuron itself:

* activation          ``a``
* write norm          ``|a| · ‖W_out[i]‖``
* direct effect       ``a · (W_out[i] · g[s])``: the write's projection on the direction of
  interest, i.e. its effect through the residual stream alone, not through later layers
* act × grad          ``a · ∂T/∂a``: the first-order estimate of the total effect

All four are ``[batch, pos, d_mlp]`` tensors computed at once; the write vector of a chosen
node is :func:`mlp_write_vectors`.
"""

from __future__ import annotations

import torch
from jaxtyping import Float, Int
from torch import Tensor

from .groups import Scalars


@torch.no_grad()
def mlp_scalars(
    post: Float[Tensor, "batch pos d_mlp"],
    grad_post: Float[Tensor, "batch pos d_mlp"],
    W_out: Float[Tensor, "d_mlp d_model"],
    grad_final: Float[Tensor, "batch pos d_model"],
) -> Scalars:
    a = post.float()
    w = W_out.float()
    return {
        "activation": a,
        "write_norm": a.abs() * w.norm(dim=-1),
        "direct_effect": a * (grad_final.float() @ w.T),
        "act_times_grad": a * grad_post.float(),
    }


@torch.no_grad()
def mlp_write_vectors(
    post: Float[Tensor, "batch pos d_mlp"],
    W_out: Float[Tensor, "d_mlp d_model"],
    batch: Int[Tensor, " n"],
    pos: Int[Tensor, " n"],
    neuron: Int[Tensor, " n"],
) -> Float[Tensor, "n d_model"]:
    """What each chosen node adds to the residual stream."""
    return post[batch, pos, neuron].float()[:, None] * W_out[neuron].float()
