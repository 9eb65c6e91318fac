"""card.store_ray without a cluster: which builds go to Ray, bad workers/ray values refused by
name, the shards of a build's chunks, and Ray missing named as the extra to install (before any
slow work, from Python and from the CLI). The builds on a cluster: tests/integration/test_ray_build.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import featurecard as fc
from featurecard.card.store_ray import check_workers, shards
from featurecard.cli import main


@pytest.mark.parametrize(
    ("workers", "ray", "on_ray"),
    [(None, None, False), (1, None, False), (2, None, True), (None, "auto", True), (1, "10.0.0.1:6379", True)],
)
def test_which_builds_run_on_ray(workers: int | None, ray: str | None, on_ray: bool) -> None:
    assert check_workers(workers, ray) is on_ray


@pytest.mark.parametrize(
    ("workers", "ray", "match"),
    [(0, None, "workers 0: give an int >= 1"), (True, None, "workers True"), (2.0, None, "workers 2.0"),
     (None, "", "ray '': give 'auto' or a Ray cluster's address"), (None, 6379, "ray 6379")],
)  # fmt: skip
def test_bad_workers_or_ray_are_refused_by_name(workers: Any, ray: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_workers(workers, ray)


def test_shards_are_contiguous_balanced_and_cover_the_chunks_once() -> None:
    todo = [(r, r + 2) for r in range(0, 14, 2)]  # 7 chunks
    got = shards(todo, 3)
    assert got == [todo[0:2], todo[2:4], todo[4:7]]
    assert shards(todo, 10) == [[c] for c in todo]  # never an empty shard
    assert shards(todo, 1) == [todo] and shards([], 4) == []


def test_without_ray_a_build_with_workers_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'featurecard\[ray\]'"):
        fc.build_index(object(), {}, tmp_path / "no-tokens.npy", tmp_path / "st", workers=2)  # fails first


def test_without_ray_the_cli_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    args = ["index", "--model", str(tmp_path), "--sae", str(tmp_path), "--tokens", str(tmp_path / "t.npy"),
            "--out", str(tmp_path / "st"), "--workers", "2"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("featurecard: error:") and "featurecard[ray]" in err[0], err


def test_the_package_never_imports_ray_unless_a_build_uses_it() -> None:
    code = "import sys, featurecard, featurecard.cli, featurecard.card.store_pass; print('ray' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert r.stdout.strip() == "False"
