"""The ``featurecard`` command: exported cards from the shell.

featurecard demo [--feature N] [--out featurecard-demo.html]
featurecard card --model DIR --sae DIR --tokens FILE --feature N --out FILE
"""

from __future__ import annotations

import argparse
import sys
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
    c.add_argument("--model", required=True, help="model folder")
    c.add_argument("--sae", required=True, help="SAELens folder (cfg.json + sae_weights.safetensors)")
    c.add_argument(
        "--tokens",
        required=True,
        help="token dataset: .npy or .pt int array [batch, pos], or a .txt file of text",
    )
    c.add_argument("--feature", type=int, required=True, help="latent index")
    c.add_argument("--out", required=True, help="output HTML file")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


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
    import numpy as np
    import torch

    f = Path(path).expanduser()
    if not f.is_file():
        raise FileNotFoundError(f"token file {f} does not exist")
    if f.suffix == ".npy":
        return torch.from_numpy(np.load(f).astype(np.int64))
    if f.suffix == ".pt":
        return torch.load(f, weights_only=True)
    if f.suffix == ".txt":
        return [p for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    raise ValueError(f"token file {f}: accepted suffixes are .npy, .pt (int [batch, pos]) and .txt (text)")


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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .embedded import demo

            model, sae, tokens = demo(progress=not args.quiet)
            return _export(model, sae, tokens, args.feature, args.out, args.quiet)
        model = load_model_folder(args.model)
        return _export(model, args.sae, load_tokens(args.tokens), args.feature, args.out, args.quiet)
    except (ValueError, TypeError, KeyError, IndexError, FileNotFoundError) as e:
        print(f"featurecard: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
