"""Time one peer dashboard library on the shared inputs. Runs INSIDE that peer's venv.

    <peers dir>/sae-vis/bin/python benchmarks/peers/run_peer.py --peer sae-vis \\
        --inputs <peers dir>/inputs.pt --n-features 32 --repeats 5 [--html out.html]

Peers and their default settings (benchmarks/README.md says what each computes and why):

* ``sae-vis`` 0.3.7: ``SaeVisData.create(sae, model, tokens, SaeVisConfig(features=...))``.
* ``sae-dashboard`` 0.8.0: ``SaeVisRunner(SaeVisConfig(hook_point=..., features=...)).run(sae, model, tokens)``.

Both with ``minibatch_size_tokens=64``, ``minibatch_size_features=256``, the default
feature-centric layout, CPU float32 and ``torch.set_num_threads(2)``; the model is a
``HookedSAETransformer`` and the SAE this venv's SAELens class, rebuilt by ``inputs.py``;
``W_U`` is scaled by the stored ``wu_scale`` unless ``--wu-scale`` says otherwise.
Features are ``range(N)``. One untimed warm-up, then ``R`` timed runs of the data computation;
with ``--html`` the last run's data is exported once (timed separately).

stdout is exactly ONE JSON line (the peers' own prints go to stderr). On failure the line holds
``"error"`` and the exit status is 1. Fields: wall and CPU seconds per run (CPU = user + system
time of this process, all threads, from ``getrusage``), their medians and minima, peak RSS
(``ru_maxrss``) after loading and at the end in MB, load/warm-up/export seconds, HTML bytes,
versions, and ``/proc/loadavg`` before and after, for judging contention.
"""

from __future__ import annotations

import os

# Before any import that reads them: no progress bars, no hub, no tokenizer thread pool.
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("WANDB_SILENT", "true")

import argparse
import importlib.metadata as md
import json
import logging
import resource
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

