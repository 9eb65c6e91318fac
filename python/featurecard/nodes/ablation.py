"""Ablations for node tables: which node, replaced by what, and the dataset means they need.

An ablation replaces one node's activation at one position in every prompt of the table
(Transformer Debugger applies ablations to both prompts too):

* an MLP neuron ``(layer, neuron, pos)``: ``mlp.hook_post[pos, neuron]``;
* an attention head at a query position ``(layer, head, pos)``: the head's output
  ``attn.hook_z[pos, head]`` (the whole attention row of that head at that token, as in
  Transformer Debugger; on TransformerBridge ``hook_pattern`` cannot be edited);
* an SAE latent ``(sae, latent, pos)``: the latent in the spliced SAE; the SAE's error term is
  kept, so only that latent's contribution changes.

``zero`` writes 0; ``mean`` writes the unit's mean over the Workspace's dataset (positions the
Workspace counts, i.e. BOS excluded by default): for neurons and heads from one streamed pass
over the dataset (cached per Workspace and hook), for latents from the activation index.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch
from jaxtyping import Int
from torch import Tensor

from ..core.dataset import dataset_batches
from ..core.model import ModelAdapter

AblationMode = Literal["zero", "mean"]
MODES: tuple[str, ...] = ("zero", "mean")


@dataclass(frozen=True)
class Ablation:
    """One node to ablate: ``family`` is ``"mlp"``, ``"attn"`` or an SAE's name."""

    family: str
    layer: int
    unit: int
    pos: int
    mode: AblationMode = "zero"

    def as_dict(self) -> dict[str, Any]:
        return {"family": self.family, "layer": self.layer, "unit": self.unit, "pos": self.pos, "mode": self.mode}

    def label(self) -> str:
        what = {"mlp": f"mlp L{self.layer} n{self.unit}", "attn": f"attn L{self.layer} H{self.unit}"}.get(
            self.family, f"{self.family} #{self.unit}"
        )
        return f"{self.mode}-ablate {what} @ {self.pos}"


def parse_ablation(
    obj: Any, *, n_layers: int, n_heads: int, d_mlp: int, saes: Mapping[str, int], n_pos: int
) -> Ablation:
    """An :class:`Ablation` from itself or a mapping, checked against the model and prompt."""
    if isinstance(obj, Ablation):
        obj = obj.as_dict()
    if not isinstance(obj, Mapping):
        raise TypeError(f"an ablation is an Ablation or a dict with family, layer, unit, pos, mode; got {obj!r}")
    unknown = set(obj) - {"family", "layer", "unit", "pos", "mode"}
    if unknown:
        raise TypeError(f"ablation has unknown keys {sorted(unknown)}; accepted: family, layer, unit, pos, mode")
    family, mode = obj.get("family"), obj.get("mode", "zero")
    families = ["mlp", "attn", *saes]
    if family not in families:
        raise ValueError(f"ablation family {family!r} is not one of {families}")
    if mode not in MODES:
        raise ValueError(f"ablation mode {mode!r} is not one of {MODES}")
    layer, unit, pos = (_int_field(obj, key) for key in ("layer", "unit", "pos"))
    if family in ("mlp", "attn") and not 0 <= layer < n_layers:
        raise IndexError(f"ablation layer {layer} is out of range: accepted 0 .. {n_layers - 1}")
    n_units = {"mlp": d_mlp, "attn": n_heads}.get(str(family)) or saes[str(family)]
    if not 0 <= unit < n_units:
        raise IndexError(f"ablation unit {unit} is out of range for {family}: accepted 0 .. {n_units - 1}")
    if not 0 <= pos < n_pos:
        raise IndexError(f"ablation position {pos} is out of range for this prompt: accepted 0 .. {n_pos - 1}")
    return Ablation(str(family), layer if family in ("mlp", "attn") else -1, unit, pos, mode)


def _int_field(obj: Mapping[str, Any], key: str) -> int:
    """An ablation's ``layer``/``unit``/``pos`` as an int (a Python or numpy integer; never cast
    from a float, a bool or a string)."""
    value = obj.get(key, -1)
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"ablation {key} must be an int; got {value!r} ({type(value).__name__})")
    return operator.index(value)


class LatentColumns(Protocol):
    """An SAE's activation index, as the latent means read it."""

    @property
    def n_tokens(self) -> int: ...
    def column(self, unit: int) -> tuple[Tensor, Tensor]: ...


class DatasetWorkspace(Protocol):
    """What the dataset means read from a Workspace (which is one): its model, dataset and pass
    settings, and its activation indexes."""

    @property
    def adapter(self) -> ModelAdapter: ...
    @property
    def tokens(self) -> Int[Tensor, "batch pos"]: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def exclude_bos(self) -> bool: ...
    def index(self, name: str) -> LatentColumns: ...


_MEANS: weakref.WeakKeyDictionary[DatasetWorkspace, dict[str, Tensor]] = weakref.WeakKeyDictionary()


@torch.no_grad()
def hook_mean(ws: DatasetWorkspace, hook_name: str) -> Tensor:
    """The mean of a hook's activation over the Workspace's counted dataset positions
    (``[d]`` or ``[head, d_head]``), from one streamed pass, cached per Workspace."""
    cache = _MEANS.setdefault(ws, {})
    if hook_name not in cache:
        total: Tensor | None = None
        count = 0
        batches = dataset_batches(
            ws.adapter, ws.tokens, [hook_name], exclude_bos=ws.exclude_bos, batch_size=ws.batch_size, progress=False
        )
        for b in batches:
            act = b.acts[hook_name].float()
            s = act[b.keep].sum(0)
            total = s if total is None else total + s
            count += int(b.keep.sum())
        assert total is not None
        cache[hook_name] = total / max(count, 1)
    return cache[hook_name]


def latent_mean(ws: DatasetWorkspace, name: str, unit: int) -> float:
    """A latent's mean over the counted dataset positions, from the activation index."""
    idx = ws.index(name)
    _pos, values = idx.column(unit)
    return float(values.double().sum()) / max(int(idx.n_tokens), 1)


def replacement(ws: DatasetWorkspace, ab: Ablation, hook_name: str) -> float | Tensor:
    """What an ablated node's activation becomes: 0, or its dataset mean."""
    if ab.mode == "zero":
        return 0.0
    if ab.family == "mlp":
        return hook_mean(ws, hook_name)[ab.unit]
    if ab.family == "attn":
        return hook_mean(ws, hook_name)[ab.unit]
    return latent_mean(ws, ab.family, ab.unit)


def edit_units(act: Tensor, edits: Sequence[tuple[int, int, float | Tensor]]) -> Tensor:
    """``act`` with ``act[:, pos, unit] = value`` for every ``(pos, unit, value)``, out of place
    (gradients still flow to every other entry)."""
    if not edits:
        return act
    out = act.clone()
    for pos, unit, value in edits:
        out[:, pos, unit] = torch.as_tensor(value, dtype=act.dtype, device=act.device)
    return out
