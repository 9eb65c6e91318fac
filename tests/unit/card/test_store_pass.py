"""fc.build_index over a real (tiny) model: the store equals the in-memory pass's index to the bit
(one chunk or many, a budget smaller than the index, tokens from a .npy memmap); a Workspace
whose index comes from a store gives the cards of the in-memory index; Workspace.open refuses a
store built from another model, SAE or tokens, naming what differs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from faultkit import assert_same_state, decoded

import featurecard as fc
import tiny
from featurecard.card import store_build, store_cache
from featurecard.card.index_pass import index_pass
from featurecard.card.store import open_store
from featurecard.core.model import ModelAdapter
from featurecard.core.sae_input import as_sae
from featurecard.core.saelens_folder import save_saelens_folder
from featurecard.workspace import Workspace
from store_data import assert_index_equal

HOOK = "blocks.0.mlp.hook_post"
SMALL_BUDGET = 200_000  # bytes: 2-row chunks of 24 tokens, a commit every few chunks


def _sae(seed: int) -> dict[str, Any]:
    return {**tiny.random_sae_weights(64, 48, seed=seed), "hook_name": HOOK}


@pytest.fixture(scope="module")
def rows(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=40, pos=24, seed=4)


def _reference(model: Any, rows: torch.Tensor) -> Any:
    sources = {"s": as_sae(_sae(0)), "s::B": as_sae(_sae(1))}
    return index_pass(ModelAdapter(model), sources, rows, batch_size=8, progress=False, keep_final_resid=False)


def _build(model: Any, tokens: Any, out: Path, **kw: Any) -> Path:
    return fc.build_index(model, {"s": _sae(0)}, tokens, out, sae_b={"s": _sae(1)}, batch_size=8,
                          progress=False, **kw)  # fmt: skip


def _assert_sums_close(got: Any, want: Any, exact: bool) -> None:
    assert got.n == want.n
    for n in ("s_f", "s_ff", "s_x", "s_xx", "s_fx"):
        g, w = getattr(got, n), getattr(want, n)
        if exact:
            assert torch.equal(g, w), n
        else:  # chunk by chunk: float64 sums in another order (card.store_pass's docstring)
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-6 * float(w.abs().max())), n


def test_one_chunk_store_equals_the_in_memory_pass(model: Any, rows: torch.Tensor, tmp_path: Path) -> None:
    out = _build(model, rows, tmp_path / "st")
    store = open_store(out)
    assert store.manifest["build"]["spec"]["chunk_rows"] >= rows.shape[0]
    want = _reference(model, rows)
    for name in ("s", "s::B"):
        assert_index_equal(store.index(name), want.indexes[name])
        _assert_sums_close(store.neuron_sums(name), want.neuron_sums[name], exact=True)
    assert np.array_equal(store.tokens(), rows.numpy())


def test_a_budget_below_the_index_gives_many_runs_and_the_same_store(
    model: Any, rows: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits: list[int] = []
    real = store_build.StoreWriter.commit
    monkeypatch.setattr(store_build.StoreWriter, "commit", lambda w: commits.append(len(w._held)) or real(w))
    out = _build(model, rows, tmp_path / "small", memory_budget=SMALL_BUDGET)
    store = open_store(out)
    assert store.manifest["build"]["spec"]["chunk_rows"] == 2
    index_bytes = sum(store.index(n).nbytes() for n in ("s", "s::B"))
    assert index_bytes > SMALL_BUDGET / 3  # what a build may hold before it commits
    assert len([c for c in commits if c]) >= 3, commits  # several commits, each of several chunks' runs
    want = _reference(model, rows)
    for name in ("s", "s::B"):
        assert_index_equal(store.index(name), want.indexes[name])
        _assert_sums_close(store.neuron_sums(name), want.neuron_sums[name], exact=False)
    big = open_store(_build(model, rows, tmp_path / "big"))
    assert big.key == store.key


def test_tokens_from_a_npy_memmap(model: Any, rows: torch.Tensor, tmp_path: Path) -> None:
    path = tmp_path / "tokens.npy"
    np.save(path, rows.numpy().astype(np.int32))  # another dtype: the same ids, the same key
    out = _build(model, path, tmp_path / "st", memory_budget=SMALL_BUDGET)
    store = open_store(out)
    assert store.key == open_store(_build(model, rows, tmp_path / "from-tensor")).key
    assert np.array_equal(store.tokens(), rows.numpy())
    want = _reference(model, rows)
    assert_index_equal(store.index("s"), want.indexes["s"])


@pytest.mark.parametrize(
    ("tokens", "match"),
    [
        (torch.zeros(4, 8), "integer token ids"),
        (torch.zeros(8, dtype=torch.long), r"shape \[n_rows, seq_len\]"),
        (torch.full((4, 8), 10**6), r"rows 0\.\.3 span \[1000000, 1000000\]"),
    ],
)
def test_bad_tokens_are_refused_by_name(model: Any, tmp_path: Path, tokens: torch.Tensor, match: str) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        fc.build_index(model, {"s": _sae(0)}, tokens, tmp_path / "st", progress=False)


def _same_but_neuron_sums(got: Any, want: Any, path: str) -> None:
    """Equal to the bit, except the correlated neurons' numbers: within float64 rounding of sums
    added chunk by chunk (the same neurons)."""
    g, w = decoded(got), decoded(want)
    gn, wn = g["left"].pop("neurons"), w["left"].pop("neurons")
    assert_same_state(g, w, path)
    assert gn.keys() == wn.keys()
    for k in gn:
        np.testing.assert_allclose(gn[k], wn[k], rtol=1e-5, atol=1e-6, err_msg=f"{path}.left.neurons.{k}")


@pytest.mark.parametrize("budget", [None, SMALL_BUDGET])
def test_cards_from_a_store_equal_the_cards_of_the_in_memory_index(
    model: Any, rows: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int | None
) -> None:
    memory = Workspace(model, saes={"s": _sae(0)}, sae_b={"s": _sae(1)}, tokens=rows, progress=False, batch_size=8)
    memory.index("s")
    memory._final_resid = None  # hover effects by re-running the shown rows, as a store's cards do
    out = _build(model, rows, tmp_path / "st", memory_budget=budget)

    def no_pass(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a Workspace opened on a store runs no pass over the dataset")

    monkeypatch.setattr("featurecard.workspace.index_pass", no_pass)
    monkeypatch.setattr("featurecard.card.quick_cards.capture_pass", no_pass)
    monkeypatch.setattr(store_cache, "chunk_pass", no_pass)
    opened = Workspace.open(out, model, saes={"s": _sae(0)}, sae_b={"s": _sae(1)}, progress=False)
    for f in range(0, 48, 5):
        got, want = opened.card_state("s", f), memory.card_state("s", f)
        if budget is None:  # one chunk: every number to the bit
            assert_same_state(got, want, f"card {f}")
        else:
            _same_but_neuron_sums(got, want, f"card {f}")
    assert opened.search("s", "The model computes")["hits"] == memory.search("s", "The model computes")["hits"]


def test_open_reads_the_sae_folders_the_store_records(model: Any, rows: torch.Tensor, tmp_path: Path) -> None:
    save_saelens_folder(as_sae(_sae(0)), tmp_path / "sae")
    out = fc.build_index(model, {"s": tmp_path / "sae"}, rows, tmp_path / "st", progress=False)
    ws = Workspace.open(out, model, progress=False)
    assert sorted(ws.saes) == ["s"] and torch.equal(ws.tokens, rows)
    want = Workspace(model, saes={"s": _sae(0)}, tokens=rows, progress=False)
    assert ws.index("s").n_tokens == want.index("s").n_tokens
    assert torch.equal(ws.index("s").max_act, want.index("s").max_act)


def _changed_token(out: Path) -> None:
    a = np.load(out / "tokens.npy", mmap_mode="r+")
    a[3, 5] = (int(a[3, 5]) + 1) % 50
    a.flush()


def test_open_with_verify_refuses_another_model_sae_or_tokens(model: Any, rows: torch.Tensor, tmp_path: Path) -> None:
    out = _build(model, rows, tmp_path / "st")
    saes, sae_b = {"s": _sae(0)}, {"s": _sae(1)}
    Workspace.open(out, model, saes=saes, sae_b=sae_b, progress=False)  # the same inputs: accepted
    with pytest.raises(ValueError, match=r"SAE 's' differs") as e:
        Workspace.open(out, model, saes={"s": _sae(7)}, sae_b=sae_b, progress=False)
    assert "model" not in str(e.value) and "tokens" not in str(e.value)
    with pytest.raises(ValueError, match=r"encoder B of SAE 's' differs"):
        Workspace.open(out, model, saes=saes, sae_b={"s": _sae(7)}, progress=False)
    w = next(iter(model.parameters()))
    at = (0,) * w.ndim
    kept = w[at].clone()
    with torch.no_grad():
        w[at] += 1.0
        try:
            with pytest.raises(ValueError, match=r"the model's weights differ") as e:
                Workspace.open(out, model, saes=saes, sae_b=sae_b, progress=False)
            assert "SAE" not in str(e.value)
        finally:
            w[at] = kept  # exactly (w + 1 - 1 may round)
    _changed_token(out)
    with pytest.raises(ValueError, match=r"does not match .*: the tokens differ"):
        Workspace.open(out, model, saes=saes, sae_b=sae_b, progress=False)
    unverified = Workspace.open(out, model, saes=saes, sae_b=sae_b, verify=False, progress=False)
    assert int(unverified.tokens[3, 5]) != int(rows[3, 5])


def test_a_store_of_objects_needs_its_saes_given(model: Any, rows: torch.Tensor, tmp_path: Path) -> None:
    out = _build(model, rows, tmp_path / "st")
    with pytest.raises(ValueError, match=r"does not record a SAELens folder for \['s'\].*saes="):
        Workspace.open(out, model)
    m = json.loads((out / "manifest.json").read_text())
    assert m["about"]["sources"]["s"]["path"] is None and m["about"]["sources"]["s"]["hook_name"] == HOOK


def test_a_budget_small_for_the_encoders_output_splits_each_batch_and_gives_the_same_store(
    model: Any, rows: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dense activations of one encoder call stay within ENCODE_SHARE of the budget: 2 rows of 24
    tokens x 48 latents (9 KB) fit a 1/32 share of 300 kB, a batch of 8 rows does not."""
    from featurecard.card.store_chunk import ENCODE_SHARE
    from featurecard.core.sae import SparseAutoencoder

    budget = 300_000
    assert int(budget * ENCODE_SHARE) // (24 * 48 * 4) == 2
    shapes: list[int] = []
    real = SparseAutoencoder.encode
    monkeypatch.setattr(SparseAutoencoder, "encode", lambda sae, x: shapes.append(x.shape[0]) or real(sae, x))
    out = _build(model, rows, tmp_path / "split", memory_budget=budget)
    assert shapes and max(shapes) == 2  # batches of 8 rows, encoded 2 rows at a time
    store = open_store(out)
    want = _reference(model, rows)
    for name in ("s", "s::B"):
        assert_index_equal(store.index(name), want.indexes[name])
        _assert_sums_close(store.neuron_sums(name), want.neuron_sums[name], exact=False)
