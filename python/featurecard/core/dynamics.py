"""Token dynamics of a node: the tokens its write promotes and suppresses (LLM Transparency
Tool's view), and the input tokens that most raise a unit by its direct path (Transformer
Debugger's token-read view). Pure tensor functions; the callers capture the activations.

**Promote / suppress.** A node writes a vector ``w`` into the residual stream at one position
(its *write*, below). Freeze the final LayerNorm at the scale ``s`` it applied at that position
in the prompt's forward pass (``ln_final.hook_scale``); the norm is then linear and the write's
logit contribution is

    Δlogits = ((w − mean(w)) / s ⊙ ln_final.w) @ W_U      (LayerNorm; LayerNormPre: no ⊙ w)
    Δlogits = (w / s ⊙ ln_final.w) @ W_U                  (RMSNorm; RMSNormPre: no ⊙ w)
    Δlogits = w @ W_U                                     (no final norm)

with no bias terms (``ln_final.b`` and ``b_U`` belong to no node). This is **exactly** the change
of the model's logits when ``w`` is added to the final residual with ``ln_final.hook_scale`` held
at ``s`` (tested to 1e-5), and it adds up over nodes. What is **frozen**: the scale (adding or
removing ``w`` really moves it), and nothing of the later layers is re-run: it is the direct
path from the write to the logits. A final soft cap (Gemma 2) is not applied. The promoted
tokens are the top ``k`` of Δlogits, the suppressed ones the bottom ``k``. A positive scale per
position never changes their order, so they can be chosen before the scale is known and the
values divided by it afterwards (:meth:`TokenDynamics.scaled`).

**Writes** (each exact: the vector the model itself adds to the residual stream):

* MLP neuron ``i`` of layer ``L``: ``post[i] · W_out[L][i]`` (``b_out`` is the block's);
* SAE latent ``j``: ``s_sae · f_j · decoder_rows()[j]`` mapped to the residual stream
  (:meth:`~featurecard.core.model.ModelAdapter.resid_directions`; ``s_sae`` undoes the SAE's
  run-time input normalisation, :meth:`~featurecard.core.sae.SparseAutoencoder.output_scale`);
* SAE error node: the SAE's input minus its reconstruction, mapped the same way;
* attention head ``h`` at query ``q``: ``z[q, h] @ W_O[L][h]`` = ``Σ_k pattern[h, q, k] ·
  v[k, h] @ W_O[L][h]`` (its OV output on the values it attends to; ``b_O`` is the block's);
* a whole block: its output ``hook_attn_out`` / ``hook_mlp_out`` at the position, as it is
  (biases included; :func:`block_write_hook` names it).

**Token read.** For a unit that reads the residual stream through a LayerNorm (an MLP neuron's
pre-activation reads ``blocks.L.ln2``; a latent of an SAE on a ``hook_resid_*`` reads it through
the SAE's own run-time normalisation, if any), the direct path from token ``t``'s embedding is
linear at a frozen scale: ``read[t] = norm(W_E[t] (+ W_pos[p])) · d`` with ``d`` the unit's input
direction (``W_in[L][:, i]``; ``W_enc[:, j]``) and no bias terms. It **ignores every layer between
the embedding and the unit** (the direct path only: exact for an SAE on
``blocks.0.hook_resid_pre``, a first-order view elsewhere). The positional embedding at a
position is added only when asked (it shifts every token's value by the same amount, so the
order never changes), and only for models that add one to the residual stream. Where the unit
does not read the residual stream linearly (a gated MLP's neuron; SAEs on ``attn.hook_z``,
``mlp.hook_post`` / ``hook_pre``, ``hook_attn_out``, ``hook_mlp_out``, which read through a
block's nonlinearity) the functions return the reason as a string instead of numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import torch
from jaxtyping import Float, Int
from torch import Tensor

from .model import ModelAdapter, block_hook, flatten_hook_activation, parse_hook
from .sae import SparseAutoencoder

TOP_K = 10
# Rows of logits computed at once: keeps [rows, d_vocab] in float32 under about 64 MB.
CHUNK_ELEMENTS = 1 << 24
_RESID_HOOKS = ("hook_resid_pre", "hook_resid_mid", "hook_resid_post")


class DynamicsError(ValueError):
    """A node or unit whose token dynamics are asked with inputs that do not fit; says which."""


# -- the final norm at a frozen scale ---------------------------------------------------------
@dataclass(frozen=True)
class Norm:
    """A LayerNorm seen as a linear map at a frozen scale: ``x ↦ (x − centre) / s ⊙ w``.

    ``center``: LayerNorm (subtract the mean) rather than RMSNorm; ``w`` None for the ``*Pre``
    norms; ``identity`` for a model without the norm (the scale is then 1)."""

    center: bool
    w: Float[Tensor, " d_model"] | None
    eps: float
    identity: bool = False

    def scale_of(self, x: Float[Tensor, "*batch d_model"]) -> Float[Tensor, "*batch 1"]:
        """The scale the norm applies to ``x``: ``sqrt(mean(c²) + eps)`` (``c`` centred or not)."""
        if self.identity:
            return torch.ones_like(x[..., :1])
        c = x - x.mean(-1, keepdim=True) if self.center else x
        return (c.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()

    def apply(
        self, x: Float[Tensor, "*batch d_model"], scale: Float[Tensor, "*batch 1"] | float | None
    ) -> Float[Tensor, "*batch d_model"]:
        """``x`` through the norm at the frozen ``scale``, without its bias (None: scale 1)."""
        if self.identity:
            return x
        c = x - x.mean(-1, keepdim=True) if self.center else x
        if scale is not None:
            c = c / scale
        return c * self.w.to(c.dtype) if self.w is not None else c


def norm_of(module: object | None) -> Norm:
    """The :class:`Norm` of a TransformerLens norm module (``LayerNorm``, ``LayerNormPre``,
    ``RMSNorm``, ``RMSNormPre``, their bridge wrappers), or the identity for a missing one."""
    name = type(module).__name__
    if module is None or name in ("Identity", "GeneralizedComponent") or not hasattr(module, "eps"):
        return Norm(center=False, w=None, eps=0.0, identity=True)
    w = getattr(module, "w", None)
    weight = w.detach() if isinstance(w, Tensor) else None
    return Norm(center="RMS" not in name, w=weight, eps=float(cast("Any", module).eps))


@dataclass(frozen=True)
class FrozenReadout:
    """The final norm at a frozen scale and the unembedding ``W_U`` (no ``b_U``)."""

    norm: Norm
    W_U: Float[Tensor, "d_model d_vocab"]

    @staticmethod
    def of(model: Any) -> FrozenReadout:
        """From a HookedTransformer or TransformerBridge: ``ln_final`` and ``W_U``."""
        return FrozenReadout(norm_of(getattr(model, "ln_final", None)), cast("Tensor", model.W_U).detach())


@dataclass(frozen=True)
class TokenDynamics:
    """The top ``k`` promoted and suppressed tokens of each write, with their logit contributions."""

    promote_ids: Int[Tensor, "*batch k"]
    promote_values: Float[Tensor, "*batch k"]  # largest first
    suppress_ids: Int[Tensor, "*batch k"]
    suppress_values: Float[Tensor, "*batch k"]  # most negative first

    def scaled(self, scale: Float[Tensor, "*batch 1"]) -> TokenDynamics:
        """The values divided by a positive frozen scale per write (the order is unchanged)."""
        return TokenDynamics(
            self.promote_ids, self.promote_values / scale, self.suppress_ids, self.suppress_values / scale
        )


def write_logits(
    readout: FrozenReadout, write: Float[Tensor, "*batch d_model"], scale: Float[Tensor, "*batch 1"] | float | None
) -> Float[Tensor, "*batch d_vocab"]:
    """Δlogits of each write at the frozen final scale (None: leave the division out)."""
    dtype = torch.promote_types(write.dtype, torch.float32)
    x = readout.norm.apply(write.to(dtype), scale)
    return x @ readout.W_U.to(dtype)


@torch.no_grad()
def token_dynamics(
    readout: FrozenReadout,
    write: Float[Tensor, "*batch d_model"],
    scale: Float[Tensor, "*batch 1"] | float | None,
    k: int = TOP_K,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> TokenDynamics:
    """The ``k`` tokens each write promotes and suppresses most (:func:`write_logits`, top and
    bottom), computed in chunks of rows so ``[rows, d_vocab]`` stays under ``chunk_elements``.
    ``scale`` broadcasts to ``[*batch, 1]``; None leaves the division by the frozen scale for
    :meth:`TokenDynamics.scaled`."""
    d_vocab = int(readout.W_U.shape[-1])
    if not 1 <= k <= d_vocab:
        raise DynamicsError(f"k={k} is out of range: accepted 1 .. {d_vocab} (the vocabulary)")
    lead = tuple(write.shape[:-1])
    rows = write.reshape(-1, write.shape[-1])
    sc = torch.broadcast_to(scale, (*lead, 1)).reshape(-1, 1) if isinstance(scale, Tensor) else scale
    step = max(1, chunk_elements // d_vocab)
    parts: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
    for r0 in range(0, rows.shape[0], step):
        s = sc[r0 : r0 + step] if isinstance(sc, Tensor) else sc
        logits = write_logits(readout, rows[r0 : r0 + step], s)
        up, down = logits.topk(k, dim=-1), logits.topk(k, dim=-1, largest=False)
        parts.append((up.indices, up.values, down.indices, down.values))
    if not parts:
        z = torch.zeros(0, k, device=write.device)
        parts.append((z.long(), z, z.long(), z))
    cat = [torch.cat([p[i] for p in parts]).reshape(*lead, k) for i in range(4)]
    return TokenDynamics(cat[0], cat[1], cat[2], cat[3])


# -- the writes of nodes -------------------------------------------------------------------------
def neuron_writes(
    w_out: Float[Tensor, "d_mlp d_model"], units: Int[Tensor, " *batch"], acts: Float[Tensor, " *batch"]
) -> Float[Tensor, "*batch d_model"]:
    """``act · W_out[L][unit]`` for each (unit, activation); ``w_out`` is ``model.W_out[L]``."""
    return acts.to(w_out.dtype)[..., None] * w_out[units]


def head_writes(
    w_o: Float[Tensor, "head_index d_head d_model"], z: Float[Tensor, "*batch head_index d_head"]
) -> Float[Tensor, "*batch head_index d_model"]:
    """Each head's OV output at each query: ``z[q, h] @ W_O[L][h]`` (``z`` is ``attn.hook_z``,
    ``Σ_k pattern[h, q, k] · v[k, h]``; ``w_o`` is ``model.W_O[L]``), without ``b_O``."""
    return torch.einsum("...he,hed->...hd", z.to(w_o.dtype), w_o)


def block_write_hook(layer: int, block: Literal["attn", "mlp"]) -> str:
    """The hook whose value at a position is the block's whole write (biases included)."""
    return block_hook(layer, "hook_attn_out" if block == "attn" else "hook_mlp_out")


