"""What a ContributionGraph widget asks of the model side: states, graphs and cards.

A session holds one prompt's :class:`~featurecard.graph.build.ContributionData` (one streamed pass),
so a new threshold or target costs no model run: a threshold at or above the pass's
``keep_above`` is a filter over the kept edges; a lower one runs the pass again with
``keep_above`` lowered to it. Cards come from the session's Workspace, so they are made from
the same dataset and activation index as every other card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from torch import Tensor

from ..core.token_bytes import token_bytes_of
from .build import ContributionData, Graph, GraphOptions, build_graph, contributions
from .payload import ContributionGraphState, build_graph_state

if TYPE_CHECKING:
    from anywidget import AnyWidget

    from ..core.schema import FeatureCardState
    from ..core.view import CardWorkspace


class GraphSession:
    """One prompt's contributions, computed once, and everything derived from them."""

    def __init__(
        self, ws: CardWorkspace, prompt: str | Tensor | Sequence[int], options: GraphOptions, threshold: float
    ) -> None:
        """One pass, keeping every edge the first ``threshold`` (and ``options.keep_above``) needs."""
        self.ws = ws
        self.prompt = prompt
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
