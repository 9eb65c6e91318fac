"""Node specs: one node of the model as a node table's target (``fc.node(...)``), torch-free.

A node table's target is a token's logit / log-probability / loss (:mod:`.targets`) or one of
these nodes, read from the forward pass at its position ``pos``:

* ``fc.node("neuron", layer=L, unit=i, pos=p)``: MLP neuron ``i`` of layer ``L``
  (``blocks.L.mlp.hook_post[p, i]``);
* ``fc.node("latent", source=name, unit=i, pos=p)``: latent ``i`` of the Workspace's SAE
  ``name``, the SAE's own ``encode`` of its hook's value at ``p``;
* ``fc.node("error", source=name, pos=p)``: the SAE's error node at ``p``; its scalar is the
  **norm of the error vector** ``‖e[p]‖``, ``e = x − reconstruction`` in the hook's space (what
  the table's "activation" column shows for error rows);
* ``fc.node("attn", layer=L, head=h, pos=p, src=s)``: the post-softmax probability with which
  query ``p`` of head ``h`` attends to source ``s`` (``blocks.L.attn.hook_pattern[h, p, s]``);
* ``fc.node("write", layer=L, kind="attn" | "mlp" | "block", head=None | h, pos=p,
  direction=v)``: what a head (``kind="attn"``, ``head=h``: ``z[p, h] W_O[h]``), an attention
  layer (``Σ_h z[p, h] W_O[h]``), an MLP layer (``post[p] W_out``) or a whole block (the two
  summed) writes to the residual stream at ``p``, projected on ``v`` (``[d_model]``; not
  normalised: the scalar is ``write · v``). The output biases ``b_O`` / ``b_out`` belong to no
  node and are left out, as in the table's roll-up rows (:mod:`.rollups`), so a roll-up row's
  act × grad is the write node's value on the gradient at that write. Without ``direction`` a
  write node is only a request to :meth:`NodeTable.trace <featurecard.nodes.widget.NodeTable.trace>`
  (what a roll-up row's trace button sends): the table fills it in with the current target's
  gradient at that write, frozen, and ``label`` says so in the description.

``pos`` and ``src`` take Python-style negatives (``-1``: the prompt's last token), resolved
against the prompt. What needs no model is checked here (types, signs, kinds, a finite
one-dimensional direction); layers, units, heads, SAE names, positions and the direction's
length are checked against the model and the prompt when a table is computed. Errors name the
bad value and what is accepted.
"""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

Side = Literal["total", "query", "key", "value"]
SIDES: tuple[str, ...] = ("total", "query", "key", "value")
WRITE_KINDS: tuple[str, ...] = ("attn", "mlp", "block")
NODE_KINDS: tuple[str, ...] = ("neuron", "latent", "error", "attn", "write")


def _int(name: str, value: object, low: int | None = 0) -> int:
    """An int (never a bool or a float), at least ``low`` when given."""
    try:
        if isinstance(value, bool):
            raise TypeError
        out = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"node {name} must be an int; got {value!r}") from None
    if low is not None and out < low:
        raise ValueError(f"node {name} must be an int >= {low}; got {out}")
    return int(out)


@dataclass(frozen=True)
class NodeSpec:
    """A node at a position; the subclasses say which."""

    kind: ClassVar[str] = ""
    pos: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "pos", _int("pos", self.pos, low=None))

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain JSON (what the widget sends back to trace from a row)."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        return {"kind": self.kind, **out}

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class NeuronNode(NodeSpec):
    """MLP neuron ``unit`` of layer ``layer`` at ``pos`` (``mlp.hook_post``)."""

    kind: ClassVar[str] = "neuron"
    layer: int = 0
    unit: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "layer", _int("layer", self.layer))
        object.__setattr__(self, "unit", _int("unit", self.unit))

    def describe(self) -> str:
        return f"MLP neuron L{self.layer} n{self.unit} at position {self.pos}"


@dataclass(frozen=True)
class LatentNode(NodeSpec):
    """Latent ``unit`` of the Workspace's SAE ``source`` at ``pos``."""

    kind: ClassVar[str] = "latent"
    source: str = ""
    unit: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.source, str) or not self.source:
            raise TypeError(f"node source must be the name of one of the Workspace's SAEs; got {self.source!r}")
        object.__setattr__(self, "unit", _int("unit", self.unit))

    def describe(self) -> str:
        return f"latent {self.unit} of {self.source} at position {self.pos}"


@dataclass(frozen=True)
class ErrorNode(NodeSpec):
    """The error node of SAE ``source`` at ``pos``: the norm of its error vector."""

    kind: ClassVar[str] = "error"
    source: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.source, str) or not self.source:
            raise TypeError(f"node source must be the name of one of the Workspace's SAEs; got {self.source!r}")

    def describe(self) -> str:
        return f"‖error‖ of {self.source} at position {self.pos}"


