"""Files replaced whole or not at all (exports, the index cache).

:func:`replace_atomically` writes through a temporary file in the target's folder, flushes it
to disk and renames it over the target (:func:`os.replace`). A failure on the way (a full disk,
a refused write, Ctrl-C) removes the temporary file and leaves an existing target untouched.
Temporary names are unique (``O_EXCL``), so two writers of one target never share one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path


def replace_atomically(out: Path, write: Callable[[Path], object]) -> None:
    """Replace ``out`` by what ``write(tmp)`` writes to a temporary path beside it; a replaced
    file keeps its permissions, a new one gets the usual ones (the umask applies)."""
    tmp = _create_temp(out)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if out.exists():
            tmp.chmod(stat.S_IMODE(out.stat().st_mode))
        tmp.replace(out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _create_temp(out: Path) -> Path:
    # os.open with mode 0o666 gives a new file the usual permissions (the umask applies), unlike mkstemp's 0o600.
    for _ in range(100):
        tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {out}")
