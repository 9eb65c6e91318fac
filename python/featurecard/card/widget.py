"""The FeatureCard widget: traitlets hold the card; the Workspace computes it.

The front end asks through the one request protocol of :mod:`featurecard.core.view`:
``show`` ``{source, feature}`` (index box, arrows, a click on a correlated latent or neuron,
back/forward), ``search`` ``{text, k}``, ``random``, ``complete`` (fill a quick card's
pending panels) and ``window`` ``{source, feature, row, position}`` (a click on an example row:
±20 tokens of its dataset row, :mod:`featurecard.card.expand`; the answer only, no trait changes).
``label`` ``{text}`` sets the shown latent's label (``Workspace.label``; '' removes it).
``show`` is validated, computed, and then sets ``source``, ``feature`` and ``state`` together;
a bad index or a failed computation is a refused request that sets ``error`` and keeps the
last good ``state``, so the card never goes blank (the front end puts its index box back on
the shown card). From Python a bad index raises at once
(``card.feature = -1`` → ``TraitError`` naming the accepted range). An exported file has no
kernel: its model answers ``show`` among the cards it holds (js/src/core/snapshot-model.ts).

Labels: the state carries the latent's label (``state["label"]``: '' when it has none, None
for a unit without labels: a neuron, a latent of encoder B). A label set anywhere (Python, an
overview, this card) redraws the card that shows its latent, and exports carry it.

This module imports no torch, and not the Workspace: the widget reaches compute only through
a :class:`featurecard.core.view.CardWorkspace`; ``FeatureCard(model, sae, tokens)`` gets its
one-SAE Workspace from the factory that :mod:`featurecard.workspace` registers.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import traitlets

from ..core.provenance import provenance
from ..core.static import STATIC, bundle_files
from ..core.view import (
    REQUEST,
    CardWorkspace,
    View,
    check_kwargs,
    check_search,
    make_workspace,
    random_live,
    request,
    shown,
)

bundle_files()  # a clear ImportError, before anywidget's FileNotFoundError, if never built

PROGRESS_EVERY = 0.5  # seconds between two reports of a background build's progress

if TYPE_CHECKING:
    from ..core.schema import ExampleWindow, FeatureCardState, SearchResult
    from .index import CardIndex


class CardSource(CardWorkspace, Protocol):
    """What a FeatureCard asks of its Workspace, beyond what every view does."""

    def card_states(self, name: str, features: Sequence[int], complete: bool = True) -> list[FeatureCardState]: ...
    def index(self, name: str) -> CardIndex: ...
    def building(self, name: str) -> bool: ...
    def build_progress(self, name: str) -> Any: ...  # first_cards.BuildProgress | None
    def labels(self, name: str) -> dict[int, str]: ...
    def label(self, name: str, feature: int, text: str) -> None: ...
    def watch_labels(self, callback: Callable[[str], None]) -> None: ...


class FeatureCard(View):
    """A feature card for one SAE latent or MLP neuron, live in the notebook.

    Made by ``Workspace.card(name, feature=i)`` or ``Workspace.neuron_card(hook, i)``;
    ``FeatureCard(model, sae, tokens, feature=i)`` is the one-SAE shorthand.
    """

    _esm = STATIC / "widget.js"
    _css = STATIC / "widget.css"

    source = traitlets.Unicode(
        "", help="The SAE name ('name::B' for its encoder B) or hook name whose unit is shown."
    ).tag(sync=True)
    feature = traitlets.Int(0, help="Index of the latent or neuron shown.").tag(sync=True)
    state = traitlets.Dict(help="The last good card (FeatureCardState); binary arrays as bytes.").tag(sync=True)
    busy = traitlets.Bool(False, help="True while a card is being computed.").tag(sync=True)
    live = traitlets.Bool(True, help="A kernel answers requests (search, random); False in an export.").tag(sync=True)
    choices = traitlets.List(
        traitlets.Int(), help="The only features this view can show (an exported file); [] for any."
    ).tag(sync=True)
    build_progress = traitlets.Dict(
        None, allow_none=True, help="While the complete index is built for pending panels: {done, total, seconds}."
    ).tag(sync=True)

    def __init__(
        self,
        model: Any = None,
        sae: Any = None,
        tokens: Any = None,
        *,
        feature: int = 0,
        workspace: CardWorkspace | None = None,
        source: str | None = None,
        **kwargs: Any,
    ) -> None:
        check_kwargs("FeatureCard", kwargs)  # before a shorthand Workspace is built
        if workspace is None:
            if model is None or sae is None or tokens is None:
                raise TypeError("FeatureCard needs (model, sae, tokens) or workspace= and source=")
            workspace, source = make_workspace(model, {"sae": sae}, tokens), "sae"
        if source is None:
            raise TypeError("FeatureCard(workspace=...) also needs source= (an SAE name or a hook name)")
        self._workspace = cast("CardSource", workspace)
        self._shown: tuple[str, int] | None = None
        self._showing = threading.RLock()  # one card computed and set at a time (``complete`` may wait in a thread)
        workspace.check_feature(source, feature)
        super().__init__(kwargs, source=source, feature=feature)
        self._workspace.watch_labels(self._label_changed)  # held weakly
        self._recompute()

    # -- validation and recomputation ------------------------------------------------------
    def _check_unit(self, source: object, feature: object) -> tuple[str, int]:
        """``(source, feature)`` if the Workspace has that unit; a TraitError naming the range if not."""
        if not isinstance(source, str):
            raise traitlets.TraitError(f"source must be an SAE name or a hook name (a str); got {source!r}")
        try:
            return source, self._workspace.check_feature(source, feature)
        except (IndexError, ValueError, KeyError, TypeError) as e:
            raise traitlets.TraitError(str(e).strip("\"'")) from e

    @traitlets.validate("feature")
    def _valid_feature(self, proposal: dict[str, Any]) -> int:
        if getattr(self, "_workspace", None) is None:
            return int(proposal["value"])
        return self._check_unit(self.source, proposal["value"])[1]

    @traitlets.validate("source")
    def _valid_source(self, proposal: dict[str, Any]) -> str:
        if getattr(self, "_workspace", None) is None:  # with the feature it will show
            return str(proposal["value"])
        return self._check_unit(proposal["value"], self.feature)[0]

    @traitlets.observe("feature", "source")
    def _on_unit(self, _change: dict[str, Any]) -> None:
        self._recompute()

    def _recompute(self) -> None:
        unit = (self.source, self.feature)
        if unit == self._shown:  # back on the card shown (or the second of two notifications)
            self.error = ""
            return
        # Quick: before the complete index, the panels that rank every latent are pending.
        with contextlib.suppress(Exception):  # shown in the card; the last good state stays
            self._show(unit, complete=False)

    def _show(self, unit: tuple[str, int], complete: bool) -> None:
        """Compute ``unit``'s card and set it with ``source`` and ``feature``; a failure sets
        ``error``, keeps the last good state and propagates."""
        with self._showing:
            self._show_now(unit, complete)

    def _show_now(self, unit: tuple[str, int], complete: bool) -> None:
        self.busy = True
        try:
            state = self._workspace.card_state(*unit, complete=complete)
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
            raise
        else:
            self._shown = unit
            with self._settle(), self.hold_trait_notifications():
                self.state = dict(state)  # with its label: Workspace.card_states fills it
                self.source, self.feature = unit
        finally:
            self.busy = False

    # -- labels ----------------------------------------------------------------------------------
    def _labelled(self, state: FeatureCardState | dict[str, Any], source: str, feature: int) -> dict[str, Any]:
        """``state`` (a copy) with its unit's label: '' none yet, None where ``source`` has no labels."""
        try:
            text: str | None = self._workspace.labels(source).get(feature, "")
        except KeyError:  # a neuron hook, an encoder B: not an SAE of the Workspace
            text = None
        return {**state, "label": text}

    def _label_changed(self, name: str) -> None:
        """A label of SAE ``name`` changed (from anywhere): redraw the shown card's label."""
        with self._showing:
            if self.state and self._shown is not None and self._shown[0] == name:
                self.state = self._labelled(self.state, *self._shown)

    @request("label")
    def _label_request(self, text: object = None) -> dict[str, str]:
        """Set the shown latent's label to ``text`` ('' removes it); the card redraws with it."""
        if not isinstance(text, str):
            raise TypeError(f"a label is a str ('' removes it); got {text!r}")
        self._workspace.label(self.source, self.feature, text)
        return {"label": text}

    # -- requests ------------------------------------------------------------------------------
    @request("show")
    def _show_request(self, source: object = None, feature: object = None) -> dict[str, Any]:
        """Show another unit (``source`` defaults to the shown one's)."""
        unit = self._check_unit(self.source if source is None else source, feature)
        if unit != self._shown:
            self._show(unit, complete=False)
        else:  # already shown: the request only clears a refusal
            with self._settle(), self.hold_trait_notifications():
                self.source, self.feature = unit
        return {"source": unit[0], "feature": unit[1]}

    def _on_request(self, widget: object, content: object, buffers: Sequence[Any]) -> None:
        """A ``complete`` request while the complete index is built in the background is answered
        from a thread once it is built: the kernel answers the card's other requests meanwhile."""
        ask = isinstance(content, dict) and content.get("kind") == REQUEST and content.get("name") == "complete"
        if ask and self.state.get("pending") and self._workspace.building(self.source):
            threading.Thread(target=super()._on_request, args=(widget, content, buffers), daemon=True).start()
        else:
            super()._on_request(widget, content, buffers)

    @request("complete", quiet=True)
    def complete(self) -> dict[str, bool]:
        """Fill the shown card's pending panels (building the complete index if needed).

        The front end asks for this as soon as it draws a card with ``pending`` panels, so the
        first card shows while every latent is being indexed; from Python, call it to wait. A
        background build is waited for without ``busy`` (the shown card stays usable); the card
        is redrawn complete if it is still the one shown. A failed build sets ``error``.
        """
        unit = (self.source, self.feature)
        if not self.state.get("pending"):
            return {"complete": True}
        if self._workspace.building(unit[0]):
            stop = threading.Event()
            threading.Thread(target=self._report_progress, args=(unit[0], stop), daemon=True).start()
            try:
                self._workspace.index(unit[0])  # waits without the Workspace's lock
            except Exception as e:
                self.error = shown(e)
                raise
            finally:
                stop.set()
                self.set_trait("build_progress", None)
        with self._showing:
            if self._shown == unit and self.state.get("pending"):
                self._show(unit, complete=True)
        return {"complete": True}

    def _report_progress(self, name: str, stop: threading.Event) -> None:
        """``build_progress`` every :data:`PROGRESS_EVERY` seconds until ``stop`` (or the build ends)."""
        while not stop.wait(PROGRESS_EVERY):
            p = self._workspace.build_progress(name)
            if p is None or stop.is_set():
                return
            self.build_progress = {"done": int(p.tokens_done), "total": int(p.total_tokens), "seconds": p.seconds}

    @request("search", quiet=True)
    def _search_request(self, text: object = "", k: object = 10) -> SearchResult:
        checked, n = check_search(text, k)
        return self.search(checked, k=n)

    @request("random", quiet=True)
    def _random(self) -> dict[str, int]:
        return {"feature": random_live(self._workspace.index(self.source).n_active, exclude=self.feature)}

    @request("window", quiet=True)
    def _window_request(
        self, source: object = None, feature: object = None, row: object = None, position: object = None
    ) -> ExampleWindow:
        """±20 tokens of an example's dataset row around ``position`` (a click on the row), with the
        unit's activations; ``source`` and ``feature`` default to the shown unit's."""
        unit = (self.source if source is None else source, self.feature if feature is None else feature)
        return self._workspace.window(*unit, row, position)

    def search(self, text: str, k: int = 10) -> SearchResult:
        """The units of this card's source most active on ``text`` (what the search box shows)."""
        return self._workspace.search(self.source, text, k=k)

    # -- export ----------------------------------------------------------------------------
    def export_html(self, path: str | Path, features: Sequence[int] | None = None, title: str | None = None) -> Path:
        """Write one self-contained HTML file that renders offline.

        With ``features``, the file holds those cards and its selector (index box, arrows,
        random, and the links between them) switches between them (the shown card first);
        without, it holds the shown card.
        """
        from ..core.export import write_html

        if self.state.get("pending"):
            self.complete()
        extra = [f for f in dict.fromkeys(features or []) if f != self.feature]
        # Made together: the later blocks run once for the tokens every card shows.
        more = self._workspace.card_states(self.source, extra)
        states = [self.state, *more]  # each with its label (Workspace.card_states)
        shown = [self.feature, *extra]
        name = title or f"featurecard: {self.source} #{self.feature}"
        values = {"source": self.source, "live": False, "choices": sorted(shown)}
        prov = provenance(self._workspace, [self.source])
        return write_html(path, states, title=name, values=values, provenance=prov)

    def __repr__(self) -> str:
        return f"FeatureCard(source={self.source!r}, feature={self.feature})"
