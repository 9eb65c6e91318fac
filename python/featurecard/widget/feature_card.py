"""The FeatureCard widget: traitlets hold the card; the Workspace computes it.

``feature`` is the one input the front end changes (index box, arrows). Every change is
validated; a bad index or a failed computation sets ``error`` and keeps the last good
``state``, so the card never goes blank. From Python a bad index raises at once
(``card.feature = -1`` → ``TraitError`` naming the accepted range); from the front end the
same error is shown in the card and ``feature`` snaps back to the card on display.

This module imports no torch: the widget reaches compute only through the Workspace.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ._static import STATIC, bundle_files

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

    feature = traitlets.Int(0, help="Index of the latent or neuron shown.").tag(sync=True)
    state = traitlets.Dict(help="The last good card (FeatureCardState); binary arrays as bytes.").tag(sync=True)
    error = traitlets.Unicode("", help="Why the last request failed; '' when it did not.").tag(sync=True)
    busy = traitlets.Bool(False, help="True while a card is being computed.").tag(sync=True)

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
        self._source = source
        workspace.check_feature(source, feature)
        super().__init__(feature=feature, **kwargs)
        self._recompute()

    # -- validation and recomputation ------------------------------------------------------
    @traitlets.validate("feature")
    def _valid_feature(self, proposal: dict[str, Any]) -> int:
        value = proposal["value"]
        ws = getattr(self, "_workspace", None)
        if ws is not None:
            try:
                ws.check_feature(self._source, value)
            except (IndexError, ValueError) as e:
                raise traitlets.TraitError(str(e)) from e
        return int(value)

    @traitlets.observe("feature")
    def _on_feature(self, _change: dict[str, Any]) -> None:
        self._recompute()

    def _recompute(self) -> None:
        self.busy = True
        try:
            state = self._workspace.card_state(self._source, self.feature)
        except Exception as e:  # shown in the card; the last good state stays
            self.error = f"{type(e).__name__}: {e}"
        else:
            with self.hold_sync():
                self.state = dict(state)
                self.error = ""
        finally:
            self.busy = False

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Changes from the front end: a rejected value is shown, not lost in the kernel log."""
        try:
            super().set_state(sync_data)
        except traitlets.TraitError as e:
            self.error = str(e)
            self.send_state("feature")  # put the front end's index box back on the shown card

    # -- export ----------------------------------------------------------------------------
    def export_html(self, path: str | Path, features: Sequence[int] | None = None, title: str | None = None) -> Path:
        """Write one self-contained HTML file that renders offline.

        With ``features``, the file holds those cards and its index box switches between them
        (the shown card first); without, it holds the shown card.
        """
        from ..export.html import write_html

        states = [self.state]
        for f in features or []:
            if f != self.feature:
                self._workspace.check_feature(self._source, f)
                states.append(dict(self._workspace.card_state(self._source, f)))
        name = title or f"featurecard: {self._source} #{self.feature}"
        return write_html(path, states, title=name)

    def __repr__(self) -> str:
        return f"FeatureCard(source={self._source!r}, feature={self.feature})"
