"""Roll-up nodes: an attention head summed over its sources, and whole attention / MLP layers.

Three node families for any target, with the table's four columns:

* **head** ``(layer, head, pos)``: the head's pairs at query ``pos`` summed over sources; its write
  is ``z[pos, h] W_O[h]`` (``z = Σ_k A[h, pos, k] v[k, h]``, no ``b_O``);
* **attention layer** ``(layer, pos)``: every head summed, write ``Σ_h z[pos, h] W_O[h]``
  (``hook_attn_out`` less ``b_O``);
* **MLP layer** ``(layer, pos)``: every neuron summed, write ``Σ_i post[pos, i] W_out[i]``
  (``hook_mlp_out`` less ``b_out``).

With ``g`` the gradient at the read point (the final residual for token targets):

* write norm          the norm of the **summed** write (not the sum of the units' norms)
* direct effect       ``write · g[pos]`` (= the sum of the units' direct effects)
* act × grad          ``Σ_units act · ∂T/∂act`` (= the sum of the units'; for a head
  ``z[pos, h] · ∂T/∂z[pos, h]``)
* activation          NaN: a sum of units has no activation of its own (shown blank, never
  selected)

**Ranked among themselves.** A roll-up is the sum of unit rows that the table already ranks; a
layer's write outweighs every unit in it, so ranked together the roll-ups would crowd the units
out. The roll-ups are therefore their own families, and the table is the union of the units'
top-k (:func:`.groups.select_nodes`) followed by the union of the roll-ups' own top-k.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from .groups import Scalars, Selection


def _scalars(write: Tensor, atg: Tensor, g: Tensor) -> Scalars:
    """``write`` ``[batch, pos, unit, d_model]``, ``atg`` ``[batch, pos, unit]``."""
    return {
        "activation": torch.full_like(atg, float("nan")),
        "write_norm": write.norm(dim=-1),
        "direct_effect": torch.einsum("bpud,bpd->bpu", write, g.float()),
        "act_times_grad": atg,
    }


@torch.no_grad()
def head_writes(
    z: Float[Tensor, "batch pos head_index d_head"], W_O: Float[Tensor, "head_index d_head d_model"]
) -> Float[Tensor, "batch pos head_index d_model"]:
    return torch.einsum("bphe,hed->bphd", z.float(), W_O.float())


@torch.no_grad()
def head_scalars(
    z: Float[Tensor, "batch pos head_index d_head"],
    grad_z: Float[Tensor, "batch pos head_index d_head"],
    W_O: Float[Tensor, "head_index d_head d_model"],
    g: Float[Tensor, "batch pos d_model"],
) -> Scalars:
    """Every group's value for the heads summed over sources, each ``[batch, pos, head_index]``."""
    return _scalars(head_writes(z, W_O), (z.float() * grad_z.float()).sum(-1), g)


@torch.no_grad()
def attn_layer_scalars(
    z: Float[Tensor, "batch pos head_index d_head"],
    grad_z: Float[Tensor, "batch pos head_index d_head"],
    W_O: Float[Tensor, "head_index d_head d_model"],
    g: Float[Tensor, "batch pos d_model"],
) -> Scalars:
    """Every group's value for the attention layer, each ``[batch, pos, 1]``."""
    write = head_writes(z, W_O).sum(2, keepdim=True)
    return _scalars(write, (z.float() * grad_z.float()).sum((-1, -2))[..., None], g)


@torch.no_grad()
def mlp_layer_scalars(
    post: Float[Tensor, "batch pos d_mlp"],
    grad_post: Float[Tensor, "batch pos d_mlp"],
    W_out: Float[Tensor, "d_mlp d_model"],
    g: Float[Tensor, "batch pos d_model"],
) -> Scalars:
    """Every group's value for the MLP layer, each ``[batch, pos, 1]``."""
    write = (post.float() @ W_out.float())[:, :, None]
    return _scalars(write, (post.float() * grad_post.float()).sum(-1)[..., None], g)


def concat(a: Selection, b: Selection) -> Selection:
    """The rows of ``a`` followed by those of ``b`` (same groups)."""
    return Selection(
        family=torch.cat([a.family, b.family]),
        layer=torch.cat([a.layer, b.layer]),
        unit=torch.cat([a.unit, b.unit]),
        pos=torch.cat([a.pos, b.pos]),
        src=torch.cat([a.src, b.src]),
        values=torch.cat([a.values, b.values], dim=-1),
        groups=a.groups,
    )
