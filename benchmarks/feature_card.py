"""Feature-card data: featurecard's engine against sae_vis 0.3.7 and SAEDashboard 0.8.0.

All three read one shared inputs file (``peers/inputs.py``): a 2-layer d_model-128 model, a
2,048-latent ReLU SAE on ``blocks.0.mlp.hook_post``, 256×128 tokens, ``W_U`` scaled ×10 so
the peers' histogram-tick bug does not inflate their times. Every figure is measured in the
same run and printed as a ratio against the peers:

* **quick**: from nothing to the N cards the widget draws first, made together
  (``Workspace.card_states``, as an export of N cards makes them: one forward pass keeping the
  SAE inputs, each card's block of latents, the later blocks once at the union of the shown
  tokens; hover and loss included, correlated latents over all latents pending);
* **one by one**: the same quick cards made one call at a time (``card_state`` N times);
* **done**: from nothing until those N cards are complete (the rest of the latents encoded from
  the kept inputs, no second forward pass);
* **cold**: from nothing to N complete cards through the one-pass engine (every latent indexed
  in the forward pass, as before quick cards existed);
* **warm**: N more complete cards once the index exists (what a user waits for when switching);
* **switch**: ``card.feature = j`` on a live widget until its new state is set (median);
* peak RSS of each process (``ru_maxrss``), and the per-card payload size;
* against SAEDashboard, the median over rounds of each round's ratio, and CPU seconds (both
  cores) of our process and of the peer's, which a busy neighbour on the machine moves less
  than wall time.

Each round times ours once and then each peer three times in a fresh process (medians over all), so that a slow
spell of the machine (it moves by ±30 % here) hits all three alike. Our cards also carry what
SAEDashboard skips (exact hover effects and loss changes, correlated
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

# Timed runs of a peer per round: its first timed run after the warm-up is often its slowest
# (0.77-0.80 s against 0.51-0.68 s for SAEDashboard's later runs), so one is not enough.
PEER_RUNS = 3


def _fresh(inputs: dict[str, Any]) -> Workspace:
    return Workspace(inputs["model"], saes={"sae": inputs["sae"]}, tokens=inputs["tokens"], progress=False)


def _ours_once(inputs: dict[str, Any], n: int) -> dict[str, float]:
    features = list(range(n))
    # What the widget draws first: every panel but the correlations over all latents, the N
    # cards made together (Workspace.card_states, as an export of N cards does).
    t0, c0 = time.perf_counter(), time.process_time()
    ws = _fresh(inputs)
    ws.card_states("sae", features, complete=False)
    t1, c1 = time.perf_counter(), time.process_time()
    ws.index("sae")  # the pending tables: every latent, from the kept inputs
    ws.card_states("sae", features)
    t2 = time.perf_counter()
    ws.card_states("sae", features)
    t3 = time.perf_counter()
    _fresh(inputs).card_states("sae", features)  # complete cards from nothing: the one-pass engine
    t4 = time.perf_counter()
    ws = _fresh(inputs)  # quick cards one at a time (switching cards in a fresh widget)
    for f in features:
        ws.card_state("sae", f, complete=False)
    t5 = time.perf_counter()
    return {
        "quick": t1 - t0,
        "quick_cpu": c1 - c0,
        "done": t2 - t0,
        "cold": t4 - t3,
        "warm": t3 - t2,
        "single": t5 - t4,
    }


def _rounds(
    inputs: dict[str, Any], n: int, repeats: int, peers: list[str]
) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    """``repeats`` rounds, each timing ours once and then each peer :data:`PEER_RUNS` times (a
    fresh process, one untimed warm-up run first), so that a slow spell of the machine hits all
    of them alike. Medians over every timed run; ``round_ratio``: the median over rounds of the
    peer's median in that round over our quick time in that round (a slow spell then hits both
    sides of each ratio); ``cpu_median_s``: CPU seconds of the peer's process (both cores)."""
    _ours_once(inputs, n)  # warms allocators and imports; dropped
    ours: dict[str, list[float]] = {}
    walls: dict[str, list[float]] = {p: [] for p in peers}
    cpus: dict[str, list[float]] = {p: [] for p in peers}
    ratios: dict[str, list[float]] = {p: [] for p in peers}
    last: dict[str, dict[str, Any]] = {}
    for _ in range(repeats):
        mine = _ours_once(inputs, n)
        for key, dt in mine.items():
            ours.setdefault(key, []).append(dt)
        for p in peers:
            last[p] = run_peer(p, n, PEER_RUNS)
            walls[p].extend(last[p]["wall_s"])
            cpus[p].extend(last[p].get("cpu_s", []))
            ratios[p].append(statistics.median(last[p]["wall_s"]) / mine["quick"])
    med = statistics.median
    return {k: med(v) for k, v in ours.items()}, {
        p: {
            **last[p],
            "wall_median_s": med(walls[p]),
            "cpu_median_s": med(cpus[p]) if cpus[p] else float("nan"),
            "round_ratio": med(ratios[p]),
        }
        for p in peers
    }


