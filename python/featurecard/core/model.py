"""The model adapter: the only code that knows TransformerLens's classes and hook names.

We accept a TransformerLens ``HookedTransformer`` (TL 3.x) or ``TransformerBridge`` (TL 3.9+
and 4.x). Both expose the legacy hook names (``blocks.0.mlp.hook_post`` …), ``hook_dict``,
``run_with_hooks``, ``W_U``/``W_out``/``W_O``, ``ln_final`` and ``unembed``; we depend on that
small surface only, never on ``isinstance`` checks against one class, and never on
``hook.name`` inside a hook (TL 4 reports its internal canonical name there).

Hook names are data: every name is checked against ``model.hook_dict`` when a Workspace is
made, and the error lists the valid names (compactly, as ``blocks.{0-11}.hook_resid_post``).

``resid_directions`` maps output directions in a hook's space to the residual stream, the way
a unit at that hook writes to it: residual-space hooks are the identity, ``mlp.hook_post``
goes through ``W_out``, ``attn.hook_z`` through ``W_O``. ``mlp.hook_pre`` and other hooks
have no linear path to the residual stream; for those we say why instead of guessing.

Every forward call runs under :func:`~featurecard.core.forward_guard.forward_guard` (the model's
lock, held per call; eval mode, the user's modes restored after).
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from jaxtyping import Float, Int
from torch import Tensor

from .forward_guard import forward_guard
from .sdpa_attention import CHECK_TOLERANCE as FUSED_CHECK_TOLERANCE
from .sdpa_attention import fusable_modules, fused_attention, fused_unsupported, is_hooked_transformer

# Rows of the first dataset batch on which the fused forward is checked against the model's own.
FUSED_CHECK_ROWS = 2
# Each model's check (fused layers, dtype, device; gap, why): a second Workspace on it does not rerun it.
_CHECKED: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], float, str]] = weakref.WeakKeyDictionary()
_BLOCK = re.compile(r"^blocks\.(\d+)\.(.+)$")
_RESID_SPACE = {"hook_resid_pre", "hook_resid_mid", "hook_resid_post", "hook_attn_out", "hook_mlp_out"}
# TransformerBridge's canonical names for the same places (TL 4 reports these inside hooks).
_ALIASES = {
    "hook_in": "hook_resid_pre",
    "hook_out": "hook_resid_post",
    "mlp.out.hook_in": "mlp.hook_post",
    "attn.o.hook_in": "attn.hook_z",
}


# TransformerLens final norms that NormUnembed reproduces: class -> (centres, has a weight).
_NORMS = {
    "LayerNorm": (True, True),
    "LayerNormPre": (True, False),
    "RMSNorm": (False, True),
    "RMSNormPre": (False, False),
}


@dataclass(frozen=True)
class NormUnembed:
    """A final norm and unembedding given as tensors (TransformerLens ``LayerNorm``,
    ``LayerNormPre``, ``RMSNorm``, ``RMSNormPre``, ``Unembed``): ``logits(x) = norm(x) @ W_U + b_U``
    with ``norm(x) = w ⊙ (x − center) / sqrt(mean((x − center)²) + eps) + b``, then
    ``softcap · tanh(logits / softcap)`` where ``softcap > 0`` (Gemma 2).

    Given as tensors, the ablated logits need no second matmul: with ``c`` the centred
    residual, ``G = (c ⊙ w) @ W_U`` and ``D = (c_d ⊙ w) @ W_U`` for the direction,
    ``clean = G / s + B`` and ``ablated = (G − a·D) / s_a + B`` (``B = b @ W_U + b_U``; ``s``, ``s_a``
    the two scales), the same numbers as the model's modules up to float rounding (tested).
    """

    center: bool
    w: Float[Tensor, " d_model"] | None
    b: Float[Tensor, " d_model"] | None
    eps: float
    W_U: Float[Tensor, "d_model d_vocab"]
    b_U: Float[Tensor, " d_vocab"]
    softcap: float = 0.0

    @functools.cached_property
    def folded(self) -> tuple[Float[Tensor, "d_model d_vocab"], Float[Tensor, " d_vocab"]]:
        """``w ⊙ W_U`` and ``B = b @ W_U + b_U`` in float32, computed once."""
        w_u = self.W_U.float() if self.w is None else self.w.float()[:, None] * self.W_U.float()
        bias = self.b_U.float() if self.b is None else self.b.float() @ self.W_U.float() + self.b_U.float()
        return w_u, bias


def soft_cap(logits: Tensor, cap: float) -> Tensor:
    return cap * torch.tanh(logits / cap) if cap > 0 else logits


class _Captured(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by the last capture hook to end a forward pass early."""


