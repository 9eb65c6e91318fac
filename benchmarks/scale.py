"""Large datasets: featurecard's first cards against SAEDashboard from 32k to 1.05M tokens, and
the activation store's growth curve to 3.1M tokens.

Inputs: the peer benchmark's model and SAE (``peers/inputs.py``: a 2-layer ``HookedTransformer``,
d_model 128, a 2,048-latent ReLU SAE on ``blocks.0.mlp.hook_post``, ~62 nonzeros per token),
its 256 rows of 128 tokens repeated with a shift to the size asked for (``ray_build.dataset``);
or, with ``--shape gpt2``, a random model of GPT-2 small's shape (12 layers, d_model 768,
vocabulary 50,257) and a random 24,576-latent ReLU SAE on ``blocks.8.hook_resid_pre`` with ~64
active latents per token, on random token ids.

Two parts, each a fresh process per measurement (so peak memory is that measurement's own):

``side``: per size and round, interleaved so a busy spell of the machine hits both:

* **ours**: from nothing (a new ``Workspace``, no store) to the first ``--cards`` cards the
  widget draws (``card_states(..., complete=False)``) after one warm-up as the peer has, its
  peak RSS (``VmHWM``) at that moment, then the complete index (what the background build
  makes; built here in the calling thread, after the first cards) and the peak RSS once it is
  in memory;
* **SAEDashboard** 0.8.0 (its own venv, ``peers/run_peer.py``): the same cards (one warm-up
  in the process, then one timed run), its peak RSS;
* **reopen**: a store of the same tokens (built once per size, not timed here), opened in a
  fresh process with ``Workspace.open(verify=True)`` and its first complete card.

The ratio SAEDashboard / ours is taken per round; the median over rounds is reported.

``growth``: per size, ``fc.build_index`` from a memory-mapped ``.npy`` with ``--budget``, its
time (tokens/s), peak RSS and peak anonymous memory (``RssAnon``, sampled every 20 ms; mapped
pages are ``RssFile`` and reported apart), the store's size (bytes per nonzero); then, in a
fresh process after the store's and the tokens' pages were evicted (``posix_fadvise(DONTNEED)``),
``Workspace.open`` (with and without ``verify``), the first card as the widget draws it
(``complete=False``: a panel that would read much of the index is pending), the complete card
it asks for next, and ``RssAnon`` while showing ``--browse`` complete cards of random latents.

Usage (a quiet machine; minutes per part)::

    bash benchmarks/peers/setup.sh                                   # SAEDashboard's venv, once
    .venv/bin/python benchmarks/scale.py side --rows 256 2048 8192 --rounds 3
    .venv/bin/python benchmarks/scale.py growth --rows 256 2048 8192 24576 --budget 1GB
    .venv/bin/python benchmarks/scale.py growth --shape gpt2 --rows 256 --budget 1GB

Prints one JSON line per measurement and a table at the end. Not a test: numbers for the README.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SEQ = 128
GPT2 = {
    "n_layers": 12, "d_model": 768, "n_heads": 12, "d_head": 64, "d_mlp": 3072, "d_vocab": 50257,
    "n_ctx": 1024, "act_fn": "gelu_new", "normalization_type": "LN", "seed": 0,
}  # fmt: skip
GPT2_SAE = {"d_sae": 24576, "hook": "blocks.8.hook_resid_pre", "active": 64}


# -- memory --------------------------------------------------------------------------------
def status_kb() -> dict[str, int]:
    """``/proc/self/status`` memory lines in KiB (VmHWM, VmRSS, RssAnon, RssFile)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = int(rest.split()[0])
    return out


class Sampler:
    """The largest ``RssAnon`` and ``RssFile`` seen, sampled every ``every`` seconds in a thread."""

    def __init__(self, every: float = 0.02) -> None:
        self.every, self.anon, self.file = every, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            s = status_kb()
            self.anon, self.file = max(self.anon, s["RssAnon"]), max(self.file, s["RssFile"])
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        s = status_kb()
        self.anon, self.file = max(self.anon, s["RssAnon"]), max(self.file, s["RssFile"])


