"""First cards without the complete index (streamed blocks past the budget, TopK, stores) and
the complete index built in the background: against the complete cards and the in-memory pass."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
import torch

import tiny
from featurecard.card import assemble, first_cards, quick_cards, shown_effects
from featurecard.card.index_pass import index_pass
from featurecard.card.store import StoredIndex
from featurecard.core import dataset
from featurecard.core.codecs import decode_array
from featurecard.core.model import ModelAdapter
from featurecard.core.sae import SparseAutoencoder
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"
TIMEOUT = 60.0  # seconds a test waits for a background build before it fails (never a deadlock)


@pytest.fixture(autouse=True)
def over_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """No kept inputs (the route past CAPTURE_BUDGET), blocks of 32 latents."""
    monkeypatch.setattr(quick_cards, "CAPTURE_BUDGET", 0)
    monkeypatch.setattr(quick_cards, "BLOCK", 32)


def _ws(model: Any, tokens: torch.Tensor, **over: Any) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 96, seed=1), "hook_name": HOOK, **over.pop("sae", {})}
    return Workspace(model, saes={"s": sae}, tokens=tokens, progress=False, batch_size=3, **over)


def _decoded(x: Any) -> Any:
    if isinstance(x, dict) and "buffer" in x and "dtype" in x:
        return decode_array(x)
    if isinstance(x, dict):
        return {k: _decoded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_decoded(v) for v in x]
    return x


def _assert_close(got: Any, want: Any, path: str, exact: bool) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), path
        for k in want:
            _assert_close(got[k], want[k], f"{path}.{k}", exact)
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            _assert_close(a, b, f"{path}[{i}]", exact)
    elif isinstance(want, np.ndarray):
        assert got.shape == want.shape and got.dtype == want.dtype, path
        if not exact and ".hover." in path and want.dtype.kind in "iu":
            # The tokens each hover ranks: a near tie may swap (their values are compared to tolerance).
            assert np.mean(got != want) < 0.05, path
        elif exact or want.dtype.kind not in "fc":
            assert np.array_equal(got, want, equal_nan=want.dtype.kind in "fc"), path
        else:
            half = want.dtype == np.float16  # one float16 step (the wire's hover tables) either way
            np.testing.assert_allclose(got, want, rtol=1e-3 if half else 2e-5, atol=2e-6, err_msg=path)
    elif isinstance(want, float) and not exact:
        assert got == pytest.approx(want, rel=2e-5, abs=2e-6, nan_ok=True), path
    else:
        assert got == want, path


def _assert_quick_equals_complete(quick: Any, full: Any, exact: bool = False) -> None:
    """Every number a quick card shows equals the complete card's (its pending panels excepted)."""
    quick, full = _decoded(dict(quick)), _decoded(dict(full))
    pending = quick.pop("pending")
    assert pending and not full.pop("pending")
    for name in pending:
        assert quick["unavailable"].pop(name).startswith("being computed")
        del quick["left"][name], full["left"][name]
    _assert_close(quick, full, "card", exact)


