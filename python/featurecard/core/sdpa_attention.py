"""Fused attention for the passes over the whole dataset, checked against TransformerLens.

A ``HookedTransformer``'s attention materialises its scores and pattern
(``[batch, head, pos, pos]``) and walks them several times: the division by ``attn_scale``,
the causal mask (``torch.where``), the softmax, the ``isnan`` guard, the product with the
values. On the benchmark (2 cores, 32 rows of 128 tokens per batch) those passes are about a
third of the forward pass; PyTorch's ``scaled_dot_product_attention`` does the same arithmetic
in one fused kernel and never writes the pattern. For the dataset passes (the capture pass
of quick cards, the index pass) we therefore swap each supported attention module's
``forward`` for :func:`_fused_forward` while *our* forward runs, and put the model's own
back in a ``finally`` block, as TransformerLens does with its hooks.

**What stays the model's.** :func:`_fused_forward` calls the module's own
``calculate_qkv_matrices`` (``hook_q``/``hook_k``/``hook_v``), ``apply_rotary``
(``hook_rot_q``/``hook_rot_k``), ``hook_z`` and output projection; only the scores, mask,
softmax and pattern product are fused. ``hook_attn_scores`` and ``hook_pattern`` are never
formed, so a module with a hook on either (ours or the user's) runs its own forward, as does
any call with a KV cache, a padding mask with zeros or a position bias.

**Refused, and why.** :func:`fused_unsupported` names what the fused kernel does not
reproduce (local windows, soft-capped or log-n scaled scores, attention sinks, ALiBi and
relative positions, clipped q/k/v, OLMo's QK-norm, per-head results, 4-bit weights, weights
below float32 whose rounding the kernel changes); those modules keep their own forward.

**Checked.** The sums run in another order, so the numbers differ from TransformerLens's in
their last bits (~1e-7 relative on the benchmark). The caller compares both forwards on the
first rows before trusting the fused one (:data:`CHECK_TOLERANCE`, relative, as for the last
block at chosen positions) and falls back to the model's own attention, with a warning
naming the gap or the error, where a TransformerLens version computes something this module
did not foresee.
"""

from __future__ import annotations

import contextlib
import threading
import types
from collections.abc import Iterator
from typing import Any

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

try:
    from transformer_lens.utilities import activation_functions as _af
except ImportError:  # a TransformerLens without it has no HookedTransformer to fuse either
    _af = None  # type: ignore[assignment]

# The fused forward must match the model's own on the checked rows to this (relative to the
# largest activation); the differences we measure are ~1e-7.
CHECK_TOLERANCE = 1e-4
# TransformerLens's spellings of GPT-2's tanh GELU (absent from versions without HookedTransformer).
_TANH_GELUS = tuple(getattr(_af, n) for n in ("gelu_new", "gelu_fast") if _af is not None and hasattr(_af, n))
# Architectures whose attention normalises q and k first (TransformerLens's OLMo branch).
_QK_NORM = {"OlmoeForCausalLM", "Olmo2ForCausalLM", "Olmo3ForCausalLM"}


def is_hooked_transformer(model: Any) -> bool:
    """Whether ``model`` is a TransformerLens ``HookedTransformer`` or a subclass of it (SAELens's
    ``HookedSAETransformer`` is what SAELens users load): decided by the class's MRO, not its name."""
    return any(
        c.__name__ == "HookedTransformer" and c.__module__.startswith("transformer_lens") for c in type(model).__mro__
    )


