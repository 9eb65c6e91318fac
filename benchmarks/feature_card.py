"""Feature-card data: featurecard's engine against sae_vis 0.3.7 and SAEDashboard 0.8.0.

All three read one shared inputs file (``peers/inputs.py``): a 2-layer d_model-128 model, a
2,048-latent ReLU SAE on ``blocks.0.mlp.hook_post``, 256×128 tokens, ``W_U`` scaled ×10 so
the peers' histogram-tick bug does not inflate their times. Every figure is measured in the
same run and printed as a ratio against the peers:

* **cold**: from nothing to N cards (a fresh Workspace: the one indexing pass included);
* **warm**: N more cards once the index exists (what a user waits for when switching);
* **switch**: ``card.feature = j`` on a live widget until its new state is set (median);
* peak RSS of each process (``ru_maxrss``), and the per-card payload size.

Our cards also carry what SAEDashboard skips (exact hover effects and loss changes, correlated
latents over all latents). Not a timed test: run it by hand on a quiet machine::

    bash benchmarks/peers/setup.sh                     # the peers' own venvs, once
    .venv/bin/python benchmarks/feature_card.py --repeats 5
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from featurecard.state.codecs import payload_nbytes
from featurecard.workspace import Workspace
from peers.common import load_shared_inputs, run_peer


def _ours(inputs: dict[str, Any], n: int, repeats: int) -> dict[str, float]:
    features = list(range(n))
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(repeats + 1):  # the first run warms allocators and imports; dropped
        t0 = time.perf_counter()
        ws = Workspace(inputs["model"], saes={"sae": inputs["sae"]}, tokens=inputs["tokens"], progress=False)
        for f in features:
            ws.card_state("sae", f)
        t1 = time.perf_counter()
        for f in features:
            ws.card_state("sae", f)
        t2 = time.perf_counter()
        cold.append(t1 - t0)
        warm.append(t2 - t1)
    return {"cold": statistics.median(cold[1:]), "warm": statistics.median(warm[1:])}


def _switch(inputs: dict[str, Any], n: int) -> tuple[float, float]:
    ws = Workspace(inputs["model"], saes={"sae": inputs["sae"]}, tokens=inputs["tokens"], progress=False)
    card = ws.card("sae", feature=0)
    times, sizes = [], []
    for f in range(1, n + 1):
        t0 = time.perf_counter()
        card.feature = f
        times.append(time.perf_counter() - t0)
        sizes.append(payload_nbytes(card.state))
    return statistics.median(times), statistics.median(sizes)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--features", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--no-peers", action="store_true", help="time featurecard only")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    inputs = load_shared_inputs()
    print(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}")
    rows = []
    for n in args.features:
        ours = _ours(inputs, n, args.repeats)
        peers = {} if args.no_peers else {p: run_peer(p, n, args.repeats) for p in ("sae-vis", "sae-dashboard")}
        rows.append((n, ours, peers))
    switch, size = _switch(inputs, 32)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n{'features':>8} {'ours cold':>10} {'ours warm':>10} {'sae_vis':>9} {'SAEDash':>9}"
        f" {'vis/cold':>9} {'vis/warm':>9} {'dash/cold':>10}"
    )
    for n, ours, peers in rows:
        vis = peers.get("sae-vis", {}).get("wall_median_s", float("nan"))
        dash = peers.get("sae-dashboard", {}).get("wall_median_s", float("nan"))
        print(
            f"{n:>8} {ours['cold']:>9.3f}s {ours['warm']:>9.3f}s {vis:>8.3f}s {dash:>8.3f}s"
            f" {vis / ours['cold']:>8.1f}x {vis / ours['warm']:>8.1f}x {dash / ours['cold']:>9.2f}x"
        )
    print(f"\nswitch card.feature -> new state (median of 32): {1000 * switch:.1f} ms; payload {size / 1024:.1f} KiB")
    peak = {p: r.get("peak_rss_mb") for _, _, peers in rows[-1:] for p, r in peers.items()}
    print(f"peak RSS: featurecard {rss:.0f} MB; peers {peak}")
    print(f"load average after: {Path('/proc/loadavg').read_text().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