def _to_resid(adapter: ModelAdapter, sae: SparseAutoencoder, x: Tensor) -> Tensor:
    out, why = adapter.resid_directions(sae.hook_name, x)
    if out is None:
        raise DynamicsError(why)
    return out


def latent_writes(
    adapter: ModelAdapter,
    sae: SparseAutoencoder,
    units: Int[Tensor, " n"],
    acts: Float[Tensor, " n"],
    sae_in: Float[Tensor, "n d_in"],
) -> Float[Tensor, "n d_model"]:
    """``s_sae · act · decoder_rows()[unit]`` mapped to the residual stream, for each latent
    ``units[n]`` with activation ``acts[n]`` on the SAE input ``sae_in[n]`` (the hook's value at
    its position; it sets ``s_sae``). A DynamicsError where the hook has no linear path."""
    if sae.hook_head_index is not None:
        raise DynamicsError("an SAE on a single head's hook_z has no write mapped to the residual stream here")
    x = flatten_hook_activation(sae_in, sae.d_in, sae.hook_name).to(sae.dtype)
    s, _o = sae.output_scale(x)
    rows = sae.decoder_rows()[units] * (s * acts.to(sae.dtype)[:, None])
    return _to_resid(adapter, sae, rows)


def error_writes(
    adapter: ModelAdapter, sae: SparseAutoencoder, sae_in: Float[Tensor, "n d_in"]
) -> Float[Tensor, "n d_model"]:
    """The SAE error node's write: ``x − (s · decode(encode(x)) + o)`` mapped to the residual
    stream (what splicing the SAE in removes from the model's own write at that hook)."""
    if sae.hook_head_index is not None:
        raise DynamicsError("an SAE on a single head's hook_z has no write mapped to the residual stream here")
    x = flatten_hook_activation(sae_in, sae.d_in, sae.hook_name).to(sae.dtype)
    s, o = sae.output_scale(x)
    return _to_resid(adapter, sae, x - (s * sae.decode(sae.encode(x)) + o))