def fused_unsupported(model: Any, layer: int) -> str | None:
    """Why block ``layer``'s attention keeps the model's own forward (None: it can be fused)."""
    if not is_hooked_transformer(model):
        return f"a {type(model).__name__} runs its own attention modules"
    cfg = model.cfg
    attn = getattr(model.blocks[layer], "attn", None)
    if attn is None:
        return f"block {layer} has no attention module"
    if "forward" in vars(attn):
        return f"block {layer}'s attention forward is already replaced on the instance"
    checks = {
        "positions other than standard, rotary or shortformer": getattr(cfg, "positional_embedding_type", "standard")
        not in ("standard", "rotary", "shortformer"),
        "local attention windows": getattr(attn, "attn_type", "global") != "global",
        "bidirectional attention": (getattr(attn, "_attention_dir_override", None) or cfg.attention_dir) != "causal",
        "soft-capped scores": float(getattr(cfg, "attn_scores_soft_cap", -1.0) or -1.0) > 0,
        "log-n attention scaling": bool(getattr(cfg, "use_logn_attn", False)),
        "attention sinks": bool(getattr(cfg, "use_attention_sinks", False)),
        "clipped q/k/v": getattr(cfg, "clip_qkv", None) is not None,
        "QK-norm": getattr(cfg, "original_architecture", "") in _QK_NORM,
        "per-head results (use_attn_result)": bool(getattr(cfg, "use_attn_result", False)),
        "4-bit weights": bool(getattr(cfg, "load_in_4bit", False)),
        f"{cfg.dtype} weights": cfg.dtype not in (torch.float32, torch.float64),
    }
    why = [k for k, v in checks.items() if v]
    return f"block {layer}: " + ", ".join(why) if why else None


def _hooked(module: Any) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks)


