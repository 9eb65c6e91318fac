"""The ``featurecard`` command: exported cards from the shell.

featurecard demo [--feature N] [--out featurecard-demo.html]
featurecard card --model DIR --sae DIR --tokens FILE --feature N --out FILE
featurecard index --model DIR --sae DIR --tokens FILE --out STORE [--memory-budget 4GB] [--device cpu|cuda]
                  [--workers N] [--ray auto|ADDRESS]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEMO_OUT = "featurecard-demo.html"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="featurecard",
        description="Feature cards for SAE latents and neurons of TransformerLens models, exported as "
        "one self-contained HTML file that renders offline.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    d = sub.add_parser(
        "demo",
        help="build (first time, a few minutes) or load the embedded model and SAE, and export one card",
        description="Build or load the embedded default (a small model and TopK SAE trained "
        "offline on Python's documentation; cached under $FEATURECARD_CACHE_DIR or the user "
        "cache directory) and export one feature card.",
    )
    d.add_argument("--feature", type=int, default=None, help="latent index (default: a live, readable latent)")
    d.add_argument("--out", default=DEMO_OUT, help=f"output HTML file (default: {DEMO_OUT})")
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    c = sub.add_parser(
        "card",
        help="export the card of one latent of a local model and SAELens folder",
        description="Export the feature card of one SAE latent for a local model folder "
        "(a Hugging Face folder loaded with TransformerBridge.boot_transformers, or a "
        "featurecard model folder) and a SAELens SAE folder.",
    )
    _inputs(c, "token dataset: .npy or .pt int array [batch, pos], or a .txt file of text")
    c.add_argument("--feature", type=int, required=True, help="latent index")
    c.add_argument("--out", required=True, help="output HTML file")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    _index_parser(sub)
    return p


def _inputs(command: argparse.ArgumentParser, tokens_help: str) -> None:
    """The options every command over a local model, SAE and dataset takes."""
    command.add_argument("--model", required=True, help="model folder")
    command.add_argument("--sae", required=True, help="SAELens folder (cfg.json + sae_weights.safetensors)")
    command.add_argument("--tokens", required=True, help=tokens_help)


def _index_parser(sub: Any) -> None:
    i = sub.add_parser(
        "index",
        help="build the activation store of a local model and SAELens folder (open it with fc.Workspace.open)",
        description="Build the activation store of a SAELens SAE over a token dataset, streaming within "
        "a memory budget (the tokens may be a memory-mapped .npy larger than memory); an interrupted "
        "build resumes from its finished chunks when run again. Open it with fc.Workspace.open(STORE, model).",
    )
    _inputs(i, "token dataset: .npy (memory-mapped), .pt or .txt of text")
    i.add_argument("--out", required=True, help="the store's folder")
    i.add_argument("--memory-budget", default=None, help="the build's working set: bytes or e.g. 4GB (default 1GiB)")
    i.add_argument("--device", default=None, help="where the pass runs: cpu, cuda, cuda:1 (default: the model's)")
    i.add_argument("--batch-size", type=int, default=32, help="rows per forward pass (default 32)")
    i.add_argument("--workers", type=int, default=None,
                   help="Ray tasks building shards of the dataset at once (needs featurecard[ray]; default: "
                   "in this process, or with --ray one per GPU of the cluster, or per core on the CPU)")  # fmt: skip
    i.add_argument("--ray", default=None, metavar="auto|ADDRESS",
                   help="build on Ray: auto (this machine's cluster from `ray start`, else a local one) or a "
                   "cluster's address; the store's folder must be one every worker can write")  # fmt: skip
    i.add_argument("--quiet", action="store_true", help="no progress bars")


def load_model_folder(path: str | Path) -> Any:
    """A featurecard model folder (model_config.json) or a Hugging Face folder via boot_transformers."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder {folder} does not exist")
    if (folder / "model_config.json").is_file():
        from .embedded import load_model_dir

        return load_model_dir(folder)
    from transformer_lens.model_bridge import TransformerBridge

    return TransformerBridge.boot_transformers(str(folder))


def load_tokens(path: str | Path) -> Any:
    """A token file as the Workspace takes it: an int64 tensor (.npy, .pt) or a list of texts (.txt).

    Refuses, naming the file: a float, bool or other non-integer array (casting would silently
    round token ids), a ``.pt`` that holds no tensor, and a file its loader cannot read.
    """
    f = Path(path).expanduser()
    if not f.is_file():
        raise FileNotFoundError(f"token file {f} does not exist" + (" (it is a directory)" if f.is_dir() else ""))
    if f.suffix == ".npy":
        return _int_tokens(f, _read(f, _load_npy))
    if f.suffix == ".pt":
        return _int_tokens(f, _read(f, _load_pt))
    if f.suffix == ".txt":
        text = _read(f, lambda p: p.read_text(encoding="utf-8"))
        return [p for p in text.split("\n\n") if p.strip()]
    raise ValueError(f"token file {f}: accepted suffixes are .npy, .pt (int [batch, pos]) and .txt (text)")


