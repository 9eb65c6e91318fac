"""The content key of an index: a hash of everything the streamed pass reads, so a store
(card.store_cache) is reused only for the same content.

The key is a BLAKE2b digest of the digests of each thing the pass reads (:func:`content_digests`):
the model's parameters and buffers (names, dtypes, shapes and bytes), each source's name, kind,
options and weights, the tokens (as int64 ids, read by blocks of rows), and the pass's own
settings. A tensor's bytes are hashed with SHA-256 (hardware-accelerated on current x86 and
ARM CPUs: 0.34 s for GPT-2 small's 652 MB here, BLAKE2b took 0.48 s), the tensors of a model
or an SAE on :data:`HASH_THREADS` threads at once (hashlib releases the GIL), read in place.
Change any of them and the key changes, so a stale index is never reused; nothing is compared
by file date or by name. A store keeps the digests too, so ``Workspace.open`` can name
what differs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..core.sae import SparseAutoencoder

FORMAT = 2  # 2: tensors hashed with SHA-256, each on its own (keys of format 1 do not match)
HASH_THREADS = 2


def _tensor_digest(value: Tensor) -> str:
    t = value.detach().contiguous().cpu()
    h = hashlib.sha256(f"T{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().data)  # read in place: no copy of the bytes
    return h.hexdigest()


def _tensor_digests(tensors: list[Tensor]) -> list[str]:
    """Each tensor's digest, the largest first across :data:`HASH_THREADS` threads."""
    if len(tensors) < 2 or HASH_THREADS < 2:
        return [_tensor_digest(t) for t in tensors]
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        order = sorted(range(len(tensors)), key=lambda i: -tensors[i].numel() * tensors[i].element_size())
        done = dict(zip(order, pool.map(_tensor_digest, [tensors[i] for i in order]), strict=True))
    return [done[i] for i in range(len(tensors))]


def _feed(h: Any, value: Any) -> None:
    h.update((_tensor_digest(value) if isinstance(value, Tensor) else repr(value)).encode())


def _feed_items(h: Any, items: list[tuple[str, Any]]) -> None:
    """Names and values in order; the tensors among them hashed in parallel."""
    tensors = [v for _, v in items if isinstance(v, Tensor)]
    digests = iter(_tensor_digests(tensors))
    for name, v in items:
        h.update(repr(name).encode())
        h.update((next(digests) if isinstance(v, Tensor) else repr(v)).encode())


def _digest(*values: Any) -> str:
    h = hashlib.blake2b(digest_size=16)
    for v in values:
        _feed(h, v)
    return h.hexdigest()


def model_digest(model: Any) -> str:
    """The model's parameters and buffers: names, dtypes, shapes and bytes."""
    h = hashlib.blake2b(digest_size=16)
    _feed_items(h, sorted(model.state_dict().items()))
    return h.hexdigest()


def source_digest(name: str, sae: SparseAutoencoder) -> str:
    """One source: its name, kind, options and weights (not its metadata)."""
    h = hashlib.blake2b(digest_size=16)
    _feed(h, (name, type(sae).__name__))
    _feed_items(h, [(f.name, getattr(sae, f.name)) for f in dataclasses.fields(sae) if f.name != "metadata"])
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
