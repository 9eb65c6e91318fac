"""The ContributionGraph widget: how information flows through the model for one prompt.

Made by ``Workspace.graph(prompt)``. Traitlets hold everything the front end draws (``state``,
the open ``card``, ``target``, ``threshold``, ``selected``); the front end asks through the
one request protocol of :mod:`featurecard.core.view`: ``target`` ``{target}`` (a token click:
its routes are drawn; the front end walks them itself, so nothing is recomputed, but the
kernel checks the position and keeps ``target``, which :meth:`ContributionGraph.routes`
reads), ``threshold`` ``{threshold}`` (the slider, sent after the user pauses: a new
``state`` with the edges above it) and ``select`` ``{source, unit}`` (a neuron or SAE latent
of an MLP node: its FeatureCard opens inside the graph; ``{}`` closes it), ``trace``
``{node}`` ("trace from here": a NodeTable with that graph node as its target, made by the
Workspace, opens below the graph; ``{}`` closes it; :mod:`.trace` says which target each graph
node is), ``nodes`` ``{request, args}`` (a request of that inline table, passed to it as it is;
its traits come back in ``nodes``) and ``promote_heads`` ``{layer, pos}`` (an attention node's
heads' promote / suppress, computed when the node is opened and kept in ``state``). A bad value
or a failed computation is a refused request: ``error`` is set and the last good ``state`` and
``card`` stay. From Python,
``graph.threshold = 0.1`` and ``graph.target = 3`` work as before, a bad value raising a
TraitError naming the accepted range; ``graph.trace(node)`` opens a traced table and returns it.

This module imports no torch: the widget reaches compute only through its session
(:class:`featurecard.graph.session.GraphSession`).
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import traitlets
from anywidget import AnyWidget

from ..core.provenance import provenance
from ..core.static import STATIC, bundle_files
from ..core.view import CardHost, View, request
from .frame import edge_frame, node_frame

bundle_files("graph")  # a clear ImportError, before anywidget's FileNotFoundError, if never built

_WIDGET_TRAITS = frozenset(AnyWidget.class_trait_names(sync=True))  # anywidget's own (layout, ...)

if TYPE_CHECKING:
    from pandas import DataFrame

    from .build import ContributionData, Graph, GraphEdge
    from .session import GraphSession


class ContributionGraph(CardHost):
    """Contribution routes of a prompt: tokens along the bottom, layers up the side."""

    _esm = STATIC / "graph.js"
    _css = STATIC / "graph.css"

    state = traitlets.Dict(help="The last good graph (ContributionGraphState); binary arrays as bytes.").tag(sync=True)
    target = traitlets.Int(0, help="The token position whose routes are drawn.").tag(sync=True)
    threshold = traitlets.Float(0.04, help="Parts whose share of a state exceeds this are kept.").tag(sync=True)
    selected = traitlets.Dict(help="{source, unit} of the neuron or latent whose card is open, or {}.").tag(sync=True)
    card = traitlets.Dict(help="The open unit's FeatureCardState, or {}.").tag(sync=True)
    busy = traitlets.Bool(False, help="True while a graph or card is being computed.").tag(sync=True)
    nodes = traitlets.Dict(help="The traced NodeTable's synced traits (state, trail, card, ...), or {}.").tag(sync=True)

    _session: GraphSession
    _table: View | None = None  # the traced NodeTable shown below the graph
    _forwarding = False  # True while the inline table answers a request: its traits are sent once after

    def __init__(self, session: GraphSession, *, target: int = -1, threshold: float = 0.04, **kwargs: Any) -> None:
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
        super().__init__(kwargs, state=dict(state), target=target % n, threshold=float(threshold))
        self._quiet = False

    # -- validation ------------------------------------------------------------------------------
    def _check_target(self, value: object) -> int:
        n = self._session.n_pos
        if isinstance(value, bool) or not isinstance(value, int) or not -n <= value < n:
            raise traitlets.TraitError(
                f"target {value!r} is out of range for a prompt of {n} tokens: accepted {-n} .. {n - 1}"
            )
        return value % n

    def _check_threshold(self, value: object) -> float:
        try:
            return self._session.check_threshold(value)  # type: ignore[arg-type]
        except ValueError as e:
            raise traitlets.TraitError(str(e)) from e

    @traitlets.validate("target")
    def _valid_target(self, proposal: dict[str, Any]) -> int:
        return self._check_target(proposal["value"])

    @traitlets.validate("threshold")
    def _valid_threshold(self, proposal: dict[str, Any]) -> float:
        return self._check_threshold(proposal["value"])

    # -- requests and recomputation --------------------------------------------------------------
    @request("target")
    def _target_request(self, target: object = None) -> dict[str, int]:
        """Draw the routes to ``target`` (nothing to compute: the front end walks them)."""
        pos = self._check_target(target)
        with self._settle():
            self.target = pos
        return {"target": pos}

    @request("threshold")
    def _threshold_request(self, threshold: object = None) -> dict[str, float]:
        """Keep the edges above ``threshold``: a new ``state``."""
        value = self._check_threshold(threshold)
        state = dict(self._session.state(value))
        with self._settle():
            self.state = state
            self.threshold = value
        return {"threshold": value}

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

    @request("promote_heads")
    def _heads_request(self, layer: object = None, pos: object = None) -> dict[str, Any]:
        """Each head's promote / suppress at attention node (``layer``, ``pos``), computed now
        (:mod:`.promote`, heads on request) and kept in ``state``."""
        at = self._session.fill_heads(layer, pos)
        state = dict(self._session.state(self.threshold))
        with self._settle():
            self.state = state
        return {"layer": at[0], "pos": at[1]}

    # -- trace from here -------------------------------------------------------------------------
    @request("trace")
    def _trace_request(self, node: object = None) -> dict[str, Any]:
        """A NodeTable with the graph node ``node`` as its target, below the graph; none closes it."""
        if node is None or node == {}:
            with self._settle():
                self._show_table(None)
            return {"trace": None}
        table = self._session.trace_table(node)
        with self._settle():
            self._show_table(table)
        return {"trace": table.state["target"]["description"]}

    @request("nodes", quiet=True)
    def _nodes_request(self, request: object = None, args: object = None) -> Any:
        """A request of the inline table (its front end asks through the graph), answered by it;
        its failure is its own (its ``error``), not the graph's."""
        table = self._table
        if table is None:
            raise ValueError(f"nodes: no traced table is open (asked {request!r}); trace a node first")
        self._forwarding = True
        try:
            self.nodes = {**self.nodes, "busy": True}
            return table.answer(request, args)
        finally:
            self._forwarding = False
            self._mirror()

    def _table_traits(self, table: View) -> list[str]:
        return [k for k in table.trait_names(sync=True) if not k.startswith("_") and k not in _WIDGET_TRAITS]

    def _show_table(self, table: View | None) -> None:
        old = self._table
        if old is not None:
            old.unobserve(self._on_table, names=self._table_traits(old))
        self._table = table
        if table is not None:
            table.observe(self._on_table, names=self._table_traits(table))
        self._mirror()

    def _on_table(self, _change: dict[str, Any]) -> None:
        if not self._forwarding:
            self._mirror()

    def _mirror(self) -> None:
        table = self._table
        self.nodes = {} if table is None else {k: getattr(table, k) for k in self._table_traits(table)}

    def trace(self, node: object, side: str = "total") -> View:
        """Trace upstream from a graph node: the NodeTable (from the same Workspace) with it as
        the target, also shown below the graph. ``node`` is a graph node id (``"attn:1:5"``,
        ``"mlp:0:3"``: the block's write, its norm), a dict (``{"kind": "neuron" | "latent" |
        "error" | "attn" | "head" | "block", ...}``, see :mod:`featurecard.graph.trace`) or an
        ``fc.node(...)`` spec; ``side`` splits an attention target's gradient."""
        table = self._session.trace_table(node, side)
        self._show_table(table)
        return table

    @property
    def traced(self) -> View | None:
        """The NodeTable shown below the graph, or None."""
        return self._table

    def close_trace(self) -> ContributionGraph:
        """Close the table below the graph."""
        self._show_table(None)
        return self

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

    def to_dataframe(self, what: str = "edges") -> DataFrame:
        """The graph at the current threshold as a pandas DataFrame (pandas is optional:
        ``pip install pandas``).

        ``what="edges"`` (default): one row per kept edge, for every target. Columns: ``kind``
        (``resid``, ``attn`` source token -> attention block, ``attn_out``, ``mlp_in``,
        ``mlp_out``); for each end (``src_`` / ``dst_``) ``node`` (resid / attn / mlp),
        ``layer`` (the residual level for a resid node, the block's layer otherwise), ``label``
        (``"0.attn"``-style level name, or ``"attn 0"``), ``pos`` and ``token``; ``share`` (of
        the destination state, before renormalising), ``weight`` (after), ``heads`` (an attn
        edge's weight split by head, else empty) and ``on_route`` (reached backwards from the
        current ``target``: what the widget draws).

        ``what="nodes"``: one row per node a kept edge touches: ``node``, ``layer``, ``label``,
        ``pos``, ``token``, ``weight_in`` / ``weight_out`` (sums over its kept edges) and
        ``on_route``.
        """
        if what not in ("edges", "nodes"):
            raise ValueError(f"what={what!r}: accepted 'edges' or 'nodes'")
        graph = self.graph()
        make = edge_frame if what == "edges" else node_frame
        return make(graph, self.state, graph.routes(self.target))  # type: ignore[arg-type]

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
        """Write one self-contained HTML file that renders offline (with the open card, if any),
        with where it came from (:mod:`featurecard.core.provenance`)."""
        from ..core.export import write_html

        if self._session.data.promote is not None:  # the file has no kernel to ask for heads
            self._session.fill_heads()
            self._set("state", self._session.state(self.threshold))
        values = {"target": self.target, "threshold": self.threshold, "selected": self.selected, "card": self.card}
        values["nodes"] = self.nodes  # the traced table, drawn as it is (its actions need a kernel)
        name = title or f"featurecard contribution graph ({self._session.n_pos} tokens)"
        prov = provenance(self._session.ws)
        return write_html(path, [self.state], title=name, view="graph", values=values, provenance=prov)

    def __repr__(self) -> str:
        return f"ContributionGraph(n_pos={self._session.n_pos}, target={self.target}, threshold={self.threshold})"