def mb(kib: float) -> float:
    return round(kib / 1024, 1)


def evict(paths: list[Path]) -> None:
    """Drop the page cache of every file under ``paths`` (written pages are synced first)."""
    os.sync()
    for root in paths:
        for f in [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]:
            fd = os.open(f, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# -- inputs --------------------------------------------------------------------------------
def bench_inputs() -> dict[str, Any]:
    from peers.common import load_shared_inputs

    inp = load_shared_inputs()
    sae = {k: v for k, v in inp["raw"]["sae"].items() if k in ("W_enc", "b_enc", "W_dec", "b_dec", "hook_name")}
    return {"model": inp["model"], "sae": sae, "tokens": inp["tokens"], "raw": inp["raw"]}


def gpt2_files(work: Path) -> Path:
    """A random GPT-2-small-shaped model and SAE, written once to ``work/gpt2.pt`` (seeded)."""
    path = work / "gpt2.pt"
    if path.exists():
        return path
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    model = HookedTransformer(HookedTransformerConfig(**GPT2))
    g = torch.Generator().manual_seed(1)
    d, n = GPT2["d_model"], GPT2_SAE["d_sae"]
    w_dec = torch.randn(n, d, generator=g)
    w_dec /= w_dec.norm(dim=1, keepdim=True)
    w_enc = (w_dec + 0.1 * torch.randn(n, d, generator=g)).T.contiguous()
    probe = torch.randint(0, GPT2["d_vocab"], (8, SEQ), generator=g)
    _, cache = model.run_with_cache(probe, names_filter=GPT2_SAE["hook"], stop_at_layer=9)
    pre = cache[GPT2_SAE["hook"]][:, 1:].reshape(-1, d) @ w_enc
    q = 1 - GPT2_SAE["active"] / n
    b_enc = -torch.cat([torch.quantile(pre[:, i : i + 4096], q, dim=0) for i in range(0, n, 4096)])
    sae = {"W_enc": w_enc, "b_enc": b_enc, "W_dec": w_dec, "b_dec": torch.zeros(d), "hook_name": GPT2_SAE["hook"]}
    torch.save({"state": model.state_dict(), "sae": sae}, path)
    return path


def load_shape(shape: str, work: Path) -> tuple[Any, dict[str, Any]]:
    """The model and SAE dict of ``shape`` (``bench`` or ``gpt2``)."""
    if shape == "bench":
        inp = bench_inputs()
        return inp["model"], inp["sae"]
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    data = torch.load(gpt2_files(work), weights_only=True)
    model = HookedTransformer(HookedTransformerConfig(**GPT2))
    model.load_state_dict(data["state"])
    model.set_tokenizer(synthetic_tokenizer(GPT2["d_vocab"]), default_padding_side="right")
    return model.eval(), data["sae"]


def synthetic_tokenizer(d_vocab: int) -> Any:
    """A word-level tokenizer of ``d_vocab`` made-up words (``w0`` .. ``w50256``; the last is BOS/EOS,
    as in GPT-2): the random model's cards need token strings, and GPT-2's own tokenizer cannot be
    fetched here. Its size, not its words, is what the benchmark measures (vocabulary tables,
    logit tables over 50,257 tokens)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    eos = f"w{d_vocab - 1}"
    tok = Tokenizer(models.WordLevel({f"w{i}": i for i in range(d_vocab)}, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=eos, eos_token=eos, unk_token="w0", pad_token=eos,
        name_or_path="synthetic", add_bos_token=True,
    )  # fmt: skip


def token_file(shape: str, rows: int, work: Path) -> Path:
    """``rows`` × 128 token ids as an int32 ``.npy`` in ``work`` (written once)."""
    path = work / f"tokens-{shape}-{rows}.npy"
    if not path.exists():
        if shape == "bench":
            from ray_build import dataset

            arr = dataset(bench_inputs()["tokens"], rows)
        else:
            g = np.random.default_rng(2)
            arr = g.integers(1, GPT2["d_vocab"], size=(rows, SEQ), dtype=np.int32)
            arr[:, 0] = 50256  # BOS, as GPT-2's tokenizer would prepend
        np.save(path, arr)
    return path


def peer_inputs_file(rows: int) -> Path:
    """The peers' shared inputs with the tokens repeated to ``rows`` rows (next to the original,
    where its tokenizer folder is found)."""
    from peers.common import default_inputs
    from ray_build import dataset

    base = default_inputs()
    path = base.with_name(f"inputs-rows{rows}.pt")
    if not path.exists():
        data = torch.load(base, weights_only=True)
        data["tokens"] = torch.from_numpy(dataset(data["tokens"], rows)).long()
        torch.save(data, path)
    return path


# -- one measurement per process -------------------------------------------------------------
def child_ours(args: argparse.Namespace) -> dict[str, Any]:
    """From nothing (a new Workspace) to the first cards, then the complete index.

    As the peer's runner does (its warm-up is the same computation on the same inputs), one
    warm-up first: a Workspace on the same tokens making the same cards, then dropped; so both
    sides time their computation, not the first calls of a process. The warm-up's own time is
    reported as the cold first call (``cold_first_cards_s``). The background build is switched
    off while the first cards are timed, so their peak memory is their own; the complete index
    is then built in the calling thread (what the background thread runs)."""
    from featurecard.card import first_cards
    from featurecard.workspace import Workspace

    torch.set_grad_enabled(False)
    first_cards.BACKGROUND = False
    model, sae = load_shape("bench", args.work)
    tokens = torch.from_numpy(np.load(token_file("bench", args.rows, args.work))).long()
    features = list(range(args.cards))
    t0 = time.perf_counter()
    warm = Workspace(model, saes={"sae": sae}, tokens=tokens, progress=False)
    warm.card_states("sae", features, False)
    warmup = time.perf_counter() - t0
    warm.close()
    del warm
    gc.collect()  # the warm-up's Workspace is gone before the timed one starts
    hwm0 = status_kb()["VmHWM"]
    t0 = time.perf_counter()
    ws = Workspace(model, saes={"sae": sae}, tokens=tokens, progress=False)
    ws.card_states("sae", features, complete=False)
    first = time.perf_counter() - t0
    at_first = status_kb()
    t1 = time.perf_counter()
    ws.index("sae")
    complete = time.perf_counter() - t1
    return {
        "first_cards_s": round(first, 3), "cold_first_cards_s": round(warmup, 3),
        "complete_index_s": round(complete, 2),
        "hwm_before_mb": mb(hwm0), "hwm_first_mb": mb(at_first["VmHWM"]), "anon_first_mb": mb(at_first["RssAnon"]),
        "hwm_complete_mb": mb(status_kb()["VmHWM"]), "torch_threads": torch.get_num_threads(),
    }  # fmt: skip


def child_build(args: argparse.Namespace) -> dict[str, Any]:
    import featurecard as fc

    torch.set_grad_enabled(False)
    model, sae = load_shape(args.shape, args.work)
    tokens = token_file(args.shape, args.rows, args.work)
    with Sampler() as s:
        before = status_kb()
        t0 = time.perf_counter()
        fc.build_index(model, {"sae": sae}, tokens, args.store, memory_budget=args.budget, progress=False)
        took = time.perf_counter() - t0
    from featurecard.card.store import open_store

    nnz = open_store(args.store).index("sae").nnz
    size = sum(p.stat().st_size for p in Path(args.store).rglob("*") if p.is_file())
    return {
        "build_s": round(took, 2), "tokens_per_s": round(args.rows * SEQ / took), "nnz": nnz,
        "store_bytes": size, "bytes_per_nonzero": round(size / nnz, 2),
        "peak_anon_mb": mb(s.anon), "anon_before_mb": mb(before["RssAnon"]),
        "peak_anon_growth_mb": mb(s.anon - before["RssAnon"]), "peak_file_mb": mb(s.file),
        "hwm_mb": mb(status_kb()["VmHWM"]),
    }  # fmt: skip


def child_open(args: argparse.Namespace) -> dict[str, Any]:
    """Open a cold store, show its first card, then browse cards of random latents."""
    from featurecard.workspace import Workspace

    torch.set_grad_enabled(False)
    model, sae = load_shape(args.shape, args.work)
    before = status_kb()
    t0 = time.perf_counter()
    ws = Workspace.open(args.store, model, saes={"sae": sae}, verify=args.verify, progress=False)
    opened = time.perf_counter() - t0
    quick = ws.card_state("sae", 0, complete=False)  # what the widget draws first
    first = time.perf_counter() - t0
    ws.card_state("sae", 0)  # what it asks for next when a panel is pending
    completed = time.perf_counter() - t0
    rng = random.Random(3)
    units = rng.sample(range(1, ws.source("sae").d_sae), args.browse)
    with Sampler() as s:
        t1 = time.perf_counter()
        for u in units:
            ws.card_state("sae", u)
        browse = (time.perf_counter() - t1) / len(units)
    return {
        "verify": args.verify, "open_s": round(opened, 3), "open_first_card_s": round(first, 3),
        "first_card_pending": quick["pending"], "open_complete_card_s": round(completed, 3),
        "card_s_browsing": round(browse, 3), "anon_before_open_mb": mb(before["RssAnon"]),
        "peak_anon_browsing_mb": mb(s.anon), "anon_growth_browsing_mb": mb(s.anon - before["RssAnon"]),
        "peak_file_browsing_mb": mb(s.file),
    }  # fmt: skip


CHILDREN = {"_ours": child_ours, "_build": child_build, "_open": child_open}


def spawn(kind: str, **kw: Any) -> dict[str, Any]:
    """Run ``kind`` in a fresh process of this interpreter; its one JSON line."""
    cmd = [sys.executable, __file__, kind]
    for k, v in kw.items():
        if isinstance(v, bool):
            cmd += [f"--{k}"] if v else []
        else:
            cmd += [f"--{k}", str(v)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{kind} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


@contextmanager
def workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="featurecard-scale-") as tmp:
        yield Path(tmp)


def emit(row: dict[str, Any]) -> dict[str, Any]:
    print(json.dumps(row), flush=True)
    return row


# -- the two parts ---------------------------------------------------------------------------
def side(args: argparse.Namespace, work: Path) -> None:
    from peers.common import run_peer

    table = []
    for rows in args.rows:
        store = work / f"store-bench-{rows}"
        if not (store / "manifest.json").exists():
            emit({"part": "side", "rows": rows, "store": spawn("_build", work=work, shape="bench", rows=rows,
                                                                store=store, budget=args.budget)})  # fmt: skip
        ours, peer, reopen = [], [], []
        for r in range(args.rounds):
            ours.append(spawn("_ours", work=work, rows=rows, cards=args.cards))
            res = run_peer("sae-dashboard", args.cards, 1, inputs=peer_inputs_file(rows))
            peer.append({"s": res["wall_median_s"], "hwm_mb": round(res["peak_rss_mb"], 1)})
            reopen.append(spawn("_open", work=work, shape="bench", store=store, browse=1, verify=True))
            emit({"part": "side", "rows": rows, "round": r, "ours": ours[-1], "sae_dashboard": peer[-1],
                  "reopen": reopen[-1]})  # fmt: skip
        med = statistics.median
        table.append({
            "tokens": rows * SEQ,
            "ours_s": med(o["first_cards_s"] for o in ours), "peer_s": med(p["s"] for p in peer),
            "ratio": med(p["s"] / o["first_cards_s"] for o, p in zip(ours, peer, strict=True)),
            "ours_hwm_mb": max(o["hwm_first_mb"] for o in ours), "peer_hwm_mb": max(p["hwm_mb"] for p in peer),
            "complete_s": med(o["complete_index_s"] for o in ours),
            "complete_hwm_mb": max(o["hwm_complete_mb"] for o in ours),
            "reopen_first_card_s": med(x["open_first_card_s"] for x in reopen),
        })  # fmt: skip
    print("| tokens | our first cards | SAEDashboard | ratio (median of rounds) | our peak RSS | SAEDashboard's | "
          "complete index in memory (background) | its peak RSS | reopen + first card |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for t in table:
        print(f"| {t['tokens']:,} | {t['ours_s']:.2f} s | {t['peer_s']:.2f} s | {t['ratio']:.2f}x | "
              f"{t['ours_hwm_mb']:.0f} MB | {t['peer_hwm_mb']:.0f} MB | {t['complete_s']:.1f} s | "
              f"{t['complete_hwm_mb']:.0f} MB | {t['reopen_first_card_s']:.2f} s |")  # fmt: skip


def growth(args: argparse.Namespace, work: Path) -> None:
    table = []
    for rows in args.rows:
        store = work / f"store-{args.shape}-{rows}"
        if store.exists():
            import shutil

            shutil.rmtree(store)
        token_file(args.shape, rows, work)  # written before the timed build
        if args.shape == "gpt2":
            gpt2_files(work)
        built = spawn("_build", work=work, shape=args.shape, rows=rows, store=store, budget=args.budget)
        evict([store, token_file(args.shape, rows, work)])
        cold = spawn("_open", work=work, shape=args.shape, store=store, browse=args.browse, verify=True)
        evict([store])
        cold_nv = spawn("_open", work=work, shape=args.shape, store=store, browse=1, verify=False)
        row = {"part": "growth", "shape": args.shape, "rows": rows, "tokens": rows * SEQ, "budget": args.budget}
        table.append(emit({**row, "build": built, "open": cold, "open_no_verify": cold_nv}))
        if not args.keep:
            import shutil

            shutil.rmtree(store)
    print(f"shape {args.shape}, memory_budget {args.budget}")
    print("| tokens | build tokens/s | build peak RssAnon (growth) | store bytes/nonzero | open (verify) | "
          "open + first card, cold (pending) | + its complete card | open without verify + first card | "
          "card while browsing | RssAnon browsing |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t in table:
        b, o, n = t["build"], t["open"], t["open_no_verify"]
        anon = f"{b['peak_anon_mb']:.0f} MB ({b['peak_anon_growth_mb']:.0f})"
        print(f"| {t['tokens']:,} | {b['tokens_per_s']:,} | {anon} | {b['bytes_per_nonzero']} | {o['open_s']:.2f} s | "
              f"{o['open_first_card_s']:.2f} s ({', '.join(o['first_card_pending']) or '-'}) | "
              f"{o['open_complete_card_s']:.2f} s | {n['open_first_card_s']:.2f} s | {o['card_s_browsing']:.3f} s | "
              f"{o['peak_anon_browsing_mb']:.0f} MB |")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("side", "growth"):
        p = sub.add_parser(name)
        p.add_argument("--rows", type=int, nargs="+", default=[256, 2048, 8192], help="rows of 128 tokens")
        p.add_argument("--budget", default="1GB", help="memory_budget of the store builds")
        p.add_argument("--work", type=Path, default=None, help="keep token files and stores here (default: a tmp dir)")
    side_p, growth_p = sub.choices["side"], sub.choices["growth"]
    side_p.add_argument("--rounds", type=int, default=3)
    side_p.add_argument("--cards", type=int, default=8)
    growth_p.add_argument("--shape", choices=("bench", "gpt2"), default="bench")
    growth_p.add_argument("--browse", type=int, default=20)
    growth_p.add_argument("--keep", action="store_true", help="keep the stores in --work")
    for name in CHILDREN:
        p = sub.add_parser(name)
        p.add_argument("--work", type=Path, required=True)
        p.add_argument("--rows", type=int, default=256)
        p.add_argument("--cards", type=int, default=8)
        p.add_argument("--shape", default="bench")
        p.add_argument("--store", type=Path)
        p.add_argument("--budget", default="1GB")
        p.add_argument("--browse", type=int, default=20)
        p.add_argument("--verify", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd in CHILDREN:
        os.environ.setdefault("TQDM_DISABLE", "1")
        print(json.dumps(CHILDREN[args.cmd](args)), flush=True)
        os._exit(0)  # background builds are daemon threads: no waiting for them at exit
    with workdir(args.work) as work:
        (side if args.cmd == "side" else growth)(args, work)


if __name__ == "__main__":
    main()
