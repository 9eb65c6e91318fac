"""Model access for node tables: hook names, weights, reconstitution and hook-time splicing.

The node table reads, per layer, the MLP neurons (``mlp.hook_post``), the attention heads
(``attn.hook_pattern``, ``attn.hook_v`` and ``attn.hook_z``), the final residual
(``blocks.{L-1}.hook_resid_post``) and the final LayerNorm's scale (``ln_final.hook_scale``).
All are legacy TransformerLens names that both ``HookedTransformer`` and ``TransformerBridge``
expose; they are validated against ``model.hook_dict`` before any run. Two facts about the
bridge shape what we hook: its ``hook_pattern`` is an observation point (editing it changes
nothing downstream), so head ablations edit ``hook_z``; and inside a hook it may report another
(canonical) name, so every hook here is keyed by the name we registered, never ``hook.name``.

**Reconstitution.** An SAE on ``blocks.L.mlp.hook_post`` (or ``hook_pre``, ``hook_mlp_out``)
reads a function of the residual stream ``resid_mid[L]``: ``act(LN2(r) @ W_in + b_in)`` (gated
MLPs multiply by ``act(LN2(r) @ W_gate)``). :meth:`NodeModel.reconstitute` recomputes the SAE
input from the residual with the model's own weights, optionally with the LayerNorm scale
detached (Transformer Debugger's ``DETACH_LAYER_NORM_SCALE``), so the latents computed from it
carry gradients through the LayerNorm and the MLP back to everything upstream. Residual-stream
hooks are their own input (the identity). Other hooks (``attn.hook_z``, ``hook_attn_out``,
activation functions we do not know) use the hook's value, which the model's graph already
connects to the residual stream; a reconstitution that disagrees with the model's value is
never used (:func:`featurecard.node_table` checks and falls back, with a note).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from .model import HookSite, ModelAdapter, parse_hook

HookFn = Callable[[Tensor], Tensor]

_ACT_FNS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": F.relu,
    "gelu": F.gelu,
    "silu": F.silu,
    "swish": F.silu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_fast": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
}
_RECONSTITUTED = ("mlp.hook_pre", "mlp.hook_post", "hook_mlp_out")
_RESID = ("hook_resid_pre", "hook_resid_mid", "hook_resid_post")


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
        return f"blocks.{layer}.mlp.hook_post"

    @staticmethod
    def attn_z(layer: int) -> str:
        return f"blocks.{layer}.attn.hook_z"

    @staticmethod
    def attn_v(layer: int) -> str:
        return f"blocks.{layer}.attn.hook_v"

    @staticmethod
    def attn_pattern(layer: int) -> str:
        return f"blocks.{layer}.attn.hook_pattern"

    @staticmethod
    def resid_mid(layer: int) -> str:
        return f"blocks.{layer}.hook_resid_mid"

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

        with torch.set_grad_enabled(grad):
            logits = self.model.run_with_hooks(
                tokens.to(self.adapter.device), fwd_hooks=[(n, chain(fns)) for n, fns in hooks.items() if fns]
            )
        return cast("Tensor", logits)

    @staticmethod
    def detach_hook(act: Tensor) -> Tensor:
        """For ``*.hook_scale``: the same value, treated as a constant by backward passes."""
        return act.detach()

    # -- reconstitution -------------------------------------------------------------------
    def reconstitution_source(self, hook_name: str) -> str | None:
        """The residual hook an SAE input at ``hook_name`` is recomputed from (None: not needed
        for residual hooks, not supported for the rest)."""
        site = parse_hook(hook_name)
        if site.layer is not None and site.kind in _RECONSTITUTED and self._mlp_fn() is not None:
            return self.resid_mid(site.layer)
        return None

    def is_residual(self, hook_name: str) -> bool:
        return parse_hook(hook_name).kind in _RESID

    def _mlp_fn(self) -> Callable[[Tensor], Tensor] | None:
        return _ACT_FNS.get(str(getattr(self.model.cfg, "act_fn", "")))

    def layer_norm(
        self, module: Any, x: Float[Tensor, "batch pos d_model"], detach_scale: bool
    ) -> Float[Tensor, "batch pos d_model"]:
        """The model's LayerNorm/RMSNorm of type ``cfg.normalization_type``, its scale optionally
        detached. ``LNPre``/``RMSPre`` (weights folded into the next matrix) have no weights."""
        kind = str(getattr(self.model.cfg, "normalization_type", "LN") or "none")
        eps = float(getattr(self.model.cfg, "eps", 1e-5))
        if kind in ("LN", "LNPre"):
            x = x - x.mean(-1, keepdim=True)
        elif kind not in ("RMS", "RMSPre"):
            return x
        scale = (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()
        if detach_scale:
            scale = scale.detach()
        x = x / scale
        if kind in ("LN", "RMS"):
            w = getattr(module, "w", None)
            w = getattr(module, "weight", None) if w is None else w
            b = getattr(module, "b", None)
            b = getattr(module, "bias", None) if b is None else b
            if w is not None:
                x = x * w
            if b is not None and kind == "LN":
                x = x + b
        return x

    def reconstitute(
        self, hook_name: str, resid: Float[Tensor, "batch pos d_model"], detach_ln_scale: bool = False
    ) -> Tensor:
        """The activation at an MLP hook recomputed from ``resid_mid`` of its layer."""
        site: HookSite = parse_hook(hook_name)
        act_fn = self._mlp_fn()
        if site.layer is None or site.kind not in _RECONSTITUTED or act_fn is None:
            raise ValueError(
                f"{hook_name} cannot be reconstituted from the residual stream (accepted: "
                f"blocks.L.{{{', '.join(_RECONSTITUTED)}}} with act_fn in {sorted(_ACT_FNS)})"
            )
        m, layer = self.model, site.layer
        x = self.layer_norm(m.blocks[layer].ln2, resid, detach_ln_scale)
        if bool(getattr(m.cfg, "gated_mlp", False)):  # TL's GatedMLP: act(x W_gate) * (x W_in) + b_in
            pre = x @ m.W_gate[layer]
            post = act_fn(pre) * (x @ m.W_in[layer]) + m.b_in[layer]
        else:
            pre = x @ m.W_in[layer] + m.b_in[layer]
            post = act_fn(pre)
        if site.kind == "mlp.hook_pre":
            return cast("Tensor", pre)
        if site.kind == "mlp.hook_post":
            return cast("Tensor", post)
        return cast("Tensor", post @ m.W_out[layer] + m.b_out[layer])

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
