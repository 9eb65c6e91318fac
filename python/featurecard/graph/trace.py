"""Trace from a graph node: the node-table target (an ``fc.node`` spec, as a plain dict) that a
node of the contribution graph is, so "trace from here" opens a node table of what feeds it.

The graph draws states and blocks; the node table's targets are units. Each graph node that is
one maps to a spec (:mod:`featurecard.nodes.node_spec` for their meaning; this view does not
import it, the Workspace turns the dict into a spec):

* an MLP neuron or an SAE latent listed in a block's details: ``neuron`` / ``latent`` at its
  position, the unit's activation (the graph's ``act`` column);
* an SAE's error part: ``error``, the norm of the SAE's error vector at the position;
* a head at a (query, source) pair: ``attn``, its post-softmax probability;
* a head summed over its sources: ``write`` of ``kind="attn"``, ``head=h``, projected on the
  unit vector of that write at this prompt, ``z[p, h] W_O[h] / ‖z[p, h] W_O[h]‖`` (no bias), so its
  value is the norm of the head's write, and the gradient of the projection is the gradient of
  the norm at this point (``d‖w‖ = w/‖w‖ · dw``);
* an attention or MLP block: ``write`` of ``kind="attn"`` / ``"mlp"`` projected the same way on
  its own write (``Σ_h z[p, h] W_O[h]``, ``post[p] W_out``: without ``b_O`` / ``b_out``, which
  belong to no node, as the node table's write targets define it), its norm.

A residual state is a sum, not a node of the model: it has no node-table target, and asking for
one is refused with that reason. Errors name the bad value and the accepted range.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..core.model import ModelAdapter, block_hook
from .blocks import Layout

TRACE_KINDS: tuple[str, ...] = ("neuron", "latent", "error", "attn", "head", "block")
RESID_REFUSAL = (
    "a residual state is a sum of what earlier blocks wrote, not a node of the model: it has no "
    "node-table target; trace from a block, a head or a unit instead"
)
WRITE_LABEL = "its own direction at this prompt: the value is the norm of the write"
_KEYS: dict[str, tuple[str, ...]] = {
    "neuron": ("layer", "unit", "pos"),
    "latent": ("source", "unit", "pos"),
    "error": ("source", "pos"),
    "attn": ("layer", "head", "pos", "src"),
    "head": ("layer", "head", "pos"),
    "block": ("layer", "block", "pos"),
}


def _int(name: str, value: object, low: int, high: int) -> int:
    """An int in ``low .. high - 1`` (never a bool), else an error naming the range."""
    try:
        if isinstance(value, bool):
            raise TypeError
        out = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"trace: {name} must be an int in {low} .. {high - 1}; got {value!r}") from None
    if not low <= out < high:
        raise ValueError(f"trace: {name} {out} is out of range: accepted {low} .. {high - 1}")
    return int(out)


def parse_trace_node(node: object) -> dict[str, Any]:
    """A graph node as a plain dict ``{kind, ...}`` (see the module docstring): a dict, a node
    spec (anything with ``as_dict``, e.g. ``fc.node(...)``) or a graph node id such as
    ``"attn:1:5"`` / ``"mlp:0:3"`` (a block at layer 1, position 5)."""
    if isinstance(node, str):
        kind, _, rest = node.partition(":")
        layer, _, pos = rest.partition(":")
        if kind == "resid":
            raise ValueError(f"trace {node!r}: {RESID_REFUSAL}")
        if kind not in ("attn", "mlp") or not layer.lstrip("-").isdigit() or not pos.lstrip("-").isdigit():
            raise ValueError(f"trace: a graph node id is 'attn:<layer>:<pos>' or 'mlp:<layer>:<pos>'; got {node!r}")
        return {"kind": "block", "block": kind, "layer": int(layer), "pos": int(pos)}
    as_dict = getattr(node, "as_dict", None)
    if callable(as_dict):
        node = as_dict()
    if not isinstance(node, Mapping) or node.get("kind") not in (*TRACE_KINDS, "write", "resid"):
        raise TypeError(
            f"trace takes a graph node: a dict with 'kind' in {list(TRACE_KINDS)}, an fc.node(...) spec "
            f"or a block id like 'attn:1:5'; got {node!r:.120}"
        )
    if node["kind"] == "resid":
        raise ValueError(f"trace {dict(node)!r}: {RESID_REFUSAL}")
    return dict(node)


def trace_spec(
    adapter: ModelAdapter, tokens: Int[Tensor, " pos"], layout: Layout, node: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``fc.node`` spec (``NodeSpec.as_dict`` form) of a graph node of the prompt ``tokens``.

    Unit kinds pass through with their keys (the node table checks units and SAE names); heads
    summed and blocks get the unit direction of their write at this prompt."""
    kind = node["kind"]
    if kind == "write":
        return dict(node)  # an fc.node("write", ...) spec of the user's: as it is
    keys = _KEYS[kind]
    unknown = sorted(set(node) - {"kind", *keys})
    missing = [k for k in keys if k not in node]
    if unknown or missing:
        raise TypeError(
            f"trace: a {kind!r} graph node takes {list(keys)}"
            + (f"; unknown {unknown}" if unknown else "")
            + (f"; missing {missing}" if missing else "")
        )
    if kind not in ("head", "block"):
        return {k: node[k] for k in ("kind", *keys)}
    n = int(tokens.shape[0])
    layer = _int("layer", node["layer"], 0, layout.n_layers)
    pos = _int("pos", node["pos"], -n, n) % n
    if kind == "head":
        head = _int("head", node["head"], 0, layout.n_heads)
        write = head_write(adapter, tokens, layer, head, pos)
        spec = {"kind": "write", "layer": layer, "write_kind": "attn", "head": head, "pos": pos}
    else:
        block = node["block"]
        if block not in ("attn", "mlp") or (block == "mlp" and not layout.has_mlp):
            accepted = "'attn' or 'mlp'" if layout.has_mlp else "'attn' (this model has no MLPs)"
            raise ValueError(f"trace: block {block!r} is not a block of this model: accepted {accepted}")
        write = block_write(adapter, tokens, layer, block, pos)
        spec = {"kind": "write", "layer": layer, "write_kind": block, "head": None, "pos": pos}
    return {**spec, "direction": unit_direction(write, spec).tolist(), "label": WRITE_LABEL}


