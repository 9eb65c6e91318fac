"""Fewer torch threads while other processes keep the CPU busy.

With OpenMP's default spin-waiting, 2-thread torch training on 2 cores slows down 3-25x as soon
as one other busy process competes for the cores (measured when the default recipe was chosen:
13.2k tokens/s idle, 4.4k beside one busy process and 547 beside two, where 1 thread kept 7.1k;
and beside a busy benchmark: 2.85 s per default model step with 2 threads against 0.78 s
with 1). ``OMP_WAIT_POLICY`` cannot be changed once torch is imported, so instead, every few
steps, :class:`ThreadGovernor` reads how much CPU *other* processes used since the last look
(``/proc/stat`` minus our own CPU time) and runs torch on the cores they leave free, never more
than it started with; it restores the original count on exit. Where ``/proc/stat`` is missing
it does nothing.

The thread count can change the last bits of the trained weights (measured: the tiny recipe's
model differs in 38 tensors between 1 and 2 threads), so a build is bitwise reproducible only
for the same thread schedule; ``build_info.json`` records it (``steps_by_threads``). Set
``FEATURECARD_BUILD_THREADS=N`` to train with exactly ``N`` threads, governor off: two builds
of one recipe in one environment are then equal to the bit, whatever else the machine does.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from types import TracebackType

import torch

_PROC_STAT = Path("/proc/stat")


def _busy_cpu_seconds() -> float | None:
    """CPU seconds all processes spent busy since boot, or None off Linux."""
    try:
        fields = [int(v) for v in _PROC_STAT.read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class ThreadGovernor:
    """Context manager: ``tick()`` each step; every ``every`` steps it re-fits torch's thread count."""

    def __init__(self, every: int = 10, cores: int | None = None) -> None:
        self.every = every
        self.start_threads = torch.get_num_threads()
        self.fixed = _fixed_threads()  # FEATURECARD_BUILD_THREADS: exactly this many, governor off
        self.cores = cores or os.cpu_count() or 1
        self._steps = 0
        self._last: tuple[float, float, float] | None = None
        self.others = 0.0  # cores other processes used over the last window
        self.steps_by_threads: dict[int, int] = {}  # how many steps ran with each thread count

    def __enter__(self) -> ThreadGovernor:
        if self.fixed is not None:
            torch.set_num_threads(self.fixed)
        self._mark()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        torch.set_num_threads(self.start_threads)

    def _mark(self) -> None:
        busy = _busy_cpu_seconds()
        self._last = None if busy is None else (busy, time.process_time(), time.perf_counter())

    def tick(self) -> None:
        n = torch.get_num_threads()
        self.steps_by_threads[n] = self.steps_by_threads.get(n, 0) + 1
        self._steps += 1
        if self.fixed is not None or self._last is None or self._steps % self.every:
            return
        busy0, own0, wall0 = self._last
        self._mark()
        assert self._last is not None
        busy1, own1, wall1 = self._last
        wall = wall1 - wall0
        if wall <= 0:
            return
        self.others = max(0.0, ((busy1 - busy0) - (own1 - own0)) / wall)
        free = self.cores - math.ceil(self.others - 0.3)  # ignore background noise below 0.3 cores
        threads = max(1, min(self.start_threads, free))
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)


def _fixed_threads() -> int | None:
    """``FEATURECARD_BUILD_THREADS`` as a thread count (None when unset)."""
    raw = os.environ.get("FEATURECARD_BUILD_THREADS", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"FEATURECARD_BUILD_THREADS={raw!r} is not a thread count; accepted: an integer >= 1")
    return int(raw)


__all__ = ["ThreadGovernor"]