def _fused_forward(
    self: Any,
    query_input: Float[Tensor, "batch pos d_model"],
    key_input: Float[Tensor, "batch pos d_model"],
    value_input: Float[Tensor, "batch pos d_model"],
    past_kv_cache_entry: Any = None,
    additive_attention_mask: Tensor | None = None,
    attention_mask: Tensor | None = None,
    position_bias: Tensor | None = None,
    **others: Any,
) -> Float[Tensor, "batch pos d_model"]:
    """TransformerLens's ``AbstractAttention.forward`` with the pattern fused away (see above);
    arguments a later TransformerLens may add (``others``) go to the module's own forward."""
    if attention_mask is not None and bool(attention_mask.all()):
        attention_mask = None  # a padding mask with no padding masks nothing
    if (
        others
        or past_kv_cache_entry is not None
        or additive_attention_mask is not None
        or attention_mask is not None
        or position_bias is not None
        or _hooked(self.hook_attn_scores)
        or _hooked(self.hook_pattern)
    ):
        own = type(self).forward
        return own(  # type: ignore[no-any-return]
            self,
            query_input,
            key_input,
            value_input,
            past_kv_cache_entry=past_kv_cache_entry,
            additive_attention_mask=additive_attention_mask,
            attention_mask=attention_mask,
            position_bias=position_bias,
            **others,
        )
    q, k, v = self.calculate_qkv_matrices(query_input, key_input, value_input)
    if self.cfg.positional_embedding_type == "rotary":
        q = self.hook_rot_q(self.apply_rotary(q, 0, None))
        k = self.hook_rot_k(self.apply_rotary(k, 0, None))
    if k.shape[2] != q.shape[2]:  # grouped-query attention: each key/value head serves a group
        k = k.repeat_interleave(q.shape[2] // k.shape[2], dim=2)
        v = v.repeat_interleave(q.shape[2] // v.shape[2], dim=2)
    z = F.scaled_dot_product_attention(
        q.transpose(1, 2).to(v.dtype),
        k.transpose(1, 2),
        v.transpose(1, 2),
        is_causal=True,
        scale=1.0 / float(self.attn_scale),
    )
    z = self.hook_z(z.transpose(1, 2))  # [batch, pos, head, d_head]
    w = einops.rearrange(self.W_O, "head d_head d_model -> d_model (head d_head)").contiguous()
    return F.linear(z.reshape(z.shape[0], z.shape[1], -1).to(w.dtype), w, self.b_O.to(w.device))


# TransformerLens's normalisation modules, by class name: whether each centres its input and has
# a weight and a bias (LayerNorm: both; LayerNormPre: neither; RMSNorm: a weight; RMSNormPre: none).
_NORMS = {
    "LayerNorm": (True, True),
    "LayerNormPre": (True, False),
    "RMSNorm": (False, True),
    "RMSNormPre": (False, False),
}


def _fusable_norm(module: Any) -> bool:
    """Whether ``module`` is exactly one of TransformerLens's norm classes (a subclass may change
    its forward) with float32/float64 weights and its own forward on the class."""
    cls = type(module)
    return (
        cls.__name__ in _NORMS
        and cls.__module__.startswith("transformer_lens")
        and "forward" not in vars(module)
        and getattr(module.cfg, "dtype", None) in (torch.float32, torch.float64)
    )


# The last fused norm's (module, input, output) of this thread (the same input object gives the
# same output); one slot per thread, emptied when the fused forwards are swapped out.
_LAST = threading.local()


def _fused_norm_forward(self: Any, x: Float[Tensor, "... d"]) -> Float[Tensor, "... d"]:
    """TransformerLens's LayerNorm / RMSNorm (and their folded ``Pre`` forms) as one
    ``F.layer_norm`` / ``F.rms_norm`` kernel: the same arithmetic (centre, divide by
    ``sqrt(mean square + eps)``, weight, bias) in one walk over ``x`` instead of six. A module
    with a hook on ``hook_scale`` or ``hook_normalized`` (the node table's) runs its own forward."""
    if _hooked(self.hook_scale) or _hooked(self.hook_normalized) or x.dtype != self.cfg.dtype:
        return type(self).forward(self, x)  # type: ignore[no-any-return]
    last = getattr(_LAST, "norm", None)
    # TransformerLens's block normalises one input three times (for q, k and v): the same output.
    if last is not None and last[0] is self and last[1] is x:
        return last[2]  # type: ignore[no-any-return]
    centred, affine = _NORMS[type(self).__name__]
    weight = self.w if affine else None
    if centred:
        out = F.layer_norm(x, x.shape[-1:], weight, self.b if affine else None, self.eps)
    else:
        out = F.rms_norm(x, x.shape[-1:], weight, self.eps)
    _LAST.norm = (self, x, out)  # one slot: every block's input kept alive would cost memory
    return out


def _tanh_gelu(x: Tensor) -> Tensor:
    """GPT-2's GELU, ``0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))``, as PyTorch's one kernel
    (``approximate="tanh"``) instead of TransformerLens's seven elementwise passes (~30 % of
    GPT-2 small's forward on this CPU); the same formula, rounded differently (~1e-7)."""
    return F.gelu(x, approximate="tanh")


def _fusable_act(module: Any) -> bool:
    """Whether ``module`` is a TransformerLens MLP whose activation is GPT-2's tanh GELU in one
    of TransformerLens's spellings, with float32/float64 weights."""
    return (
        type(module).__module__.startswith("transformer_lens")
        and getattr(module, "act_fn", None) in _TANH_GELUS
        and getattr(getattr(module, "cfg", None), "dtype", None) in (torch.float32, torch.float64)
    )


def fusable_modules(model: Any) -> tuple[list[Any], list[Any]]:
    """The norm modules and tanh-GELU MLPs of ``model`` that :func:`fused_attention` swaps (one
    walk over the model's modules; a pass looks them up once, not per batch)."""
    modules = list(model.modules())
    return [m for m in modules if _fusable_norm(m)], [m for m in modules if _fusable_act(m)]


@contextlib.contextmanager
def fused_attention(
    model: Any, layers: list[int], modules: tuple[list[Any], list[Any]] | None = None
) -> Iterator[None]:
    """Within the block, the attention of ``layers`` (each one :func:`fused_unsupported` accepts)
    runs :func:`_fused_forward`, every TransformerLens norm module of the model
    :func:`_fused_norm_forward` and every tanh-GELU MLP :func:`_tanh_gelu` (``modules``: those of
    :func:`fusable_modules`, looked up once by the caller); the model's own forwards and
    activations are back afterwards, whatever happens. The swaps write the instances'
    ``__dict__`` directly (``nn.Module.__setattr__`` costs more than the small batches' kernels)."""
    swapped: list[Any] = []
    acts: list[tuple[Any, Any]] = []
    try:
        if layers:
            norms, mlps = fusable_modules(model) if modules is None else modules
            for norm in norms:
                if "forward" not in norm.__dict__:  # replaced since the lookup: keep it
                    norm.__dict__["forward"] = types.MethodType(_fused_norm_forward, norm)
                    swapped.append(norm)
            for mlp in mlps:
                acts.append((mlp, mlp.__dict__["act_fn"]))
                mlp.__dict__["act_fn"] = _tanh_gelu
        for layer in layers:
            attn = model.blocks[layer].attn
            attn.__dict__["forward"] = types.MethodType(_fused_forward, attn)
            swapped.append(attn)
        yield
    finally:
        _LAST.norm = None
        for module in swapped:
            module.__dict__.pop("forward", None)
        for mlp, act in acts:
            mlp.__dict__["act_fn"] = act
