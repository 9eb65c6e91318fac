"""Labels of latents: a short text per (SAE, latent), set from Python or from the overview widget.

``Workspace.label(name, feature, text)`` sets one (``""`` removes it). The overview's table
shows them and searches them; every open overview redraws when one changes; exports carry them.

Where a Workspace has a ``cache_dir`` (or was opened from a store), its labels live in
``labels.json`` beside the index (the ``cache_dir``, or the store's folder), so a later kernel
opens them with the Workspace. The file is rewritten whole or not at all
(:func:`~featurecard.core.files.replace_atomically`), re-read just before each write so that
labels another kernel wrote meanwhile are kept. Without a folder, labels live in memory.

The file::

    {"featurecard_labels": 1,
     "saes": {"mlp0": {"hook": "blocks.0.mlp.hook_post", "d_sae": 4096, "labels": {"7": "text"}}}}

An SAE's labels are keyed by its name in the Workspace and checked against its hook and size:
a file whose entry for that name has another hook or ``d_sae`` is about another SAE, so its
labels are not shown (and a new label replaces that entry, with a warning).

Torch-free.
"""

from __future__ import annotations

import json
import threading
import warnings
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..core.files import replace_atomically

FILE_NAME = "labels.json"
FORMAT = 1
MAX_LABEL = 2000  # characters


def check_label(text: object) -> str:
    """A label's text: a str of at most :data:`MAX_LABEL` characters ('' removes the label)."""
    if not isinstance(text, str):
        raise TypeError(f"a label is a str ('' removes it); got {text!r} ({type(text).__name__})")
    if len(text) > MAX_LABEL:
        raise ValueError(f"a label has at most {MAX_LABEL} characters; got {len(text)}")
    return text


class LabelBook:
    """The labels of a Workspace's SAEs: in memory, and in ``path`` when given (see the module docstring).

    ``saes`` maps each SAE's name to ``(hook_name, d_sae)``, what its labels are checked against.
    """

    def __init__(self, path: Path | None, saes: Mapping[str, tuple[str, int]]) -> None:
        self.path = path
        self.saes = dict(saes)
        self._lock = threading.Lock()
        self._labels: dict[str, dict[int, str]] = {n: {} for n in self.saes}
        self._watchers: list[weakref.WeakMethod[Callable[[str], None]]] = []
        if path is not None and path.is_file():
            self._labels.update(self._read_matching(_read(path)))

    def labels(self, name: str) -> dict[int, str]:
        """The labels of SAE ``name`` (latent -> text), a copy."""
        with self._lock:
            return dict(self._labels.get(name, {}))

    def set(self, name: str, feature: int, text: str) -> None:
        """Set (or with ``""`` remove) the label of latent ``feature`` of SAE ``name``; saved, then watchers told."""
        text = check_label(text)
        if name not in self.saes:
            raise KeyError(f"no SAE called {name!r}; this Workspace has {sorted(self.saes)}")
        with self._lock:
            if self.path is not None:  # labels another kernel saved meanwhile are kept
                self._labels.update(self._read_matching(_read(self.path) if self.path.is_file() else {}))
            mine = self._labels.setdefault(name, {})
            if text:
                mine[feature] = text
            else:
                mine.pop(feature, None)
            if self.path is not None:
                self._write(self.path)
        self._tell(name)

    def watch(self, callback: Callable[[str], None]) -> None:
        """Call the bound method ``callback(name)`` after a label of SAE ``name`` changes (held weakly)."""
        self._watchers.append(weakref.WeakMethod(callback))

    def _tell(self, name: str) -> None:
        alive = [w for w in self._watchers if w() is not None]
        self._watchers[:] = alive
        for w in alive:
            fn = w()
            if fn is not None:
                fn(name)

    def _read_matching(self, data: Mapping[str, Any]) -> dict[str, dict[int, str]]:
        """The labels of ``data`` (a file's JSON) for the SAEs of this Workspace whose hook and size match."""
        out: dict[str, dict[int, str]] = {}
        for name, entry in (data.get("saes") or {}).items():
            if name in self.saes and _entry_of(entry) == self.saes[name]:
                out[name] = {int(k): str(v) for k, v in entry.get("labels", {}).items() if str(v)}
        return out

    def _write(self, path: Path) -> None:
        data = _read(path) if path.is_file() else {}
        saes: dict[str, Any] = dict(data.get("saes") or {})
        for name, labels in self._labels.items():
            old = saes.get(name)
            if old is not None and _entry_of(old) != self.saes[name] and labels:
                warnings.warn(
                    f"featurecard: {path} held labels of another SAE called {name!r} "
                    f"({_entry_of(old)}, not {self.saes[name]}); they are replaced",
                    stacklevel=4,
                )
            if labels or (old is not None and _entry_of(old) == self.saes[name]):
                hook, d_sae = self.saes[name]
                saes[name] = {"hook": hook, "d_sae": d_sae, "labels": {str(k): v for k, v in sorted(labels.items())}}
        text = json.dumps({"featurecard_labels": FORMAT, "saes": saes}, ensure_ascii=False, indent=1)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _entry_of(entry: Any) -> tuple[str, int] | None:
    if not isinstance(entry, Mapping):
        return None
    return str(entry.get("hook")), int(entry.get("d_sae", -1))


def _read(path: Path) -> dict[str, Any]:
    """The file's JSON; an unreadable file is an error naming it (never silently replaced)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read the labels file {path}: {e}; fix or remove it") from e
    if not isinstance(data, dict) or data.get("featurecard_labels") != FORMAT:
        raise ValueError(f"{path} is not a featurecard labels file (format {FORMAT})")
    return data