def head_write(
    adapter: ModelAdapter, tokens: Int[Tensor, " pos"], layer: int, head: int, pos: int
) -> Float[Tensor, " d_model"]:
    """What head ``head`` of ``layer`` writes at ``pos``: ``z[pos, head] @ W_O[head]`` (no bias)."""
    return block_write(adapter, tokens, layer, "attn", pos, head=head)


def block_write(
    adapter: ModelAdapter, tokens: Int[Tensor, " pos"], layer: int, block: str, pos: int, head: int | None = None
) -> Float[Tensor, " d_model"]:
    """What the attention block (its heads, or head ``head``: ``Σ_h z[pos, h] W_O[h]``) or the MLP
    (``post[pos] W_out``) of ``layer`` writes at ``pos``, without ``b_O`` / ``b_out`` (they belong
    to no node, as in the node table's write targets and roll-up rows)."""
    model = adapter.model  # Any: a TransformerLens model
    hook = block_hook(layer, "attn.hook_z" if block == "attn" else "mlp.hook_post")
    adapter.validate_hook(hook)
    act = adapter.capture(tokens[None], [hook])[hook][0, pos]
    if block == "mlp":
        w_out: Tensor = model.W_out[layer].detach()
        return (act.to(w_out) @ w_out).float().cpu()
    w_o: Tensor = model.W_O[layer].detach()  # [head_index, d_head, d_model]
    heads = [head] if head is not None else list(range(w_o.shape[0]))
    write: Tensor = torch.einsum("hd,hdm->m", act.to(w_o)[heads], w_o[heads])
    return write.float().cpu()


def unit_direction(write: Float[Tensor, " d_model"], spec: Mapping[str, Any]) -> Float[Tensor, " d_model"]:
    """``write / ‖write‖`` in float64; a write of norm 0 has no direction and is refused."""
    w = write.double()
    norm = float(torch.linalg.vector_norm(w))
    if not norm > 0.0:
        raise ValueError(f"trace: the write of {dict(spec)!r} is zero at this prompt: it has no direction to trace")
    return w / norm
