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

    heads: TokenDynamics  # [layer, pos, head_index, k]
    attn: TokenDynamics  # [layer, pos, k], the block's output, b_O included
    mlp: TokenDynamics | None  # [layer, pos, k]; None without MLPs


class PromotePass:
    """What a :class:`~featurecard.graph.build.LayerPass` saves and computes for promote / suppress."""

    def __init__(
        self, blocks: BlockModel, saes: Mapping[str, SparseAutoencoder], k: int, chunk_elements: int, neurons: bool
    ) -> None:
        model = blocks.adapter.model
        ro = FrozenReadout.of(model)
        self.blocks, self.saes, self.chunk, self.neurons = blocks, saes, chunk_elements, neurons
        self.readout = FrozenReadout(ro.norm, ro.W_U.float())
        self.k = min(k, int(ro.W_U.shape[-1]))
        self.w_o = cast("Tensor", model.W_O).detach().float()
        self.scale: Tensor | None = None
        self.layers: list[tuple[TokenDynamics, TokenDynamics, TokenDynamics | None]] = []
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
        heads = self.dynamics(head_writes(self.w_o[layer], z.float()))
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
            fields = ("promote_ids", "promote_values", "suppress_ids", "suppress_values")
            return TokenDynamics(*(torch.stack([getattr(p, f) for p in parts]) for f in fields))

        heads, attn = stack(0).scaled(scale[None, :, None]), stack(1).scaled(scale[None])
        mlp = stack(2).scaled(scale[None]) if self.layers[0][2] is not None else None
        for u in self.units:
            assert u.promote is not None
            u.promote = u.promote.scaled(scale[:, None])
        return PromoteData(heads, attn, mlp)