class HookNameError(ValueError):
    """A hook name the model does not have; the message lists the valid ones."""


@dataclass(frozen=True)
class HookSite:
    """Where a hook sits: its layer (None outside blocks) and its kind (``mlp.hook_post`` …)."""

    name: str
    layer: int | None
    kind: str


def block_hook(layer: int, kind: str) -> str:
    """The hook ``kind`` (``mlp.hook_post``, ``attn.hook_z``, ``hook_resid_post`` …) of block
    ``layer``: the one place featurecard spells a block's hook name."""
    return f"{block_prefix(layer)}{kind}"


def block_prefix(layer: int) -> str:
    """What every hook name of block ``layer`` starts with."""
    return f"blocks.{layer}."


def block_hook_template(kind: str) -> str:
    """The name of hook ``kind`` with its block left as ``{layer}`` (``blocks.{layer}.mlp.hook_post``),
    as a node table shows it."""
    return "blocks.{layer}." + kind


def parse_hook(name: str) -> HookSite:
    m = _BLOCK.match(name)
    if m is None:
        return HookSite(name, None, name)
    kind = _ALIASES.get(m.group(2), m.group(2))
    return HookSite(name, int(m.group(1)), kind)


def compact_hook_list(names: Iterable[str]) -> str:
    """``blocks.0.x, blocks.1.x`` → ``blocks.{0-1}.x``: a readable list of valid names."""
    layers: dict[str, list[int]] = {}
    others: list[str] = []
    for n in names:
        m = _BLOCK.match(n)
        if m:
            layers.setdefault(m.group(2), []).append(int(m.group(1)))
        else:
            others.append(n)
    parts = sorted(others)
    for kind, ls in sorted(layers.items()):
        lo, hi = min(ls), max(ls)
        parts.append(f"blocks.{lo}.{kind}" if lo == hi else f"blocks.{{{lo}-{hi}}}.{kind}")
    return ", ".join(parts)


