"""An offline English corpus made from text that every Python install already has.

Sources, in this fixed order:

1. ``pydoc_data.topics`` — the Python language reference that ``help()`` shows (standard library);
2. docstrings of the standard library (``test/``, ``lib2to3``, ``idlelib``, ``site-packages``
   and friends skipped);
3. with ``sources="all"``: docstrings of the installed ``numpy``, ``torch`` and ``transformers``,
   whichever are importable. Their source folders are found with
   ``importlib.util.find_spec`` and each ``.py`` file is parsed with :mod:`ast`; nothing is
   imported or executed.

Docstrings are cut into paragraphs at blank lines and cleaned: doctest lines (``>>>`` and
``...``), code fences and their contents, reST directives (``.. note::``) and lines that are
mostly symbols are dropped, and lines are stripped of their indentation. Paragraphs are then
de-duplicated (transformers repeats the same ``Args:`` blocks thousands of times), keeping the
first occurrence. Files are visited in sorted path order, so the result is deterministic for a
given set of installed versions; it follows those versions, which :func:`corpus_fingerprint`
summarises cheaply (without reading the files) for cache keys.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import multiprocessing
import re
import sys
import sysconfig
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

Sources = Literal["stdlib", "all"]

#: Bump when the extraction or cleaning rules change: it is part of every cache key.
CORPUS_VERSION = 1
THIRD_PARTY: tuple[str, ...] = ("numpy", "torch", "transformers")
_SKIP_DIRS = frozenset(
    {
        "test",
        "tests",
        "lib2to3",
        "idlelib",
        "site-packages",
        "dist-packages",
        "__pycache__",
        "turtledemo",
        "testing",
        "_vendor",
        "vendor",
        "third_party",
    }
)
_DIRECTIVE = re.compile(r"^\.\.\s+[\w:-]+::|^\.\.\s+_[^:]+:|^\.\.\s*$")
_MIN_PARAGRAPH_CHARS = 24


_LETTERS_AND_SPACES = re.compile(r"[^\W\d_]| ")


def _mostly_symbols(line: str) -> bool:
    """Under 60% letters and spaces: tables, rules, code."""
    others = len(_LETTERS_AND_SPACES.sub("", line))
    return others > 0.4 * len(line)


def clean_paragraphs(text: str) -> list[str]:
    """Cut one docstring (or topic) into cleaned paragraphs."""
    paragraphs: list[str] = []
    current: list[str] = []
    in_fence = False
    in_directive = False

    def flush() -> None:
        if current:
            para = "\n".join(current).strip()
            if len(para) >= _MIN_PARAGRAPH_CHARS and not _mostly_symbols(para.replace("\n", " ")):
                paragraphs.append(para)
            current.clear()

    for raw in text.expandtabs().splitlines():
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            in_fence = not in_fence
            flush()
            continue
        if in_fence:
            continue
        if not line:
            flush()
            in_directive = False
            continue
        if _DIRECTIVE.match(line):
            # A directive's indented body (code blocks, tables) follows up to the next blank line.
            flush()
            in_directive = True
            continue
        if in_directive:
            continue
        if line.startswith((">>>", "...", "$ ", "%")) or _mostly_symbols(line):
            continue
        current.append(line)
    flush()
    return paragraphs


def _docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, UnicodeDecodeError, OSError, RecursionError):
        return []
    # Walk statements only (not expressions): docstrings live in module, class and def bodies,
    # possibly nested in if/try/with blocks.
    out: list[str] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                out.append(doc)
        for name in ("body", "orelse", "finalbody", "handlers"):
            children = getattr(node, name, None)
            if isinstance(children, list):
                stack.extend(reversed([c for c in children if isinstance(c, ast.stmt | ast.excepthandler)]))
    return out


def _py_files(root: Path) -> list[Path]:
    files = [p for p in root.rglob("*.py") if not _SKIP_DIRS.intersection(p.relative_to(root).parts[:-1])]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def package_dir(name: str) -> Path | None:
    """The source folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def source_roots(sources: Sources) -> list[tuple[str, Path]]:
    """The folders whose docstrings we read, in corpus order."""
    roots = [("stdlib", stdlib_dir())]
    if sources == "all":
        roots += [(name, d) for name in THIRD_PARTY if (d := package_dir(name)) is not None]
    return roots


def _file_paragraphs(path: Path) -> list[str]:
    return [para for doc in _docstrings(path) for para in clean_paragraphs(doc)]


def _fork_pool(processes: int) -> Any:
    """A fork pool (workers inherit the loaded modules and import nothing), or None where fork is missing."""
    if processes < 2 or "fork" not in multiprocessing.get_all_start_methods() or sys.platform == "darwin":
        return None
    return multiprocessing.get_context("fork").Pool(processes)


def iter_paragraphs(sources: Sources = "all", processes: int = 2) -> Iterator[str]:
    """Every cleaned paragraph, in corpus order, before de-duplication.

    Parsing dominates (``ast.parse`` of ~100 MB of source for ``"all"``); ``processes`` workers share
    it. ``Pool.imap`` keeps file order, so the output does not depend on the number of workers.
    """
    from pydoc_data.topics import topics

    for key in sorted(topics):
        yield from clean_paragraphs(topics[key])
    files = [path for _, root in source_roots(sources) for path in _py_files(root)]
    pool = _fork_pool(processes)
    if pool is None:
        for path in files:
            yield from _file_paragraphs(path)
        return
    try:
        for paras in pool.imap(_file_paragraphs, files, chunksize=8):
            yield from paras
    finally:
        pool.terminate()
        pool.join()


def build_corpus(sources: Sources = "all", max_bytes: int | None = None, processes: int = 2) -> list[str]:
    """De-duplicated paragraphs, in corpus order, stopping once ``max_bytes`` (UTF-8) are collected."""
    seen: set[bytes] = set()
    out: list[str] = []
    total = 0
    for para in iter_paragraphs(sources, processes):
        key = hashlib.blake2b(para.encode(), digest_size=16).digest()
        if key in seen:
            continue
        seen.add(key)
        size = len(para.encode()) + 1
        if max_bytes is not None and total + size > max_bytes:
            break
        out.append(para)
        total += size
    return out


def corpus_sha256(paragraphs: list[str]) -> str:
    h = hashlib.sha256()
    for p in paragraphs:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()


def _dist_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def corpus_fingerprint(sources: Sources, max_bytes: int | None) -> dict[str, object]:
    """What the corpus depends on, cheap to compute: the key for caches (no file is read)."""
    fp: dict[str, object] = {
        "corpus_version": CORPUS_VERSION,
        "python": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "sources": sources,
        "max_bytes": max_bytes,
    }
    if sources == "all":
        fp["packages"] = {name: _dist_version(name) for name in THIRD_PARTY if package_dir(name) is not None}
    return fp


__all__ = [
    "CORPUS_VERSION",
    "Sources",
    "build_corpus",
    "clean_paragraphs",
    "corpus_fingerprint",
    "corpus_sha256",
    "iter_paragraphs",
    "source_roots",
]
