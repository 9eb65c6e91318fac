"""A capture's hooks act only in the thread that runs it: a user's forward in another thread while
a capture is under way (a background index build) neither stops at the capture's last hook nor
feeds it its activations."""

from __future__ import annotations

import threading
from typing import Any

import torch

from featurecard.core.model import ModelAdapter

PAUSE = "blocks.0.hook_resid_pre"  # the capture waits here, mid-forward
LATE = "blocks.1.hook_resid_post"  # what it captures, after the pause
TIMEOUT = 60.0


@torch.no_grad()
def test_a_forward_of_another_thread_runs_whole_and_leaves_the_capture_alone(model: Any, tokens: torch.Tensor) -> None:
    adapter = ModelAdapter(model)
    batch = tokens[:3]
    logits_alone = model(batch).clone()
    _, cache = model.run_with_cache(batch, names_filter=lambda n: n == LATE)
    late_alone = cache[LATE].clone()
    other = tokens[3:6]  # the user's forward: other rows, so a mix-up would show
    other_logits = model(other).clone()

    reached, release = threading.Event(), threading.Event()
    capturer: list[int] = []

    def pause(act: torch.Tensor, hook: object) -> None:
        if capturer and threading.get_ident() == capturer[0]:
            reached.set()
            assert release.wait(TIMEOUT)

    got: list[dict[str, torch.Tensor]] = []

    def capture() -> None:
        capturer.append(threading.get_ident())
        got.append(adapter.capture(batch, [LATE]))

    model.add_hook(PAUSE, pause)
    try:
        t = threading.Thread(target=capture)
        t.start()
        assert reached.wait(TIMEOUT)
        # The capture's saver is on the model now; the user's forward must not stop at it or feed it.
        user = model(other)
        release.set()
        t.join(TIMEOUT)
    finally:
        release.set()
        model.reset_hooks()
    assert torch.equal(user, other_logits)
    assert got and list(got[0]) == [LATE]
    assert torch.equal(got[0][LATE], late_alone)
    assert torch.equal(model(batch), logits_alone)
