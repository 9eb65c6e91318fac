"""Promote / suppress for the graph's nodes (LLM Transparency Tool's view), during the one pass.

For every attention head, attention block and MLP block at every position, and for every SAE
latent the graph lists (and each listed neuron with ``promote_neurons``: off by default, as it
triples the payload), the tokens its write promotes and suppresses most: its logit contribution
through the final LayerNorm frozen at the scale it applied at that position in this same pass
(``ln_final.hook_scale``) and ``W_U``, with no bias (:mod:`featurecard.core.dynamics`, which says
what is exact and what is frozen). The writes: a head's ``z[q, h] @ W_O[h]``, a block's
``hook_attn_out`` / ``hook_mlp_out``, a neuron's ``act · W_out[i]``, a latent's ``s · act ·``
decoder row mapped to the residual stream.

Layer L's writes are dropped before layer L+1 runs, but the final scale fires only after the last
layer: each layer's top and bottom tokens are chosen with the scale left out (a positive scale
per position does not reorder them) and divided by it at the end.

**Heads on request.** The heads are 12 of every 14 writes projected onto the vocabulary at GPT-2
size (2.7 of the pass's 3.2 s more for 32 tokens on 2 CPU cores), and the widget shows them for
one attention node at a time. So by default the pass keeps each layer's ``z`` (``[pos,
head_index, d_head]`` per layer: 38 MB for 1,024 GPT-2 tokens) and :meth:`PromoteData.fill_heads`
computes a node's heads when it is asked for (the widget asks when an attention node is opened;
an export fills them all), with the same function on the same writes, so the numbers are those
of the eager pass (``GraphOptions(promote_heads=True)``) up to float rounding. ``heads_done``
says which (layer, position) are filled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor

from ..core.dynamics import (
    FrozenReadout,
    TokenDynamics,
    head_writes,
    latent_writes,
    neuron_writes,
    token_dynamics,
)
from ..core.model import block_hook, flatten_hook_activation
from ..core.sae import SparseAutoencoder
from .blocks import BlockModel
from .units import UnitGroup

FINAL_SCALE = "ln_final.hook_scale"


@dataclass
class PromoteData:
    """Promote / suppress of the blocks at every position (values at the frozen final scale)."""

    heads: TokenDynamics  # [layer, pos, head_index, k]; only where heads_done (see fill_heads)
    attn: TokenDynamics  # [layer, pos, k], the block's output, b_O included
    mlp: TokenDynamics | None  # [layer, pos, k]; None without MLPs
    heads_done: Tensor  # bool [layer, pos]: heads holds that node's heads
    later: HeadsLater | None = None  # what fill_heads needs; None once every node is filled

    def fill_heads(self, layer: int | None = None, pos: int | None = None) -> PromoteData:
        """Compute the heads of node (``layer``, ``pos``) (None: every layer / position) where not yet done."""
        later = self.later
        if later is None:
            return self
        n_layers = int(self.heads_done.shape[0])
        layers = range(n_layers) if layer is None else [layer]
        wanted = torch.zeros_like(self.heads_done)
        for L in layers:
            wanted[L, slice(None) if pos is None else pos] = True
        for L in layers:
            todo = (wanted[L] & ~self.heads_done[L]).nonzero().flatten()
            if todo.numel() == 0:
                continue
            d = later.heads(L, todo)
            for mine, new in zip(_FIELDS, (getattr(d, f) for f in _FIELDS), strict=True):
                getattr(self.heads, mine)[L, todo] = new.to(getattr(self.heads, mine).dtype)
            self.heads_done[L, todo] = True
        if bool(self.heads_done.all()):
            self.later = None  # the saved z is no longer needed
        return self


_FIELDS = ("promote_ids", "promote_values", "suppress_ids", "suppress_values")


@dataclass
class HeadsLater:
    """What the heads of a node need once the pass is over: each layer's ``z``, ``W_O``, the
    readout and the final scale."""

    z: list[Tensor]  # per layer [pos, head_index, d_head]
    w_o: Tensor
    scale: Tensor  # [pos, 1]
    dynamics: Callable[[Tensor], TokenDynamics]

    def heads(self, layer: int, pos: Tensor) -> TokenDynamics:
        """``[len(pos), head_index, k]`` at the frozen scale."""
        z = self.z[layer][pos.to(self.z[layer].device)]
        d = self.dynamics(head_writes(self.w_o[layer], z.float()))
        return d.scaled(self.scale[pos][:, None])


class PromotePass:
    """What a :class:`~featurecard.graph.build.LayerPass` saves and computes for promote / suppress."""

    def __init__(
        self,
        blocks: BlockModel,
        saes: Mapping[str, SparseAutoencoder],
        k: int,
        chunk_elements: int,
        neurons: bool,
        heads: bool = True,
    ) -> None:
        """``heads``: every head's dynamics in the pass; False keeps ``z`` for :meth:`PromoteData.fill_heads`."""
        model = blocks.adapter.model
        ro = FrozenReadout.of(model)
        self.blocks, self.saes, self.chunk, self.neurons = blocks, saes, chunk_elements, neurons
        self.readout = FrozenReadout(ro.norm, ro.W_U.float())
        self.k = min(k, int(ro.W_U.shape[-1]))
        self.w_o = cast("Tensor", model.W_O).detach().float()
        self.scale: Tensor | None = None
        self.eager_heads = heads
        self.z: list[Tensor] = []  # each layer's z, kept for the heads on request
        self.layers: list[tuple[TokenDynamics | None, TokenDynamics, TokenDynamics | None]] = []
        self.units: list[UnitGroup] = []

    def hook_names(self, layer: int) -> list[str]:
        """The activations of ``layer`` to save, besides those the contribution pass saves."""
        return [block_hook(layer, "attn.hook_z")]

    def scale_hooks(self) -> list[tuple[str, Callable[[Tensor, object], None]]]:
        """A hook saving the final LayerNorm's scale, where the model has one."""
        if FINAL_SCALE not in self.blocks.adapter.hook_names:
            return []

        def hook(act: Tensor, hook: object) -> None:  # noqa: ARG001 - TL passes the HookPoint
            self.scale = act[0].detach().float()

        return [(FINAL_SCALE, hook)]

    def dynamics(self, write: Tensor) -> TokenDynamics:
        d = token_dynamics(self.readout, write.float(), None, self.k, self.chunk)
        return TokenDynamics(*(t.cpu() for t in (d.promote_ids, d.promote_values, d.suppress_ids, d.suppress_values)))

    def layer(self, layer: int, store: Mapping[str, Tensor], units: list[UnitGroup]) -> None:
        """Layer ``layer``'s heads, blocks and listed units (its activations are in ``store``)."""
        z = store[block_hook(layer, "attn.hook_z")]
        heads = self.dynamics(head_writes(self.w_o[layer], z.float())) if self.eager_heads else None
        if not self.eager_heads:
            self.z.append(z)
        attn = self.dynamics(store[block_hook(layer, "hook_attn_out")])
        mlp_name = block_hook(layer, "hook_mlp_out")
        mlp = self.dynamics(store[mlp_name]) if self.blocks.layout.has_mlp else None
        self.layers.append((heads, attn, mlp))
        for u in units:
            if u.unit == "latent" or self.neurons:
                u.promote = self.dynamics(self.unit_writes(u, store))
                self.units.append(u)

    def unit_writes(self, u: UnitGroup, store: Mapping[str, Tensor]) -> Tensor:
        """``[pos, k, d_model]``: the write of each listed unit at its position."""
        dev = self.w_o.device
        ids, acts = u.ids.to(dev), u.acts.to(dev)
        if u.unit == "neuron":
            rows = self.blocks.neuron_rows(u.layer)
            assert rows is not None  # a neuron group exists only where W_out does
            return neuron_writes(rows[0], ids, acts)
        sae = self.saes[u.source]
        x = flatten_hook_activation(store[sae.hook_name][None], sae.d_in, sae.hook_name)[0]
        n_pos, k = ids.shape
        x_rows = x[:, None].expand(n_pos, k, x.shape[-1]).reshape(n_pos * k, -1)
        w = latent_writes(self.blocks.adapter, sae, ids.reshape(-1), acts.reshape(-1), x_rows)
        return w.reshape(n_pos, k, -1)

    def result(self) -> PromoteData:
        """Every layer's dynamics, stacked and divided by the final scale at each position."""
        n_pos = int(self.layers[0][1].promote_ids.shape[0])
        scale = self.scale.cpu() if self.scale is not None else torch.ones(n_pos, 1)

        def stack(i: int) -> TokenDynamics:
            parts = [cast("TokenDynamics", layer[i]) for layer in self.layers]
            return TokenDynamics(*(torch.stack([getattr(p, f) for p in parts]) for f in _FIELDS))

        attn = stack(1).scaled(scale[None])
        mlp = stack(2).scaled(scale[None]) if self.layers[0][2] is not None else None
        for u in self.units:
            assert u.promote is not None
            u.promote = u.promote.scaled(scale[:, None])
        n_layers = len(self.layers)
        if self.eager_heads:
            done = torch.ones(n_layers, n_pos, dtype=torch.bool)
            return PromoteData(stack(0).scaled(scale[None, :, None]), attn, mlp, done)
        shape = (n_layers, n_pos, int(self.w_o.shape[1]), int(attn.promote_ids.shape[-1]))
        ids, vals = torch.zeros(shape, dtype=attn.promote_ids.dtype), torch.full(shape, float("nan"))
        heads = TokenDynamics(ids, vals, ids.clone(), vals.clone())
        later = HeadsLater(self.z, self.w_o, scale, self.dynamics)
        return PromoteData(heads, attn, mlp, torch.zeros(n_layers, n_pos, dtype=torch.bool), later)
