"""Typed arrays as ``{dtype, shape, buffer}`` and the base64 form used in exported files.

Live, ``buffer`` is ``bytes``: ipywidgets lifts every ``bytes`` value out of the synced state
into a binary comm buffer, so numbers never become JSON text. An exported HTML file cannot
carry binary buffers, so :func:`to_portable` replaces each with a base64 string; the front
end's decoder (``js/src/core/codecs.ts``) reads both forms.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .schema import ArrayPayload, DType

_NUMPY: dict[str, str] = {"float32": "<f4", "float16": "<f2", "int32": "<i4", "uint16": "<u2", "uint8": "u1"}


def encode_array(data: ArrayLike, dtype: DType) -> ArrayPayload:
    """Pack ``data`` as little-endian ``dtype``; values must fit (checked for integers)."""
    arr = np.asarray(data)
    if dtype.startswith(("int", "uint")) and arr.size:
        info = np.iinfo(np.dtype(_NUMPY[dtype]))
        lo, hi = int(arr.min()), int(arr.max())
        if lo < info.min or hi > info.max:
            raise ValueError(f"values in [{lo}, {hi}] do not fit {dtype} [{info.min}, {info.max}]")
    packed = np.ascontiguousarray(arr, dtype=np.dtype(_NUMPY[dtype]))
    return {"dtype": dtype, "shape": [int(s) for s in packed.shape], "buffer": packed.tobytes()}


def decode_array(payload: ArrayPayload) -> np.ndarray:
    """The inverse of :func:`encode_array` (accepts bytes, memoryview or base64 str)."""
    buf = payload["buffer"]
    raw = base64.b64decode(buf) if isinstance(buf, str) else bytes(buf)
    return np.frombuffer(raw, dtype=np.dtype(_NUMPY[payload["dtype"]])).reshape(payload["shape"])


def to_portable(obj: Any) -> Any:
    """A copy of a state tree with every binary buffer as a base64 string (for HTML export)."""
    if isinstance(obj, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, dict):
        return {k: to_portable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_portable(v) for v in obj]
    return obj


def payload_nbytes(obj: Any) -> int:
    """Bytes a state tree costs on the wire: binary buffers plus the JSON of everything else."""
    binary = 0

    def strip(o: Any) -> Any:
        nonlocal binary
        if isinstance(o, bytes | bytearray | memoryview):
            binary += len(bytes(o))
            return None
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [strip(v) for v in o]
        return o

    text = json.dumps(strip(obj)).encode()  # strip() counts the binary bytes: run it first
    return binary + len(text)


def encode_indices(values: Sequence[int] | np.ndarray) -> ArrayPayload:
    """Non-negative integers in the smallest of uint8, uint16, int32 that holds them all."""
    arr = np.asarray(values, dtype=np.int64)
    top = int(arr.max()) if arr.size else 0
    if arr.size and int(arr.min()) < 0:
        return encode_array(arr, "int32")
    return encode_array(arr, "uint8" if top < 2**8 else "uint16" if top < 2**16 else "int32")
