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
  than wall time;
* all of the above for the same weights loaded as SAELens's ``HookedSAETransformer`` (the
  subclass SAELens users load, and the class both peers run on) beside the plain
  ``HookedTransformer``, timed in the same rounds, with its ratio to the ``HookedTransformer``
  per round and which fast paths (fused attention, resuming at a later block) each class got.
  Before timing, the two classes' quick cards are checked to agree.

Each round times ours once and then each peer three times in a fresh process (medians over all), so that a slow
spell of the machine (it moves by ±30 % here) hits all three alike. Our cards also carry what
SAEDashboard skips (exact hover effects and loss changes, correlated
latents over all latents). Not a timed test: run it by hand on a quiet machine::

    bash benchmarks/peers/setup.sh                     # the peers' own venvs, once
    .venv/bin/python benchmarks/feature_card.py --repeats 5

``--smoke`` runs every code path of ours once (1 card, 1 round, no peers), for tests and CI.
See ``benchmarks/README.md`` for the peers, their settings and why ``W_U`` is scaled.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from featurecard.core.codecs import decode_array, payload_nbytes
from featurecard.workspace import Workspace
from peers.common import load_shared_inputs, peer_inputs, run_peer

# Timed runs of a peer per round: its first timed run after the warm-up is often its slowest
# (0.77-0.80 s against 0.51-0.68 s for SAEDashboard's later runs), so one is not enough.
PEER_RUNS = 3


#: The model classes timed side by side: TransformerLens's own, and SAELens's subclass.
MODEL_CLASSES = ("HookedTransformer", "HookedSAETransformer")


def load_models(inputs: dict[str, Any]) -> dict[str, Any]:
    """The shared model as each class of :data:`MODEL_CLASSES`: the same parameters, tokenizer and ``W_U`` scale."""
    from sae_lens import HookedSAETransformer

    sae_model = peer_inputs().load_model(inputs["raw"], HookedSAETransformer, wu_scale=inputs["wu_scale"])
    models = {"HookedTransformer": inputs["model"], "HookedSAETransformer": sae_model}
    assert type(models["HookedTransformer"]).__name__ == "HookedTransformer"
    return models


def _fresh(inputs: dict[str, Any], model: Any) -> Workspace:
    return Workspace(model, saes={"sae": inputs["sae"]}, tokens=inputs["tokens"], progress=False)


def fast_paths(inputs: dict[str, Any], model: Any) -> str:
    """Which of the engine's fast paths a quick card used on ``model`` (read off the adapter)."""
    ws = _fresh(inputs, model)
    ws.card_state("sae", 0, complete=False)
    a = ws.adapter
    fused = getattr(a, "_fused", None)
    why = f" ({a.fused_why})" if getattr(a, "fused_why", "") else ""
    return f"fused attention layers {fused}{why}; resume at a later block: {a.can_resume}"


def check_same_cards(inputs: dict[str, Any], models: dict[str, Any], feature: int = 0) -> float:
    """The quick card of ``feature`` on each class: the same example tokens, activations within 1e-4.

    Returns the largest activation gap; raises ``AssertionError`` if the classes disagree, so a
    faster class is never timed on different numbers."""
    cards = {k: _fresh(inputs, m).card_state("sae", feature, complete=False) for k, m in models.items()}
    ref = cards[MODEL_CLASSES[0]]["examples"]
    gap = 0.0
    for name, st in cards.items():
        ex = st["examples"]
        assert (decode_array(ex["tokens"]) == decode_array(ref["tokens"])).all(), f"{name}: other example tokens"
        acts, want = decode_array(ex["acts"]), decode_array(ref["acts"])
        gap = max(gap, float(np.abs(acts - want).max(initial=0.0)))
        assert np.allclose(acts, want, rtol=1e-4, atol=1e-5), f"{name}: activations differ by up to {gap:.3g}"
    return gap


