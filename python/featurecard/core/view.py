"""What the ContributionGraph and the NodeTable widgets share: requests answered by a session.

Both views hold the last good ``state`` and the open ``card`` (a FeatureCardState or ``{}``),
and both answer the front end's requests the same way:

- a request runs inside :meth:`SessionWidget._run`: ``busy`` is True while it computes, and a
  failure sets ``error`` (its type and message) and keeps the last good ``state`` and ``card``;
- a success replaces one trait and clears ``error`` in one message (:meth:`SessionWidget._set`);
- ``selected`` opens the card of a unit through the session's ``card_state`` (``{}`` closes it);
- a value the front end sends that fails validation is shown in ``error`` and the request
  traits (``_request_traits``) are sent back, so the front end snaps back to what is shown.

Each subclass declares its own traits (with its own help), its session and its requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import anywidget
import traitlets

if TYPE_CHECKING:
    from .model import ModelAdapter
    from .sae import SparseAutoencoder
    from .schema import FeatureCardState


class CardWorkspace(Protocol):
    """What a view's session asks of the Workspace (which is one): its model and SAEs, and cards.

    Views meet through the Workspace, never through each other: a session holds this, so a view
    imports neither the Workspace nor the card's widget.
    """

    @property
    def adapter(self) -> ModelAdapter: ...
    @property
    def saes(self) -> Mapping[str, SparseAutoencoder]: ...
    def check_feature(self, name: str, feature: object) -> int: ...
    def card_state(self, name: str, feature: int, complete: bool = True) -> FeatureCardState: ...
    def card(self, name: str, feature: int = 0) -> anywidget.AnyWidget: ...
    def neuron_card(self, hook_name: str, index: int = 0) -> anywidget.AnyWidget: ...


class CardSession(Protocol):
    """What the widget needs from its session to open a card."""

    def card_state(self, selected: Mapping[str, Any]) -> Mapping[str, Any]: ...


def check_kwargs(view: str, kwargs: Mapping[str, Any]) -> None:
    """A widget takes ``layout`` and its own keywords only; others are a TypeError naming them."""
    unknown = set(kwargs) - {"layout"}
    if unknown:
        raise TypeError(f"{view} got unexpected keyword arguments {sorted(unknown)}")


class SessionWidget(anywidget.AnyWidget):
    """Base of the views whose requests a session answers (see the module docstring)."""

    selected = traitlets.Dict(help="The unit whose card is open, or {}.").tag(sync=True)
    card = traitlets.Dict(help="The open unit's FeatureCardState, or {}.").tag(sync=True)
    error = traitlets.Unicode("", help="Why the last request failed; '' when it did not.").tag(sync=True)
    busy = traitlets.Bool(False, help="True while something is being computed.").tag(sync=True)

    _request_traits: ClassVar[tuple[str, ...]] = ()  # sent back when the front end's value is rejected
    _session: CardSession
    _quiet: bool  # True while the widget sets its own request traits (no recomputation)

    @traitlets.observe("selected")
    def _on_selected(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if not change["new"]:
            self.card = {}
            return
        self._run(lambda: self._set("card", self._session.card_state(change["new"])))

    def _set(self, name: str, value: Any) -> None:
        with self.hold_sync():
            setattr(self, name, dict(value))
            self.error = ""

    def _run(self, work: Callable[[], None]) -> bool:
        self.busy = True
        try:
            work()
        except Exception as e:  # shown in the widget; the last good state and card stay
            self.error = f"{type(e).__name__}: {e}"
            return False
        finally:
            self.busy = False
        return True

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Changes from the front end: a rejected value is shown, not lost in the kernel log."""
        try:
            super().set_state(sync_data)
        except traitlets.TraitError as e:
            self.error = str(e)
            self.send_state([k for k in sync_data if k in self._request_traits])
