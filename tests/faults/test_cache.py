"""A cache_dir is never a reason to fail: unreadable files are rebuilt, unwritable folders kept in memory.

Each kind of bad file (random bytes, a truncated real file, an empty file, a file of another
program, a file of ours that holds other indexes) gets a warning that names its path; the pass
runs again, its cards equal those of a Workspace without a cache, and the new file replaces the
bad one (the next Workspace opens it without a pass). A cache_dir that cannot be written (a
path under a file; a write that fails with PermissionError) warns and keeps the index in memory.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from faultkit import assert_same_state

import tiny
from featurecard import workspace
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"


def _ws(model: Any, tokens: torch.Tensor, cache_dir: Path | None, d_sae: int = 48) -> Workspace:
    sae = {**tiny.random_sae_weights(64, d_sae, seed=5), "hook_name": HOOK}
    return Workspace(model, saes={"s": sae}, tokens=tokens, progress=False, cache_dir=cache_dir)


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many streamed passes ran."""
    runs: list[int] = []
    real = workspace.index_pass
    monkeypatch.setattr(workspace, "index_pass", lambda *a, **k: runs.append(1) or real(*a, **k))
    return runs


def _truncated(path: Path, model: Any, tokens: torch.Tensor) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _other_indexes(path: Path, model: Any, tokens: torch.Tensor) -> None:
    """A real cache file of ours whose indexes are of another source, under this pass's name."""
    other = path.parent / "other"
    _ws(model, tokens, other, d_sae=16).index("s")
    (found,) = other.glob("index-*.pt")
    data = torch.load(found, weights_only=True)
    data["indexes"] = {"not-s": data["indexes"]["s"]}
    torch.save(data, path)


BAD_FILES = {
    "corrupt": lambda p, _m, _t: p.write_bytes(b"\x80\x04garbage" * 100),
    "truncated": _truncated,
    "empty": lambda p, _m, _t: p.write_bytes(b""),
    "foreign": lambda p, _m, _t: torch.save(torch.arange(10), p),
    "another-format": lambda p, _m, _t: torch.save({"format": 999, "indexes": {}}, p),
    "other-indexes": _other_indexes,
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_an_unreadable_cache_file_is_rebuilt(
    model: Any, tokens: torch.Tensor, tmp_path: Path, kind: str, passes: list[int]
) -> None:
    want = _ws(model, tokens, None).card_state("s", 3)
    _ws(model, tokens, tmp_path).index("s")
    (path,) = tmp_path.glob("index-*.pt")
    BAD_FILES[kind](path, model, tokens)
    passes.clear()
    ws = _ws(model, tokens, tmp_path)
    with pytest.warns(UserWarning, match=rf"index cache {path}.* cannot be read.*indexing again"):
        got = ws.card_state("s", 3)
    assert_same_state(got, want, f"the card after a {kind} cache file")
    assert len(passes) == 1
    # rebuilt: the next Workspace reads the new file, with no pass and no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = _ws(model, tokens, tmp_path).card_state("s", 3)
    assert_same_state(again, want, "the card from the rebuilt cache file")
    assert len(passes) == 1


def test_a_cache_dir_under_a_file_keeps_the_index_in_memory(
    model: Any, tokens: torch.Tensor, tmp_path: Path, passes: list[int]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache_dir = blocker / "cache"
    want = _ws(model, tokens, None).card_state("s", 3)
    passes.clear()
    ws = _ws(model, tokens, cache_dir)
    with pytest.warns(UserWarning, match=rf"cannot write the index cache {cache_dir}/index-.*stays in memory"):
        got = ws.card_state("s", 3)
    assert_same_state(got, want, "the card with an unwritable cache_dir")
    assert_same_state(ws.card_state("s", 3), want, "the card asked again")
    assert len(passes) == 1  # kept in memory: one pass for both cards
    assert blocker.read_text() == "not a folder"


def test_a_write_that_fails_leaves_no_file_and_keeps_the_index(
    model: Any, tokens: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, passes: list[int]
) -> None:
    from featurecard.card import index_cache

    def refused(obj: Any, f: Any) -> None:
        Path(f).write_bytes(b"half")  # a partial write, then the refusal
        raise PermissionError(13, "Permission denied", str(f))

    monkeypatch.setattr(index_cache.torch, "save", refused)
    want = _ws(model, tokens, None).card_state("s", 3)
    passes.clear()
    ws = _ws(model, tokens, tmp_path)
    with pytest.warns(UserWarning, match=r"cannot write the index cache .*PermissionError.*stays in memory"):
        got = ws.card_state("s", 3)
    assert_same_state(got, want, "the card when the cache write is refused")
    assert list(tmp_path.iterdir()) == []  # neither a cache file nor a temporary one
    ws.card_state("s", 40)
    assert len(passes) == 1
