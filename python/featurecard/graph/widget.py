"""The ContributionGraph widget: how information flows through the model for one prompt.

Made by ``Workspace.graph(prompt)``. Traitlets hold everything the front end draws (``state``,
the open ``card``) and the three things it asks for: ``target`` (click a token: its routes are
drawn; the front end walks them itself, so no recomputation), ``threshold`` (the slider, sent
after the user pauses: a new ``state`` with the edges above it) and ``selected`` (a neuron or
SAE latent of an MLP node: its FeatureCard opens inside the graph). Every change is validated;
a bad value or a failed computation sets ``error`` and keeps the last good ``state`` and
``card``; a rejected ``threshold`` goes back to the shown state's. Requests run, and errors are
kept, as in the NodeTable (:mod:`featurecard.core.view`).

This module imports no torch: the widget reaches compute only through its session
(:class:`featurecard.graph.session.GraphSession`).
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import traitlets

from ..core.static import STATIC, bundle_files
from ..core.view import SessionWidget, check_kwargs

bundle_files("graph")  # a clear ImportError, before anywidget's FileNotFoundError, if never built

if TYPE_CHECKING:
    from anywidget import AnyWidget

    from .build import ContributionData, Graph, GraphEdge
    from .session import GraphSession


class ContributionGraph(SessionWidget):
    """Contribution routes of a prompt: tokens along the bottom, layers up the side."""

    _esm = STATIC / "graph.js"
    _css = STATIC / "graph.css"

    state = traitlets.Dict(help="The last good graph (ContributionGraphState); binary arrays as bytes.").tag(sync=True)
    target = traitlets.Int(0, help="The token position whose routes are drawn.").tag(sync=True)
    threshold = traitlets.Float(0.04, help="Parts whose share of a state exceeds this are kept.").tag(sync=True)
    selected = traitlets.Dict(help="{source, unit} of the neuron or latent whose card is open, or {}.").tag(sync=True)
    card = traitlets.Dict(help="The open unit's FeatureCardState, or {}.").tag(sync=True)
    busy = traitlets.Bool(False, help="True while a graph or card is being computed.").tag(sync=True)

    _request_traits: ClassVar[tuple[str, ...]] = ("target", "threshold", "selected")
    _session: GraphSession

    def __init__(self, session: GraphSession, *, target: int = -1, threshold: float = 0.04, **kwargs: Any) -> None:
        check_kwargs("ContributionGraph", kwargs)
        self._session = session
        self._quiet = True
        n = session.n_pos
        if isinstance(target, bool) or not hasattr(target, "__index__"):
            raise TypeError(
                f"target is the token position whose routes are drawn: an int in {-n} .. {n - 1} for this "
                f"prompt of {n} tokens (-1 = the last); got {target!r} ({type(target).__name__})"
            )
        target = operator.index(target)
        if not -n <= target < n:
            raise IndexError(f"target {target!r} is out of range for a prompt of {n} tokens: accepted {-n} .. {n - 1}")
        state = session.state(threshold)  # errors in the first graph raise, with their message
        super().__init__(state=dict(state), target=target % n, threshold=float(threshold), **kwargs)
        self._quiet = False

    # -- validation ------------------------------------------------------------------------------
    @traitlets.validate("target")
    def _valid_target(self, proposal: dict[str, Any]) -> int:
        value, n = proposal["value"], self._session.n_pos
        if not -n <= value < n:
            raise traitlets.TraitError(
                f"target {value} is out of range for a prompt of {n} tokens: accepted {-n} .. {n - 1}"
            )
        return int(value) % n

    @traitlets.validate("threshold")
    def _valid_threshold(self, proposal: dict[str, Any]) -> float:
        try:
            return self._session.check_threshold(proposal["value"])
        except ValueError as e:
            raise traitlets.TraitError(str(e)) from e

    # -- recomputation ---------------------------------------------------------------------------
    @traitlets.observe("threshold")
    def _on_threshold(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if not self._run(lambda: self._set("state", self._session.state(change["new"]))):
            self._quiet = True
            try:
                self.threshold = float(self.state["threshold"])
            finally:
                self._quiet = False

    # -- Python API ------------------------------------------------------------------------------
    @property
    def data(self) -> ContributionData:
        """Every share of the prompt (tensors), as the last pass computed them."""
        return self._session.data

    def graph(self) -> Graph:
        """The graph at the current threshold (every kept edge, for all targets)."""
        return self._session.graph(self.threshold)

    def routes(self) -> tuple[GraphEdge, ...]:
        """The edges reached backwards from the current target: what the widget draws."""
        return self.graph().routes(self.target)

    def open_card(self, source: str, unit: int) -> ContributionGraph:
        """Open the card of a neuron (``source`` = its hook) or an SAE latent inside the graph."""
        self.selected = {"source": source, "unit": unit}
        return self

    def card_widget(self) -> AnyWidget:
        """The open unit's card as its own FeatureCard widget (from the same Workspace)."""
        if not self.selected:
            raise ValueError("no unit is selected; click a neuron or latent, or call open_card(...)")
        return self._session.card_widget(self.selected)

    def export_html(self, path: str | Path, title: str | None = None) -> Path:
        """Write one self-contained HTML file that renders offline (with the open card, if any)."""
        from ..core.export import write_html

        values = {"target": self.target, "threshold": self.threshold, "selected": self.selected, "card": self.card}
        name = title or f"featurecard contribution graph ({self._session.n_pos} tokens)"
        return write_html(path, [self.state], title=name, view="graph", values=values)

    def __repr__(self) -> str:
        return f"ContributionGraph(n_pos={self._session.n_pos}, target={self.target}, threshold={self.threshold})"
