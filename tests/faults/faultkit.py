"""Helpers of the fault tier: card states compared exactly, calls that trip at a chosen count."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from featurecard.core.codecs import decode_array


def decoded(x: Any) -> Any:
    """A card state with its binary arrays decoded (numpy), for comparisons."""
    if isinstance(x, dict) and "buffer" in x and "dtype" in x:
        return decode_array(x)
    if isinstance(x, dict):
        return {k: decoded(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [decoded(v) for v in x]
    return x


def assert_same_state(got: Any, want: Any, path: str = "card") -> None:
    """Two card states equal to the bit (arrays by value and dtype, NaN equal to NaN)."""
    got, want = decoded(got), decoded(want)
    _same(got, want, path)


def _same(a: Any, b: Any, path: str) -> None:
    if isinstance(b, dict):
        assert isinstance(a, dict) and a.keys() == b.keys(), path
        for k in b:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(b, list):
        assert isinstance(a, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, path
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), path
    elif isinstance(b, float) and b != b:
        assert a != a, path
    else:
        assert a == b, path


class Tripwire:
    """Wraps functions so that the ``at``-th call, counted over all of them, raises
    KeyboardInterrupt before it runs (as Ctrl-C would land there); ``at = 0`` only counts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch, self.count, self.at = monkeypatch, 0, 0
        self.where: list[str] = []

    def wrap(self, owner: Any, name: str) -> None:
        real = getattr(owner, name)
        label = f"{str(getattr(owner, '__name__', owner)).rsplit('.', 1)[-1]}.{name}"

        @functools.wraps(real)
        def tripped(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            if self.count == self.at:
                self.where.append(label)
                raise KeyboardInterrupt(f"tripwire at call {self.count} ({label})")
            return real(*args, **kwargs)

        self.monkeypatch.setattr(owner, name, tripped)

    def arm(self, at: int) -> None:
        self.count, self.at = 0, at

    def disarm(self) -> None:
        self.at = 0


def interrupt_everywhere(
    wire: Tripwire, make: Callable[[], Any], act: Callable[[Any], Any], after: Callable[[Any], Any] | None = None
) -> Iterator[tuple[int, Any, Any]]:
    """For n = 1, 2, ... until a run makes fewer than n calls: a fresh ``make()``, ``act`` on it
    interrupted at call n, then ``(after or act)`` on the same object, uninterrupted. Yields
    ``(n, that object, what the second call gave)``."""
    n = 0
    while True:
        n += 1
        obj = make()
        wire.arm(n)
        try:
            act(obj)
        except KeyboardInterrupt:
            pass
        else:
            wire.disarm()
            assert n > 1, "the tripwire never fired: nothing was patched on this path"
            return
        wire.disarm()
        yield n, obj, (after or act)(obj)
