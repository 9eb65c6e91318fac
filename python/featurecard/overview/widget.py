"""The SaeOverview widget: one SAE at a glance, every latent in a table whose rows open cards.

Made by ``Workspace.overview(name)``. Traitlets hold everything the front end draws
(``state``: the summary, the density histogram and every latent's numbers; ``labels``; the open
``card`` and its ``selected`` latent); the front end sorts and searches the table itself and
asks through the one request protocol of :mod:`featurecard.core.view`: ``select`` ``{unit}``
(a row click: the latent's FeatureCard opens below the table, from the same Workspace; ``{}``
closes it) and ``label`` ``{feature, text}`` (sets a latent's label, ``""`` removes it; saved by
the Workspace, see :mod:`.labels`). A label set from Python (``ws.label(...)`` or
``overview.label(...)``) shows in every open overview of that SAE. A refused request sets
``error`` and keeps the last good state.

This module imports no torch: the widget reaches compute only through its session
(:class:`featurecard.overview.session.OverviewSession`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import traitlets

from ..core.provenance import provenance
from ..core.static import STATIC, bundle_files
from ..core.view import CardHost, request

bundle_files("overview")  # a clear ImportError, before anywidget's FileNotFoundError, if never built

if TYPE_CHECKING:
    from anywidget import AnyWidget

    from .session import OverviewSession


class SaeOverview(CardHost):
    """Density histogram, dead / dense counts, L0, explained variance, CE loss recovered, and a
    sortable, searchable table of every latent of one SAE."""

    _esm = STATIC / "overview.js"
    _css = STATIC / "overview.css"

    state = traitlets.Dict(help="The overview (OverviewState); binary arrays as bytes.").tag(sync=True)
    labels = traitlets.Dict(help="The SAE's labels: {str(latent): text}.").tag(sync=True)
    selected = traitlets.Dict(help="{unit} of the latent whose card is open, or {}.").tag(sync=True)
    card = traitlets.Dict(help="The open latent's FeatureCardState, or {}.").tag(sync=True)

    _session: OverviewSession

    def __init__(self, session: OverviewSession, **kwargs: Any) -> None:
        self._session = session
        self._quiet = True
        state = session.compute()  # errors raise here, with their message
        super().__init__(kwargs, state=dict(state), labels=session.labels())
        self._quiet = False
        session.book.watch(self._on_label_saved)

    @property
    def name(self) -> str:
        """The SAE's name in the Workspace."""
        return self._session.name

    # -- labels ----------------------------------------------------------------------------------
    def _on_label_saved(self, name: str) -> None:
        if name == self._session.name:
            self.labels = self._session.labels()

    @request("label")
    def _label_request(self, feature: object = None, text: object = None) -> dict[str, Any]:
        """Set latent ``feature``'s label to ``text`` ('' removes it)."""
        with self._settle():
            unit = self._session.set_label(feature, text)
        return {"feature": unit, "text": self.labels.get(str(unit), "")}

    def label(self, feature: int, text: str) -> SaeOverview:
        """Set (``""``: remove) latent ``feature``'s label, as ``Workspace.label`` does."""
        self._session.set_label(feature, text)
        return self

    # -- cards -----------------------------------------------------------------------------------
    def open_card(self, feature: int) -> SaeOverview:
        """Open latent ``feature``'s card below the table."""
        self.selected = {"unit": feature}
        return self

    def card_widget(self) -> AnyWidget:
        """The open latent's card as its own FeatureCard widget (from the same Workspace)."""
        if not self.selected:
            raise ValueError("no latent is selected; click a row, or call open_card(feature)")
        source, unit = self._session.card_unit(self.selected)
        ws = self._session.ws
        return ws.card(source, unit) if source in ws.saes else ws.neuron_card(source, unit)

    # -- export ----------------------------------------------------------------------------------
    def export_html(self, path: str | Path, title: str | None = None) -> Path:
        """Write one self-contained HTML file that renders offline: the overview, its labels and
        the open card (sorting and searching work there; opening other cards and labelling need a
        kernel), with where it came from (:mod:`featurecard.core.provenance`)."""
        from ..core.export import write_html

        values = {"labels": self.labels, "selected": self.selected, "card": self.card}
        name = title or f"featurecard SAE overview: {self._session.name}"
        prov = provenance(self._session.ws, [self._session.name])
        return write_html(path, [self.state], title=name, view="overview", values=values, provenance=prov)

    def __repr__(self) -> str:
        s = self.state.get("summary", {})
        return (
            f"SaeOverview({self._session.name!r}, latents={s.get('n_latents')}, dead={s.get('n_dead')}, "
            f"dense={s.get('n_dense')}, L0={s.get('mean_l0', 0):.2f})"
        )