# -- token read ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenRead:
    """The tokens whose embeddings most raise a unit by the direct path (see the module docstring)."""

    ids: Int[Tensor, " k"]
    values: Float[Tensor, " k"]  # the unit's input contribution, largest first
    position: int | None  # the position whose positional embedding was added, or None (token only)
    through: str  # what the path goes through, e.g. "blocks.1.ln2 at a frozen scale"


def token_read(
    model: Any,
    norm: Norm,
    direction: Float[Tensor, " d_model"],
    scale: Float[Tensor, ""] | float | None,
    position: int | None = None,
    k: int = TOP_K,
) -> tuple[Int[Tensor, " k"], Float[Tensor, " k"]] | str:
    """Top ``k`` of ``norm(W_E[t] (+ W_pos[position])) · direction`` over the vocabulary."""
    emb = cast("Tensor", model.W_E).detach()
    if position is not None:
        w_pos = _w_pos(model)
        if isinstance(w_pos, str):
            return w_pos
        if not 0 <= position < w_pos.shape[0]:
            raise DynamicsError(f"position {position} is out of range: accepted 0 .. {w_pos.shape[0] - 1}")
        emb = emb + w_pos[position]
    dtype = torch.promote_types(emb.dtype, torch.float32)
    values = norm.apply(emb.to(dtype), scale) @ direction.to(dtype)
    top = values.topk(min(k, int(values.shape[0])))
    return top.indices, top.values


