"""A :class:`~featurecard.nodes.table.NodeTableResult` as the widget's payload; the widget's session.

Tensors become numpy arrays here, token ids travel in a local vocabulary (only the prompt's
tokens and the few predicted ones; ``core/vocab.py``), and the node families say which of them open a FeatureCard (MLP
neurons and SAE latents do; attention heads and SAE error nodes have no card).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, cast

import numpy as np
from torch import Tensor

from ..core.model import ModelAdapter
from ..core.schema import FeatureCardState
from ..core.token_bytes import token_bytes_of
from ..core.vocab import standalone_text
from .dynamics import RowDynamics
from .groups import SIGNED
from .node_model import NodeModel
from .node_spec import NodeSpec, WriteNode, node_from_dict
from .node_targets import NodeTargetSpec
from .payload import (
    NodeFamily,
    NodeTableState,
    NodeTarget,
    PromptData,
    RowDynamicsData,
    build_node_table_state,
    node_spec_payload,
)
from .table import NodeOptions, NodeTableResult, NodeTableRunner, Target
from .targets import resolve_position


def node_table_state(
    result: NodeTableResult, adapter: ModelAdapter, k: int, labels: Sequence[str] | None = None
) -> NodeTableState:
    spec, sel = result.spec, result.selection
    n_prompts = int(result.tokens.shape[0])
    labels = list(labels or (["Prompt"] if n_prompts == 1 else ["Left", "Right"]))
    token_bytes = token_bytes_of(adapter.model.tokenizer)

    def text(i: int | None) -> str | None:
        return None if i is None else standalone_text(token_bytes.one(i))

    node = spec.node if isinstance(spec, NodeTargetSpec) else None
    target: NodeTarget = {
        "kind": spec.kind,
        "position": spec.position,
        "token": text(spec.token),
        "distractor": text(spec.distractor),
        "description": spec.describe(text(spec.token), text(spec.distractor)),
        "node": None if node is None else node_spec_payload(node.as_dict()),
        "side": spec.side if isinstance(spec, NodeTargetSpec) else "total",
    }
    prompts = [
        PromptData(
            label=labels[b],
            token_ids=result.tokens[b].numpy(),
            target=float(result.target[b]),
            clean_target=float(result.clean_target[b]),
            prediction_ids=result.pred_ids[b].numpy(),
            prediction_probs=result.pred_probs[b].numpy(),
        )
        for b in range(n_prompts)
    ]
    families: list[NodeFamily] = [
        {
            "code": f.code,
            "kind": f.kind,
            "name": f.name,
            "hook": f.hook,
            "n_units": f.n_units,
            "card": f.kind in ("mlp", "sae"),
            "sae": f.sae,
        }
        for f in result.families
    ]
    keys = {name: getattr(sel, name).numpy().astype(np.int64) for name in ("family", "layer", "unit", "pos", "src")}
    return build_node_table_state(
        prompts=prompts,
        target=target,
        groups=sel.groups,
        signed=SIGNED,
        families=families,
        keys=keys,
        values=sel.values.numpy(),
        profiles=result.profiles.numpy(),
        k=k,
        ablations=[a.as_dict() for a in result.ablations],  # type: ignore[misc]
        notes=result.notes,
        token_bytes=token_bytes,
        dynamics=None if result.dynamics is None else _dynamics_data(result.dynamics),
    )


def _dynamics_data(d: RowDynamics) -> RowDynamicsData:
    return RowDynamicsData.of(
        d.promote_ids,
        d.suppress_ids,
        d.read_ids,
        promote_values=d.promote_values,
        suppress_values=d.suppress_values,
        read_values=d.read_values,
        read_notes=d.read_notes,
    )


class NodeTableSession:
    """What a NodeTable widget asks of the Workspace: tables for its prompts, and cards.

    Holds the prompts, the target (a token, or a node spec and its side) and the options; every
    call recomputes with the target position and ablations it is given (one forward and one
    backward pass). A node target moves with the position: the same node at the new position.
    """

    def __init__(
        self,
        ws: Any,
        prompts: Sequence[str | Tensor],
        target: Target,
        distractor: str | int | None,
        options: NodeOptions,
        side: str = "total",
    ) -> None:
        self.ws = ws
        self.runner = NodeTableRunner(ws, options)
        self.prompts = list(prompts)
        self.target, self.distractor, self.side = target, distractor, side
        self.token_target = None if isinstance(target, NodeSpec) else target
        self.result: NodeTableResult | None = None
        self.description = ""  # the shown table's target, as its state says

    def compute(self, position: int | None, ablations: Sequence[Any] = ()) -> NodeTableState:
        """The table at ``position`` (None: the node target's own position, or the last token)."""
        target, distractor = self.target, self.distractor
        if isinstance(target, NodeSpec):
            target = target if position is None else replace(target, pos=position)
            distractor = None
        at = -1 if position is None else position
        res = self.runner.run(self.prompts, target, distractor, at, ablations, self.side)
        self.result = res
        self.target = res.spec.node if isinstance(res.spec, NodeTargetSpec) else self.target
        state = node_table_state(res, self.ws.adapter, self.runner.opts.k)
        self.description = state["target"]["description"]
        return state

    def frozen_direction(self, node: WriteNode) -> WriteNode:
        """A roll-up's trace target: ``node`` (a head's, attention layer's or MLP layer's write) on
        the shown table's gradient at that write (``hook_attn_out`` / ``hook_mlp_out`` at its
        position; the first prompt's when comparing), frozen, so its value is the roll-up row's
        act × grad in the shown table."""
        res = self.result
        key = f"grad:out:{node.write}:{node.layer}"
        if node.write == "block":
            raise ValueError(
                f"the {node.describe()} has no one gradient to follow (its attention and MLP writes reach the "
                "target differently): give direction="
            )
        if res is None or key not in res.captures:
            raise ValueError(
                f"the {node.describe()} needs direction=: this table has no gradient at layer {node.layer}'s "
                f"{node.write} write (accepted layers: those of its roll-up rows, node_types with 'head' or 'layer')"
            )
        g = res.captures[key][0, resolve_position(node.pos, int(res.tokens.shape[1]))].float().cpu()
        if not bool(g.any()):
            raise ValueError(f"the current target's gradient at the {node.describe()} is zero: it does not reach it")
        desc = self.description if len(self.description) <= 80 else self.description[:79] + "…"
        first = " (first prompt's)" if res.tokens.shape[0] > 1 else ""
        return replace(node, direction=tuple(g.tolist()), label=f"∂[{desc}]/∂write{first}, frozen")

    def retarget(
        self, node: Mapping[str, Any] | None, side: str, position: int | None, ablations: Sequence[Any]
    ) -> NodeTableState:
        """The table of another target, a node spec as a dict (``NodeSpec.as_dict`` or a
        ``NodeSpecPayload``; None: the table's own token target) at ``position`` (None: the
        node's own); a failure keeps the current target."""
        target = None if node is None else node_from_dict({k: v for k, v in node.items() if v is not None})
        if isinstance(target, WriteNode) and target.direction is None:
            target = self.frozen_direction(target)
        before = self.target, self.side
        self.target, self.side = (self.token_target if target is None else target), side
        try:
            return self.compute(position, ablations)
        except Exception:
            self.target, self.side = before
            raise

    def card_source(self, selected: Mapping[str, Any]) -> tuple[str, int]:
        """The Workspace source (SAE name or hook) and index of a selected node."""
        family, unit = selected.get("family"), selected.get("unit")
        if isinstance(unit, bool) or not isinstance(unit, int):
            raise TypeError(f"a selected node needs an int unit; got {unit!r}")
        source = selected.get("source")
        if family is None and isinstance(source, str):  # the open card's own navigation
            self.ws.source(source)  # a KeyError naming the SAEs and hooks if it is neither
            return source, unit
        if family == "mlp":
            layer = selected.get("layer")
            n_layers = self.runner.nm.n_layers
            if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < n_layers:
                raise IndexError(f"layer {layer!r} is out of range: accepted 0 .. {n_layers - 1}")
            return NodeModel.mlp_post(layer), unit
        if family == "attn":
            raise ValueError("attention heads have no feature card; click an MLP neuron or an SAE latent")
        errors = {f.name for f in self.runner.families if f.kind == "error"}
        if family in errors and family not in self.ws.saes:
            raise ValueError(f"{family!r} is an SAE's error term, which has no feature card; click a latent")
        if family in self.ws.saes:
            return str(family), unit
        raise KeyError(f"node family {family!r} is not one of {['mlp', 'attn', *self.ws.saes]}")

    def card_state(self, selected: Mapping[str, Any]) -> FeatureCardState:
        source, unit = self.card_source(selected)
        self.ws.check_feature(source, unit)
        return cast("FeatureCardState", self.ws.card_state(source, unit))
