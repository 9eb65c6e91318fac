"""Ctrl-C landing anywhere in a streamed first card or in the background build behind it.

The first card (past the capture budget) streams its block; the complete index is then built in
a background thread. An interrupt is a KeyboardInterrupt raised at the n-th call counted over
the passes' steps (as in test_interrupts.py): in the card's own pass (the main thread), or in
the build (its thread: the build fails, is reported, and the next call that needs the index
runs it again). For every n until a run makes fewer calls, the same Workspace's complete
cards must then equal, to the bit, those of a Workspace never interrupted.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import pytest
import torch
from faultkit import Tripwire, assert_same_state

import tiny
from featurecard.card import first_cards, quick_cards
from featurecard.card.correlation import NeuronCorrelationSums
from featurecard.card.index import IndexBuilder
from featurecard.core import dataset
from featurecard.core.forward_guard import model_lock
from featurecard.core.model import ModelAdapter
from featurecard.core.sae import SparseAutoencoder
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"
F1, F2 = 5, 40
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def tokens(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=4, pos=8, seed=3)


def _workspace(model: Any, tokens: torch.Tensor) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 64, seed=2), "hook_name": HOOK}
    return Workspace(model, saes={"s": sae}, tokens=tokens, batch_size=2, progress=False)


def _tripwire(monkeypatch: pytest.MonkeyPatch) -> Tripwire:
    wire = Tripwire(monkeypatch)
    wire.wrap(ModelAdapter, "capture_dataset")
    for name in ("preprocess", "encode", "encode_units"):
        wire.wrap(SparseAutoencoder, name)
    for name in ("add", "finish"):
        wire.wrap(IndexBuilder, name)
    wire.wrap(NeuronCorrelationSums, "add_nonzeros")
    for name in ("read_rows", "keep_mask"):
        wire.wrap(dataset, name)
    return wire


def _first_card_and_build(ws: Workspace) -> None:
    ws.card_state("s", F1, complete=False)
    build = ws._builds.by_name.get("s")
    assert build is None or build.done.wait(TIMEOUT), "the background build never finished"


def _after(ws: Workspace) -> list[Any]:
    with contextlib.suppress(first_cards.BackgroundBuildError):
        ws.index("s")  # a failed build's failure is raised once
    ws.index("s")  # and the next call runs it again
    return [ws.card_state("s", F1, complete=False), ws.card_state("s", F2), ws.card_state("s", F1)]


def test_an_interrupt_in_a_streamed_card_or_its_background_build(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quick_cards, "CAPTURE_BUDGET", 0)
    monkeypatch.setattr(quick_cards, "BLOCK", 32)
    fresh = _workspace(model, tokens)
    _first_card_and_build(fresh)
    want = _after(fresh)
    training = [m.training for m in model.modules()]
    wire = _tripwire(monkeypatch)
    in_build = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the failed build's report
        for n in range(1, 10_000):
            ws = _workspace(model, tokens)
            wire.arm(n)
            try:
                _first_card_and_build(ws)
            except KeyboardInterrupt:
                pass
            finally:
                wire.disarm()
            if len(wire.where) < n:  # nothing tripped: every call was counted
                break
            build = ws._builds.by_name.get("s")
            in_build += build is not None and isinstance(build.error, KeyboardInterrupt)
            for g, w in zip(_after(ws), want, strict=True):
                assert_same_state(g, w, f"after an interrupt at call {n} ({wire.where[-1]})")
            assert model_lock(model).depth == 0
            assert all(not hp._forward_hooks and not hp._forward_pre_hooks for hp in model.hook_dict.values())
            assert [m.training for m in model.modules()] == training
    assert n > 10 and in_build > 5, (n, in_build)  # both the card's pass and the build were interrupted
