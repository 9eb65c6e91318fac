"""The PromptView widget: which latents of one SAE fire at each token of a prompt, and why they matter.

Made by ``Workspace.prompt(name, text)``. Traitlets hold everything the front end draws
(``state``: the prompt's tokens and every firing (position, latent) pair with its activation,
quantile, loss effects and, for attention-output SAEs, DFA; the open ``card`` and its
``selected`` latent). Which token is clicked and how its latents are ranked are the front end's
own (UI-only) state. The front end asks through the one request protocol of
:mod:`featurecard.core.view`: ``select`` ``{unit, pos}`` (a latent clicked in a token's list: its
FeatureCard opens below, from the same Workspace, with the prompt and the latent's activation at
each token above its examples; ``{}`` closes it), and the open card's ``search``, ``random`` and
``window``. A refused request sets ``error`` and keeps the last good state.

This module imports no torch: the widget reaches compute only through its session
(:class:`featurecard.prompt.session.PromptSession`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.provenance import provenance
from ..core.static import STATIC, bundle_files
from ..core.view import CardHost

bundle_files("prompt")  # a clear ImportError, before anywidget's FileNotFoundError, if never built

if TYPE_CHECKING:
    from anywidget import AnyWidget

    from .session import PromptSession


class PromptView(CardHost):
    """The latents firing at each token of a prompt, ranked by activation, quantile or loss effect."""

    _esm = STATIC / "prompt.js"
    _css = STATIC / "prompt.css"

    _session: PromptSession

    def __init__(self, session: PromptSession, **kwargs: Any) -> None:
        self._session = session
        self._quiet = True
        state = session.compute()  # errors raise here, with their message
        super().__init__(kwargs, state=dict(state))
        self._quiet = False

    @property
    def name(self) -> str:
        """The SAE's name in the Workspace."""
        return self._session.name

    def open_card(self, feature: int, pos: int = -1) -> PromptView:
        """Open latent ``feature``'s card below the view (``pos``: the token it was chosen at)."""
        self.selected = {"unit": feature, "pos": pos}
        return self

    def card_widget(self) -> AnyWidget:
        """The open latent's card as its own FeatureCard widget (from the same Workspace)."""
        if not self.selected:
            raise ValueError("no latent is selected; click one, or call open_card(feature)")
        source, unit, _ = self._session.card_unit(self.selected)
        ws = self._session.ws
        return ws.card(source, unit) if source in ws.saes else ws.neuron_card(source, unit)

    def export_html(self, path: str | Path, title: str | None = None) -> Path:
        """Write one self-contained HTML file that renders offline: the prompt, every token's latents
        (clicking tokens and switching rankings work there; opening other cards needs a kernel) and the
        open card, with where it came from (:mod:`featurecard.core.provenance`)."""
        from ..core.export import write_html

        values = {"selected": self.selected, "card": self.card}
        name = title or f"featurecard prompt view: {self._session.name}"
        prov = provenance(self._session.ws, [self._session.name])
        return write_html(path, [self.state], title=name, view="prompt", values=values, provenance=prov)

    def __repr__(self) -> str:
        n_pos = int(self.state.get("tokens", {}).get("shape", [0])[0])
        n_pairs = int(self.state.get("pairs", {}).get("latent", {}).get("shape", [0])[0])
        return f"PromptView({self._session.name!r}, tokens={n_pos}, firing pairs={n_pairs})"
