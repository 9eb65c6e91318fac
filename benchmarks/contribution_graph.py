"""Contribution graphs: our chunked pass against the full materialisation LLM Transparency Tool uses.

Model: a randomly initialised GPT-2-small-shaped TransformerLens model (12 layers, d_model 768,
12 heads, d_mlp 3072, n_ctx 1024, d_vocab 50257; no download). For each prompt length we time
and measure the peak memory of

* **ours**: :func:`featurecard.graph.build.contributions` (one streamed pass, attention parts walked in
  chunks of query positions; every (head, source) share, edges above 0.01 kept, MLP shares;
  per-neuron tops, the logit lens and promote / suppress off, as the peer computes none of them
  for every position);
* **naive**: LLM Transparency Tool's ops (``run_with_cache`` of every hook, then per layer the
  ``pos × key_pos × head × d_model`` decomposition, flattened, concatenated with the residual,
  ``pairwise_distance``, clip, normalise; MLP shares likewise), run up to ``--naive-max`` tokens.

Peak memory is the process's peak resident set above what it held before the run (Linux
``VmHWM``, reset through ``/proc/self/clear_refs``), or ``torch.cuda.max_memory_allocated`` on
a GPU. For the naive method the script also prints its decomposition tensor per layer
(``4·T²·H·d_model`` bytes in fp32) and, from the measured peak/tensor ratio, the sizes where it
would not fit in 24 GB. Run it by hand on a quiet machine (a few minutes on 2 CPU cores)::

    .venv/bin/python benchmarks/contribution_graph.py                  # CPU, 32..1024 tokens (~5 min)
    .venv/bin/python benchmarks/contribution_graph.py --device cuda --repeats 3
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import tiny  # the tests' small BPE tokenizer: the model only needs one to exist
from featurecard.core.model import ModelAdapter
from featurecard.graph.build import GraphOptions, contributions
from featurecard.graph.contributions import EPS

GPT2_SMALL = {"n_layers": 12, "d_model": 768, "n_heads": 12, "d_head": 64, "d_mlp": 3072, "n_ctx": 1024}
BUDGET = 24 * 2**30


def make_model(device: str) -> Any:
    tok = tiny.make_tokenizer(Path(tempfile.mkdtemp()))
    over = {**GPT2_SMALL, "d_vocab": 50257, "act_fn": "gelu_new"}
    try:
        model = tiny.hooked_transformer(tok, **over)
    except ImportError:  # TransformerLens 4: the bridge only
        model = tiny.bridge(tok, **over)
    return model.to(device)


# -- peak memory ---------------------------------------------------------------------------------
def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(fn: Any, device: str) -> tuple[float, int]:
    """(seconds, peak bytes above the level before) of one call."""
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        base = _rss_kb("VmRSS") * 1024
    t0 = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else _rss_kb("VmHWM") * 1024
    return seconds, peak - base


# -- the peer's method ---------------------------------------------------------------------------
def _llmtt_contributions(parts: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
    """routes/contributions.py `get_contributions`: parts [n, pos, d], whole [pos, d]."""
    distance = torch.nn.functional.pairwise_distance(parts, whole, p=1)
    whole_norm = torch.norm(whole, p=1, dim=-1)
    distance = (whole_norm - distance).clip(min=EPS)
    return distance / distance.sum(dim=0, keepdim=True)


@torch.no_grad()
def naive(model: Any, tokens: torch.Tensor) -> list[torch.Tensor]:
    _, cache = model.run_with_cache(tokens[None])
    out = []
    for layer in range(model.cfg.n_layers):
        pattern, v = cache[f"blocks.{layer}.attn.hook_pattern"][0], cache[f"blocks.{layer}.attn.hook_v"][0]
        z = torch.einsum("khe,hqk->qkhe", v, pattern)
        decomposed = torch.einsum("qkhe,hed->qkhd", z, model.W_O[layer])  # [pos, key_pos, head, d_model]
        del z
        n_pos = decomposed.shape[0]
        parts = decomposed.permute(1, 2, 0, 3).reshape(-1, n_pos, decomposed.shape[-1])
        extra = torch.stack([model.b_O[layer].expand(n_pos, -1), cache[f"blocks.{layer}.hook_resid_pre"][0]])
        c_attn = _llmtt_contributions(torch.cat([parts, extra]), cache[f"blocks.{layer}.hook_resid_mid"][0])
        del decomposed, parts
        mlp_parts = torch.stack([cache[f"blocks.{layer}.hook_mlp_out"][0], cache[f"blocks.{layer}.hook_resid_mid"][0]])
        c_mlp = _llmtt_contributions(mlp_parts, cache[f"blocks.{layer}.hook_resid_post"][0])
        out.append(c_attn[:-2].reshape(n_pos, model.cfg.n_heads, n_pos).sum(1).T)  # [query, key]
        out.append(c_mlp)
    return out


def ours(adapter: ModelAdapter, tokens: torch.Tensor) -> Any:
    return contributions(adapter, tokens, options=GraphOptions(neurons=False, logit_lens=False, promote=False))


def release_freed_memory() -> None:
    """glibc keeps freed blocks below its (adaptive, up to 32 MiB) mmap threshold in the heap, so
    the peak RSS would count memory already freed by an earlier run. A fixed 128 KiB threshold
    maps every larger block and unmaps it when freed: the peak is then what was live. Applies to
    both methods alike."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", default="32,128,256,512,1024")
    ap.add_argument("--naive-max", type=int, default=256, help="largest prompt the naive method runs on")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per size (median), after one warm-up")
    args = ap.parse_args()
    release_freed_memory()
    torch.manual_seed(0)
    model = make_model(args.device)
    adapter = ModelAdapter(model)
    cfg = model.cfg
    print(
        f"model: random GPT-2-small shape ({cfg.n_layers} layers, d_model {cfg.d_model}, {cfg.n_heads} heads, "
        f"d_mlp {cfg.d_mlp}); device {args.device}; torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    sizes = [int(s) for s in args.sizes.split(",")]
    naive_sizes = sorted({s for s in sizes if s <= args.naive_max} | ({args.naive_max} if args.naive_max else set()))
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(1, cfg.d_vocab, (max(sizes + naive_sizes),), generator=g)
    ours(adapter, prompt[:16])  # warm-up: imports, allocator, kernels
    rows: dict[int, dict[str, float]] = {}
    for n in sorted(set(sizes + naive_sizes)):
        row = rows.setdefault(n, {})
        if n in sizes:
            runs = [measure(lambda n=n: ours(adapter, prompt[:n]), args.device) for _ in range(args.repeats)]
            row["ours_s"] = statistics.median(r[0] for r in runs)
            row["ours_mb"] = max(r[1] for r in runs) / 2**20
            print(f"ours  {n:5d} tokens: {row['ours_s']:8.2f} s, peak +{row['ours_mb']:8.0f} MiB", flush=True)
        if n in naive_sizes:
            runs = [measure(lambda n=n: naive(model, prompt[:n]), args.device) for _ in range(args.repeats)]
            row["naive_s"] = statistics.median(r[0] for r in runs)
            row["naive_mb"] = max(r[1] for r in runs) / 2**20
            print(f"naive {n:5d} tokens: {row['naive_s']:8.2f} s, peak +{row['naive_mb']:8.0f} MiB", flush=True)
    if naive_sizes:  # agreement on the shared parts, at the smallest size
        n = naive_sizes[0]
        mine = ours(adapter, prompt[:n])
        ref = naive(model, prompt[:n])[0]  # layer 0, [query, key], summed over heads
        dense = torch.zeros(n, n)
        keep = mine.edge_layer == 0
        dense[mine.edge_query[keep], mine.edge_key[keep]] = mine.edge_share[keep]
        mask = dense > 0
        gap = float((dense - ref)[mask].abs().max())
        print(  # the peer adds pairwise_distance's eps=1e-6 per coordinate, counts later tokens as eps parts
            f"agreement at {n} tokens, layer 0 edges above 0.01: max |ours - naive| = {gap:.1e}"
        )
    cols = ["tokens", "ours time", "ours peak", "naive time", "naive peak", "naive tensor/layer", "time x", "memory x"]
    print("\n| " + " | ".join(cols) + " |")
    print("|---|---|---|---|---|---|---|---|")
    ratio_mem = []
    for n, r in sorted(rows.items()):
        tensor = 4 * n * n * cfg.n_heads * cfg.d_model / 2**20
        cells = [f"{n}", _s(r.get("ours_s")), _mb(r.get("ours_mb")), _s(r.get("naive_s")), _mb(r.get("naive_mb"))]
        cells.append(f"{tensor:,.0f} MiB")
        if "ours_s" in r and "naive_s" in r:
            cells += [f"{r['naive_s'] / r['ours_s']:.1f}x", f"{r['naive_mb'] / max(r['ours_mb'], 1):.1f}x"]
            ratio_mem.append(r["naive_mb"] / tensor)
        elif "naive_mb" in r:
            ratio_mem.append(r["naive_mb"] / tensor)
            cells += ["", ""]
        else:
            cells += ["", ""]
        print("| " + " | ".join(cells) + " |")
    if ratio_mem:
        k = max(ratio_mem)
        print(f"\nnaive peak / decomposition tensor: up to {k:.1f}x")
        for n in sizes:
            need = k * 4 * n * n * cfg.n_heads * cfg.d_model
            if need > BUDGET:
                print(f"naive at {n} tokens would need ~{need / 2**30:,.0f} GiB: does not fit in 24 GB")


def _s(v: float | None) -> str:
    return "" if v is None else f"{v:.2f} s"


def _mb(v: float | None) -> str:
    return "" if v is None else f"{v:,.0f} MiB"


if __name__ == "__main__":
    main()
