"""Which array format the activation store uses: plain ``.npy`` (``np.load(mmap_mode=...)``),
safetensors (``safe_open`` + lazy slices) or zarr (when installed), measured on one synthetic
index (both views: unit-major ``indptr/positions/values``, position-major
``pos_indptr/pos_units/pos_values``).

For each format: write time, bytes per nonzero on disk, and, in a fresh process with the files'
pages evicted (``posix_fadvise(DONTNEED)`` after an fsync), the time to open every array, to
read a first unit's column, 20 more columns, and the nonzeros at one 128-token window
(the by-position view). Usage::

    python benchmarks/store_format.py --tokens 1000000 --per-token 60 --units 24576

Prints one JSON line per format. Nothing here is a test: numbers for the report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NAMES = ("indptr", "positions", "values", "pos_indptr", "pos_units", "pos_values")


def synthetic(n_tokens: int, per_token: int, n_units: int, seed: int = 0) -> dict[str, np.ndarray]:
    """An index of ``n_tokens * per_token`` nonzeros over ``n_units`` units (Zipf-like unit use)."""
    rng = np.random.default_rng(seed)
    nnz = n_tokens * per_token
    weights = 1.0 / np.arange(1, n_units + 1) ** 0.8
    units = rng.choice(n_units, size=nnz, p=weights / weights.sum()).astype(np.uint16 if n_units <= 2**16 else np.int32)
    pos = np.repeat(np.arange(n_tokens, dtype=np.uint32), per_token)
    order = np.lexsort((units, pos))  # by position, units ascending at a position
    pos, units = pos[order], units[order]
    values = rng.exponential(1.0, size=nnz).astype(np.float32)
    by_unit = np.argsort(units, kind="stable")
    indptr = np.zeros(n_units + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.bincount(units, minlength=n_units))
    pos_indptr = np.zeros(n_tokens + 1, dtype=np.int64)
    pos_indptr[1:] = np.cumsum(np.bincount(pos, minlength=n_tokens))
    return {
        "indptr": indptr,
        "positions": pos[by_unit],
        "values": values[by_unit],
        "pos_indptr": pos_indptr,
        "pos_units": units,
        "pos_values": values,
    }


def write(fmt: str, arrays: dict[str, np.ndarray], out: Path) -> None:
    out.mkdir(parents=True)
    if fmt == "npy":
        for k, a in arrays.items():
            np.save(out / f"{k}.npy", a)
    elif fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file(arrays, str(out / "index.safetensors"))
    elif fmt == "zarr":
        import zarr

        group = zarr.open_group(str(out / "index.zarr"), mode="w")
        for k, a in arrays.items():
            group.create_array(k, data=a, chunks=(min(len(a), 1 << 20),))
    for f in out.rglob("*"):
        if f.is_file():
            fd = os.open(f, os.O_RDONLY)
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)


def measure(fmt: str, out: Path, units: list[int]) -> dict[str, float]:
    """Open, first column, 20 columns, one window: seconds, in this (fresh) process."""
    t0 = time.perf_counter()
    if fmt == "npy":
        arrs = {k: np.load(out / f"{k}.npy", mmap_mode="r") for k in NAMES}

        def get(k: str, lo: int, hi: int) -> np.ndarray:
            return np.array(arrs[k][lo:hi])
    elif fmt == "safetensors":
        from safetensors import safe_open

        f = safe_open(str(out / "index.safetensors"), framework="numpy")
        sl = {k: f.get_slice(k) for k in NAMES}

        def get(k: str, lo: int, hi: int) -> np.ndarray:
            return np.asarray(sl[k][lo:hi])
    else:
        import zarr

        group = zarr.open_group(str(out / "index.zarr"), mode="r")
        za = {k: group[k] for k in NAMES}

        def get(k: str, lo: int, hi: int) -> np.ndarray:
            return np.asarray(za[k][lo:hi])

    t_open = time.perf_counter() - t0

    def column(u: int) -> int:
        lo, hi = (int(x) for x in get("indptr", u, u + 2))
        return int(get("positions", lo, hi).astype(np.int64).sum() + get("values", lo, hi).size)

    t0 = time.perf_counter()
    column(units[0])
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for u in units[1:21]:
        column(u)
    t_more = time.perf_counter() - t0
    t0 = time.perf_counter()
    lo, hi = (int(x) for x in get("pos_indptr", 1000, 1000 + 129)[[0, -1]])
    get("pos_units", lo, hi)
    get("pos_values", lo, hi)
    t_window = time.perf_counter() - t0
    return {"open_s": t_open, "first_column_s": t_first, "next_20_columns_s": t_more, "window_s": t_window}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=65536)
    ap.add_argument("--per-token", type=int, default=60)
    ap.add_argument("--units", type=int, default=24576)
    ap.add_argument("--formats", default="npy,safetensors,zarr")
    ap.add_argument("--measure", nargs=2, metavar=("FORMAT", "DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--columns", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        units = [int(u) for u in args.columns.split(",")]
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]), units)))
        return
    arrays = synthetic(args.tokens, args.per_token, args.units)
    nnz = int(arrays["values"].size)
    counts = np.diff(arrays["indptr"])
    # A first unit of median use, then 20 more at random.
    order = np.argsort(counts)
    rng = np.random.default_rng(1)
    cols = [int(order[len(order) // 2])] + [int(u) for u in rng.choice(args.units, 20, replace=False)]
    root = Path(tempfile.mkdtemp(prefix="store_format_", dir=os.environ.get("STORE_BENCH_DIR")))
    try:
        for fmt in args.formats.split(","):
            if fmt == "zarr":
                try:
                    import zarr  # noqa: F401
                except ImportError:
                    print(json.dumps({"format": "zarr", "skipped": "zarr is not installed"}))
                    continue
            out = root / fmt
            t0 = time.perf_counter()
            write(fmt, arrays, out)
            t_write = time.perf_counter() - t0
            size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
            cmd = [sys.executable, __file__, "--measure", fmt, str(out), "--columns", ",".join(map(str, cols))]
            cold = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            row = {"format": fmt, "nnz": nnz, "write_s": round(t_write, 3), "bytes_per_nnz": round(size / nnz, 3)}
            row |= {k.removesuffix("_s") + "_ms": round(v * 1e3, 3) for k, v in cold.items()}
            print(json.dumps(row))
            shutil.rmtree(out)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
