"""Every node family's derived scalars from one forward and backward pass, and the rows' profiles.

``g`` is the gradient at the read point: the final residual for token targets, the residual
stream where a node target reads it (:mod:`.node_targets`). A family whose writes cannot reach
the read point is left out (its nodes are not nodes of the table), and every family is cut to
the positions up to the target's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..core.model import parse_hook
from .ablation import Ablation
from .context import Family, FamilyKind, NodeContext
from .groups import Block, Scalars, Selection
from .node_targets import NodeTargetSpec
from .rollups import attn_layer_scalars, head_scalars, head_writes, mlp_layer_scalars
from .scalars_attn import attn_scalars
from .scalars_mlp import mlp_scalars
from .scalars_sae import error_scalars, sae_scalars


class _Blocks:
    """Collects the blocks of the families that reach the target."""

    def __init__(self, ctx: NodeContext, p: int, target: NodeTargetSpec | None) -> None:
        self.ctx, self.p, self.target = ctx, p, target
        self.out: list[Block] = []

    def wanted(self, family: Family, layer: int) -> bool:
        if self.target is None:
            return True
        return self.target.reaches(self.ctx.family_hook(family, layer), self.ctx.parallel)

    def add(self, kind: FamilyKind, layer: int, sc: Scalars, sae: str = "", hook_layer: int | None = None) -> None:
        family = self.ctx.families[self.ctx.codes[kind, sae]]
        if self.wanted(family, layer if hook_layer is None else hook_layer):
            p = self.p
            self.out.append(Block(family.code, layer, {k: v[:, : p + 1] for k, v in sc.items()}))


def _attention(
    b: _Blocks, acts: dict[str, Tensor], grad: dict[str, Tensor], g: Tensor, abls: Sequence[Ablation]
) -> None:
    ctx, types = b.ctx, b.ctx.opts.node_types
    for L in ctx.layers:
        if "mlp" in types and b.wanted(ctx.families[0], L):
            b.add("mlp", L, mlp_scalars(acts[f"mlp:{L}"], grad[f"mlp:{L}"], ctx.nm.w_out(L), g))
        if "attn" in types and b.wanted(ctx.families[1], L):
            pattern = acts[f"pattern:{L}"].clone()
            for ab in abls:  # an ablated head at a query position moves nothing any more
                if ab.family == "attn" and ab.layer == L:
                    pattern[:, ab.unit, ab.pos] = 0
            v = ctx.nm.expand_kv(acts[f"v:{L}"])
            b.add("attn", L, attn_scalars(pattern, v, grad[f"z:{L}"], ctx.nm.w_o(L), g))


def _rollups(b: _Blocks, acts: dict[str, Tensor], grad: dict[str, Tensor], g: Tensor) -> None:
    ctx, types = b.ctx, b.ctx.opts.node_types
    if not {"head", "layer"} & set(types):
        return
    for L in ctx.layers:
        z, gz = acts[f"z:{L}"], grad[f"z:{L}"]
        if "head" in types:
            b.add("head", L, head_scalars(z, gz, ctx.nm.w_o(L), g))
        if "layer" in types:
            b.add("attn_layer", L, attn_layer_scalars(z, gz, ctx.nm.w_o(L), g))
            b.add("mlp_layer", L, mlp_layer_scalars(acts[f"mlp:{L}"], grad[f"mlp:{L}"], ctx.nm.w_out(L), g))


def _saes(b: _Blocks, acts: dict[str, Tensor], grad: dict[str, Tensor], g: Tensor) -> None:
    ctx, types = b.ctx, b.ctx.opts.node_types
    for name in ctx.sae_names:
        sae, layer = ctx.ws.saes[name], parse_hook(ctx.ws.saes[name].hook_name).layer
        layer = -1 if layer is None else layer
        if "sae" in types:
            rows = ctx.nm.resid_write(sae.hook_name, sae.decoder_rows())
            sc = sae_scalars(acts[f"sae:{name}"], grad[f"sae:{name}"], rows, g, acts[f"scale:{name}"])
            b.add("sae", layer, sc, name)
        if "error" in types:
            e = acts[f"err:{name}"]
            write = ctx.nm.resid_write(sae.hook_name, e.reshape(-1, e.shape[-1]))
            write = None if write is None else write.reshape(*e.shape[:2], -1)
            b.add("error", layer, error_scalars(e, grad[f"err:{name}"], write, g), name)


@torch.no_grad()
def node_blocks(
    ctx: NodeContext,
    acts: dict[str, Tensor],
    grad: dict[str, Tensor],
    g: Tensor,
    target: NodeTargetSpec | None,
    p: int,
    abls: Sequence[Ablation],
) -> tuple[list[Block], list[Block]]:
    """The unit families' blocks and the roll-ups' blocks (ranked apart: :mod:`.rollups`)."""
    units, rollups = _Blocks(ctx, p, target), _Blocks(ctx, p, target)
    _attention(units, acts, grad, g, abls)
    _saes(units, acts, grad, g)
    _rollups(rollups, acts, grad, g)
    return units.out, rollups.out


@torch.no_grad()
def profiles(ctx: NodeContext, sel: Selection, acts: dict[str, Tensor]) -> Tensor:
    """Each row's activation per position (attention pairs and heads: the head's attention from
    the row's query to every source; layers: the norm of the layer's write)."""
    batch, n_pos = acts["final"].shape[:2]
    out = torch.zeros(batch, len(sel), n_pos)
    for j in range(len(sel)):
        fam, L, u, q = (int(t[j]) for t in (sel.family, sel.layer, sel.unit, sel.pos))
        family = ctx.families[fam]
        if family.kind == "mlp":
            out[:, j] = acts[f"mlp:{L}"][:, :, u].float().cpu()
        elif family.kind in ("attn", "head"):
            out[:, j] = acts[f"pattern:{L}"][:, u, q].float().cpu()
        elif family.kind == "sae":
            out[:, j] = acts[f"sae:{family.sae}"][:, :, u].float().cpu()
        elif family.kind == "error":
            out[:, j] = acts[f"err:{family.sae}"].float().norm(dim=-1).cpu()
        elif family.kind == "attn_layer":
            out[:, j] = head_writes(acts[f"z:{L}"], ctx.nm.w_o(L)).sum(2).norm(dim=-1).cpu()
        else:
            out[:, j] = (acts[f"mlp:{L}"].float() @ ctx.nm.w_out(L).float()).norm(dim=-1).cpu()
    return out
