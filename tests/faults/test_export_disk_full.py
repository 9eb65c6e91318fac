"""export_html on a full disk: an existing file is replaced whole or left exactly as it was.

The disk is "full" when the page is half written: ``io.open`` (what ``Path.write_text`` and
``os.fdopen`` both go through) hands out files whose ``write`` stores half of what it is given
and then raises ENOSPC, as a real full disk does after a partial write.
"""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path
from typing import Any

import pytest

from featurecard.core.export import to_html, write_html

STATE = {"feature": 3, "source": "sae"}


class HalfWrite:
    """A text file whose first write stores half its text, then fails as a full disk does."""

    def __init__(self, f: Any) -> None:
        self._f = f

    def write(self, text: str) -> int:
        self._f.write(text[: len(text) // 2])
        self._f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> HalfWrite:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = io.open

    def opener(file: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
        f = real_open(file, mode, *a, **k)
        return HalfWrite(f) if "w" in mode and "b" not in mode else f

    monkeypatch.setattr(io, "open", opener)


def test_a_full_disk_leaves_the_old_file_whole(tmp_path: Path, full_disk: None) -> None:
    out = tmp_path / "card.html"
    old = "<!doctype html><p>the card exported yesterday</p>\n" * 200
    out.write_bytes(old.encode())  # write_bytes: binary mode, not failed by the fixture
    with pytest.raises(OSError) as e:
        write_html(out, [STATE], title="today")
    assert e.value.errno == errno.ENOSPC
    assert out.read_bytes() == old.encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.html"]  # no temporary file left


def test_a_full_disk_leaves_no_file_when_there_was_none(tmp_path: Path, full_disk: None) -> None:
    with pytest.raises(OSError):
        write_html(tmp_path / "new.html", [STATE])
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_while_writing_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "card.html"
    out.write_text("old")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_html(out, [STATE])
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.html"]


def test_a_good_write_replaces_the_file_and_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "card.html"
    out.write_text("old")
    out.chmod(0o640)
    assert write_html(out, [STATE], title="t") == out
    assert out.read_text(encoding="utf-8") == to_html([STATE], title="t")
    assert out.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.html"]


def test_a_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        out = write_html(tmp_path / "new.html", [STATE])
    finally:
        os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o644


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    target = tmp_path / "real.html"
    target.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    write_html(link, [STATE])
    assert link.is_symlink() and target.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_a_directory_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match=f"export path {tmp_path} is a directory"):
        write_html(tmp_path, [STATE])