class ModelAdapter:
    """A thin, typed view of a TransformerLens model for the passes and the views."""

    def __init__(self, model: Any) -> None:
        for attr in ("hook_dict", "run_with_hooks", "W_U", "cfg", "tokenizer"):
            if not hasattr(model, attr):
                raise TypeError(
                    f"expected a TransformerLens HookedTransformer or TransformerBridge; "
                    f"{type(model).__name__} has no {attr!r}"
                )
        if model.tokenizer is None:
            raise TypeError("the model has no tokenizer; featurecard needs one to show token text")
        self.model = model
        self.hook_names: frozenset[str] = frozenset(model.hook_dict)
        self._strings: dict[int, str] = {}
        self._readout: tuple[object, NormUnembed] | None = None
        # Layers whose attention runs fused in dataset passes (None: not decided yet), and why
        # the others do not (:mod:`~featurecard.core.sdpa_attention`).
        self._fused: list[int] | None = None
        self._fusable: tuple[list[Any], list[Any]] | None = None  # the norms and MLPs they swap
        self.fused_why = ""

    # -- facts ---------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return type(self.model).__name__

    @property
    def n_layers(self) -> int:
        return int(self.model.cfg.n_layers)

    @property
    def d_vocab(self) -> int:
        return int(self.model.W_U.shape[-1])

    @property
    def n_ctx(self) -> int:
        return int(self.model.cfg.n_ctx)

    @property
    def device(self) -> torch.device:
        return cast("torch.device", self.model.W_U.device)

    @property
    def bos_token_id(self) -> int | None:
        bos = getattr(self.model.tokenizer, "bos_token_id", None)
        return int(bos) if bos is not None else None

    @property
    def final_resid_hook(self) -> str:
        return block_hook(self.n_layers - 1, "hook_resid_post")

    def validate_hook(self, name: str, what: str = "") -> HookSite:
        """The hook's site; a HookNameError listing the valid names if the model lacks it."""
        if name not in self.hook_names:
            asked = f" ({what})" if what else ""
            raise HookNameError(
                f"{name!r}{asked} is not a hook of this {self.kind} ({self.n_layers} layers); "
                f"valid names: {compact_hook_list(self.hook_names)}"
            )
        return parse_hook(name)

    # -- running -------------------------------------------------------------------------
    @torch.no_grad()
    def capture(self, tokens: Int[Tensor, "batch pos"], hook_names: Sequence[str]) -> dict[str, Tensor]:
        """Run the model once and return the named hooks' activations (keyed by OUR names).

        The forward stops as soon as the last of them has fired, so capturing an early hook
        never pays for the later blocks or the unembedding.
        """
        out: dict[str, Tensor] = {}
        savers = _savers(hook_names, out)
        # Both TransformerLens model kinds remove their hooks in a finally block.
        with forward_guard(self.model), contextlib.suppress(_Captured):
            self.model.run_with_hooks(tokens.to(self.device), fwd_hooks=savers)
        return out

    @torch.no_grad()
    def capture_dataset(self, tokens: Int[Tensor, "batch pos"], hook_names: Sequence[str]) -> dict[str, Tensor]:
        """:meth:`capture` for the passes over the whole dataset: the attention of the blocks
        that allow it runs fused (:mod:`~featurecard.core.sdpa_attention`), once the first call has
        checked the fused forward against the model's own on its first rows."""
        with forward_guard(self.model):  # the fused modules are the model's: no other call in between
            layers = self._fused_layers(tokens) if self._fused is None else self._fused
            if not layers:
                return self.capture(tokens, hook_names)
            with fused_attention(self.model, layers, self._fusable):
                return self.capture(tokens, hook_names)

    def _fused_layers(self, tokens: Int[Tensor, "batch pos"]) -> list[int]:
        """Decide once which layers run fused: those :func:`fused_unsupported` accepts, if the
        fused forward reproduces the model's own (every block, to the final residual) on the
        first :data:`FUSED_CHECK_ROWS` rows of ``tokens``."""
        refused = {layer: fused_unsupported(self.model, layer) for layer in range(self.n_layers)}
        layers = [layer for layer, w in refused.items() if w is None]
        self.fused_why = "; ".join(dict.fromkeys(w for w in refused.values() if w is not None))
        if layers:
            self._fusable = fusable_modules(self.model)
            key = (tuple(layers), getattr(self.model.cfg, "dtype", None), self.device)
            known = _CHECKED.get(self.model)
            gap, why = known[1:] if known is not None and known[0] == key else self._check_fused(tokens, layers)
            _CHECKED[self.model] = (key, gap, why)
            if not gap <= FUSED_CHECK_TOLERANCE:
                warnings.warn(
                    f"featurecard: {why} (accepted up to {FUSED_CHECK_TOLERANCE:g}); "
                    "dataset passes use the model's own attention",
                    stacklevel=3,
                )
                self.fused_why, layers = why, []
        self._fused = layers
        return layers

    def _check_fused(self, tokens: Int[Tensor, "batch pos"], layers: list[int]) -> tuple[float, str]:
        """The fused forward's gap to the model's own on the first rows of ``tokens``, and why."""
        rows, hooks = tokens[:FUSED_CHECK_ROWS], [self.final_resid_hook]
        want = self.capture(rows, hooks)[hooks[0]]
        try:
            with fused_attention(self.model, layers, self._fusable):
                got = self.capture(rows, hooks)[hooks[0]]
            gap = float((got - want).abs().max()) / (1.0 + float(want.abs().max()))
            return gap, f"the fused forward differs from the model's own by {gap:.3g} (relative)"
        except Exception as e:  # any failure of the fused path means: not fused
            return float("inf"), f"the fused forward failed: {type(e).__name__}: {e}"

    @property
    def can_resume(self) -> bool:
        """Whether a forward pass can start from a residual at a later block (HookedTransformer's
        ``start_at_layer``; not for shortformer positions, which every block re-adds)."""
        cfg = self.model.cfg
        return is_hooked_transformer(self.model) and getattr(cfg, "positional_embedding_type", "") != "shortformer"

    @torch.no_grad()
    def capture_from(
        self, resid: Float[Tensor, "batch pos d_model"], layer: int, hook_names: Sequence[str]
    ) -> dict[str, Tensor]:
        """:meth:`capture` for a forward pass that starts at block ``layer`` from ``resid`` (the
        input of that block, ``blocks.{layer - 1}.hook_resid_post``)."""
        if not self.can_resume:
            raise ValueError(f"a {self.kind} cannot start its forward pass at a later block")
        out: dict[str, Tensor] = {}
        savers = _savers(hook_names, out)
        with forward_guard(self.model), contextlib.suppress(_Captured):
            self.model.run_with_hooks(resid.to(self.device), start_at_layer=layer, fwd_hooks=savers)
        return out

    def to_tokens(self, text: str | Sequence[str], prepend_bos: bool = True) -> Int[Tensor, "batch pos"]:
        toks: Tensor = self.model.to_tokens(text, prepend_bos=prepend_bos)
        return toks.cpu()

    # -- directions ------------------------------------------------------------------------
    def resid_directions(
        self, hook_name: str, directions: Float[Tensor, "n d_in"]
    ) -> tuple[Float[Tensor, "n d_model"] | None, str]:
        """Map output directions at ``hook_name`` to the residual stream, or say why we cannot."""
        site = parse_hook(hook_name)
        m = self.model
        if site.kind in _RESID_SPACE or site.name in ("hook_embed", "hook_pos_embed"):
            return directions, ""
        if site.kind == "mlp.hook_post" and site.layer is not None:
            return directions @ m.W_out[site.layer].to(directions.dtype), ""
        if site.kind == "attn.hook_z" and site.layer is not None:
            w_o = m.W_O[site.layer]  # [head, d_head, d_model]
            return directions @ w_o.reshape(-1, w_o.shape[-1]).to(directions.dtype), ""
        if site.kind == "mlp.hook_pre":
            return None, (
                f"{hook_name} is the MLP input before its nonlinearity: it has no linear path to the "
                "residual stream, so logit effects are not defined"
            )
        return None, (
            f"{hook_name} is not a hook whose units write linearly to the residual stream "
            "(accepted: hook_resid_*, hook_attn_out, hook_mlp_out, mlp.hook_post, attn.hook_z)"
        )

    def unembed_matrix(self) -> Float[Tensor, "d_model d_vocab"]:
        return cast("Tensor", self.model.W_U)

    def final_readout(self) -> NormUnembed | Callable[[Tensor], Tensor]:
        """Logits from final residuals as the model computes them: ``ln_final``, the unembedding
        and the final soft cap (Gemma 2's ``output_logits_soft_cap``). As tensors
        (:class:`NormUnembed`) for TransformerLens's own LayerNorm
        and RMSNorm kinds in float32/64; otherwise the model's modules, called."""
        m = self.model
        cap = float(getattr(m.cfg, "output_logits_soft_cap", 0.0) or 0.0)
        norm, unembed = m.ln_final, m.unembed
        kind = type(norm).__name__
        plain = (
            is_hooked_transformer(m)
            and type(unembed).__name__ == "Unembed"
            and kind in _NORMS
            and m.cfg.dtype in (torch.float32, torch.float64)
        )
        if plain:
            center, weighted = _NORMS[kind]
            w, b = (norm.w if weighted else None), (norm.b if kind == "LayerNorm" else None)
            # Kept while the same tensors are unchanged (an in-place edit bumps ``_version``).
            key = tuple((id(t), t._version) for t in (w, b, unembed.W_U, unembed.b_U) if t is not None)
            if self._readout is None or self._readout[0] != (key, cap):
                ro = NormUnembed(center, w, b, float(getattr(norm, "eps", 0.0)), unembed.W_U, unembed.b_U, cap)
                self._readout = ((key, cap), ro)
            return self._readout[1]

        def readout(x: Tensor) -> Tensor:
            with forward_guard(m):  # the modules' hooks fire: not inside another thread's forward
                return soft_cap(m.unembed(m.ln_final(x)), cap)

        return readout

    # -- text -----------------------------------------------------------------------------
    def token_strings(self, ids: Iterable[int]) -> list[str]:
        """Each token's own text (``tokenizer.decode([id])``), cached."""
        decode, known = self.model.tokenizer.decode, self._strings
        return [known[i] if i in known else known.setdefault(i, decode([i])) for i in ids]


def _savers(hook_names: Sequence[str], out: dict[str, Tensor]) -> list[tuple[str, Callable[..., None]]]:
    """Forward hooks that store each named activation in ``out`` and stop the pass after the last."""
    wanted = list(dict.fromkeys(hook_names))
    owner = threading.get_ident()  # a forward of another thread (the user's, during a background build) is not ours

    def saver(name: str) -> Callable[..., None]:
        def hook(act: Tensor, hook: object) -> None:  # noqa: ARG001 - TL passes the HookPoint
            if threading.get_ident() != owner:
                return
            out[name] = act.detach()
            if len(out) == len(wanted):
                raise _Captured

        return hook

    return [(n, saver(n)) for n in wanted]


def flatten_hook_activation(act: Tensor, d_in: int, hook_name: str) -> Tensor:
    """``[batch, pos, head, d_head]`` (attn z) → ``[batch, pos, head*d_head]``; checks ``d_in``."""
    if act.ndim == 4:
        act = act.flatten(-2)
    if act.shape[-1] != d_in:
        raise ValueError(
            f"the SAE expects vectors of size d_in={d_in}, but {hook_name} gives vectors of size "
            f"{act.shape[-1]}; pick the hook this SAE was trained on"
        )
    return act