THREADS = 2


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _peak_rss_mb() -> float:
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a peer started from a big
    # parent process would report the parent's peak as its own.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def _busy_cpu_seconds() -> float:
    """Machine-wide non-idle CPU seconds so far (``/proc/stat``); NaN where unavailable."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _versions(peer: str) -> dict[str, str]:
    out = {}
    for dist in (peer, "sae-lens", "transformer-lens", "transformers", "torch"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "missing"
    return out


Compute = Callable[[], Any]
Export = Callable[[Any, Path], None]


def _sae_vis(model: Any, sae: Any, tokens: Any, features: list[int]) -> tuple[Compute, Export]:
    from sae_vis.data_config_classes import SaeVisConfig
    from sae_vis.data_storing_fns import SaeVisData

    cfg = SaeVisConfig(features=features, minibatch_size_features=256, minibatch_size_tokens=64)

    def compute() -> Any:
        return SaeVisData.create(sae=sae, model=model, tokens=tokens, cfg=cfg, verbose=False)

    def export(data: Any, path: Path) -> None:
        data.save_feature_centric_vis(filename=str(path), feature=features[0])

    return compute, export


def _sae_dashboard(model: Any, sae: Any, tokens: Any, features: list[int]) -> tuple[Compute, Export]:
    from sae_dashboard.data_writing_fns import save_feature_centric_vis
    from sae_dashboard.sae_vis_data import SaeVisConfig
    from sae_dashboard.sae_vis_runner import SaeVisRunner

    cfg = SaeVisConfig(
        hook_point=sae.cfg.metadata.hook_name,
        features=features,
        minibatch_size_features=256,
        minibatch_size_tokens=64,
        device="cpu",
        dtype="float32",
        verbose=False,
    )

    def compute() -> Any:
        # SaeVisRunner.run folds W_dec norms into the SAE in place; the decoder rows are
        # unit-norm by construction, so every run sees the same SAE.
        return SaeVisRunner(cfg).run(encoder=sae, model=model, tokens=tokens)

    def export(data: Any, path: Path) -> None:
        save_feature_centric_vis(sae_vis_data=data, filename=str(path), feature_idx=features[0])

    return compute, export


#: ``peer -> (model, sae, tokens, features) -> (compute, export)``: ``compute()`` builds the
#: dashboard data, ``export(data, path)`` writes its feature-centric HTML.
PEER_FACTORIES = {"sae-vis": _sae_vis, "sae-dashboard": _sae_dashboard}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(THREADS)
    torch.set_grad_enabled(False)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import inputs as peer_inputs
    from sae_lens import HookedSAETransformer

    result: dict[str, Any] = {
        "peer": args.peer,
        "n_features": args.n_features,
        "repeats": args.repeats,
        "threads": THREADS,
        "versions": _versions(args.peer),
        "python": sys.version.split()[0],
        "loadavg_before": _loadavg(),
    }
    t0 = time.perf_counter()
    data = peer_inputs.load_inputs(args.inputs)
    wu_scale = data["wu_scale"] if args.wu_scale is None else args.wu_scale
    model = peer_inputs.load_model(data, HookedSAETransformer, wu_scale=wu_scale)
    sae = peer_inputs.load_sae(data)
    tokens = data["tokens"]
    features = list(range(args.n_features))
    compute, export = PEER_FACTORIES[args.peer](model, sae, tokens, features)
    result.update(
        wu_scale=wu_scale,
        tokens_shape=list(tokens.shape),
        load_s=time.perf_counter() - t0,
        rss_after_load_mb=_peak_rss_mb(),
    )

    t0 = time.perf_counter()
    out = compute()
    result["warmup_s"] = time.perf_counter() - t0

    walls, cpus, others = [], [], []
    for _ in range(args.repeats):
        busy0, c0, t0 = _busy_cpu_seconds(), _cpu_seconds(), time.perf_counter()
        out = compute()
        wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        walls.append(wall)
        cpus.append(cpu)
        # CPU that other processes used meanwhile, in cores (0 = quiet; ~1 = one busy rival).
        others.append(max(0.0, (_busy_cpu_seconds() - busy0) - cpu) / wall)
    result.update(
        wall_s=walls,
        cpu_s=cpus,
        wall_median_s=statistics.median(walls),
        wall_min_s=min(walls),
        cpu_median_s=statistics.median(cpus),
        other_procs_cores=others,
        other_procs_cores_max=max(others),
    )

    if args.html is not None:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        export(out, args.html)
        result["export_s"] = time.perf_counter() - t0
        result["html_bytes"] = args.html.stat().st_size
        result["html_path"] = str(args.html.resolve())

    result["peak_rss_mb"] = _peak_rss_mb()
    result["loadavg_after"] = _loadavg()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", required=True, choices=sorted(PEER_FACTORIES))
    parser.add_argument("--inputs", required=True, type=Path, help="inputs.pt written by inputs.py")
    parser.add_argument("--n-features", type=int, default=32, help="features range(N) (default 32)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs after one warm-up (default 5)")
    parser.add_argument("--html", type=Path, default=None, help="also export the last run's feature-centric HTML")
    parser.add_argument("--wu-scale", type=float, default=None, help="override the stored W_U scale (1 = raw model)")
    args = parser.parse_args(argv)
    if args.n_features < 1 or args.repeats < 1:
        parser.error("--n-features and --repeats must be >= 1")

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    # Anything the peers print (progress, notices, C-level writes) must not corrupt the one JSON
    # line, so file descriptor 1 points at stderr until the result is ready.
    sys.stdout.flush()
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        result = run(args)
        status = 0
    except Exception as exc:  # reported as JSON for the caller
        traceback.print_exc(file=sys.stderr)
        result = {"peer": args.peer, "n_features": args.n_features, "error": f"{type(exc).__name__}: {exc}"}
        status = 1
    finally:
        sys.stdout.flush()
        os.dup2(real_stdout, 1)
        os.close(real_stdout)
    print(json.dumps(result), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