def _count_encodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(which encode, how many latents) of every SAE encoder call."""
    calls: list[tuple[str, int]] = []
    real_units, real_all = SparseAutoencoder.encode_units, SparseAutoencoder.encode

    def units(self: SparseAutoencoder, x: torch.Tensor, which: Any) -> torch.Tensor:
        out = real_units(self, x, which)
        calls.append(("units", int(out.shape[-1])))
        return out

    def every(self: SparseAutoencoder, x: torch.Tensor) -> torch.Tensor:
        out = real_all(self, x)
        calls.append(("all", int(out.shape[-1])))
        return out

    monkeypatch.setattr(SparseAutoencoder, "encode_units", units)
    monkeypatch.setattr(SparseAutoencoder, "encode", every)
    return calls


def test_a_streamed_first_card_encodes_its_block_only_and_equals_the_complete_card(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(first_cards, "BACKGROUND", False)
    ws = _ws(model, tokens)
    calls = _count_encodes(monkeypatch)
    quick = [ws.card_state("s", f, complete=False) for f in (3, 40, 41)]
    assert ws._capture is None and not ws.is_complete("s")
    n_batches = -(-tokens.shape[0] // 3)
    # Two blocks (latents 0..31 and 32..63), one pass each; 41 reused 40's block.
    assert calls == [("units", 32)] * (2 * n_batches)
    full = [ws.card_state("s", f) for f in (3, 40, 41)]
    assert ws.is_complete("s") and not ws._streamed
    for q, c in zip(quick, full, strict=True):
        _assert_quick_equals_complete(q, c)


@pytest.mark.parametrize("rerun_rows", [1, 32])
def test_a_topk_first_card_keeps_its_block_of_the_full_encode_and_equals_the_complete_card(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch, rerun_rows: int
) -> None:
    """(The hover effects' rows re-run one at a time, or all together: the same numbers.)"""
    monkeypatch.setattr(first_cards, "BACKGROUND", False)
    monkeypatch.setattr(shown_effects, "RERUN_ROWS", rerun_rows)
    ws = _ws(model, tokens, sae={"architecture": "topk", "k": 6})
    calls = _count_encodes(monkeypatch)
    quick = ws.card_state("s", 50, complete=False)
    assert set(calls) == {("all", 96)} and not ws.is_complete("s")
    streamed = ws._streamed["s"]
    assert sorted(streamed.quick) == list(range(32, 64))
    _assert_quick_equals_complete(quick, ws.card_state("s", 50), exact=True)  # the same matmul: to the bit


def _index_arrays(index: Any) -> list[torch.Tensor]:
    return [index.indptr, index.positions, index.values, index.max_act, index.n_active, index.pos_indptr]


def test_the_background_build_equals_the_in_memory_index(model: Any, tokens: torch.Tensor) -> None:
    ws = _ws(model, tokens)
    ws.card_state("s", 7, complete=False)
    assert ws.building("s")
    build = ws._builds.by_name["s"]
    assert build.done.wait(TIMEOUT), "the background build never finished"
    want = index_pass(ModelAdapter(model), {"s": ws.saes["s"]}, tokens, batch_size=3, progress=False)
    got = ws.index("s")
    for a, b in zip(_index_arrays(got), _index_arrays(want.indexes["s"]), strict=True):
        assert torch.equal(a, b)
    assert not ws.building("s") and not ws._streamed


def test_a_card_opened_while_the_build_runs_is_correct(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build is held at its second batch until the card is made: the card does not wait for it."""
    ws = _ws(model, tokens)
    release, reached = threading.Event(), threading.Event()
    real = ModelAdapter.capture_dataset
    builder = "featurecard: indexing"

    def held(self: ModelAdapter, batch: torch.Tensor, hooks: Any) -> dict[str, torch.Tensor]:
        if threading.current_thread().name.startswith(builder):
            reached.set()
            assert release.wait(TIMEOUT)
        return real(self, batch, hooks)

    monkeypatch.setattr(ModelAdapter, "capture_dataset", held)
    ws.card_state("s", 7, complete=False)
    assert reached.wait(TIMEOUT) and ws.building("s")
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(ws.card_state("s", 60, complete=False)))
    t.start()
    t.join(TIMEOUT)
    assert got, "a card made while the build runs waited for it"
    release.set()
    monkeypatch.setattr(first_cards, "BACKGROUND", False)
    fresh = _ws(model, tokens)
    _assert_close(_decoded(got[0]), _decoded(fresh.card_state("s", 60, complete=False)), "card", exact=True)
    _assert_quick_equals_complete(got[0], ws.card_state("s", 60))


def _first_card_then_its_build(ws: Workspace, feature: int) -> None:
    ws.card_state("s", feature, complete=False)
    assert ws._builds.by_name["s"].done.wait(TIMEOUT), "the background build never finished"


def test_a_failed_build_is_reported_and_the_next_index_runs_it_again(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _ws(model, tokens)
    real = ModelAdapter.capture_dataset
    fail = [True]

    def broken(self: ModelAdapter, batch: torch.Tensor, hooks: Any) -> dict[str, torch.Tensor]:
        if fail[0] and threading.current_thread().name.startswith("featurecard: indexing"):
            raise RuntimeError("disk on fire")
        return real(self, batch, hooks)

    monkeypatch.setattr(ModelAdapter, "capture_dataset", broken)
    with pytest.warns(RuntimeWarning, match="disk on fire"):
        _first_card_then_its_build(ws, 7)
    card = ws.card("s", 7)
    assert card.state["pending"]
    with pytest.raises(first_cards.BackgroundBuildError, match="RuntimeError: disk on fire"):
        card.complete()
    assert "disk on fire" in card.error and card.state["pending"]  # the quick card stays
    fail[0] = False
    card.complete()
    assert ws.is_complete("s") and not card.state["pending"] and card.error == ""


def test_close_cancels_the_build_and_a_later_index_builds_it(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _ws(model, tokens)
    real = ModelAdapter.capture_dataset

    def slow(self: ModelAdapter, batch: torch.Tensor, hooks: Any) -> dict[str, torch.Tensor]:
        time.sleep(0.05)
        return real(self, batch, hooks)

    monkeypatch.setattr(ModelAdapter, "capture_dataset", slow)
    ws.card_state("s", 7, complete=False)
    build = ws._builds.by_name["s"]
    ws.close()
    assert build.done.wait(TIMEOUT) and isinstance(build.error, first_cards.BuildCancelled)
    monkeypatch.setattr(ModelAdapter, "capture_dataset", real)
    want = index_pass(ModelAdapter(model), {"s": ws.saes["s"]}, tokens, batch_size=3, progress=False)
    for a, b in zip(_index_arrays(ws.index("s")), _index_arrays(want.indexes["s"]), strict=True):
        assert torch.equal(a, b)


def test_neuron_cards_come_from_the_same_streamed_route(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(first_cards, "BACKGROUND", False)
    ws = _ws(model, tokens)
    quick = ws.card_state(HOOK, 5, complete=False)
    assert HOOK in ws._streamed and not ws.is_complete(HOOK)
    _assert_quick_equals_complete(quick, ws.card_state(HOOK, 5))


def test_a_first_card_from_an_existing_store_reads_no_dataset(
    model: Any, tokens: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cache_dir without a store: a streamed first card, the store built behind it; with the store:
    no pass over the dataset at all (hover effects run the shown rows only)."""
    first = _ws(model, tokens, cache_dir=tmp_path)
    quick = first.card_state("s", 7, complete=False)
    assert quick["pending"] and first.building("s")
    assert first._builds.by_name["s"].done.wait(TIMEOUT)
    assert list(tmp_path.glob("index-*/manifest.json"))
    full = first.card_state("s", 7)

    def no_pass(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a first card from a store reads no dataset")

    monkeypatch.setattr(dataset, "dataset_batches", no_pass)
    monkeypatch.setattr(dataset, "read_rows", no_pass)
    monkeypatch.setattr(first_cards, "dataset_batches", no_pass)
    again = _ws(model, tokens, cache_dir=tmp_path)
    card = again.card_state("s", 7, complete=False)
    assert not card["pending"] and not again.building("s") and not again._streamed
    _assert_close(_decoded(card), _decoded(full), "card", exact=True)


def test_a_streamed_block_costs_at_most_a_tenth_of_the_forward_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hand-computed: one block of 100 x 100 weights (+ 100 biases) = 10,100 multiply-adds per
    token; an encoder of 64 latents x 10 inputs = 640 <= 1,010, of 128 = 1,280 > 1,010."""
    monkeypatch.setattr(quick_cards, "BLOCK", 128)
    model = SimpleNamespace(blocks=torch.nn.ModuleList([torch.nn.Linear(100, 100)]))
    adapter = cast("Any", SimpleNamespace(model=model))

    def sae(d_in: int, hook: str = "blocks.0.hook_resid_post") -> Any:
        return SimpleNamespace(d_in=d_in, hook_name=hook)

    assert first_cards.stream_block(adapter, sae(10)) == 64
    assert first_cards.stream_block(adapter, sae(1)) == 128  # 128 <= 1,010: the whole default block
    assert first_cards.stream_block(adapter, sae(1000)) == 32  # never below 32
    assert first_cards.stream_block(adapter, sae(1000, "hook_embed")) == 128  # no block: the default
    no_blocks = cast("Any", SimpleNamespace(model=SimpleNamespace()))
    assert first_cards.stream_block(no_blocks, sae(1000)) == 128


def test_past_the_budget_the_complete_index_is_built_as_a_temporary_store(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a cache_dir, an index whose in-memory build the streamed blocks size above
    memory_budget is built as a store in a temporary folder (its columns equal the in-memory
    pass's), which goes with the Workspace; under the budget it stays in memory."""
    monkeypatch.setattr(first_cards, "BACKGROUND", False)
    want = index_pass(ModelAdapter(model), {"s": _ws(model, tokens).saes["s"]}, tokens, batch_size=3, progress=False)
    small = _ws(model, tokens, memory_budget="1GB")
    small.card_state("s", 7, complete=False)
    assert isinstance(small.index("s"), type(want.indexes["s"])) and small._stores.spill is None
    monkeypatch.setattr(first_cards, "BUILD_BYTES_PER_NONZERO", 10_000)  # the tiny dataset, sized as a big one
    ws = _ws(model, tokens, memory_budget=300_000)
    ws.card_state("s", 7, complete=False)
    assert ws._stores.streamed["s"].build_bytes() > 300_000
    got = ws.index("s")
    folder = ws._stores.spill
    assert isinstance(got, StoredIndex) and folder is not None and list(folder.glob("index-*/manifest.json"))
    for unit in range(got.n_units):
        for a, b in zip(got.column(unit), want.indexes["s"].column(unit), strict=True):
            assert torch.equal(a.to(b.dtype), b)
    assert torch.equal(got.max_act, want.indexes["s"].max_act)
    del ws, got
    gc.collect()
    assert not folder.exists()


def test_a_quick_card_leaves_a_large_read_of_the_index_to_the_complete_card(
    model: Any, tokens: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a store, a first card whose correlated latents would read more of the index than
    LATENTS_READ_BUDGET shows them pending (with why); the complete card has them, and every
    other panel of the two cards is the same."""
    monkeypatch.setattr(first_cards, "BACKGROUND", False)
    built = _ws(model, tokens, cache_dir=tmp_path)
    built.index("s")
    ws = _ws(model, tokens, cache_dir=tmp_path)
    assert not ws.card_state("s", 7, complete=False)["pending"]  # a small read: nothing waits
    monkeypatch.setattr(assemble, "LATENTS_READ_BUDGET", 0)
    quick = ws.card_state("s", 7, complete=False)
    full = ws.card_state("s", 7)
    assert quick["pending"] == ["latents"] and not full["pending"]
    assert quick["unavailable"]["latents"] == assemble.READING and full["left"]["latents"] is not None
    _assert_quick_equals_complete(quick, full, exact=True)