def _load_npy(f: Path) -> Any:
    import numpy as np
    import torch

    return torch.from_numpy(np.load(f, allow_pickle=False))


def _load_pt(f: Path) -> Any:
    import torch

    return torch.load(f, weights_only=True, map_location="cpu")


def _read(f: Path, load: Callable[[Path], Any]) -> Any:
    """``load(f)``, with any failure to parse the file as a ValueError naming it (one line)."""
    try:
        return load(f)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except Exception as e:  # a loader's error on a foreign file can be of any type
        first = (str(e).strip().splitlines() or [""])[0]
        raise ValueError(f"token file {f} cannot be read as {f.suffix}: {type(e).__name__}: {first}") from e


def _int_tokens(f: Path, t: Any) -> Any:
    import torch

    if not isinstance(t, torch.Tensor):
        raise ValueError(f"token file {f} holds a {type(t).__name__}, not a tensor: save an int tensor [batch, pos]")
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise ValueError(
            f"token file {f} holds {t.dtype} values: token ids must be an integer array "
            "(int64, int32, int16, uint8, ...); refusing to round them"
        )
    return t.to(torch.int64)


def pick_live_feature(ws: Any, name: str) -> int:
    """A readable default: among latents active on 0.2%-5% of tokens, the one with the largest max."""
    import torch

    idx = ws.index(name)
    density = idx.n_active.float() / max(idx.n_tokens, 1)
    ok = (density > 0.002) & (density < 0.05)
    score = torch.where(ok, idx.max_act, torch.full_like(idx.max_act, -1.0))
    return int(torch.argmax(score))


def _export(model: Any, sae: Any, tokens: Any, feature: int | None, out: str, quiet: bool) -> int:
    from .workspace import Workspace

    ws = Workspace(model, saes={"sae": sae}, tokens=tokens, progress=not quiet)
    f = pick_live_feature(ws, "sae") if feature is None else feature
    card = ws.card("sae", feature=f)
    if card.error:
        print(f"featurecard: {card.error}", file=sys.stderr)
        return 1
    path = card.export_html(out)
    print(f"featurecard: wrote the card of latent {f} to {path.resolve()} (open it in a browser; it works offline)")
    return 0


def _index(args: argparse.Namespace) -> int:
    from .card.store import parse_memory_budget
    from .card.store_pass import build_index, open_tokens
    from .card.store_ray import check_workers, import_ray

    budget = parse_memory_budget(args.memory_budget)  # a bad budget or token file fails before the model loads
    if check_workers(args.workers, args.ray):
        try:
            import_ray()
        except ImportError as e:  # the extra that --workers and --ray need, named
            print(f"featurecard: error: {e}", file=sys.stderr)
            return 2
    path = Path(args.tokens).expanduser()
    tokens = open_tokens(path) if path.suffix == ".npy" else load_tokens(path)
    model = load_model_folder(args.model)
    if isinstance(tokens, list):
        from .core.inputs import tokenize
        from .core.model import ModelAdapter

        tokens = tokenize(ModelAdapter(model), tokens, 128)
    out = build_index(model, {"sae": args.sae}, tokens, args.out, device=args.device, memory_budget=budget,
                      batch_size=args.batch_size, progress=not args.quiet, workers=args.workers,
                      ray=args.ray)  # fmt: skip
    print(f"featurecard: wrote the activation store {out.resolve()} (open it with fc.Workspace.open)")
    return 0


def _check_out(out: str, command: str) -> None:
    """Refuse an output path that cannot be a file before any slow work."""
    p = Path(out).expanduser()
    if p.is_dir() and command != "index":
        raise IsADirectoryError(f"--out {p} is a directory: give a file name such as {p / 'card.html'}")


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 500 else text[:497] + "..."


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _check_out(args.out, args.command)
        if args.command == "index":
            return _index(args)
        if args.command == "demo":
            from .embedded import demo

            model, sae, tokens = demo(progress=not args.quiet)
            return _export(model, sae, tokens, args.feature, args.out, args.quiet)
        tokens = load_tokens(args.tokens)  # before the model: a bad token file fails in a second
        model = load_model_folder(args.model)
        return _export(model, args.sae, tokens, args.feature, args.out, args.quiet)
    except (ValueError, TypeError, KeyError, IndexError, OSError) as e:
        # OSError: a missing file, a directory as --out, a full disk or a read-only folder.
        print(f"featurecard: error: {_one_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
