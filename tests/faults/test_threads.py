"""Two threads at once: two Workspaces on one model, two cards of one Workspace.

Every hook call sleeps a little (so the other thread runs in the middle of a forward pass,
where a hook of one thread would fire inside the other's forward), and each thread's cards
must equal, to the bit, the cards made one after the other by Workspaces of their own; asked
again afterwards (what a widget redraws from), they still do. And a card is not stuck behind
another Workspace's pass on the same model: the lock is held per forward call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import torch
from faultkit import assert_same_state

import tiny
from featurecard.card import quick_cards
from featurecard.core import dataset
from featurecard.workspace import Workspace

HOOKS = {"a": "blocks.0.mlp.hook_post", "b": "blocks.1.mlp.hook_post"}


@pytest.fixture(autouse=True)
def slow_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each hook call gives the other thread the interpreter for a moment."""
    from transformer_lens.hook_points import HookPoint

    real = HookPoint.forward

    def slow(self: Any, x: torch.Tensor) -> torch.Tensor:
        time.sleep(1e-4)
        return real(self, x)

    monkeypatch.setattr(HookPoint, "forward", slow)


def _workspace(model: Any, tokens: torch.Tensor, which: str) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 48, seed=ord(which)), "hook_name": HOOKS[which]}
    return Workspace(model, saes={which: sae}, tokens=tokens, batch_size=2, progress=False)


def _together(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run ``jobs`` in threads started together; their results (an exception is re-raised)."""
    start = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = jobs[i]()
        except BaseException as e:  # re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread never finished (deadlock?)"
    if errors:
        raise errors[0]
    return results


def _cards(ws: Workspace, name: str, complete: bool) -> list[Any]:
    return [ws.card_state(name, f, complete=complete) for f in (3, 40)]


@pytest.mark.parametrize("complete", [False, True], ids=["quick", "complete"])
def test_two_workspaces_on_one_model(model: Any, tokens: torch.Tensor, complete: bool) -> None:
    want = {w: _cards(_workspace(model, tokens, w), w, complete) for w in "ab"}  # one after the other
    for _ in range(2):
        ws = {w: _workspace(model, tokens, w) for w in "ab"}
        got = _together([lambda w=w, ws=ws: _cards(ws[w], w, complete) for w in "ab"])  # type: ignore[misc]
        for w, cards in zip("ab", got, strict=True):
            for g, c in zip(cards, want[w], strict=True):
                assert_same_state(g, c, f"Workspace {w}")
            for g, c in zip(_cards(ws[w], w, complete), want[w], strict=True):  # asked again
                assert_same_state(g, c, f"Workspace {w}, asked again")
    assert all(not hp._forward_hooks for hp in model.hook_dict.values())


def test_two_cards_of_one_workspace_at_once(model: Any, tokens: torch.Tensor) -> None:
    """Quick cards of two features requested together, and a complete card beside a quick one."""
    fresh = _workspace(model, tokens, "a")
    want = {f: fresh.card_state("a", f, complete=False) for f in (3, 40)}
    # made in the other order (cards made one after the other may share kept rows)
    other = _workspace(model, tokens, "a")
    want_other = {f: other.card_state("a", f, complete=False) for f in (40, 3)}
    for _ in range(2):
        ws = _workspace(model, tokens, "a")
        got = _together([lambda f=f, ws=ws: ws.card_state("a", f, complete=False) for f in (3, 40)])  # type: ignore[misc]
        for f, g in zip((3, 40), got, strict=True):
            try:
                assert_same_state(g, want[f], f"card {f}")
            except AssertionError:
                assert_same_state(g, want_other[f], f"card {f}")
    ws = _workspace(model, tokens, "a")
    complete_want = _workspace(model, tokens, "a").card_state("a", 40)
    got = _together([lambda: ws.card_state("a", 3, complete=False), lambda: ws.card_state("a", 40)])
    assert_same_state(got[1], complete_want, "the complete card")
    assert_same_state(ws.card_state("a", 40), complete_want, "the complete card, asked again")


def test_two_completions_of_one_workspace_at_once(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a quick card, two complete cards asked together (the completion slowed, so the
    second request comes while the first completes): each equals a Workspace's own, and the
    index is built once."""
    fresh = _workspace(model, tokens, "a")
    fresh.card_state("a", 3, complete=False)
    want = {f: fresh.card_state("a", f) for f in (3, 40)}
    real, runs = quick_cards.StagedSource.complete_index, []

    def slow(self: quick_cards.StagedSource, progress: bool = False) -> Any:
        runs.append(1)
        time.sleep(0.05)
        return real(self, progress)

    monkeypatch.setattr(quick_cards.StagedSource, "complete_index", slow)
    ws = _workspace(model, tokens, "a")
    ws.card_state("a", 3, complete=False)
    got = _together([lambda f=f: ws.card_state("a", f) for f in (3, 40)])  # type: ignore[misc]
    for f, g in zip((3, 40), got, strict=True):
        assert_same_state(g, want[f], f"card {f}")
        assert_same_state(ws.card_state("a", f), want[f], f"card {f}, asked again")
    assert len(runs) == 1


def test_a_card_is_not_stuck_behind_another_workspaces_pass(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workspace a's pass is held between two batches; b's card on the same model completes
    meanwhile, and a's pass then finishes with the index a Workspace alone builds."""
    want_a = _workspace(model, tokens, "a").card_state("a", 3)
    want_b = _workspace(model, tokens, "b").card_state("b", 3, complete=False)
    ws_a, ws_b = _workspace(model, tokens, "a"), _workspace(model, tokens, "b")
    held, go = threading.Event(), threading.Event()
    real, owner = dataset.keep_mask, threading.current_thread()
    calls = []

    def between_batches(*args: Any) -> torch.Tensor:
        if threading.current_thread() is not owner:
            calls.append(1)
            if len(calls) == 2:  # a's second batch: its first forward is done, the next not begun
                held.set()
                assert go.wait(timeout=120)
        return real(*args)

    monkeypatch.setattr(dataset, "keep_mask", between_batches)
    thread = threading.Thread(target=lambda: ws_a.index("a"))
    thread.start()
    assert held.wait(timeout=120)
    card_b = ws_b.card_state("b", 3, complete=False)  # would wait forever on a per-pass lock
    go.set()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert_same_state(card_b, want_b, "b's card during a's pass")
    assert_same_state(ws_a.card_state("a", 3), want_a, "a's card after its pass")
