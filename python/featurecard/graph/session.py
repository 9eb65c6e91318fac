"""What a ContributionGraph widget asks of the model side: states, graphs and cards.

A session holds one prompt's :class:`~featurecard.graph.build.ContributionData` (one streamed pass),
so a new threshold or target costs no model run: a threshold at or above the pass's
``keep_above`` is a filter over the kept edges; a lower one runs the pass again with
``keep_above`` lowered to it. Cards come from the session's Workspace, so they are made from
the same dataset and activation index as every other card; so do traced node tables ("trace
from here", :mod:`.trace`): the Workspace gives ``trace``, which makes a NodeTable of the
prompt's tokens with a node spec dict as its target (this view imports no other).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from torch import Tensor

from ..core.token_bytes import token_bytes_of
from .build import ContributionData, Graph, GraphOptions, build_graph, contributions
from .payload import ContributionGraphState, build_graph_state
from .trace import parse_trace_node, trace_spec

if TYPE_CHECKING:
    from anywidget import AnyWidget

    from ..core.schema import FeatureCardState
    from ..core.view import CardWorkspace, View

TraceFactory = Callable[[Tensor, Mapping[str, Any], str], "View"]
"""``trace(tokens, spec, side)``: the Workspace's NodeTable of ``tokens`` with the node ``spec``
(``NodeSpec.as_dict`` form) as its target, gradients through ``side``."""


class GraphSession:
    """One prompt's contributions, computed once, and everything derived from them."""

    def __init__(
        self,
        ws: CardWorkspace,
        prompt: str | Tensor | Sequence[int],
        options: GraphOptions,
        threshold: float,
        trace: TraceFactory | None = None,
    ) -> None:
        """One pass, keeping every edge the first ``threshold`` (and ``options.keep_above``) needs."""
        self.ws = ws
        self.prompt = prompt
        self._trace = trace
        t = self.check_threshold(threshold)
        self.options = options if t >= options.keep_above else replace(options, keep_above=t)
        self.data: ContributionData = contributions(ws.adapter, prompt, ws.saes, self.options)

    @property
    def n_pos(self) -> int:
        return self.data.n_pos

    @staticmethod
    def check_threshold(threshold: float) -> float:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold {threshold!r} is out of range: accepted 0 < threshold < 1")
        return float(threshold)

    def _cover(self, threshold: float) -> ContributionData:
        """The data, computed again with a lower ``keep_above`` when the threshold needs it."""
        if threshold < self.data.keep_above:
            self.options = replace(self.options, keep_above=threshold)
            self.data = contributions(self.ws.adapter, self.prompt, self.ws.saes, self.options)
        return self.data

    def state(self, threshold: float) -> ContributionGraphState:
        data = self._cover(self.check_threshold(threshold))
        return build_graph_state(data, threshold, token_bytes_of(self.ws.adapter.model.tokenizer))

    def fill_heads(self, layer: object = None, pos: object = None) -> tuple[int | None, int | None]:
        """Each head's promote / suppress at attention node (``layer``, ``pos``) (None: all), kept in
        the data (:meth:`featurecard.graph.promote.PromoteData.fill_heads`); returns the node."""
        pr = self.data.promote
        if pr is None:
            raise ValueError("this graph was made with promote=False: it has no promote / suppress to compute")
        n_layers, n = self.data.layout.n_layers, self.n_pos
        checked = [
            None if v is None else _index(name, v, n_max)
            for name, v, n_max in (("layer", layer, n_layers), ("pos", pos, n))
        ]
        pr.fill_heads(checked[0], checked[1])
        return checked[0], checked[1]

    def graph(self, threshold: float) -> Graph:
        return build_graph(self._cover(self.check_threshold(threshold)), threshold)

    # -- cards ---------------------------------------------------------------------------------
    def card_source(self, selected: Mapping[str, Any]) -> tuple[str, int]:
        """``(source, unit)`` of a ``{source, unit}`` request, checked against the Workspace."""
        source, unit = selected.get("source"), selected.get("unit")
        if not isinstance(source, str):
            raise ValueError(f"a card request is {{source, unit}}; got {dict(selected)!r}")
        self.ws.check_feature(source, unit)
        return source, int(unit)  # type: ignore[arg-type]

    def card_state(self, selected: Mapping[str, Any]) -> FeatureCardState:
        return self.ws.card_state(*self.card_source(selected))

    def card_widget(self, selected: Mapping[str, Any]) -> AnyWidget:
        source, unit = self.card_source(selected)
        return self.ws.card(source, feature=unit) if source in self.ws.saes else self.ws.neuron_card(source, unit)

    # -- trace from here -------------------------------------------------------------------------
    def trace_spec(self, node: object) -> dict[str, Any]:
        """The node-table target (an ``fc.node`` spec dict) of a graph node (:mod:`.trace`)."""
        return trace_spec(self.ws.adapter, self.data.tokens, self.data.layout, parse_trace_node(node))

    def trace_table(self, node: object, side: str = "total") -> View:
        """A NodeTable of this prompt with the graph node ``node`` as its target, from the Workspace."""
        if self._trace is None:
            raise RuntimeError("this graph was made without a Workspace that makes node tables: use ws.graph(...)")
        return self._trace(self.data.tokens, self.trace_spec(node), side)


def _index(name: str, value: object, n: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
        raise ValueError(f"{name} {value!r} is out of range: accepted 0 .. {n - 1}")
    return value