def _ours_once(inputs: dict[str, Any], model: Any, n: int) -> dict[str, float]:
    features = list(range(n))
    # What the widget draws first: every panel but the correlations over all latents, the N
    # cards made together (Workspace.card_states, as an export of N cards does).
    t0, c0 = time.perf_counter(), time.process_time()
    ws = _fresh(inputs, model)
    ws.card_states("sae", features, complete=False)
    t1, c1 = time.perf_counter(), time.process_time()
    ws.index("sae")  # the pending tables: every latent, from the kept inputs
    ws.card_states("sae", features)
    t2 = time.perf_counter()
    ws.card_states("sae", features)
    t3 = time.perf_counter()
    _fresh(inputs, model).card_states("sae", features)  # complete cards from nothing: the one-pass engine
    t4 = time.perf_counter()
    ws = _fresh(inputs, model)  # quick cards one at a time (switching cards in a fresh widget)
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


Ours = dict[str, dict[str, float]]  # model class -> measure -> median seconds (and per-round ratios)


def _rounds(
    inputs: dict[str, Any], models: dict[str, Any], n: int, repeats: int, peers: list[str]
) -> tuple[Ours, dict[str, dict[str, Any]]]:
    """``repeats`` rounds, each timing ours once per model class and then each peer :data:`PEER_RUNS`
    times (a fresh process, one untimed warm-up run first), so that a slow spell of the machine
    hits all of them alike. Medians over every timed run; ``round_ratio``: the median over rounds
    of the peer's median in that round over our quick time in that round (a slow spell then hits
    both sides of each ratio); ``cpu_median_s``: CPU seconds of the peer's process (both cores).
    For each class after the first, ``<measure>_vs_first``: the median over rounds of its time
    over the first class's time in that round, and ``dash_round_ratio`` against SAEDashboard."""
    for m in models.values():
        _ours_once(inputs, m, n)  # warms allocators, imports and each class's fast-path checks; dropped
    first = next(iter(models))
    ours: dict[str, dict[str, list[float]]] = {k: {} for k in models}
    walls: dict[str, list[float]] = {p: [] for p in peers}
    cpus: dict[str, list[float]] = {p: [] for p in peers}
    ratios: dict[str, dict[str, list[float]]] = {p: {k: [] for k in models} for p in peers}
    last: dict[str, dict[str, Any]] = {}
    for r in range(repeats):
        # Alternate which class goes first, so a class is not always timed right after a peer.
        order = list(models) if r % 2 == 0 else list(reversed(models))
        mine = {k: _ours_once(inputs, models[k], n) for k in order}
        for k, times in mine.items():
            for key, dt in times.items():
                ours[k].setdefault(key, []).append(dt)
                if k != first:
                    ours[k].setdefault(f"{key}_vs_first", []).append(dt / mine[first][key])
        for p in peers:
            last[p] = run_peer(p, n, PEER_RUNS)
            walls[p].extend(last[p]["wall_s"])
            cpus[p].extend(last[p].get("cpu_s", []))
            for k in models:
                ratios[p][k].append(statistics.median(last[p]["wall_s"]) / mine[k]["quick"])
    med = statistics.median
    summary = {k: {key: med(v) for key, v in times.items()} for k, times in ours.items()}
    for k in models:
        if "sae-dashboard" in peers:
            summary[k]["dash_round_ratio"] = med(ratios["sae-dashboard"][k])
    return summary, {
        p: {
            **last[p],
            "wall_median_s": med(walls[p]),
            "cpu_median_s": med(cpus[p]) if cpus[p] else float("nan"),
            "round_ratio": med(ratios[p][first]),
        }
        for p in peers
    }


def _switch(inputs: dict[str, Any], model: Any, n: int) -> tuple[float, float]:
    card = _fresh(inputs, model).card("sae", feature=0)
    card.complete()  # what the front end asks for after drawing the first (quick) card
    times, sizes = [], []
    for f in range(1, n + 1):
        t0 = time.perf_counter()
        card.feature = f
        times.append(time.perf_counter() - t0)
        sizes.append(payload_nbytes(card.state))
    return statistics.median(times), statistics.median(sizes)


