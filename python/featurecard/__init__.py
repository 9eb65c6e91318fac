"""featurecard: feature cards for SAE latents and neurons, as a live notebook widget.

    import featurecard as fc
    model, sae, tokens = fc.demo()                       # embedded default, built offline once
    ws = fc.Workspace(model, saes={"mlp0": sae}, tokens=tokens)
    card = ws.card("mlp0", feature=7)                    # renders in the cell
    card.feature = 42                                    # or use the index box in the widget
    card.export_html("card.html")                        # one offline file
    fc.build_index(model, {"mlp0": sae}, "tokens.npy", "store")  # a large dataset, streamed to disk
    ws = fc.Workspace.open("store", model, saes={"mlp0": sae})   # opens lazily

TransformerLens and SAELens are imported only when needed (each takes seconds to import).
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("featurecard")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from .card.store_pass import build_index
    from .card.widget import FeatureCard
    from .core.sae import SparseAutoencoder
    from .embedded import demo
    from .nodes.node_spec import node
    from .workspace import Workspace

_LAZY = {
    "Workspace": ("featurecard.workspace", "Workspace"),
    "FeatureCard": ("featurecard.card.widget", "FeatureCard"),
    "SparseAutoencoder": ("featurecard.core.sae", "SparseAutoencoder"),
    "demo": ("featurecard.embedded", "demo"),
    "build_index": ("featurecard.card.store_pass", "build_index"),
    "node": ("featurecard.nodes.node_spec", "node"),
}


def __getattr__(name: str) -> Any:
    # Lazy: `import featurecard` stays fast; torch loads when a Workspace is made.
    if name in _LAZY:
        module, attr = _LAZY[name]
        if name == "FeatureCard":  # its (model, sae, tokens) shorthand builds a Workspace: register it
            importlib.import_module("featurecard.workspace")
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'featurecard' has no attribute {name!r}")


__all__ = ["FeatureCard", "SparseAutoencoder", "Workspace", "__version__", "build_index", "demo", "node"]
