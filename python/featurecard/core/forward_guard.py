"""One forward call at a time per model, in eval mode.

Every forward call featurecard makes on a model (a dataset pass's batch, the rows a card
resumes, the last block at chosen positions, a node table's pass, the readout's modules) runs
under :func:`forward_guard`. Its lock is the model's own (one per model object), held for one
call, not a whole pass: a card of one Workspace runs between the batches of another's pass on
the same model, and neither thread's hooks fire inside the other's forward. Inside, every
module is in eval mode (no dropout); the modules the user left in training mode are put back
after the call, whatever happens.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import torch


class _Guard:
    """One model's forward lock, and how deep the holding thread is in guarded calls."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.depth = 0


_GUARDS: weakref.WeakKeyDictionary[Any, _Guard] = weakref.WeakKeyDictionary()
_GUARDS_LOCK = threading.Lock()


def model_lock(model: Any) -> _Guard:
    """The forward lock of ``model`` (one per model object, made on first use)."""
    with _GUARDS_LOCK:
        guard = _GUARDS.get(model)
        if guard is None:
            guard = _GUARDS[model] = _Guard()
        return guard


@contextlib.contextmanager
def forward_guard(model: Any) -> Iterator[None]:
    """Hold ``model``'s forward lock, with every module in eval mode; the modules that were in
    training mode are put back, whatever happens (nested guards in one thread are free)."""
    guard = model_lock(model)
    with guard.lock:
        training: list[Any] = []
        guard.depth += 1
        try:
            if guard.depth == 1:
                training = [m for m in _all_modules(model) if m.training]
                for m in training:
                    m.training = False
            yield
        finally:
            guard.depth -= 1
            for m in training:
                m.training = True


def _all_modules(model: Any) -> list[Any]:
    """Every module of ``model``, and of the source model a TransformerBridge wraps (its
    ``train()`` reaches that one too, whether or not it is registered as a submodule)."""
    mods = {id(m): m for m in model.modules()}
    original = getattr(model, "original_model", None)
    if isinstance(original, torch.nn.Module):
        mods.update({id(m): m for m in original.modules()})
    return list(mods.values())
