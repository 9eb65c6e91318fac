"""Labels: set, removed, saved beside the index and read back by a fresh Workspace; refusals."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

import tiny
from featurecard.overview.labels import FILE_NAME, LabelBook
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"
HOSTILE = "<img src=x onerror=alert(1)>"


def _ws(model: Any, tokens: torch.Tensor, d_sae: int = 48, **kw: Any) -> Workspace:
    sae = {**tiny.random_sae_weights(64, d_sae, seed=5), "hook_name": HOOK}
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False, **kw)


def test_labels_round_trip_through_a_cache_dir(model: Any, tokens: torch.Tensor, tmp_path: Path) -> None:
    ws = _ws(model, tokens, cache_dir=tmp_path)
    ws.label("mlp0", 3, HOSTILE)
    ws.label("mlp0", 7, "fires on ‘the’ ↵")
    ws.label("mlp0", 9, "gone soon")
    ws.label("mlp0", 9, "")
    assert ws.labels("mlp0") == {3: HOSTILE, 7: "fires on ‘the’ ↵"}
    saved = json.loads((tmp_path / FILE_NAME).read_text(encoding="utf-8"))
    assert saved["saes"]["mlp0"] == {"hook": HOOK, "d_sae": 48, "labels": {"3": HOSTILE, "7": "fires on ‘the’ ↵"}}
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary file, renamed
    fresh = _ws(model, tokens, cache_dir=tmp_path)
    assert fresh.labels("mlp0") == {3: HOSTILE, 7: "fires on ‘the’ ↵"}


def test_labels_of_a_store_opened_by_path(model: Any, tokens: torch.Tensor, tmp_path: Path) -> None:
    ws = _ws(model, tokens, cache_dir=tmp_path)
    ws.index("mlp0")
    (store,) = tmp_path.glob("index-*")
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": HOOK}
    opened = Workspace.open(store, model, saes={"mlp0": sae}, progress=False)
    opened.label("mlp0", 2, "beside the store")
    assert json.loads((store / FILE_NAME).read_text())["saes"]["mlp0"]["labels"] == {"2": "beside the store"}
    again = Workspace.open(store, model, saes={"mlp0": sae}, progress=False)
    assert again.labels("mlp0") == {2: "beside the store"}


def test_without_a_folder_labels_live_in_memory(model: Any, tokens: torch.Tensor, tmp_path: Path) -> None:
    ws = _ws(model, tokens)
    ws.label("mlp0", 1, "x")
    assert ws.labels("mlp0") == {1: "x"}
    assert _ws(model, tokens).labels("mlp0") == {}


def test_labels_of_another_sae_under_the_same_name_are_not_shown(
    model: Any, tokens: torch.Tensor, tmp_path: Path
) -> None:
    _ws(model, tokens, cache_dir=tmp_path).label("mlp0", 1, "old")
    other = _ws(model, tokens, d_sae=40, cache_dir=tmp_path)
    assert other.labels("mlp0") == {}
    with pytest.warns(UserWarning, match="held labels of another SAE called 'mlp0'"):
        other.label("mlp0", 2, "new")
    assert _ws(model, tokens, d_sae=40, cache_dir=tmp_path).labels("mlp0") == {2: "new"}


def test_labels_another_kernel_saved_are_kept(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    one = LabelBook(path, {"a": (HOOK, 10)})
    two = LabelBook(path, {"a": (HOOK, 10)})
    one.set("a", 1, "from one")
    two.set("a", 2, "from two")
    assert LabelBook(path, {"a": (HOOK, 10)}).labels("a") == {1: "from one", 2: "from two"}


def test_bad_labels_are_refused_with_the_accepted_values(model: Any, tokens: torch.Tensor) -> None:
    ws = _ws(model, tokens)
    with pytest.raises(IndexError, match=r"accepted 0 \.\. 47"):
        ws.label("mlp0", 48, "x")
    with pytest.raises(TypeError, match="a label is a str"):
        ws.label("mlp0", 1, 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most 2000 characters"):
        ws.label("mlp0", 1, "x" * 2001)
    with pytest.raises(KeyError, match="no SAE called 'nope'"):
        ws.label("nope", 1, "x")


def test_an_unreadable_file_is_named_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read the labels file"):
        LabelBook(path, {"a": (HOOK, 10)})
    assert path.read_text() == "{not json"


def test_watchers_hear_of_changes_and_are_held_weakly() -> None:
    book = LabelBook(None, {"a": (HOOK, 10)})
    heard: list[str] = []

    class Listener:
        def on(self, name: str) -> None:
            heard.append(name)

    listener = Listener()
    book.watch(listener.on)
    book.set("a", 1, "x")
    del listener
    book.set("a", 2, "y")
    assert heard == ["a"]
    lock_free = threading.Thread(target=book.set, args=("a", 3, "z"))
    lock_free.start()
    lock_free.join(10)
    assert book.labels("a") == {1: "x", 2: "y", 3: "z"}
