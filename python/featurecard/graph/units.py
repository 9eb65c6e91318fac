"""Per-unit parts of a contribution graph (MLP neurons, SAE latents) and the logit lens.

**Neurons.** An MLP's output is ``Σ_n post[n] · W_out[n] + b_out``; the residual state it
writes to is that plus the rest (the state before the block, or, with parallel blocks, the
state before plus the attention output). Parts: one per neuron, ``b_out``, the rest.

**SAE latents.** An SAE on a hook of the layer reads ``x`` and reconstructs it as
``s · (f @ W_dec + b_dec) + o`` (``s``, ``o`` undo SAELens's run-time input normalisation:
``s = ‖x‖/√d_in`` for ``constant_norm_rescale``, ``s = std(x)+1e-5, o = mean(x)`` for
``layer_norm``, else 1 and 0). Mapped linearly into the residual stream (the identity for
residual hooks, ``W_out`` for ``mlp.hook_post``, ``W_O`` for ``attn.hook_z``), the parts are:
one per latent (``s·f_j`` times its mapped decoder row), the bias (``s·b_dec + o`` mapped, plus
the block's own output bias ``b_out``/``b_O`` when the hook sits before it), the reconstruction
error (``x`` minus the reconstruction, mapped), and the rest of the state. They add up to the
state exactly, whatever the SAE's quality. An SAE on a residual hook splits that state itself
(no rest).

**Logit lens.** Each residual state goes through the model's own ``ln_final`` and unembedding;
we keep the top tokens by log-probability, and the tokens whose log-probability rose (promoted)
and fell (suppressed) most from the previous level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..core.dynamics import TokenDynamics
from ..core.model import flatten_hook_activation
from ..core.sae import SparseAutoencoder
from .blocks import BlockModel, SaeSite
from .contributions import unit_contributions


@dataclass
class UnitGroup:
    """The top units of one block (or residual level) at every position, with the other parts."""

    source: str  # the hook name for neurons, the SAE's Workspace name for latents
    unit: Literal["neuron", "latent"]
    hook_name: str
    block: Literal["attn", "mlp", "resid"]
    layer: int
    level: int  # the residual level the parts add up to
    n_units: int
    ids: Int[Tensor, "pos k"]
    shares: Float[Tensor, "pos k"]
    acts: Float[Tensor, "pos k"]
    units: Float[Tensor, " pos"]  # all units together
    parts: dict[str, Float[Tensor, " pos"]] = field(default_factory=dict)  # "bias", "error", "rest"
    promote: TokenDynamics | None = None  # [pos, k, k_tokens], each listed unit's (graph/promote.py)


@dataclass
class LensData:
    """Logit lens of every residual level (``level``) and its change from the level before."""

    top_ids: Int[Tensor, "level pos k"]
    top_values: Float[Tensor, "level pos k"]  # log-probabilities
    up_ids: Int[Tensor, "level_m1 pos k"]
    up_values: Float[Tensor, "level_m1 pos k"]  # change of log-probability, largest first
    down_ids: Int[Tensor, "level_m1 pos k"]
    down_values: Float[Tensor, "level_m1 pos k"]  # most negative first


def neuron_group(
    blocks: BlockModel,
    layer: int,
    post: Float[Tensor, "pos d_mlp"],
    mlp_out: Float[Tensor, "pos d_model"],
    whole: Float[Tensor, "pos d_model"],
    top_k: int,
    chunk_elements: int,
) -> UnitGroup:
    rows = blocks.neuron_rows(layer)
    assert rows is not None  # checked by BlockModel.neurons_exact
    w_out, b_out = rows
    post = post.float()
    others = torch.stack([b_out.expand_as(whole), whole - mlp_out])
    uc = unit_contributions(post, w_out, whole, others, top_k=top_k, chunk_elements=chunk_elements)
    hook = blocks.neuron_hook(layer)
    return UnitGroup(
        source=hook,
        unit="neuron",
        hook_name=hook,
        block="mlp",
        layer=layer,
        level=blocks.layout.mlp_out[layer],
        n_units=int(post.shape[-1]),
        ids=uc.ids.cpu(),
        shares=uc.shares.cpu(),
        acts=post.gather(1, uc.ids).cpu(),
        units=uc.units.cpu(),
        parts={"bias": uc.others[0].cpu(), "rest": uc.others[1].cpu()},
    )


def sae_group(
    blocks: BlockModel,
    name: str,
    sae: SparseAutoencoder,
    site: SaeSite,
    act: Tensor,
    whole: Float[Tensor, "pos d_model"],
    block_out: Float[Tensor, "pos d_model"] | None,
    top_k: int,
    chunk_elements: int,
) -> UnitGroup:
    x = flatten_hook_activation(act[None], sae.d_in, sae.hook_name)[0].to(sae.dtype)  # [pos, head, d_head] too
    f = sae.encode(x)
    s, o = sae.output_scale(x)
    cols = torch.nonzero((f != 0).any(0)).flatten()
    if cols.numel() == 0:  # nothing fires on this prompt: one silent column keeps shapes simple
        cols = torch.zeros(1, dtype=torch.long, device=f.device)
    rows_in = sae.decoder_rows()[cols]
    recon = s * (f[:, cols] @ rows_in + sae.b_dec) + o
    bias = blocks.to_resid(sae.hook_name, (s * sae.b_dec + o).expand_as(x))
    if site.extra_bias is not None:
        bias = bias + site.extra_bias
    parts = [bias, blocks.to_resid(sae.hook_name, x - recon)]
    if block_out is not None:
        parts.append(whole - block_out)
    uc = unit_contributions(
        (f[:, cols] * s).float(),
        blocks.to_resid(sae.hook_name, rows_in),
        whole,
        torch.stack(parts),
        top_k=top_k,
        n_units=sae.d_sae,
        chunk_elements=chunk_elements,
    )
    ids = cols[uc.ids]
    names = ["bias", "error", "rest"][: len(parts)]
    return UnitGroup(
        source=name,
        unit="latent",
        hook_name=sae.hook_name,
        block=site.block,  # type: ignore[arg-type]
        layer=site.layer,
        level=site.level,
        n_units=sae.d_sae,
        ids=ids.cpu(),
        shares=uc.shares.cpu(),
        acts=f.gather(1, ids).float().cpu(),
        units=uc.units.cpu(),
        parts={n: uc.others[i].cpu() for i, n in enumerate(names)},
    )


@torch.no_grad()
def logit_lens(blocks: BlockModel, levels: list[Tensor], k: int, chunk_elements: int) -> LensData:
    """Top-k log-probabilities per residual state, and the top-k rises and falls per level.

    Every level of a chunk of positions goes through the model's ``ln_final`` and ``unembed`` in
    one call (TransformerLens's ``Unembed`` copies ``W_U.T`` on every call: 70 ms at GPT-2 size,
    1.8 s when each of 25 levels was its own call), with ``[levels × positions, d_vocab]`` kept
    under ``chunk_elements``."""
    n_pos = int(levels[0].shape[0])
    d_vocab = blocks.adapter.d_vocab
    k = min(k, d_vocab)
    n = len(levels)
    top_i = torch.zeros(n, n_pos, k, dtype=torch.long)
    top_v = torch.zeros(n, n_pos, k)
    up_i = torch.zeros(n - 1, n_pos, k, dtype=torch.long)
    up_v = torch.zeros(n - 1, n_pos, k)
    dn_i = torch.zeros(n - 1, n_pos, k, dtype=torch.long)
    dn_v = torch.zeros(n - 1, n_pos, k)
    step = max(1, chunk_elements // (n * d_vocab))
    for q0 in range(0, n_pos, step):
        q1 = min(n_pos, q0 + step)
        lp = blocks.log_probs(torch.cat([resid[q0:q1] for resid in levels])).reshape(n, q1 - q0, -1)
        v, i = lp.topk(k, dim=-1)
        top_v[:, q0:q1], top_i[:, q0:q1] = v.cpu(), i.cpu()
        for r in range(1, n):
            delta = lp[r] - lp[r - 1]
            v, i = delta.topk(k, dim=-1)
            up_v[r - 1, q0:q1], up_i[r - 1, q0:q1] = v.cpu(), i.cpu()
            v, i = (-delta).topk(k, dim=-1)
            dn_v[r - 1, q0:q1], dn_i[r - 1, q0:q1] = -v.cpu(), i.cpu()
    return LensData(top_i, top_v, up_i, up_v, dn_i, dn_v)