def _switch(inputs: dict[str, Any], n: int) -> tuple[float, float]:
    card = _fresh(inputs).card("sae", feature=0)
    card.complete()  # what the front end asks for after drawing the first (quick) card
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
        ours, peers = _rounds(inputs, n, args.repeats, [] if args.no_peers else ["sae-vis", "sae-dashboard"])
        rows.append((n, ours, peers))
    switch, size = _switch(inputs, 32)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        "\nquick: the N cards made together from nothing, as the widget first draws them (hover and"
        "\nloss included; correlations over all latents pending); done: the same cards once complete;"
        "\ncold: complete cards from nothing (one pass over every latent); warm: complete cards again;"
        "\none-by-one: quick cards made one at a time. Ratios: peer time / ours."
    )
    print(
        f"\n{'features':>8} {'quick':>8} {'1-by-1':>8} {'done':>8} {'cold':>8} {'warm':>8} {'sae_vis':>8}"
        f" {'SAEDash':>8} {'vis/quick':>9} {'dash/quick':>10} {'dash/1by1':>9} {'dash/done':>9} {'vis/cold':>8}"
        f" {'vis/warm':>8}"
    )
    for n, ours, peers in rows:
        vis = peers.get("sae-vis", {}).get("wall_median_s", float("nan"))
        dash = peers.get("sae-dashboard", {}).get("wall_median_s", float("nan"))
        print(
            f"{n:>8} {ours['quick']:>7.3f}s {ours['single']:>7.3f}s {ours['done']:>7.3f}s {ours['cold']:>7.3f}s"
            f" {ours['warm']:>7.3f}s {vis:>7.3f}s {dash:>7.3f}s {vis / ours['quick']:>8.1f}x"
            f" {dash / ours['quick']:>9.2f}x {dash / ours['single']:>8.2f}x {dash / ours['done']:>8.2f}x"
            f" {vis / ours['cold']:>7.1f}x {vis / ours['warm']:>7.1f}x"
        )
    print("\nAgainst SAEDashboard, per round and in CPU time (both cores; our process, its process):")
    for n, ours, peers in rows:
        d = peers.get("sae-dashboard")
        if d is not None:
            print(
                f"{n:>8} features: median per-round ratio {d['round_ratio']:.2f}x; CPU {ours['quick_cpu']:.3f}s"
                f" against {d['cpu_median_s']:.3f}s ({d['cpu_median_s'] / ours['quick_cpu']:.2f}x)"
            )
    print(f"\nswitch card.feature -> new state (median of 32): {1000 * switch:.1f} ms; payload {size / 1024:.1f} KiB")
    peak = {p: r.get("peak_rss_mb") for _, _, peers in rows[-1:] for p, r in peers.items()}
    print(f"peak RSS: featurecard {rss:.0f} MB; peers {peak}")
    print(f"load average after: {Path('/proc/loadavg').read_text().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
