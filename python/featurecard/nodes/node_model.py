"""Model access for node tables: hook names, weights and running with hooks.

The node table reads, per layer, the MLP neurons (``mlp.hook_post``), the attention heads
(``attn.hook_pattern``, ``attn.hook_v`` and ``attn.hook_z``), the final residual
(``blocks.{L-1}.hook_resid_post``) and the final LayerNorm's scale (``ln_final.hook_scale``).
All are legacy TransformerLens names that both ``HookedTransformer`` and ``TransformerBridge``
expose; they are validated against ``model.hook_dict`` before any run. Two facts about the
bridge shape what we hook: its ``hook_pattern`` is an observation point (editing it changes
nothing downstream), so head ablations edit ``hook_z``; and inside a hook it may report another
(canonical) name, so every hook here is keyed by the name we registered, never ``hook.name``.

SAEs are spliced in at their hooks by the table itself (:func:`featurecard.nodes.scalars_sae.splice`),
on the hook's own value.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..core.forward_guard import forward_guard
from ..core.model import ModelAdapter, block_hook

HookFn = Callable[[Tensor], Tensor]


class NodeModel:
    """The slice of a TransformerLens model a node table needs (see the module docstring)."""

    FINAL_LN_SCALE = "ln_final.hook_scale"

    def __init__(self, adapter: ModelAdapter) -> None:
        self.adapter = adapter
        self.model = adapter.model
        cfg = self.model.cfg
        self.n_layers = int(cfg.n_layers)
        self.n_heads = int(cfg.n_heads)
        self.d_model = int(cfg.d_model)
        kv = getattr(cfg, "n_key_value_heads", None)
        self.n_kv_heads = int(kv) if kv else self.n_heads

    # -- names -----------------------------------------------------------------------------
    @staticmethod
    def mlp_post(layer: int) -> str:
        return block_hook(layer, "mlp.hook_post")

    @staticmethod
    def attn_z(layer: int) -> str:
        return block_hook(layer, "attn.hook_z")

    @staticmethod
    def attn_v(layer: int) -> str:
        return block_hook(layer, "attn.hook_v")

    @staticmethod
    def attn_pattern(layer: int) -> str:
        return block_hook(layer, "attn.hook_pattern")

    @staticmethod
    def resid_mid(layer: int) -> str:
        return block_hook(layer, "hook_resid_mid")

    @property
    def final_resid(self) -> str:
        return self.adapter.final_resid_hook

    def require(self, names: Sequence[str], what: str) -> None:
        """Every name must be a hook of the model (the error lists the valid ones)."""
        for n in names:
            self.adapter.validate_hook(n, what=what)

    # -- weights ---------------------------------------------------------------------------
    def w_out(self, layer: int) -> Float[Tensor, "d_mlp d_model"]:
        return cast("Tensor", self.model.W_out[layer]).detach()

    def w_o(self, layer: int) -> Float[Tensor, "head_index d_head d_model"]:
        return cast("Tensor", self.model.W_O[layer]).detach()

    def d_mlp(self) -> int:
        return int(self.model.W_out.shape[-2])

    def expand_kv(self, v: Float[Tensor, "batch pos kv_head d_head"]) -> Float[Tensor, "batch pos head_index d_head"]:
        """Grouped-query attention: repeat each key/value head for the query heads it serves."""
        if v.shape[-2] == self.n_heads:
            return v
        return v.repeat_interleave(self.n_heads // v.shape[-2], dim=-2)

    # -- running ---------------------------------------------------------------------------
    def run(self, tokens: Int[Tensor, "batch pos"], hooks: Mapping[str, Sequence[HookFn]], grad: bool = True) -> Tensor:
        """The logits of one forward pass (gradients on unless ``grad=False``); each hook's
        functions run in order.

        A function takes the activation and returns its replacement (or the same tensor).
        """

        def chain(fns: Sequence[HookFn]) -> Callable[..., Tensor]:
            def hook(act: Tensor, hook: object) -> Tensor:  # noqa: ARG001 - TL passes the HookPoint
                for fn in fns:
                    act = fn(act)
                return act

            return hook

        with torch.set_grad_enabled(grad), forward_guard(self.model), warnings.catch_warnings():
            # One forward at a time, eval mode. A detached LayerNorm scale (the value unchanged) makes
            # TransformerBridge's RMSNorm rebuild its output from the hooked values and say so.
            warnings.filterwarnings("ignore", message="A forward hook edited hook_scale")
            logits = self.model.run_with_hooks(
                tokens.to(self.adapter.device), fwd_hooks=[(n, chain(fns)) for n, fns in hooks.items() if fns]
            )
        return cast("Tensor", logits)

    @staticmethod
    def detach_hook(act: Tensor) -> Tensor:
        """For ``*.hook_scale``: the same value, treated as a constant by backward passes."""
        return act.detach()

    def resid_write(self, hook_name: str, rows: Float[Tensor, "n d_in"]) -> Float[Tensor, "n d_model"] | None:
        """Decoder rows mapped to the residual stream (None: the hook has no linear path)."""
        out, _why = self.adapter.resid_directions(hook_name, rows)
        return out


def final_logits_with_scale(model: Any, resid: Tensor, scale: Tensor | None) -> Tensor:
    """``unembed(ln_final(resid))`` with the LayerNorm scale replaced by ``scale`` (frozen) when
    given: the reference the direct-effect tests compare with."""
    if scale is None:
        return cast("Tensor", model.unembed(model.ln_final(resid)))
    fixed = scale

    def hook(act: Tensor, hook: object) -> Tensor:  # noqa: ARG001
        return fixed.expand_as(act)

    with model.hooks(fwd_hooks=[(NodeModel.FINAL_LN_SCALE, hook)]):
        return cast("Tensor", model.unembed(model.ln_final(resid)))