@dataclass(frozen=True)
class AttnNode(NodeSpec):
    """Head ``head`` of layer ``layer``: the probability of query ``pos`` attending to ``src``."""

    kind: ClassVar[str] = "attn"
    layer: int = 0
    head: int = 0
    src: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "layer", _int("layer", self.layer))
        object.__setattr__(self, "head", _int("head", self.head))
        object.__setattr__(self, "src", _int("src", self.src, low=None))

    def describe(self) -> str:
        return f"attention L{self.layer} H{self.head}: position {self.pos} → {self.src}"


@dataclass(frozen=True)
class WriteNode(NodeSpec):
    """What a head, an attention layer, an MLP layer or a block writes at ``pos``, projected on
    ``direction``."""

    kind: ClassVar[str] = "write"
    layer: int = 0
    write: Literal["attn", "mlp", "block"] = "block"
    head: int | None = None
    direction: tuple[float, ...] | None = None  # None: a trace fills in the current target's gradient
    label: str = ""  # what the direction is (the description's words); "" shows its norm

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "layer", _int("layer", self.layer))
        if self.write not in WRITE_KINDS:
            raise ValueError(f"a write node's kind must be one of {list(WRITE_KINDS)}; got {self.write!r}")
        if self.head is not None:
            if self.write != "attn":
                raise ValueError(f"only an attention write has a head (kind='attn'); got head={self.head!r}")
            object.__setattr__(self, "head", _int("head", self.head))
        if self.direction is not None:
            object.__setattr__(self, "direction", _direction(self.direction))
        if not isinstance(self.label, str):
            raise TypeError(f"a write node's label must be a string; got {self.label!r}")

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out["kind"], out["write_kind"] = "write", out.pop("write")
        return out

    def describe(self) -> str:
        what = {"attn": "attention layer", "mlp": "MLP layer", "block": "block"}[self.write]
        who = f"head L{self.layer} H{self.head}" if self.head is not None else f"{what} {self.layer}"
        if self.label:
            return f"write of {who} at position {self.pos} · {self.label}"
        if self.direction is None:
            return f"write of {who} at position {self.pos} · the current target's gradient there"
        norm = math.sqrt(sum(x * x for x in self.direction))
        return f"write of {who} at position {self.pos} · a direction (norm {norm:.3g})"


def _direction(value: object) -> tuple[float, ...]:
    """A one-dimensional, non-empty, finite vector as a tuple of floats (tensors and arrays via
    ``tolist``)."""
    raw = value.tolist() if hasattr(value, "tolist") else value
    if not isinstance(raw, list | tuple) or not raw or any(isinstance(x, list | tuple) for x in raw):
        shape = getattr(value, "shape", None)
        raise ValueError(
            f"a write node's direction must be a non-empty vector [d_model]; got {value!r:.80}"
            + (f" of shape {tuple(shape)}" if shape is not None else "")
        )
    try:
        out = tuple(float(x) for x in raw)
    except (TypeError, ValueError):
        raise TypeError(f"a write node's direction must hold numbers; got {raw!r:.80}") from None
    if not all(math.isfinite(x) for x in out):
        raise ValueError("a write node's direction must be finite (it has NaN or inf)")
    return out


_CLASSES: dict[str, type[NodeSpec]] = {
    "neuron": NeuronNode,
    "latent": LatentNode,
    "error": ErrorNode,
    "attn": AttnNode,
    "write": WriteNode,
}
_ARGS: dict[str, tuple[str, ...]] = {
    "neuron": ("layer", "unit", "pos"),
    "latent": ("source", "unit", "pos"),
    "error": ("source", "pos"),
    "attn": ("layer", "head", "pos", "src"),
    "write": ("layer", "kind", "head", "pos", "direction", "label"),
}
_REQUIRED: dict[str, tuple[str, ...]] = {**_ARGS, "write": ("layer", "kind", "pos")}


def node(what: str, /, **kwargs: Any) -> NodeSpec:
    """A node spec (see the module docstring), e.g. ``node("neuron", layer=1, unit=3, pos=5)``;
    a write's ``kind=`` is its keyword (``node("write", layer=1, kind="mlp", ...)``)."""
    if what not in _CLASSES:
        raise ValueError(f"node kind {what!r} is not one of {list(NODE_KINDS)}")
    unknown = sorted(set(kwargs) - set(_ARGS[what]))
    missing = [k for k in _REQUIRED[what] if k not in kwargs]
    if unknown or missing:
        raise TypeError(
            f"a {what!r} node takes {list(_ARGS[what])}"
            + (f"; unknown {unknown}" if unknown else "")
            + (f"; missing {missing}" if missing else "")
        )
    if what == "write":
        kwargs = {("write" if k == "kind" else k): v for k, v in kwargs.items()}
    return _CLASSES[what](**kwargs)


def node_from_dict(d: dict[str, Any]) -> NodeSpec:
    """The inverse of :meth:`NodeSpec.as_dict` (a row's spec sent back by the widget)."""
    if not isinstance(d, dict) or "kind" not in d:
        raise TypeError(f"a node spec is a dict with a 'kind' in {list(NODE_KINDS)}; got {d!r:.120}")
    rest = {k: v for k, v in d.items() if k != "kind"}
    if d["kind"] == "write" and "write_kind" in rest:
        rest["kind"] = rest.pop("write_kind")
    return node(d["kind"], **rest)
