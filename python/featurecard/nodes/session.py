"""A :class:`~featurecard.nodes.table.NodeTableResult` as the widget's payload; the widget's session.

Tensors become numpy arrays here, token ids travel in a local vocabulary (only the prompt's
tokens and the few predicted ones; ``core/vocab.py``), and the node families say which of them open a FeatureCard (MLP
neurons and SAE latents do; attention heads and SAE error nodes have no card).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
from torch import Tensor

from ..core.model import ModelAdapter
from ..core.schema import FeatureCardState
from ..core.token_bytes import token_bytes_of
from ..core.vocab import standalone_text
from .groups import SIGNED
from .node_model import NodeModel
from .payload import NodeFamily, NodeTableState, NodeTarget, PromptData, build_node_table_state
from .table import NodeOptions, NodeTableResult, NodeTableRunner


def node_table_state(
    result: NodeTableResult, adapter: ModelAdapter, k: int, labels: Sequence[str] | None = None
) -> NodeTableState:
    spec, sel = result.spec, result.selection
    n_prompts = int(result.tokens.shape[0])
    labels = list(labels or (["Prompt"] if n_prompts == 1 else ["Left", "Right"]))

    token_bytes = token_bytes_of(adapter.model.tokenizer)

    def text(i: int | None) -> str | None:
        return None if i is None else standalone_text(token_bytes.one(i))

    target: NodeTarget = {
        "kind": spec.kind,
        "position": spec.position,
        "token": text(spec.token),
        "distractor": text(spec.distractor),
        "description": spec.describe(text(spec.token), text(spec.distractor)),
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
    )


class NodeTableSession:
    """What a NodeTable widget asks of the Workspace: tables for its prompts, and cards.

    Holds the prompts, the target and the options; every call recomputes with the target
    position and ablations it is given (one forward and one backward pass).
    """

    def __init__(
        self,
        ws: Any,
        prompts: Sequence[str | Tensor],
        target: str | int | None,
        distractor: str | int | None,
        options: NodeOptions,
    ) -> None:
        self.ws = ws
        self.runner = NodeTableRunner(ws, options)
        self.prompts = list(prompts)
        self.target, self.distractor = target, distractor
        self.result: NodeTableResult | None = None

    def compute(self, position: int, ablations: Sequence[Any] = ()) -> NodeTableState:
        res = self.runner.run(self.prompts, self.target, self.distractor, position, ablations)
        self.result = res
        return node_table_state(res, self.ws.adapter, self.runner.opts.k)

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
