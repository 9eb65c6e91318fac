"""The FeatureCard widget: traitlets hold the card; the Workspace computes it.

``source`` and ``feature`` are what the front end changes (index box, arrows, a click on a
correlated latent or neuron, back/forward). Every change is validated; a bad index or a
failed computation sets ``error`` and keeps the last good ``state``, so the card never goes
blank. From Python a bad index raises at once (``card.feature = -1`` → ``TraitError`` naming
the accepted range); from the front end the same error is shown in the card and ``feature``
snaps back to the card on display.

Requests that are not state (a search, a random live latent) travel as custom messages,
``{kind: "fc-request", id, name, args}``, each answered by exactly one
``{kind: "fc-reply", id, ok, result | error}``; the front end times out and shows an error if
no answer comes (an exported file has no kernel: its ``live`` is False and it never asks).

This module imports no torch: the widget reaches compute only through the Workspace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ..core.static import STATIC, bundle_files

bundle_files()  # a clear ImportError, before anywidget's FileNotFoundError, if never built

if TYPE_CHECKING:
    from ..workspace import Workspace


class FeatureCard(anywidget.AnyWidget):
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
    error = traitlets.Unicode("", help="Why the last request failed; '' when it did not.").tag(sync=True)
    busy = traitlets.Bool(False, help="True while a card is being computed.").tag(sync=True)
    live = traitlets.Bool(True, help="A kernel answers requests (search, random); False in an export.").tag(sync=True)
    choices = traitlets.List(
        traitlets.Int(), help="The only features this view can show (an exported file); [] for any."
    ).tag(sync=True)

    def __init__(
        self,
        model: Any = None,
        sae: Any = None,
        tokens: Any = None,
        *,
        feature: int = 0,
        workspace: Workspace | None = None,
        source: str | None = None,
        **kwargs: Any,
    ) -> None:
        unknown = set(kwargs) - {"layout"}
        if unknown:
            raise TypeError(f"FeatureCard got unexpected keyword arguments {sorted(unknown)}")
        if workspace is None:
            if model is None or sae is None or tokens is None:
                raise TypeError("FeatureCard needs (model, sae, tokens) or workspace= and source=")
            from ..workspace import Workspace

            workspace = Workspace(model, saes={"sae": sae}, tokens=tokens)
            source = "sae"
        if source is None:
            raise TypeError("FeatureCard(workspace=...) also needs source= (an SAE name or a hook name)")
        self._workspace = workspace
        self._shown: tuple[str, int] | None = None
        workspace.check_feature(source, feature)
        super().__init__(source=source, feature=feature, **kwargs)
        self._requests: dict[str, Callable[[dict[str, Any]], Any]] = {
            "search": self._search,
            "random": self._random,
            "complete": lambda _args: self.complete(),
        }
        self.on_msg(self._on_request)
        self._recompute()

    # -- validation and recomputation ------------------------------------------------------
    @traitlets.validate("feature")
    def _valid_feature(self, proposal: dict[str, Any]) -> int:
        value = proposal["value"]
        ws = getattr(self, "_workspace", None)
        if ws is not None:
            try:
                ws.check_feature(self.source, value)
            except (IndexError, ValueError, KeyError) as e:
                raise traitlets.TraitError(str(e).strip("\"'")) from e
        return int(value)

    @traitlets.validate("source")
    def _valid_source(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        ws = getattr(self, "_workspace", None)
        if ws is not None:  # with the feature it will show (set together from the front end)
            try:
                ws.check_feature(value, self.feature)
            except (IndexError, ValueError, KeyError) as e:
                raise traitlets.TraitError(str(e).strip("\"'")) from e
        return str(value)

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
        """Compute ``unit``'s card and set it; a failure sets ``error``, keeps the last good
        state and propagates."""
        self.busy = True
        try:
            state = self._workspace.card_state(*unit, complete=complete)
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
            raise
        else:
            with self.hold_sync():
                self.state = dict(state)
                self.error = ""
            self._shown = unit
        finally:
            self.busy = False

    def complete(self) -> dict[str, bool]:
        """Fill the shown card's pending panels (building the complete index if needed).

        The front end asks for this as soon as it draws a card with ``pending`` panels, so the
        first card shows while every latent is being indexed; from Python, call it to wait.
        """
        if self.state.get("pending"):
            self._show((self.source, self.feature), complete=True)
        return {"complete": True}

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Changes from the front end: a rejected value is shown, not lost in the kernel log."""
        try:
            super().set_state(sync_data)
        except traitlets.TraitError as e:
            self.error = str(e)
            for key in ("source", "feature"):  # put the front end's index box back on the shown card
                self.send_state(key)

    # -- requests (custom messages) -----------------------------------------------------------
    def _on_request(self, _widget: Any, content: Any, _buffers: Sequence[Any]) -> None:
        if not isinstance(content, dict) or content.get("kind") != "fc-request":
            return
        rid = content.get("id")
        name = content.get("name")
        args = content.get("args")
        try:
            if name not in self._requests:
                raise ValueError(f"unknown request {name!r}; known: {sorted(self._requests)}")
            result = self._requests[name](args if isinstance(args, dict) else {})
        except Exception as e:  # the front end shows it; the kernel log stays quiet
            self.send({"kind": "fc-reply", "id": rid, "ok": False, "error": f"{type(e).__name__}: {e}"})
        else:
            self.send({"kind": "fc-reply", "id": rid, "ok": True, "result": result})

    def _search(self, args: dict[str, Any]) -> Any:
        k = args.get("k", 10)
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"k must be an int in [1, 100]; got {k!r}")
        return self._workspace.search(self.source, args.get("text", ""), k=k)

    def _random(self, _args: dict[str, Any]) -> dict[str, int]:
        from .search import random_live

        return {"feature": random_live(self._workspace.index(self.source), exclude=self.feature)}

    def search(self, text: str, k: int = 10) -> Any:
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
        states = [self.state, *(dict(s) for s in self._workspace.card_states(self.source, extra))]
        shown = [self.feature, *extra]
        name = title or f"featurecard: {self.source} #{self.feature}"
        values = {"source": self.source, "live": False, "choices": sorted(shown)}
        return write_html(path, states, title=name, values=values)

    def __repr__(self) -> str:
        return f"FeatureCard(source={self.source!r}, feature={self.feature})"
