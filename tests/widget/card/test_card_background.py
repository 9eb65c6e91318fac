"""A card's ``complete`` request while the complete index is built in the background: answered
from a thread once the build is done, while the kernel answers the card's other requests."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import torch

import tiny
from featurecard.card import first_cards, quick_cards
from featurecard.core.model import ModelAdapter
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"
TIMEOUT = 60.0  # seconds before a test fails instead of hanging


@pytest.fixture(autouse=True)
def over_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """No kept inputs: a first card is streamed and the complete index builds in the background."""
    monkeypatch.setattr(quick_cards, "CAPTURE_BUDGET", 0)
    monkeypatch.setattr(quick_cards, "BLOCK", 32)


class Held:
    """Holds the background build at its first batch until ``release`` is set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release, self.reached = threading.Event(), threading.Event()
        real = ModelAdapter.capture_dataset

        def held(adapter: ModelAdapter, batch: torch.Tensor, hooks: Any) -> dict[str, torch.Tensor]:
            if threading.current_thread().name.startswith("featurecard: indexing"):
                self.reached.set()
                assert self.release.wait(TIMEOUT)
            return real(adapter, batch, hooks)

        monkeypatch.setattr(ModelAdapter, "capture_dataset", held)


def _ws(model: Any, tokens: torch.Tensor) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 96, seed=1), "hook_name": HOOK}
    return Workspace(model, saes={"s": sae}, tokens=tokens, progress=False, batch_size=3)


def _send(card: Any, sent: list[Any], rid: str, name: str, **args: Any) -> None:
    card.send = lambda content, _buffers=None: sent.append(content)
    card._handle_custom_msg({"kind": "fc-request", "id": rid, "name": name, "args": args}, [])


def _reply(sent: list[Any], rid: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        for m in list(sent):
            if m.get("id") == rid:
                return dict(m)
        time.sleep(0.01)
    raise AssertionError(f"no reply to {rid} within {TIMEOUT} s")


def test_complete_waits_for_the_build_in_a_thread_then_draws_the_complete_card(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held(monkeypatch)
    ws = _ws(model, tokens)
    card = ws.card("s", feature=7)
    assert card.state["pending"] and held.reached.wait(TIMEOUT) and ws.building("s")
    sent: list[Any] = []
    _send(card, sent, "c1", "complete")  # returns at once: the reply waits for the build
    assert not [m for m in sent if m.get("id") == "c1"]
    assert not card.busy  # the shown card stays usable
    _send(card, sent, "s1", "show", source="s", feature=9)  # answered while the build is held
    assert _reply(sent, "s1")["ok"] and card.feature == 9 and card.state["pending"]
    _send(card, sent, "s2", "show", source="s", feature=7)
    assert _reply(sent, "s2")["ok"] and card.feature == 7
    held.release.set()
    assert _reply(sent, "c1") == {"kind": "fc-reply", "id": "c1", "ok": True, "result": {"complete": True}}
    assert not card.state.get("pending") and card.error == ""
    monkeypatch.setattr(first_cards, "BACKGROUND", False)  # the reference: an index built in one go
    reference = _ws(model, tokens).card_state("s", 7)
    assert card.state["left"].keys() == reference["left"].keys()
    for panel in reference["left"]:
        assert card.state["left"][panel] == reference["left"][panel], panel


def test_a_complete_for_a_card_no_longer_shown_leaves_the_shown_card_as_it_is(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held(monkeypatch)
    ws = _ws(model, tokens)
    card = ws.card("s", feature=7)
    assert held.reached.wait(TIMEOUT)
    sent: list[Any] = []
    _send(card, sent, "c1", "complete")
    _send(card, sent, "s1", "show", source="s", feature=40)
    assert _reply(sent, "s1")["ok"]
    shown = card.state
    held.release.set()
    assert _reply(sent, "c1")["ok"]
    assert card.feature == 40 and card.state is shown  # not redrawn with feature 7's card
    _send(card, sent, "c2", "complete")  # the build is done: answered at once, card 40 complete
    assert _reply(sent, "c2")["ok"] and not card.state.get("pending") and card.feature == 40


def test_build_progress_counts_the_builds_tokens_while_complete_waits(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``build_progress`` reports the background build's tokens (one pass: of every dataset token),
    rising batch by batch while ``complete`` waits, and goes back to None when the card is complete."""
    from featurecard.card import widget as card_widget

    monkeypatch.setattr(card_widget, "PROGRESS_EVERY", 0.005)
    real = ModelAdapter.capture_dataset

    def slow(adapter: ModelAdapter, batch: torch.Tensor, hooks: Any) -> dict[str, torch.Tensor]:
        if threading.current_thread().name.startswith("featurecard: indexing"):
            time.sleep(0.05)  # several reports per batch
        return real(adapter, batch, hooks)

    monkeypatch.setattr(ModelAdapter, "capture_dataset", slow)
    ws = _ws(model, tokens)
    card = ws.card("s", feature=7)
    seen: list[dict[str, Any] | None] = []
    card.observe(lambda change: seen.append(change["new"]), names="build_progress")
    assert card.state["pending"] and ws.building("s")
    card.complete()
    reports = [r for r in seen if r is not None]
    n_rows, seq_len = tokens.shape
    batch_tokens = 3 * seq_len  # batch_size=3 rows
    assert reports and all(r["total"] == n_rows * seq_len for r in reports)
    dones = [r["done"] for r in reports]
    assert dones == sorted(dones) and len(set(dones)) >= 2  # it rises while the build runs
    assert all(d % batch_tokens == 0 or d == n_rows * seq_len for d in dones)  # whole batches
    assert all(r["seconds"] > 0 for r in reports)
    assert seen[-1] is None and card.build_progress is None and not card.state["pending"]
