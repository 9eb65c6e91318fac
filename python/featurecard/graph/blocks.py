"""Model access for contribution graphs: the residual levels, hooks and weights of each block.

**Levels.** A residual *level* is one residual state per position: level 0 is the input of
block 0 (``blocks.0.hook_resid_pre``, token + position embeddings). A sequential block L adds
two levels, after attention (``hook_resid_mid``) and after the MLP (``hook_resid_post``); a
parallel block (GPT-J, GPT-NeoX: ``cfg.parallel_attn_mlp``) and an attention-only block add
one (``hook_resid_post``). :class:`Layout` says which level each block reads and writes.

**What the graph decomposes.** Per layer we read ``attn.hook_pattern`` ``[head, q, k]`` and
``attn.hook_v`` ``[pos, kv_head, d_head]`` (grouped-query heads are repeated for the query heads
they serve); ``v[k, h] @ W_O[h]`` is what head h writes per unit of attention to k, and
``b_O`` is added once. The MLP block is read as its output ``hook_mlp_out``; its neurons as
``mlp.hook_post`` through ``W_out`` plus ``b_out``. Both model kinds expose these legacy names.

**Refused, and why.** Every graph must add up to the model's real residual stream, so we
refuse what we cannot decompose exactly, before running:

* a normalisation after the attention or MLP output (Gemma 2/3's
  ``use_normalization_before_and_after``; OLMo 2/3's post-norm blocks): the block's output is
  no longer a sum over heads and source tokens;
* models without ``hook_pattern``/``hook_v``/``W_O``/``b_O`` (nothing to decompose);

and after running, :meth:`BlockModel.check_attention` compares the decomposition with the
model's own ``hook_attn_out`` and refuses, with the measured gap, any other architecture whose
attention is not ``pattern · v · W_O + b_O`` (e.g. bidirectional attention). Per-neuron parts
are dropped (with the reason shown) where ``hook_post @ W_out + b_out`` is not the MLP's output
(mixtures of experts). LayerNorm and RMSNorm before a block change nothing: the graph splits
block outputs, not their inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
from jaxtyping import Float
from torch import Tensor

from ..core.forward_guard import forward_guard
from ..core.model import ModelAdapter, block_hook, parse_hook


class ArchitectureError(ValueError):
    """A model whose blocks cannot be decomposed exactly into a contribution graph."""


@dataclass(frozen=True)
class Layout:
    """Residual levels and, per layer, the level each block reads (``*_in``) and writes (``*_out``)."""

    n_layers: int
    n_heads: int
    parallel: bool
    has_mlp: bool
    levels: tuple[str, ...]
    level_hooks: tuple[str, ...]
    attn_in: tuple[int, ...]
    attn_out: tuple[int, ...]
    mlp_in: tuple[int, ...]
    mlp_out: tuple[int, ...]

    @staticmethod
    def of(n_layers: int, n_heads: int, parallel: bool, has_mlp: bool) -> Layout:
        levels, hooks = ["embed"], [block_hook(0, "hook_resid_pre")]
        ai, ao, mi, mo = [], [], [], []
        for layer in range(n_layers):
            top = len(levels) - 1
            ai.append(top)
            if has_mlp and not parallel:
                levels += [f"{layer}.attn", f"{layer}.mlp"]
                hooks += [block_hook(layer, "hook_resid_mid"), block_hook(layer, "hook_resid_post")]
                ao.append(top + 1)
                mi.append(top + 1)
                mo.append(top + 2)
            else:
                levels.append(f"{layer}.attn+mlp" if has_mlp else f"{layer}.attn")
                hooks.append(block_hook(layer, "hook_resid_post"))
                ao.append(top + 1)
                if has_mlp:
                    mi.append(top)
                    mo.append(top + 1)
        return Layout(n_layers, n_heads, parallel, has_mlp, tuple(levels), tuple(hooks), *map(tuple, (ai, ao, mi, mo)))


@dataclass(frozen=True)
class SaeSite:
    """Where an SAE's latents write: a block's output (``attn``/``mlp``) or a residual level."""

    block: str  # "attn" | "mlp" | "resid"
    layer: int
    level: int  # the residual level the latents' parts add up to
    extra_bias: Float[Tensor, " d_model"] | None  # a block bias outside the SAE's input space


class BlockModel:
    """The slice of a TransformerLens model a contribution graph needs (see the module docstring)."""

    def __init__(self, adapter: ModelAdapter) -> None:
        self.adapter = adapter
        self.model = adapter.model
        self._weights: dict[str, Tensor] = {}
        cfg = self.model.cfg
        why = self._refusal(cfg)
        if why:
            raise ArchitectureError(f"contribution graphs cannot decompose this {adapter.kind} exactly: {why}")
        has_mlp = not bool(getattr(cfg, "attn_only", False))
        parallel = has_mlp and bool(getattr(cfg, "parallel_attn_mlp", False)) and self._mlp_reads_resid_pre()
        self.layout = Layout.of(int(cfg.n_layers), int(cfg.n_heads), parallel, has_mlp)
        missing = [n for n in self.hooks_needed() if n not in adapter.hook_names]
        for w in ("W_O", "b_O"):
            try:
                self._weight(w)
            except (AttributeError, TypeError, RuntimeError):
                missing.append(w)
        if missing:
            raise ArchitectureError(
                f"contribution graphs need the hooks and weights {missing}, which this {adapter.kind} does not have"
            )

    @staticmethod
    def _refusal(cfg: Any) -> str:
        if getattr(cfg, "use_normalization_before_and_after", False):
            return (
                "it normalises the attention and MLP outputs before adding them to the residual stream "
                "(use_normalization_before_and_after, e.g. Gemma 2/3), so a block's output is not a sum "
                "of per-head, per-token parts"
            )
        arch = str(getattr(cfg, "original_architecture", "") or "")
        try:
            from transformer_lens.utilities.architectures import POST_NORM_ARCHITECTURES
        except ImportError:  # older or newer TransformerLens: no post-norm list to consult
            POST_NORM_ARCHITECTURES = set()
        if arch in POST_NORM_ARCHITECTURES:
            return f"{arch} normalises each block's output (post-norm), so it is not a sum of per-head parts"
        return ""

    def _mlp_reads_resid_pre(self) -> bool:
        """Parallel blocks: ``hook_resid_mid`` never fires. Probed on a 2-token run, because a
        bridge's config may say ``parallel_attn_mlp`` while its blocks run one after the other."""
        fired: list[bool] = []
        name = block_hook(0, "hook_resid_mid")
        if name not in self.adapter.hook_names:
            return True
        probe = torch.zeros(1, 2, dtype=torch.long, device=self.adapter.device)

        def hook(act: Tensor, hook: object) -> None:  # noqa: ARG001 - TL passes both
            fired.append(True)

        with torch.no_grad(), forward_guard(self.model):
            self.model.run_with_hooks(probe, fwd_hooks=[(name, hook)])
        return not fired

    # -- names -----------------------------------------------------------------------------
    def hooks_needed(self) -> list[str]:
        names = list(self.layout.level_hooks)
        for layer in range(self.layout.n_layers):
            names += [block_hook(layer, "attn.hook_pattern"), block_hook(layer, "attn.hook_v")]
            if self.layout.has_mlp:
                names.append(block_hook(layer, "hook_mlp_out"))
        return list(dict.fromkeys(names))

    @staticmethod
    def neuron_hook(layer: int) -> str:
        return block_hook(layer, "mlp.hook_post")

    # -- weights ---------------------------------------------------------------------------
    def head_writes(
        self, layer: int, v: Float[Tensor, "key_pos kv_head d_head"]
    ) -> Float[Tensor, "key_pos head_index d_model"]:
        """``v[k, h] @ W_O[h]``: what head h writes per unit of attention to source token k."""
        n_heads = self.layout.n_heads
        if v.shape[-2] != n_heads:  # grouped-query attention
            v = v.repeat_interleave(n_heads // v.shape[-2], dim=-2)
        return torch.einsum("khe,hed->khd", v.float(), self._weight("W_O")[layer])

    def b_O(self, layer: int) -> Float[Tensor, " d_model"]:  # noqa: N802 - TransformerLens's name
        return self._weight("b_O")[layer]

    def _weight(self, name: str) -> Tensor:
        """``model.W_O`` etc. stacks every layer on each access: read it once, in float32."""
        if name not in self._weights:
            self._weights[name] = cast("Tensor", getattr(self.model, name)).detach().float()
        return self._weights[name]

    def neuron_rows(self, layer: int) -> tuple[Float[Tensor, "d_mlp d_model"], Float[Tensor, " d_model"]] | None:
        """``(W_out[layer], b_out[layer])`` (a zero bias where there is none), or None where the
        model has no single ``W_out``."""
        if getattr(self.model.cfg, "num_experts", None):
            return None
        try:
            w_out = self._weight("W_out")[layer]
        except (AttributeError, TypeError, RuntimeError):
            return None
        try:
            b_out = self._weight("b_out")[layer]
        except (AttributeError, TypeError, RuntimeError):  # e.g. a bridge's bias-free gated MLP
            b_out = torch.zeros(w_out.shape[-1], device=w_out.device)
        return w_out, b_out

    # -- exactness -------------------------------------------------------------------------
    @staticmethod
    def tolerance(reference: Tensor, dtype: torch.dtype) -> float:
        rel = 1e-4 if dtype == torch.float32 or dtype == torch.float64 else 2e-2
        return rel * max(1.0, float(reference.abs().max()))

    def check_attention(
        self,
        layer: int,
        pattern: Float[Tensor, "head_index pos key_pos"],
        writes: Float[Tensor, "key_pos head_index d_model"],
        attn_out: Float[Tensor, "pos d_model"],
        dtype: torch.dtype,
    ) -> None:
        """Refuse the model if ``Σ_h Σ_k pattern · writes + b_O`` is not its ``hook_attn_out``."""
        recon = torch.einsum("hqk,khd->qd", pattern.float(), writes) + self.b_O(layer)
        gap = float((recon - attn_out.float()).abs().max())
        tol = self.tolerance(attn_out, dtype)
        if not gap <= tol:
            raise ArchitectureError(
                f"layer {layer}: the attention output is not pattern · v · W_O + b_O for this "
                f"{self.adapter.kind} (largest gap {gap:.3g} > tolerance {tol:.3g}); its attention cannot be "
                "split exactly into per-head, per-source-token parts"
            )

    def neurons_exact(
        self, layer: int, post: Float[Tensor, "pos d_mlp"], mlp_out: Float[Tensor, "pos d_model"], dtype: torch.dtype
    ) -> str:
        """'' when ``post @ W_out + b_out`` is the MLP output; else why per-neuron parts are off."""
        rows = self.neuron_rows(layer)
        if rows is None:
            return "this model's MLP has no single W_out (e.g. a mixture of experts)"
        w_out, b_out = rows
        if post.shape[-1] != w_out.shape[0]:
            return f"mlp.hook_post has {post.shape[-1]} units but W_out has {w_out.shape[0]} rows"
        gap = float((post.float() @ w_out + b_out - mlp_out.float()).abs().max())
        tol = self.tolerance(mlp_out, dtype)
        return "" if gap <= tol else f"hook_post @ W_out + b_out misses the MLP output by {gap:.3g} (> {tol:.3g})"

    # -- SAEs --------------------------------------------------------------------------------
    def sae_site(self, hook_name: str, hook_head_index: int | None) -> SaeSite | str:
        """Where an SAE at ``hook_name`` writes, or why its latents cannot be parts of the graph."""
        site = parse_hook(hook_name)
        lay = self.layout
        if hook_head_index is not None:
            return "SAEs on a single head's hook_z are not split into graph parts"
        if site.layer is None or not 0 <= site.layer < lay.n_layers:
            return f"{hook_name} is outside the transformer blocks"
        layer = site.layer
        if site.kind in ("mlp.hook_post", "hook_mlp_out") and lay.has_mlp:
            rows = self.neuron_rows(layer) if site.kind == "mlp.hook_post" else None
            if site.kind == "mlp.hook_post" and rows is None:
                return "this model's MLP has no single W_out to map mlp.hook_post to the residual stream"
            return SaeSite("mlp", layer, lay.mlp_out[layer], rows[1] if rows else None)
        if site.kind in ("attn.hook_z", "hook_attn_out"):
            return SaeSite("attn", layer, lay.attn_out[layer], self.b_O(layer) if site.kind == "attn.hook_z" else None)
        resid = {"hook_resid_pre": lay.attn_in[layer], "hook_resid_post": len(lay.levels) - 1}
        if not lay.parallel and lay.has_mlp:
            resid["hook_resid_mid"] = lay.attn_out[layer]
            resid["hook_resid_post"] = lay.mlp_out[layer]
        elif lay.has_mlp:
            resid["hook_resid_post"] = lay.mlp_out[layer]
        else:
            resid["hook_resid_post"] = lay.attn_out[layer]
        if site.kind in resid:
            return SaeSite("resid", layer, resid[site.kind], None)
        return (
            f"{hook_name} has no linear path into the residual stream (accepted: mlp.hook_post, hook_mlp_out, "
            "attn.hook_z, hook_attn_out, hook_resid_*)"
        )

    def to_resid(self, hook_name: str, x: Float[Tensor, "n d_in"]) -> Float[Tensor, "n d_model"]:
        """Vectors in an SAE's input space mapped linearly into the residual stream."""
        out, why = self.adapter.resid_directions(hook_name, x.float())
        if out is None:
            raise ValueError(why)
        return out.float()

    # -- logit lens --------------------------------------------------------------------------
    def log_probs(self, resid: Float[Tensor, "pos d_model"]) -> Float[Tensor, "pos d_vocab"]:
        """Logit lens: ``log_softmax(unembed(ln_final(resid)))`` with the model's own modules."""
        m = self.model
        dtype = cast("Tensor", m.W_U).dtype
        x, norm = resid.to(dtype)[None], getattr(m, "ln_final", None)  # a model without norms has none
        logits: Tensor = m.unembed(norm(x) if norm is not None else x)[0]
        return torch.log_softmax(logits.float(), dim=-1)
