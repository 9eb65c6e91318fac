"""A cache_dir is never a reason to fail: unreadable stores are rebuilt, unwritable folders kept in memory.

Each kind of bad store (a manifest of random bytes, empty, of another program or format; an
array truncated, missing or of another shape; a store of other sources under this key's name)
gets a warning that names its folder; the pass runs again, its cards equal those of a healthy
store, and the new store replaces the bad one (the next Workspace opens it without a pass). A
cache_dir that cannot be written (a path under a file; a write that fails with
PermissionError) warns and keeps the index in memory.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from faultkit import assert_same_state

import tiny
from featurecard import workspace
from featurecard.card import store_build, store_cache
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"


def _ws(model: Any, tokens: torch.Tensor, cache_dir: Path | None, d_sae: int = 48) -> Workspace:
    sae = {**tiny.random_sae_weights(64, d_sae, seed=5), "hook_name": HOOK}
    return Workspace(model, saes={"s": sae}, tokens=tokens, progress=False, cache_dir=cache_dir)


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The streamed passes that ran: "memory" (the in-memory pass) or "chunk" (a store's chunk)."""
    runs: list[str] = []
    real, chunk = workspace.index_pass, store_cache.chunk_pass
    monkeypatch.setattr(workspace, "index_pass", lambda *a, **k: runs.append("memory") or real(*a, **k))
    monkeypatch.setattr(store_cache, "chunk_pass", lambda *a, **k: runs.append("chunk") or chunk(*a, **k))
    return runs


def _manifest(root: Path) -> dict[str, Any]:
    m: dict[str, Any] = json.loads((root / "manifest.json").read_text())
    return m


def _edit_manifest(root: Path, **changes: Any) -> None:
    (root / "manifest.json").write_text(json.dumps(_manifest(root) | changes))


def _array(root: Path, name: str) -> Path:
    return root / _manifest(root)["sources"]["s"]["arrays"][name]["file"]


def _truncated(root: Path) -> None:
    f = _array(root, "values")
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _reshaped(root: Path) -> None:
    np.save(_array(root, "max_act"), np.zeros(3, dtype=np.float32))


BAD_STORES = {
    "corrupt-manifest": lambda r: (r / "manifest.json").write_bytes(b"\x80\x04garbage" * 100),
    "empty-manifest": lambda r: (r / "manifest.json").write_bytes(b""),
    "foreign-manifest": lambda r: (r / "manifest.json").write_text(json.dumps({"kind": "other", "x": 1})),
    "another-format": lambda r: _edit_manifest(r, format=999),
    "truncated-array": _truncated,
    "missing-array": lambda r: _array(r, "positions").unlink(),
    "reshaped-array": _reshaped,
    "other-sources": lambda r: _edit_manifest(r, sources={"not-s": _manifest(r)["sources"]["s"]}),
}


@pytest.mark.parametrize("kind", list(BAD_STORES))
def test_an_unreadable_store_is_rebuilt(
    model: Any, tokens: torch.Tensor, tmp_path: Path, kind: str, passes: list[str]
) -> None:
    want = _ws(model, tokens, tmp_path / "healthy").card_state("s", 3)
    _ws(model, tokens, tmp_path / "cache").index("s")
    (root,) = (tmp_path / "cache").glob("index-*")
    BAD_STORES[kind](root)
    passes.clear()
    ws = _ws(model, tokens, tmp_path / "cache")
    with pytest.warns(UserWarning, match=rf"index store {root} cannot be read.*indexing again"):
        got = ws.card_state("s", 3)
    assert_same_state(got, want, f"the card after a {kind} store")
    assert passes == ["chunk"]
    # rebuilt: the next Workspace reads the new store, with no pass and no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = _ws(model, tokens, tmp_path / "cache").card_state("s", 3)
    assert_same_state(again, want, "the card from the rebuilt store")
    assert passes == ["chunk"]


def test_a_cache_dir_under_a_file_keeps_the_index_in_memory(
    model: Any, tokens: torch.Tensor, tmp_path: Path, passes: list[int]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache_dir = blocker / "cache"
    want = _ws(model, tokens, None).card_state("s", 3)
    passes.clear()
    ws = _ws(model, tokens, cache_dir)
    with pytest.warns(UserWarning, match=rf"cannot write the index store {cache_dir}/index-.*stays in memory"):
        got = ws.card_state("s", 3)
    assert_same_state(got, want, "the card with an unwritable cache_dir")
    assert_same_state(ws.card_state("s", 3), want, "the card asked again")
    assert passes == ["memory"]  # kept in memory: one pass for both cards
    assert blocker.read_text() == "not a folder"


def test_a_write_that_fails_keeps_the_index_and_the_next_workspace_resumes(
    model: Any, tokens: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, passes: list[str]
) -> None:
    real = store_build._save_npz

    def refused(path: Path, arrays: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")  # a partial write, then the refusal
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(store_build, "_save_npz", refused)
    want = _ws(model, tokens, None).card_state("s", 3)
    passes.clear()
    ws = _ws(model, tokens, tmp_path)
    with pytest.warns(UserWarning, match=r"cannot write the index store .*PermissionError.*stays in memory"):
        got = ws.card_state("s", 3)
    assert_same_state(got, want, "the card when the store's write is refused")
    ws.card_state("s", 40)
    assert passes == ["chunk", "memory"]  # the store's pass failed at its write; then one pass in memory
    (root,) = tmp_path.glob("index-*")
    assert _manifest(root)["state"] == "building"
    # writes work again: the next Workspace finishes the store, and its card is that of a healthy store
    monkeypatch.setattr(store_build, "_save_npz", real)
    healthy = _ws(model, tokens, tmp_path / "healthy").card_state("s", 3)
    assert_same_state(_ws(model, tokens, tmp_path).card_state("s", 3), healthy, "the card from the finished store")
    assert _manifest(root)["state"] == "complete"
