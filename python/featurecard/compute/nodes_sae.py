"""Derived scalars of SAE latents, one node per (SAE, latent, position).

The latents are those of the SAE **spliced in** at its hook during the table's forward pass:
the SAE input ``x`` is reconstituted from the residual stream (see
:mod:`featurecard.adapters.nodes`), ``f = encode(x)``, and the hook's value is replaced by
``decode(f) + stop_grad(x − decode(f))``. The value the model sees is unchanged (the error term
restores it), but every gradient through the hook now flows through the SAE: ``∂T/∂f`` is the
latents' own gradient, and upstream nodes see the gradient through the encoder, the
reconstitution's MLP and its LayerNorm. With ``d_i`` the decoder row of latent ``i`` mapped to
the residual stream (through ``W_out`` for ``mlp.hook_post``, ``W_O`` for ``attn.hook_z``):

* activation          ``f_i``
* write norm          ``|f_i| · ‖d_i‖``
* direct effect       ``f_i · (d_i · g[s])``
* act × grad          ``f_i · ∂T/∂f_i``

A hook with no linear path to the residual stream (``mlp.hook_pre``) has no write: its write
norm and direct effect are NaN (shown blank, never selected).
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from ..adapters.sae import SparseAutoencoder
from .node_groups import Scalars


def splice(
    sae: SparseAutoencoder,
    x: Float[Tensor, "batch pos d_in"],
    act: Float[Tensor, "batch pos d_in"],
    edit: dict[tuple[int, int], float] | None = None,
) -> tuple[Float[Tensor, "batch pos d_sae"], Float[Tensor, "batch pos d_in"]]:
    """Latents of ``x`` (optionally with ``edit[(pos, latent)] = value`` at every batch row)
    and the hook's new value: the reconstruction plus the detached error of ``act``."""
    f = sae.encode(x)
    recon = sae.decode(f)
    if edit:
        mask = torch.zeros_like(f, dtype=torch.bool)
        values = torch.zeros_like(f)
        for (p, i), val in edit.items():
            mask[:, p, i] = True
            values[:, p, i] = val
        f = torch.where(mask, values, f)
    out = sae.decode(f) + (act.to(recon.dtype) - recon).detach()
    return f, out.to(act.dtype)


@torch.no_grad()
def sae_scalars(
    f: Float[Tensor, "batch pos d_sae"],
    grad_f: Float[Tensor, "batch pos d_sae"],
    resid_rows: Float[Tensor, "d_sae d_model"] | None,
    grad_final: Float[Tensor, "batch pos d_model"],
) -> Scalars:
    a = f.float()
    if resid_rows is None:
        nan = torch.full_like(a, float("nan"))
        write_norm, direct = nan, nan
    else:
        d = resid_rows.float()
        write_norm = a.abs() * d.norm(dim=-1)
        direct = a * (grad_final.float() @ d.T)
    return {"activation": a, "write_norm": write_norm, "direct_effect": direct, "act_times_grad": a * grad_f.float()}
