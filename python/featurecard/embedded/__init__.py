"""The embedded default: a small transformer, tokenizer and TopK SAE built offline and cached.

``demo()`` returns ``(model, sae, tokens)``. The first call builds them from text every Python
install has (the language reference in ``pydoc_data`` and the docstrings of the standard library,
numpy, torch and transformers), with no network: a byte-level BPE tokenizer, a 2-layer
TransformerLens ``TransformerBridge`` trained for a few minutes on 2 CPU cores, and a TopK SAE on
``blocks.0.mlp.hook_post``. The result is cached (see :mod:`.build`) and later calls load it in
seconds. :class:`Recipe` holds every size, step count and seed; ``Recipe.tiny()`` is the same
pipeline at toy size for tests.

TransformerLens and torch are imported only inside the functions that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .build import CACHE_ENV, cache_root, demo, ensure_built, entry_dir, is_complete, load_entry
from .recipe import Recipe

if TYPE_CHECKING:
    from pathlib import Path

    import torch


def load_model_dir(path: str | Path, device: torch.device | str | None = None) -> Any:
    """Rebuild the demo TransformerBridge saved in ``path`` (``model_config.json``,
    ``model.safetensors``, ``tokenizer/``); works in TransformerLens 3.9 and 4.x."""
    from .train import load_model_dir as _load

    return _load(path, device=device)


__all__ = [
    "CACHE_ENV",
    "Recipe",
    "cache_root",
    "demo",
    "ensure_built",
    "entry_dir",
    "is_complete",
    "load_entry",
    "load_model_dir",
]