def _w_pos(model: Any) -> Tensor | str:
    if getattr(model.cfg, "positional_embedding_type", "standard") != "standard":
        kind = model.cfg.positional_embedding_type
        return f"this model's positions are {kind}: it adds no positional embedding to the residual stream"
    w = getattr(model, "W_pos", None)
    if w is None:
        w = getattr(getattr(model, "pos_embed", None), "W_pos", None)
    return w.detach() if isinstance(w, Tensor) else "this model exposes no W_pos"


def neuron_token_read(
    model: Any, layer: int, unit: int, scale: Float[Tensor, ""] | float, position: int | None = None, k: int = TOP_K
) -> TokenRead | str:
    """Token read of MLP neuron ``unit`` of ``layer``: the direct path through ``blocks.L.ln2``
    at its frozen ``scale`` (``blocks.L.ln2.hook_scale`` at the position) to ``W_in[L][:, unit]``,
    the neuron's pre-activation without ``b_in``. The reason instead where there is no one read."""
    cfg = model.cfg
    if getattr(cfg, "attn_only", False):
        return "this model has no MLPs"
    if getattr(cfg, "gated_mlp", False):
        return "a gated MLP's neuron multiplies two reads of the residual stream (W_gate, W_in): no single direction"
    d_mlp = int(cfg.d_mlp)
    if not 0 <= unit < d_mlp or not 0 <= layer < int(cfg.n_layers):
        raise DynamicsError(
            f"neuron ({layer}, {unit}) is out of range: accepted layers 0 .. {int(cfg.n_layers) - 1}, "
            f"units 0 .. {d_mlp - 1}"
        )
    norm = norm_of(getattr(model.blocks[layer], "ln2", None))
    direction = cast("Tensor", model.W_in[layer]).detach()[:, unit]
    got = token_read(model, norm, direction, scale, position, k)
    if isinstance(got, str):
        return got
    through = "no LayerNorm" if norm.identity else f"blocks.{layer}.ln2 at a frozen scale"
    return TokenRead(got[0], got[1], position, through)


def latent_token_read(
    model: Any,
    sae: SparseAutoencoder,
    unit: int,
    sae_in: Float[Tensor, " d_in"] | None = None,
    position: int | None = None,
    k: int = TOP_K,
) -> TokenRead | str:
    """Token read of latent ``unit`` of an SAE on a ``hook_resid_*``: the direct path to its
    pre-activation ``· W_enc[:, unit]`` (without ``b_enc`` and ``b_dec``; times the decoder norm
    for TopK's ``rescale_acts_by_decoder_norm``; a gated SAE's gate), through the SAE's run-time
    normalisation frozen at its value on ``sae_in`` (the SAE's input at the position; needed only
    when the SAE normalises). The reason instead for SAEs on other hooks."""
    site = parse_hook(sae.hook_name)
    if site.kind not in _RESID_HOOKS or sae.hook_head_index is not None:
        return (
            f"{sae.hook_name} is not the residual stream: the latent reads it through a block's "
            "nonlinearity, so no token read is linear there (accepted: hook_resid_pre/mid/post)"
        )
    if not 0 <= unit < sae.d_sae:
        raise DynamicsError(f"latent {unit} is out of range: accepted 0 .. {sae.d_sae - 1}")
    direction = sae.W_enc[:, unit]
    if sae.rescale_acts_by_decoder_norm:
        direction = direction * sae.W_dec[unit].norm()
    norm, scale, through = Norm(center=False, w=None, eps=0.0, identity=True), None, "the residual stream directly"
    if sae.normalize_activations in ("constant_norm_rescale", "layer_norm"):
        if sae_in is None:
            raise DynamicsError(
                f"this SAE normalises its input ({sae.normalize_activations}): pass sae_in, "
                "its input at the position, to freeze the normalisation"
            )
        x = sae_in.to(sae.dtype)
        if sae.normalize_activations == "constant_norm_rescale":
            norm, scale = Norm(center=False, w=None, eps=0.0), x.norm() / sae.d_in**0.5
        else:
            c = x - x.mean()
            norm, scale = Norm(center=True, w=None, eps=0.0), c.std() + 1e-5
        through = f"the SAE's {sae.normalize_activations} at a frozen scale"
    got = token_read(model, norm, direction, scale, position, k)
    return got if isinstance(got, str) else TokenRead(got[0], got[1], position, through)
