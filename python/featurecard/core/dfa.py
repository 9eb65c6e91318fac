"""Direct feature attribution (DFA) of an attention-output SAE's latents to source tokens.

Shared by the prompt view (:mod:`featurecard.prompt.dfa`) and the card's examples
(:mod:`featurecard.card.dfa`).

An SAE on ``blocks.L.attn.hook_z`` reads ``x_q = z_q`` flattened to ``[n_heads · d_head]``, and
TransformerLens computes ``z[q, h] = Σ_s pattern[h, q, s] · v[s, h]`` (``v`` holds ``b_V``; each
pattern row sums to 1). So the input at query ``q`` is exactly a sum over source tokens ``s`` of

    y_s = (pattern[h, q, s] · v[s, h])_h    (flattened like z; grouped-query heads share their v)

and every linear step of the encoder distributes over that sum. Write the latent's
pre-activation as ``pre_f = k_f · (sae_in · w_f + b_f)`` with ``sae_in = g_q · C x_q −
β · b_dec`` (SAELens's ``process_sae_in``):

* ``w_f = W_enc[:, f]``, ``b_f = b_enc[f]``, ``k_f = 1`` (standard, JumpReLU, TopK);
  ``k_f = ‖W_dec[f]‖`` for TopK with ``rescale_acts_by_decoder_norm``; for a gated SAE the
  magnitude path: ``w_f = W_enc[:, f] · exp(r_mag[f])``, ``b_f = b_mag[f]``;
* ``β = 1`` when the SAE subtracts ``b_dec`` from its input (``apply_b_dec_to_input``), else 0;
* ``C`` the identity, or the centring ``x − mean(x)`` of ``normalize_activations="layer_norm"``;
  ``g_q`` 1, or the run-time scale of the input at ``q``, frozen there: ``1 / (std(x_q) + 1e-5)``
  (``layer_norm``), ``sqrt(d_in) / ‖x_q‖`` (``constant_norm_rescale``).

Then the DFA of latent ``f`` at query ``q`` to source ``s`` is

    DFA(f, q, s) = k_f · g_q · (C y_s) · w_f = k_f · g_q · Σ_h pattern[h, q, s] · (C v[s, h]-block) · w_f[h-block]

(for ``C`` the identity: the sum over heads of ``pattern[h, q, s] · v[s, h] @ W_enc[h-block, f]``), and

    Σ_s DFA(f, q, s) = pre_f(q) − k_f · (b_f − β · b_dec · w_f)

exactly: the pre-activation minus its bias terms, which no source token carries. Sources after
``q`` get 0 (the causal pattern). The pre-activation is the input to the SAE's nonlinearity (the
ReLU, JumpReLU's threshold, TopK's ranking), so a latent at 0 still has one; a firing latent's
activation equals it (a gated latent's, its magnitude).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from jaxtyping import Float, Int
from torch import Tensor

from .model import ModelAdapter, block_hook, flatten_hook_activation, parse_hook
from .sae import SparseAutoencoder

LN_EPS = 1e-5  # the eps of SAELens's layer_norm input normalisation (core/sae.py: preprocess)


def dfa_unavailable(sae: SparseAutoencoder) -> str:
    """Why DFA is not defined for ``sae`` ('' when it is)."""
    site = parse_hook(sae.hook_name)
    if site.kind != "attn.hook_z" or site.layer is None:
        return f"DFA needs an SAE on an attention output (blocks.L.attn.hook_z); this one reads {sae.hook_name}"
    return ""


@dataclass(frozen=True)
class DfaInputs:
    """What DFA reads of one forward pass: each source's share ``y_s`` of every query's input."""

    pattern: Float[Tensor, "head q k"]
    v: Float[Tensor, "k head d_head"]  # repeated to every query head (grouped-query attention)
    x: Float[Tensor, "q d_in"]  # the SAE's input, z flattened


@torch.no_grad()
def dfa_inputs(adapter: ModelAdapter, sae: SparseAutoencoder, ids: Int[Tensor, " pos"]) -> DfaInputs:
    """The attention pattern and values of the SAE's layer, and its hook value, for the prompt."""
    return dfa_inputs_rows(adapter, sae, ids[None])[0]


@torch.no_grad()
def dfa_inputs_rows(adapter: ModelAdapter, sae: SparseAutoencoder, ids: Int[Tensor, "batch pos"]) -> list[DfaInputs]:
    """:func:`dfa_inputs` of each row of ``ids``, from one forward pass (it stops at the SAE's layer)."""
    why = dfa_unavailable(sae)
    if why:
        raise ValueError(why)
    layer = parse_hook(sae.hook_name).layer
    assert layer is not None
    hooks = [block_hook(layer, "attn.hook_pattern"), block_hook(layer, "attn.hook_v"), sae.hook_name]
    got = adapter.capture(ids, hooks)
    pattern, v = got[hooks[0]], got[hooks[1]]
    n_heads = int(pattern.shape[1])
    if v.shape[2] != n_heads:  # grouped-query attention: each key/value head serves n_heads / n_kv heads
        v = v.repeat_interleave(n_heads // int(v.shape[2]), dim=2)
    x = flatten_hook_activation(got[sae.hook_name], sae.d_in, sae.hook_name)
    return [DfaInputs(pattern[i], v[i], x[i]) for i in range(int(ids.shape[0]))]


def _encoder(sae: SparseAutoencoder, latents: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(w [d_in, n], b [n], k [n])`` of the latents (see the module docstring)."""
    w, b = sae.W_enc[:, latents], sae.b_enc[latents]
    k = torch.ones_like(b)
    if sae.architecture == "gated":
        assert sae.r_mag is not None and sae.b_mag is not None
        w, b = w * sae.r_mag[latents].exp(), sae.b_mag[latents]
    elif sae.architecture == "topk" and sae.rescale_acts_by_decoder_norm:
        k = sae.W_dec[latents].norm(dim=-1)
    return w, b, k


def _input_scale(sae: SparseAutoencoder, x: Float[Tensor, " d_in"]) -> Tensor:
    if sae.normalize_activations == "layer_norm":
        return 1.0 / ((x - x.mean()).std() + LN_EPS)
    if sae.normalize_activations == "constant_norm_rescale":
        return cast("Tensor", (sae.d_in**0.5) / x.norm())
    return torch.ones((), dtype=x.dtype, device=x.device)


def dfa_at(
    sae: SparseAutoencoder, inputs: DfaInputs, q: int, latents: Int[Tensor, " n"]
) -> tuple[Float[Tensor, "n src"], Float[Tensor, " n"], Float[Tensor, " n"]]:
    """DFA of ``latents`` at query ``q`` to sources ``0 .. q``; their pre-activations and bias terms.

    ``dfa.sum(-1) == pre − bias`` (float rounding aside)."""
    dt = sae.dtype
    y = (inputs.pattern[:, q, : q + 1, None] * inputs.v[: q + 1].transpose(0, 1)).transpose(0, 1)  # [src, head, d]
    y = y.flatten(1).to(dt)  # [src, d_in]
    x = inputs.x[q].to(dt)
    if sae.normalize_activations == "layer_norm":
        y = y - y.mean(-1, keepdim=True)
    g = _input_scale(sae, x)
    w, b, k = _encoder(sae, latents.to(sae.device))
    dfa = (k * g)[None, :] * (y.to(w.device) @ w)  # [src, n]
    beta = 1.0 if sae.apply_b_dec_to_input else 0.0
    bias = k * (b - beta * (sae.b_dec @ w))
    sae_in = sae.preprocess(x[None])[0]
    pre = k * (sae_in @ w + b)
    return dfa.T, pre, bias
