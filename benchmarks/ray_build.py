"""fc.build_index on Ray with N workers against the in-process build, on the same data.

Inputs: the peer benchmark's model and SAE (benchmarks/peers/inputs.py: a 2-layer
``HookedTransformer``, a 2,048-latent ReLU SAE on ``blocks.0.mlp.hook_post``, ~60 nonzeros per
token), its 256 rows of 128 tokens repeated with a shift to ``--rows`` rows.

Measured, each build into a new folder:

- in-process (torch's own threads, and one thread) and on a local Ray cluster (``ray.init(num_cpus=N)``, one
  task per worker, one thread each): the first Ray build (cold: the worker processes start and
  import featurecard) and the next ones (warm: Ray reuses them); the ratio in-process / Ray;
- the overhead per shard: a shard's setup on its worker (the model and the SAE read from Ray's
  object store and moved to the device; ShardReport.setup_s), and the round trip of an empty
  Ray task;
- the three kinds of build interleaved, so that a busy moment of a shared machine hits each;
- that the stores are equal (the index arrays to the bit).

On this 2-core machine 2 workers cannot beat the in-process build, which already uses both
cores through torch's threads: expect ~1x. Usage::

    .venv/bin/python benchmarks/ray_build.py --rows 1024 --workers 2 --repeats 2

Prints one JSON object. Nothing here is a test: numbers for the report.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import featurecard as fc
from featurecard.card import store_ray
from featurecard.card.store import INDEX_ARRAYS, STAT_ARRAYS, open_store
from peers.inputs import ensure_inputs, load_inputs, load_model


def dataset(tokens: torch.Tensor, n_rows: int) -> np.ndarray:
    """``tokens`` [rows, seq] repeated to ``n_rows`` rows, each copy shifted by its index (BOS kept)."""
    reps = []
    for i in range(-(-n_rows // tokens.shape[0])):
        t = tokens.clone()
        t[:, 1:] = torch.roll(tokens[:, 1:], shifts=i, dims=1)
        reps.append(t)
    return torch.cat(reps)[:n_rows].numpy().astype(np.int32)


def same_store(a: Path, b: Path) -> bool:
    sa, sb = open_store(a), open_store(b)
    return all(
        np.array_equal(sa.index(s)._map(n).view(np.uint8), sb.index(s)._map(n).view(np.uint8))
        for s in sb.sources
        for n in (*INDEX_ARRAYS, *STAT_ARRAYS)
    )


def timed_build(model: Any, sae: dict[str, Any], tokens: Path, out: Path, budget: str, **kw: Any) -> float:
    t0 = time.perf_counter()
    fc.build_index(model, {"sae": sae}, tokens, out, memory_budget=budget, progress=False, **kw)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1024, help="rows of 128 tokens (default 1024: 131k tokens)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="warm builds of each kind (median reported)")
    ap.add_argument("--budget", default="64MB", help="memory_budget (sets the chunk size: default ~96-row chunks)")
    args = ap.parse_args(argv)

    data = load_inputs(ensure_inputs())
    model = load_model(data)
    sae = {k: v for k, v in data["sae"].items() if k in ("W_enc", "b_enc", "W_dec", "b_dec", "hook_name")}
    reports: list[store_ray.ShardReport] = []
    real_run = store_ray.RayCluster.run

    def run(self: store_ray.RayCluster, *a: Any) -> Any:  # keeps the shards' reports
        inner = real_run(self, *a)

        def wrapped(*b: Any) -> None:
            inner(*b)
            reports.extend(self.reports)

        return wrapped

    store_ray.RayCluster.run = run  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        np.save(d / "tokens.npy", dataset(data["tokens"], args.rows))
        t0 = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="WARNING")
        init_s = time.perf_counter() - t0
        threads = torch.get_num_threads()
        here, one, on_ray = [], [], []
        for i in range(args.repeats + 1):  # interleaved: a busy moment of the machine hits every kind
            on_ray.append(timed_build(model, sae, d / "tokens.npy", d / f"ray{i}", args.budget, workers=args.workers))
            torch.set_num_threads(threads)
            here.append(timed_build(model, sae, d / "tokens.npy", d / f"here{i}", args.budget))
            torch.set_num_threads(1)
            one.append(timed_build(model, sae, d / "tokens.npy", d / f"one{i}", args.budget))
        torch.set_num_threads(threads)
        noop = ray.remote(lambda: None)
        ray.get(noop.remote())
        t0 = time.perf_counter()
        for _ in range(20):
            ray.get(noop.remote())
        task_s = (time.perf_counter() - t0) / 20
        ray.shutdown()
        store = open_store(d / "here0")
        n_tok, nnz = store.n_tokens, store.index("sae").nnz
        chunk_rows = store.manifest["build"]["spec"]["chunk_rows"]
        equal = same_store(d / "ray0", d / "here0") and same_store(d / f"ray{args.repeats}", d / "here0")
    warm_here, warm_ray, warm_one = (statistics.median(t[1:]) for t in (here, on_ray, one))
    print(json.dumps({
        "rows": args.rows, "tokens": args.rows * 128, "counted_tokens": n_tok, "nnz_per_token": round(nnz / n_tok, 1),
        "chunk_rows": chunk_rows, "workers": args.workers, "torch_threads_in_process": threads,
        "in_process_s": round(warm_here, 2), "in_process_1_thread_s": round(warm_one, 2),
        "ray_cold_s": round(on_ray[0], 2), "ray_warm_s": round(warm_ray, 2),
        "ratio_in_process_over_ray": round(warm_here / warm_ray, 2),
        "ratio_in_process_1_thread_over_ray": round(warm_one / warm_ray, 2),
        "tok_per_s_in_process": round(args.rows * 128 / warm_here), "tok_per_s_ray": round(args.rows * 128 / warm_ray),
        "ray_init_s": round(init_s, 2), "empty_task_round_trip_ms": round(task_s * 1000, 2),
        "shard_setup_s_cold": [round(r.setup_s, 3) for r in reports[: args.workers]],
        "shard_setup_s_warm": round(statistics.median(r.setup_s for r in reports[args.workers :]), 3),
        "shard_compute_s_warm": round(statistics.median(r.compute_s for r in reports[args.workers :]), 2),
        "stores_equal": equal,
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