def _report_peers(rows: list[tuple[int, Ours, dict[str, dict[str, Any]]]]) -> None:
    first = MODEL_CLASSES[0]
    print(
        f"\n{first}. quick: the N cards made together from nothing, as the widget first draws them"
        "\n(hover and loss included; correlations over all latents pending); done: the same cards once"
        "\ncomplete; cold: complete cards from nothing (one pass over every latent); warm: complete cards"
        "\nagain; one-by-one: quick cards made one at a time. Ratios: peer time / ours."
    )
    print(
        f"\n{'features':>8} {'quick':>8} {'1-by-1':>8} {'done':>8} {'cold':>8} {'warm':>8} {'sae_vis':>8}"
        f" {'SAEDash':>8} {'vis/quick':>9} {'dash/quick':>10} {'dash/1by1':>9} {'dash/done':>9} {'vis/cold':>8}"
        f" {'vis/warm':>8}"
    )
    for n, all_ours, peers in rows:
        ours = all_ours[first]
        vis = peers.get("sae-vis", {}).get("wall_median_s", float("nan"))
        dash = peers.get("sae-dashboard", {}).get("wall_median_s", float("nan"))
        print(
            f"{n:>8} {ours['quick']:>7.3f}s {ours['single']:>7.3f}s {ours['done']:>7.3f}s {ours['cold']:>7.3f}s"
            f" {ours['warm']:>7.3f}s {vis:>7.3f}s {dash:>7.3f}s {vis / ours['quick']:>8.1f}x"
            f" {dash / ours['quick']:>9.2f}x {dash / ours['single']:>8.2f}x {dash / ours['done']:>8.2f}x"
            f" {vis / ours['cold']:>7.1f}x {vis / ours['warm']:>7.1f}x"
        )
    if any("sae-dashboard" in peers for _, _, peers in rows):
        print("\nAgainst SAEDashboard, per round and in CPU time (both cores; our process, its process):")
    for n, all_ours, peers in rows:
        d = peers.get("sae-dashboard")
        if d is not None:
            q = all_ours[first]["quick_cpu"]
            print(
                f"{n:>8} features: median per-round ratio {d['round_ratio']:.2f}x; CPU {q:.3f}s"
                f" against {d['cpu_median_s']:.3f}s ({d['cpu_median_s'] / q:.2f}x)"
            )


def _report_classes(rows: list[tuple[int, Ours, dict[str, dict[str, Any]]]], paths: dict[str, str]) -> None:
    first = MODEL_CLASSES[0]
    print()
    for k in MODEL_CLASSES:
        print(f"{k}: {paths[k]}")
    for k in MODEL_CLASSES[1:]:
        print(f"\n{k} (same weights) beside {first}: seconds, and its time / {first}'s (median per round)")
        heads = " ".join(f"{m:>17}" for m in ("quick", "1-by-1", "done", "cold", "warm"))
        print(f"{'features':>8} {heads}  dash/quick")
        for n, all_ours, _peers in rows:
            o = all_ours[k]
            cells = " ".join(
                f"{o[m]:>8.3f}s {o[f'{m}_vs_first']:>6.2f}x" for m in ("quick", "single", "done", "cold", "warm")
            )
            dash = f"{o['dash_round_ratio']:>10.2f}x" if "dash_round_ratio" in o else f"{'-':>11}"
            print(f"{n:>8} {cells} {dash}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--features", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--no-peers", action="store_true", help="time featurecard only")
    ap.add_argument("--smoke", action="store_true", help="every code path of ours once: 1 card, 1 round, no peers")
    args = ap.parse_args(argv)
    if args.smoke:
        args.repeats, args.features, args.no_peers = 1, [1], True
    torch.set_num_threads(2)
    inputs = load_shared_inputs()
    models = load_models(inputs)
    gap = check_same_cards(inputs, models)
    paths = {k: fast_paths(inputs, m) for k, m in models.items()}
    print(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}")
    print(f"{' and '.join(MODEL_CLASSES)} give the same quick card (activations within {gap:.2g})")
    rows = []
    for n in args.features:
        ours, peers = _rounds(inputs, models, n, args.repeats, [] if args.no_peers else ["sae-vis", "sae-dashboard"])
        rows.append((n, ours, peers))
    n_switch = 2 if args.smoke else 32
    switch, size = _switch(inputs, models[MODEL_CLASSES[0]], n_switch)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _report_peers(rows)
    _report_classes(rows, paths)
    print(
        f"\nswitch card.feature -> new state (median of {n_switch}): {1000 * switch:.1f} ms;"
        f" payload {size / 1024:.1f} KiB"
    )
    peak = {p: r.get("peak_rss_mb") for _, _, peers in rows[-1:] for p, r in peers.items()}
    print(f"peak RSS: featurecard {rss:.0f} MB; peers {peak}")
    print(f"load average after: {Path('/proc/loadavg').read_text().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
