"""The store build on one GPU against a bare forward pass of the same model over the same tokens.

Issue #15 asks, when a GPU is lent, for the in-process build's tokens/s on CUDA against a bare
forward pass (goal: at least 50 % of it). This is that one prepared script: the GPT-2-small-shaped
random model and 24,576-latent SAE of ``scale.py --shape gpt2`` (made here, seeded; no hub), its
random tokens, then in one process

* **bare**: ``model(tokens)`` over every row in batches, the whole model, and again stopped at the
  SAE's block (``stop_at_layer``), each timed after one warm-up batch, with a device sync;
* **build**: ``fc.build_index(model, {"sae": sae}, tokens.npy, store, device=...)`` timed whole
  (its forward, encoder, runs and the merge on disk).

Prints one JSON line: tokens/s of each and the ratios build / bare. On a CPU it runs the same
code (``--device cpu --rows 8`` is a quick check that the script works)::

    .venv/bin/python benchmarks/cuda_build.py --device cuda --rows 2048

On the lent machine its ``python3`` has torch, transformers, tokenizers, einops and jaxtyping;
featurecard, transformer_lens and their other needs travel as wheels (the device README's recipe).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import GPT2_SAE, load_shape, token_file


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare(model: torch.nn.Module, tokens: torch.Tensor, batch: int, device: torch.device, stop: int | None) -> float:
    """Tokens per second of the model's own forward over ``tokens`` (one warm-up batch first)."""
    model(tokens[:batch].to(device), stop_at_layer=stop)
    sync(device)
    t0 = time.perf_counter()
    for r in range(0, tokens.shape[0], batch):
        model(tokens[r : r + batch].to(device), stop_at_layer=stop)
    sync(device)
    return tokens.numel() / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--rows", type=int, default=2048, help="rows of 128 tokens")
    ap.add_argument("--batch", type=int, default=32, help="rows per forward batch (the build's default)")
    ap.add_argument("--budget", default="4GB", help="the build's memory_budget")
    work = Path(tempfile.gettempdir()) / "featurecard-cuda-build"
    ap.add_argument("--work", type=Path, default=work, help=f"model, tokens and store (default: {work})")
    args = ap.parse_args()
    import featurecard as fc

    torch.set_grad_enabled(False)
    args.work.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    model, sae = load_shape("gpt2", args.work)
    model = model.to(device)
    path = token_file("gpt2", args.rows, args.work)
    tokens = torch.from_numpy(np.load(path)).long()
    layer = int(GPT2_SAE["hook"].split(".")[1])
    full, to_hook = bare(model, tokens, args.batch, device, None), bare(model, tokens, args.batch, device, layer)
    store = args.work / "store"
    shutil.rmtree(store, ignore_errors=True)
    sync(device)
    t0 = time.perf_counter()
    fc.build_index(model, {"sae": sae}, path, store, device=str(device), memory_budget=args.budget, progress=False)
    sync(device)
    build = tokens.numel() / (time.perf_counter() - t0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(json.dumps({
        "device": name, "tokens": tokens.numel(), "torch": torch.__version__,
        "bare_full_tok_s": round(full), "bare_to_sae_hook_tok_s": round(to_hook), "build_tok_s": round(build),
        "build_over_bare_full": round(build / full, 3), "build_over_bare_to_hook": round(build / to_hook, 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
