"""Run the peer dashboard libraries (sae-vis, SAEDashboard) from OUR venv and collect their timings.

Each peer lives in its own venv outside the repository (``setup.sh`` builds them under
``${FEATURECARD_PEERS_DIR:-~/.cache/featurecard-peers}``), because sae-vis 0.3.7 needs
SAELens 5 and SAEDashboard 0.8.0 needs SAELens 6. Nothing here imports either peer: we spawn
``run_peer.py`` with the peer venv's interpreter and parse the one JSON line it prints.
Both peers and our engine read the same ``inputs.pt`` (see ``inputs.py``).

Library use (e.g. from ``benchmarks/feature_card.py``)::

    from peers.common import load_shared_inputs, run_peer

    result = run_peer("sae-dashboard", n_features=32, repeats=5)
    result["wall_median_s"], result["peak_rss_mb"]

Command line (prints a table; ``--json`` also writes every result)::

    .venv/bin/python benchmarks/peers/common.py --n-features 1 32 --repeats 5
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS = ("sae-vis", "sae-dashboard")


class PeerError(RuntimeError):
    """A peer run failed; the message carries the peer's error and the tail of its stderr."""


def peers_dir() -> Path:
    """Where ``setup.sh`` puts the peer venvs and where ``inputs.pt`` lives by default."""
    return Path(os.environ.get("FEATURECARD_PEERS_DIR", Path.home() / ".cache" / "featurecard-peers"))


def _inputs_module() -> ModuleType:
    """``inputs.py`` of this folder, loaded by path so this works however ``common`` was imported."""
    name = "featurecard_bench_peer_inputs"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "inputs.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {HERE / 'inputs.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def peer_inputs() -> ModuleType:
    """The ``inputs`` module (the shared recipe and its loaders: ``load_model(data, cls)``, ``load_sae``)."""
    return _inputs_module()


def default_inputs() -> Path:
    """The shared inputs file, built first (from this venv) if it is missing or stale."""
    return Path(_inputs_module().ensure_inputs(peers_dir() / "inputs.pt"))


def load_shared_inputs(inputs: Path | None = None, *, wu_scale: float | None = None) -> dict[str, Any]:
    """The shared inputs rebuilt in OUR venv, for timing featurecard on exactly what the peers see.

    Returns a dict with ``model`` (``HookedTransformer``, ``W_U`` scaled by ``wu_scale``,
    default the stored factor 10), ``sae`` (SAELens ``StandardSAE``), ``tokens`` (``[256, 128]``
    int64), ``hook_name`` (``"blocks.0.mlp.hook_post"``), ``wu_scale`` and ``raw`` (the stored payload).
    """
    mod = _inputs_module()
    data = mod.load_inputs(inputs or default_inputs())
    return {
        "model": mod.load_model(data, wu_scale=wu_scale),
        "sae": mod.load_sae(data),
        "tokens": data["tokens"],
        "hook_name": data["sae"]["hook_name"],
        "wu_scale": data["wu_scale"] if wu_scale is None else wu_scale,
        "raw": data,
    }


def busy_cores(window_s: float = 5.0) -> float:
    """Machine-wide CPU use over the next ``window_s`` seconds, in cores (``/proc/stat``; NaN if unavailable).

    Call it while this process is idle: the result is then what *other* processes use.
    """

    def busy() -> float:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    try:
        b0, t0 = busy(), time.perf_counter()
        time.sleep(window_s)
        return (busy() - b0) / (time.perf_counter() - t0)
    except (OSError, ValueError):
        return float("nan")


def wait_for_quiet(threshold_cores: float = 0.2, window_s: float = 5.0, max_wait_s: float = 600.0) -> float:
    """Block until other processes use under ``threshold_cores`` for ``window_s``, or ``max_wait_s`` passes.

    Returns the last measured level, so callers can record how quiet the machine was. Timings on a
    shared 2-core machine are meaningless while another job runs (benchmarks/README.md: 3-4x slower).
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        level = busy_cores(window_s)
        if not level >= threshold_cores or time.monotonic() >= deadline:  # NaN counts as quiet
            return level
        print(f"waiting for a quiet machine (other processes use {level:.2f} cores)", file=sys.stderr, flush=True)


def peer_python(peer: str) -> Path:
    """The interpreter of ``peer``'s venv; raises ``FileNotFoundError`` naming ``setup.sh`` if absent."""
    if peer not in PEERS:
        raise ValueError(f"unknown peer {peer!r}; expected one of {PEERS}")
    python = peers_dir() / peer / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(f"{python} not found: run benchmarks/peers/setup.sh first")
    return python


