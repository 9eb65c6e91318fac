"""The NodeTable widget: which neurons, heads and SAE latents matter for one prediction.

Made by ``Workspace.nodes(prompt, target=..., distractor=None, position=-1)`` (a node target,
``fc.node(...)``, brings its own position). Traitlets hold
everything the front end draws (``state``, the open ``card``, ``position``, ``selected``,
``ablations``); the front end asks through the one request protocol of
:mod:`featurecard.core.view`: ``position`` ``{position}`` (click a prompt token: the target
moves there), ``select`` ``{family, layer, unit}`` (click a neuron or latent: its FeatureCard
opens below the table; ``{}`` closes it), ``ablations`` ``{ablations: [...]}`` (ablate a
node: the table recomputes with it in place), ``trace`` ``{node, side}`` (a row's node spec
becomes the target: trace upstream, one more step on ``trail``) and ``back`` ``{index}`` (a
step of the trail, one click away). A bad value or a failed computation is a refused
request: ``error`` is set and the last good ``state`` and ``card`` stay. From Python,
``table.position = 3``, ``table.ablate(...)`` and ``table.open_card(...)`` work as before.

This module imports no torch: the widget reaches compute only through its session
(:class:`featurecard.nodes.session.NodeTableSession`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import traitlets

from ..core.provenance import provenance
from ..core.static import STATIC, bundle_files
from ..core.view import CardHost, request
from .frame import node_frame
from .payload import NodeTableState, trace_step

bundle_files("nodes")  # a clear ImportError, before anywidget's FileNotFoundError, if never built

if TYPE_CHECKING:
    from anywidget import AnyWidget
    from pandas import DataFrame

    from .node_spec import NodeSpec
    from .session import NodeTableSession
    from .table import NodeTableResult

_ABLATION_KEYS = ("family", "layer", "unit", "pos", "mode")


class NodeTable(CardHost):
    """A sortable table of derived scalars per node for a prompt and a target."""

    _esm = STATIC / "nodes.js"
    _css = STATIC / "nodes.css"

    state = traitlets.Dict(help="The last good table (NodeTableState); binary arrays as bytes.").tag(sync=True)
    position = traitlets.Int(-1, help="The target position (>= 0 once computed).").tag(sync=True)
    selected = traitlets.Dict(help="{family, layer, unit} of the node whose card is open, or {}.").tag(sync=True)
    card = traitlets.Dict(help="The open node's FeatureCardState, or {}.").tag(sync=True)
    ablations = traitlets.List(traitlets.Dict(), help="Ablations in place: {family, layer, unit, pos, mode}.").tag(
        sync=True
    )
    trail = traitlets.List(
        traitlets.Dict(), help="The targets followed (TraceStep): the table's own first, the shown one last."
    ).tag(sync=True)
    busy = traitlets.Bool(False, help="True while a table or card is being computed.").tag(sync=True)

    _session: NodeTableSession

    def __init__(
        self, session: NodeTableSession, *, position: int | None = None, ablations: Any = (), **kwargs: Any
    ) -> None:
        self._session = session
        self._quiet = True
        abl = [self._check_ablation(a) for a in ablations]
        state = session.compute(position, abl)  # errors in the first table raise, with their message
        trail = [dict(trace_step(state["target"]))]
        super().__init__(kwargs, state=dict(state), position=state["target"]["position"], ablations=abl, trail=trail)
        self._quiet = False

    # -- validation ----------------------------------------------------------------------------
    def _n_pos(self) -> int:
        st = getattr(self, "state", None) or {}
        return int(st["prompts"][0]["tokens"]["shape"][0]) if st else 0

    def _check_position(self, value: object) -> int:
        n = self._n_pos()
        if isinstance(value, bool) or not isinstance(value, int) or (n and not -n <= value < n):
            raise traitlets.TraitError(
                f"position {value!r} is out of range for a prompt of {n} tokens: accepted {-n} .. {n - 1}"
            )
        return value % n if n else value

    @traitlets.validate("position")
    def _valid_position(self, proposal: dict[str, Any]) -> int:
        return self._check_position(proposal["value"])

    @staticmethod
    def _check_ablation(a: Any) -> dict[str, Any]:
        """A complete ablation dict; unknown keys (a typo such as ``"mdoe"``) and non-integer
        ``layer``/``unit``/``pos`` are refused, never dropped or cast."""
        if hasattr(a, "as_dict"):
            a = a.as_dict()
        if not isinstance(a, dict) or not {"family", "unit", "pos"} <= set(a):
            raise traitlets.TraitError(f"an ablation is a dict with family, layer, unit, pos[, mode]; got {a!r}")
        unknown = sorted(set(a) - set(_ABLATION_KEYS), key=str)
        if unknown:
            raise traitlets.TraitError(f"ablation has unknown keys {unknown}; accepted: {', '.join(_ABLATION_KEYS)}")
        for key in ("layer", "unit", "pos"):
            v = a.get(key, -1)
            if isinstance(v, bool) or not hasattr(v, "__index__"):
                raise traitlets.TraitError(f"ablation {key} must be an int; got {v!r} ({type(v).__name__})")
        return {"layer": -1, "mode": "zero", **{k: a[k] for k in _ABLATION_KEYS if k in a}}

    @traitlets.validate("ablations")
    def _valid_ablations(self, proposal: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._check_ablation(a) for a in proposal["value"]]

    # -- requests and recomputation --------------------------------------------------------------
    @request("position")
    def _position_request(self, position: object = None) -> dict[str, Any]:
        """Move the target to ``position``: a new table."""
        return self._recompute(self._check_position(position), self.ablations)

    @request("ablations")
    def _ablations_request(self, ablations: object = None) -> dict[str, Any]:
        """Recompute with ``ablations`` (a list of {family, layer, unit, pos[, mode]}) in place."""
        if not isinstance(ablations, list):
            raise traitlets.TraitError(f"ablations is a list of dicts; got {ablations!r}")
        return self._recompute(self.position, [self._check_ablation(a) for a in ablations])

    def _recompute(self, position: int, ablations: list[dict[str, Any]]) -> dict[str, Any]:
        state = self._session.compute(position, ablations)
        with self._settle():
            self._show(state, self.trail[:-1])
            self.ablations = ablations
        return {"position": self.position, "ablations": ablations}

    def _show(self, state: NodeTableState, before: list[dict[str, Any]]) -> None:
        """A new table, its target the last step of the trail after ``before``."""
        self.state = dict(state)
        self.position = state["target"]["position"]
        self.trail = [*before, dict(trace_step(state["target"]))]

    @request("trace")
    def _trace_request(self, node: object = None, side: object = "total") -> dict[str, Any]:
        """Trace upstream from ``node`` (a node spec, e.g. a row's): a new table with it as the
        target, one more step on the trail."""
        if not isinstance(node, dict):
            raise traitlets.TraitError(f"trace needs a node spec dict {{kind, pos, ...}}; got {node!r}")
        state = self._session.retarget(node, str(side), None, self.ablations)
        with self._settle():
            self._show(state, list(self.trail))
        return {"trail": len(self.trail)}

    @request("back")
    def _back_request(self, index: object = None) -> dict[str, Any]:
        """Back to step ``index`` of the trail (its target and position); the later steps go."""
        n = len(self.trail)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
            raise traitlets.TraitError(f"trail index {index!r} is out of range: accepted 0 .. {n - 1}")
        step = self.trail[index]
        state = self._session.retarget(step["node"], step["side"], step["position"], self.ablations)
        with self._settle():
            self._show(state, list(self.trail[:index]))
        return {"trail": len(self.trail)}

    @traitlets.observe("position", "ablations")
    def _on_change(self, _change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if not self._run(lambda: self._set("state", self._session.compute(self.position, self.ablations))):
            self._revert()

    def _revert(self) -> None:
        """After a failed table: the requests go back to what the shown table was made with."""
        self._quiet = True
        try:
            self.position = self.state["target"]["position"]
            self.ablations = list(self.state["ablations"])
        finally:
            self._quiet = False

    # -- Python API ------------------------------------------------------------------------------
    def ablate(self, family: str, unit: int, pos: int, layer: int = -1, mode: str = "zero") -> NodeTable:
        """Add an ablation (``family`` ``"mlp"``, ``"attn"`` or an SAE's name) and recompute."""
        self.ablations = [*self.ablations, {"family": family, "layer": layer, "unit": unit, "pos": pos, "mode": mode}]
        return self

    def trace(self, node: NodeSpec, side: str = "total") -> NodeTable:
        """Trace upstream from ``node`` (``fc.node(...)``): the table recomputes with it as the
        target, one more step on ``trail`` (what a row's "trace" button does). A write node given
        no ``direction`` (a roll-up row's trace: ``fc.node("write", layer=1, kind="attn", head=2,
        pos=5)``) is projected on the shown target's gradient at that write, frozen: its value is
        the row's act × grad."""
        self._trace_request(node=node.as_dict(), side=side)
        return self

    def back(self, index: int) -> NodeTable:
        """Back to step ``index`` of ``trail`` (what a breadcrumb does); the later steps go."""
        self._back_request(index=index)
        return self

    def clear_ablations(self) -> NodeTable:
        self.ablations = []
        return self

    def open_card(self, family: str, unit: int, layer: int = -1) -> NodeTable:
        """Open a neuron's (``family="mlp"``, with ``layer``) or a latent's card below the table."""
        self.selected = {"family": family, "layer": layer, "unit": unit}
        return self

    def card_widget(self) -> AnyWidget:
        """The selected node's card as its own FeatureCard widget (from the same Workspace)."""
        if not self.selected:
            raise ValueError("no node is selected; click a neuron or latent, or call open_card(...)")
        source, unit = self._session.card_source(self.selected)
        ws = self._session.ws
        card = ws.card(source, feature=unit) if source in ws.saes else ws.neuron_card(source, unit)
        return cast("AnyWidget", card)

    @property
    def result(self) -> NodeTableResult | None:
        """The last computation's tensors (every node's values in ``result.blocks``)."""
        return self._session.result

    def to_dataframe(self) -> DataFrame:
        """The table as a pandas DataFrame (pandas is optional: ``pip install pandas``).

        One row per node of the shown table, in the payload's order. Columns: ``family`` (``"mlp"``,
        ``"attn"``, an SAE's name, that name + ``" error"``, ``"heads"``, ``"attn layer"``,
        ``"mlp layer"``), ``kind`` (mlp / attn / sae / error / head / attn_layer / mlp_layer: the
        last three are roll-ups, their activation NaN), ``layer`` (-1 outside blocks), ``unit``
        (neuron, head or latent index),
        ``position`` (the query position for a head), ``source`` (the attended-to position for a
        head, ``<NA>`` otherwise), ``token`` (the prompt's token at ``position``), then one float
        column per value group (``write_norm``, ``act_times_grad``, ``direct_effect``,
        ``activation``; NaN where undefined), or per group and prompt when comparing two
        prompts (``"direct_effect (Left)"``, ``"direct_effect (Right)"``).
        """
        return node_frame(self.state)  # type: ignore[arg-type]

    def export_html(self, path: str | Path, title: str | None = None) -> Path:
        """Write one self-contained HTML file that renders offline (with the open card), with
        where it came from (:mod:`featurecard.core.provenance`)."""
        from ..core.export import write_html

        values = {
            "position": self.position,
            "selected": self.selected,
            "card": self.card,
            "ablations": self.ablations,
            "trail": self.trail,
        }
        name = title or f"featurecard node table: {self.state['target']['description']}"
        prov = provenance(self._session.ws)
        return write_html(path, [self.state], title=name, view="nodes", values=values, provenance=prov)

    def __repr__(self) -> str:
        desc = self.state.get("target", {}).get("description", "") if self.state else ""
        return f"NodeTable({desc!r}, rows={self.state['rows']['family']['shape'][0] if self.state else 0})"
