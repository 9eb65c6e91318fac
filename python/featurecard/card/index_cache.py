"""The activation index on disk, keyed by a content hash, so a restarted kernel reopens it at once.

The key is a BLAKE2b digest of everything the streamed pass reads: the model's parameters and
buffers (names, dtypes, shapes and bytes), each source's name, kind, options and weights, the
tokens, and the pass's own settings. Change any of them and the key changes, so a stale index is
never reused; nothing is compared by file date or by name.

A cache file holds only tensors, integers and strings (``torch.save`` of plain dicts), and is
opened with ``weights_only=True``: loading it runs no pickled code. It is written to a
temporary name and renamed, so an interrupted write leaves no half file behind.

A cache is never a reason to fail: a file that cannot be read (corrupt, truncated, empty, or
not one of ours) is reported with its path and the pass runs again (its result replaces the
file), and a cache folder that cannot be written is reported and the index stays in memory
(:func:`open_pass`, :func:`keep_pass`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..core.files import replace_atomically
from ..core.sae import SparseAutoencoder
from .correlation import NeuronCorrelationSums
from .index import ActivationIndex
from .index_pass import PassResult

FORMAT = 1
_INDEX_FIELDS = [f.name for f in dataclasses.fields(ActivationIndex) if not f.name.startswith("_")]
_SUMS_FIELDS = ["n", "s_f", "s_ff", "s_x", "s_xx", "s_fx"]


def _feed(h: Any, value: Any) -> None:
    if isinstance(value, Tensor):
        t = value.detach().contiguous().cpu()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    else:
        h.update(repr(value).encode())


def pass_key(
    model: Any,
    sources: Mapping[str, SparseAutoencoder],
    tokens: Tensor,
    **settings: Any,
) -> str:
    """The content hash of one streamed pass (see the module docstring)."""
    h = hashlib.blake2b(digest_size=16)
    _feed(h, ("featurecard-index", FORMAT, sorted(settings.items())))
    for name, t in sorted(model.state_dict().items()):
        _feed(h, name)
        _feed(h, t)
    for name in sorted(sources):
        sae = sources[name]
        _feed(h, (name, type(sae).__name__))
        for f in dataclasses.fields(sae):
            if f.name != "metadata":
                _feed(h, f.name)
                _feed(h, getattr(sae, f.name))
    _feed(h, tokens)
    return h.hexdigest()


def save_pass(path: str | Path, result: PassResult) -> Path:
    """Write ``result`` to ``path`` (atomically)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "indexes": {n: {f: getattr(ix, f) for f in _INDEX_FIELDS} for n, ix in result.indexes.items()},
        "neuron_sums": {
            n: None if s is None else {f: getattr(s, f) for f in _SUMS_FIELDS} for n, s in result.neuron_sums.items()
        },
        "final_resid": result.final_resid,
    }
    replace_atomically(out, lambda tmp: torch.save(payload, tmp))
    return out


def load_pass(path: str | Path, device: torch.device | str = "cpu") -> PassResult:
    """Read a file written by :func:`save_pass` onto ``device``."""
    payload = torch.load(Path(path), map_location=device, weights_only=True)
    if not isinstance(payload, dict):
        raise ValueError(f"{path} holds a {type(payload).__name__}, not a featurecard index")
    if payload.get("format") != FORMAT:
        raise ValueError(f"{path} holds index format {payload.get('format')!r}; this featurecard reads {FORMAT}")
    indexes = {n: ActivationIndex(**fields) for n, fields in payload["indexes"].items()}
    sums: dict[str, NeuronCorrelationSums | None] = {}
    for n, fields in payload["neuron_sums"].items():
        if fields is None:
            sums[n] = None
            continue
        s = NeuronCorrelationSums(fields["s_f"].shape[0], fields["s_x"].shape[0], device=device)
        for f in _SUMS_FIELDS:
            setattr(s, f, fields[f])
        sums[n] = s
    return PassResult(indexes, sums, payload["final_resid"])


def open_pass(path: Path, device: torch.device | str, names: Collection[str]) -> PassResult | None:
    """The pass stored at ``path`` holding ``names``, or None (with a warning naming the file and
    why) where it is missing, unreadable or not such a pass: the caller runs the pass again."""
    if not path.is_file():
        return None
    try:
        with warnings.catch_warnings():  # torch's own notes on a foreign file: ours below says it all
            warnings.simplefilter("ignore")
            result = load_pass(path, device)
        missing = sorted(set(names) - set(result.indexes))
        if missing:
            raise ValueError(f"it holds no index of {missing}")
    except Exception as e:  # any unreadable file means: index again (KeyboardInterrupt passes)
        why = (str(e).strip().splitlines() or [""])[0][:200]
        warnings.warn(
            f"featurecard: the index cache {path} cannot be read ({type(e).__name__}: {why}); "
            "indexing again, and the new index replaces it",
            stacklevel=3,
        )
        return None
    return result


def keep_pass(path: Path, result: PassResult) -> bool:
    """:func:`save_pass`, or a warning naming the file where it cannot be written (the index
    then stays in memory only). Whether it was written."""
    try:
        save_pass(path, result)
    except (OSError, RuntimeError) as e:  # torch.save reports some write failures as RuntimeError
        warnings.warn(
            f"featurecard: cannot write the index cache {path} ({type(e).__name__}: {e}); "
            "the index stays in memory for this Workspace only",
            stacklevel=3,
        )
        return False
    return True
