"""Derived scalars of SAE latents and SAE errors, one node per (SAE, latent, position) and one
error node per (SAE, position).

The SAE is **spliced in** at its hook during the table's forward pass as Transformer Debugger's
autoencoder hooks do it. With ``x`` the hook's value, ``f = encode(x)`` and ``(s, o)`` the SAE's
run-time output scale (:meth:`~featurecard.core.sae.SparseAutoencoder.output_scale`: 1 and 0
unless the SAE normalises each token), the reconstruction in model space is
``r(f) = s · decode(f) + o`` (``decode`` includes ``b_dec``) and the hook's value becomes::

    r(f') + e,     f' = clone(f) (the latent nodes),   e = x − r(f) (the error node)

The value is unchanged, and so is **every gradient upstream of the hook**: ``∂/∂x`` through
``f'`` and through ``e``'s ``−r(f)`` cancel exactly, leaving the identity of ``e``. Splicing an
SAE therefore changes no other node's number. ``f'`` and ``e`` are intermediate nodes whose
gradients are the latents' and the error's own: ``∂T/∂f'_i = s · d_i · ∂T/∂h`` (``h`` the hook),
``∂T/∂e = ∂T/∂h``. So the hook's ``x · ∂T/∂h`` splits exactly into the latents' act × grad, the
decoder bias' ``(s · b_dec + o) · ∂T/∂h`` and the error's ``e · ∂T/∂h``. An ablated latent is
edited in ``f'`` only: the error term is kept, so only that latent's contribution changes.

With ``d_i`` the decoder row of latent ``i`` mapped to the residual stream (through ``W_out`` for
``mlp.hook_post``, ``W_O`` for ``attn.hook_z``), a latent's write in model space is
``s · f_i · d_i``:

* activation          ``f_i``
* write norm          ``s · |f_i| · ‖d_i‖``
* direct effect       ``s · f_i · (d_i · g[pos])``, ``g`` the final-residual gradient
* act × grad          ``f_i · ∂T/∂f'_i``

and the error node's, with ``E`` the error mapped to the residual stream the same way:

* activation          ``‖e‖``
* write norm          ``‖E‖``
* direct effect       ``E · g[pos]``
* act × grad          ``e · ∂T/∂e``

A hook with no linear path to the residual stream (``mlp.hook_pre``) has no write: its write
norm and direct effect are NaN (shown blank, never selected).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from ..core.sae import SparseAutoencoder
from .groups import Scalars


@dataclass
class Splice:
    """One SAE spliced in at its hook (see the module docstring)."""

    latents: Float[Tensor, "batch pos d_sae"]  # f', with the ablations in place
    error: Float[Tensor, "batch pos d_in"]  # e = x − r(f), in the hook's (model) space
    scale: Float[Tensor, "batch pos 1"]  # s, detached
    out: Float[Tensor, "batch pos d_in"]  # the hook's new value r(f') + e


def splice(
    sae: SparseAutoencoder,
    act: Float[Tensor, "batch pos d_in"],
    edit: dict[tuple[int, int], float] | None = None,
) -> Splice:
    """Splice ``sae`` into the hook value ``act`` (optionally with ``edit[(pos, latent)] = value``
    at every batch row)."""
    x = act.to(sae.dtype)
    f = sae.encode(x)
    s, o = sae.output_scale(x)
    error = x - (s * sae.decode(f) + o)
    latents = f.clone()  # a second use of f: its gradient is the latents' own, not the error's
    if edit:
        mask = torch.zeros_like(f, dtype=torch.bool)
        values = torch.zeros_like(f)
        for (p, i), val in edit.items():
            mask[:, p, i] = True
            values[:, p, i] = val
        latents = torch.where(mask, values, latents)
    out = s * sae.decode(latents) + o + error
    return Splice(latents, error, s.detach(), out.to(act.dtype))


@torch.no_grad()
def sae_scalars(
    f: Float[Tensor, "batch pos d_sae"],
    grad_f: Float[Tensor, "batch pos d_sae"],
    resid_rows: Float[Tensor, "d_sae d_model"] | None,
    grad_final: Float[Tensor, "batch pos d_model"],
    scale: Float[Tensor, "batch pos 1"] | None = None,
) -> Scalars:
    """Every group's value for the latents, each ``[batch, pos, d_sae]``."""
    a = f.float()
    if resid_rows is None:
        nan = torch.full_like(a, float("nan"))
        write_norm, direct = nan, nan
    else:
        d = resid_rows.float()
        s = torch.ones_like(a[..., :1]) if scale is None else scale.float()
        write_norm = s * a.abs() * d.norm(dim=-1)
        direct = s * a * (grad_final.float() @ d.T)
    return {"activation": a, "write_norm": write_norm, "direct_effect": direct, "act_times_grad": a * grad_f.float()}


@torch.no_grad()
def error_scalars(
    error: Float[Tensor, "batch pos d_in"],
    grad_error: Float[Tensor, "batch pos d_in"],
    resid_error: Float[Tensor, "batch pos d_model"] | None,
    grad_final: Float[Tensor, "batch pos d_model"],
) -> Scalars:
    """Every group's value for the error nodes, each ``[batch, pos, 1]``."""
    e = error.float()
    if resid_error is None:
        nan = torch.full_like(e[..., 0], float("nan"))
        write_norm, direct = nan, nan
    else:
        r = resid_error.float()
        write_norm, direct = r.norm(dim=-1), (r * grad_final.float()).sum(-1)
    scalars = {
        "activation": e.norm(dim=-1),
        "write_norm": write_norm,
        "direct_effect": direct,
        "act_times_grad": (e * grad_error.float()).sum(-1),
    }
    return {k: v[..., None] for k, v in scalars.items()}