def run_peer(
    peer: str,
    n_features: int,
    repeats: int,
    *,
    inputs: Path | None = None,
    html: Path | None = None,
    wu_scale: float | None = None,
    timeout: float = 1800.0,
) -> dict[str, Any]:
    """Time one peer library on the shared inputs, in a subprocess using the peer's own venv.

    Args:
        peer: ``"sae-vis"`` (sae-vis 0.3.7 + SAELens 5.11) or ``"sae-dashboard"`` (SAEDashboard 0.8.0
            + SAELens 6).
        n_features: dashboards for features ``range(n_features)`` of the 2048-latent SAE.
        repeats: timed runs, after one untimed warm-up in the same process.
        inputs: the shared ``inputs.pt``; default ``<peers dir>/inputs.pt``, built on first use.
        html: if given, the last run's feature-centric HTML is exported there (timed separately).
        wu_scale: override the stored ``W_U`` factor (10); ``1.0`` gives the raw model, whose
            small logit ranges trigger the peers' histogram-tick bug.
        timeout: seconds before the subprocess is killed (``subprocess.TimeoutExpired``).

    Returns:
        The runner's JSON as a dict. Times are seconds, memory MB:
        ``wall_s`` / ``cpu_s`` (lists, one entry per timed run; CPU is user + system of the
        peer process, all threads), ``wall_median_s``, ``wall_min_s``, ``cpu_median_s``,
        ``warmup_s``, ``load_s``, ``rss_after_load_mb``, ``peak_rss_mb`` (``ru_maxrss``),
        ``export_s`` / ``html_bytes`` / ``html_path`` (only with ``html``), ``versions``,
        ``threads`` (2), ``wu_scale``, ``loadavg_before`` / ``loadavg_after`` (``/proc/loadavg``),
        and ``other_procs_cores`` (list, per timed run) / ``other_procs_cores_max``: CPU used by
        *other* processes during each run, in cores (``/proc/stat``). On the 2-core dev box,
        anything above ~0.2 means that run was contended; see ``wait_for_quiet``.

    Raises:
        FileNotFoundError: the peer venv does not exist (run ``setup.sh``).
        PeerError: the peer process failed; the message includes its error and stderr tail.
    """
    python = peer_python(peer)
    cmd = [
        str(python),
        "-I",  # isolated: our venv's PYTHONPATH / user site must not leak into the peer
        str(HERE / "run_peer.py"),
        "--peer",
        peer,
        "--inputs",
        str(Path(inputs) if inputs is not None else default_inputs()),
        "--n-features",
        str(n_features),
        "--repeats",
        str(repeats),
    ]
    if html is not None:
        cmd += ["--html", str(Path(html).resolve())]
    if wu_scale is not None:
        cmd += ["--wu-scale", repr(float(wu_scale))]
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env.update(OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)

    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    result: dict[str, Any] | None = None
    if lines:
        try:
            result = json.loads(lines[-1])
        except json.JSONDecodeError:
            result = None
    if proc.returncode != 0 or result is None or "error" in result:
        error = (result or {}).get("error", f"exit status {proc.returncode}, no JSON on stdout")
        tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
        raise PeerError(f"{peer} ({n_features} features) failed: {error}\n--- stderr tail ---\n{tail}")
    return result


def _table(results: list[dict[str, Any]]) -> str:
    cols = [
        "peer",
        "features",
        "wall median s",
        "wall min s",
        "CPU median s",
        "runs (s)",
        "export s",
        "HTML bytes",
        "peak RSS MB",
        "other procs, max cores",
    ]
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in results:
        runs = ", ".join(f"{t:.2f}" for t in r["wall_s"])
        export = f"{r['export_s']:.2f}" if "export_s" in r else "-"
        size = f"{r['html_bytes']:,}" if "html_bytes" in r else "-"
        load = f"{r['other_procs_cores_max']:.2f}" if "other_procs_cores_max" in r else "-"
        rows.append(
            f"| {r['peer']} | {r['n_features']} | {r['wall_median_s']:.3f} | {r['wall_min_s']:.3f} | "
            f"{r['cpu_median_s']:.3f} | {runs} | {export} | {size} | {r['peak_rss_mb']:.0f} | {load} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time sae-vis and SAEDashboard on the shared inputs.")
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS))
    parser.add_argument("--n-features", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--wu-scale", type=float, default=None, help="override the stored W_U factor (10)")
    parser.add_argument("--html-dir", type=Path, default=None, help="export HTML of each run into this folder")
    parser.add_argument("--json", type=Path, default=None, help="write all results to this JSON file")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="before each peer run, wait up to S s for a quiet machine",
    )
    args = parser.parse_args(argv)

    inputs = default_inputs()
    results = []
    for peer in args.peers:
        for n in args.n_features:
            html = args.html_dir / f"{peer}-{n}.html" if args.html_dir else None
            if args.wait_quiet > 0:
                wait_for_quiet(max_wait_s=args.wait_quiet)
            print(f"running {peer}, {n} features, {args.repeats} repeats ...", file=sys.stderr, flush=True)
            results.append(run_peer(peer, n, args.repeats, inputs=inputs, html=html, wu_scale=args.wu_scale))
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
