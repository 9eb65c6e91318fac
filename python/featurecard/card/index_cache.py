"""The content key of an index: a hash of everything the streamed pass reads, so a store
(card.store_cache) is reused only for the same content.

The key is a BLAKE2b digest of the digests of each thing the pass reads (:func:`content_digests`):
the model's parameters and buffers (names, dtypes, shapes and bytes), each source's name, kind,
options and weights, the tokens (as int64 ids, read by blocks of rows), and the pass's own
settings. Change any of them and the key changes, so a stale index is never reused; nothing is
compared by file date or by name. A store keeps the digests too, so ``Workspace.open`` can name
what differs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..core.sae import SparseAutoencoder

FORMAT = 1


def _feed(h: Any, value: Any) -> None:
    if isinstance(value, Tensor):
        t = value.detach().contiguous().cpu()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    else:
        h.update(repr(value).encode())


def _digest(*values: Any) -> str:
    h = hashlib.blake2b(digest_size=16)
    for v in values:
        _feed(h, v)
    return h.hexdigest()


def model_digest(model: Any) -> str:
    """The model's parameters and buffers: names, dtypes, shapes and bytes."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in sorted(model.state_dict().items()):
        _feed(h, name)
        _feed(h, t)
    return h.hexdigest()


def source_digest(name: str, sae: SparseAutoencoder) -> str:
    """One source: its name, kind, options and weights (not its metadata)."""
    h = hashlib.blake2b(digest_size=16)
    _feed(h, (name, type(sae).__name__))
    for f in dataclasses.fields(sae):
        if f.name != "metadata":
            _feed(h, f.name)
            _feed(h, getattr(sae, f.name))
    return h.hexdigest()


def tokens_digest(tokens: Tensor | np.ndarray, block_rows: int = 4096) -> str:
    """The token ids as int64, read by blocks of rows (a memory-mapped array larger than memory
    is hashed without being loaded; a tensor and an array of the same ids hash the same)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"T{torch.int64}{tuple(int(n) for n in tokens.shape)}".encode())
    for r in range(0, int(tokens.shape[0]), block_rows):
        part = tokens[r : r + block_rows]
        a = part.detach().cpu().numpy() if isinstance(part, Tensor) else np.asarray(part)
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()


def content_digests(
    model: Any, sources: Mapping[str, SparseAutoencoder], tokens: Tensor | np.ndarray, **settings: Any
) -> dict[str, Any]:
    """The digest of each thing a pass reads: its settings, the model, each source, the tokens."""
    return {
        "settings": _digest(("featurecard-index", FORMAT, sorted(settings.items()))),
        "model": model_digest(model),
        "sources": {name: source_digest(name, sources[name]) for name in sorted(sources)},
        "tokens": tokens_digest(tokens),
    }


def key_of(digests: Mapping[str, Any]) -> str:
    """The content key of :func:`content_digests`."""
    return _digest(json.dumps(digests, sort_keys=True))


def pass_key(
    model: Any,
    sources: Mapping[str, SparseAutoencoder],
    tokens: Tensor | np.ndarray,
    **settings: Any,
) -> str:
    """The content hash of one streamed pass (see the module docstring)."""
    return key_of(content_digests(model, sources, tokens, **settings))
