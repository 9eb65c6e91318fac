"""Card-tier fixtures: no background index build outlives its test (the next test's model calls,
counted or patched, would meet its forwards)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from featurecard.card import first_cards


@pytest.fixture(autouse=True)
def no_build_left_running() -> Iterator[None]:
    yield
    with first_cards._RUNNING_LOCK:
        running = [b for builds in first_cards._RUNNING.values() for b in builds]
    for build in running:
        build.cancel()
        build.thread.join(60)
