"""The package, notebooks, benchmarks and tests stand alone: no file cites a document outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# A path that leaves the checkout (a parent's "shared" folder, the machine's work folder, a research
# note by path or by name) or a section sign citing such a note; written in pieces so this file does not
# match itself.
OUTSIDE = re.compile(
    r"\.\./" + "shared|/wo" + "rk/|" + "shared" + r"/research|\bresearch/[\w-]+\.md|peers-\w+\.md|\u00a7"
)

# Pictures cite nothing, and their bytes read as text can hold a section sign (0xC2 0xA7).
BINARY = {".png"}


def tracked(*folders: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *folders], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / line for line in out.stdout.splitlines() if line]


def test_the_package_benchmarks_and_tests_cite_nothing_outside_the_repository() -> None:
    bench = REPO / "benchmarks"
    files = [*tracked("benchmarks", "tests", "python", "notebooks")]
    files += [*bench.rglob("*.md"), *bench.rglob("*.py"), *bench.rglob("*.sh")]
    assert any(f.name == "setup.sh" for f in files)
    hits = []
    for f in dict.fromkeys(files):
        if not f.is_file() or f.suffix in BINARY:
            continue
        for n, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{f.relative_to(REPO)}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)
