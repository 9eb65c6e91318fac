"""fc.build_index on Ray (a local cluster of 2 CPUs): the store that 2 workers build equals the
in-process store (the index arrays and per-unit statistics to the bit, the neuron sums within
float64 rounding); a worker killed mid-shard is retried and redoes only the chunk it held
uncommitted; `featurecard index --workers 2 --ray auto` end to end on a Hugging Face folder.

The workers log what they compute and commit through Ray's ``worker_process_setup_hook``
(:func:`_instrument`, run in every worker process of the cluster), which also kills one worker
where a test leaves a ``die-once`` file beside the store."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import featurecard as fc
import tiny
from featurecard.card.store import INDEX_ARRAYS, STAT_ARRAYS, SUMS_ARRAYS, open_store
from featurecard.core.sae_input import as_sae
from featurecard.core.saelens_folder import save_saelens_folder

ray = pytest.importorskip("ray", reason="Ray is the optional extra featurecard[ray]")

HOOK = "blocks.0.mlp.hook_post"
BUDGET = 200_000  # bytes: 2-row chunks of 24 tokens (20 chunks), a commit every ~3 chunks
N_ROWS = 40
CLI = [sys.executable, "-m", "featurecard.cli"]


def _instrument() -> None:
    """In each Ray worker: log ``<pid> computed|committed <row0...>`` to ``chunks.log`` beside the
    store; after its first commit, a worker that claims ``die-once`` there exits (os._exit) once
    it has computed its next chunk, before committing it."""
    from featurecard.card.store_build import StoreWriter

    real_add, real_commit = StoreWriter.add, StoreWriter.commit
    dying: list[bool] = []

    def log(w: StoreWriter, line: str) -> None:
        with (w.root.parent / "chunks.log").open("a") as f:
            f.write(f"{os.getpid()} {line}\n")

    def add(self: StoreWriter, row0: int, *args: Any, **kw: Any) -> None:
        log(self, f"computed {row0}")
        if dying:
            log(self, "died")
            os._exit(1)
        real_add(self, row0, *args, **kw)

    def commit(self: StoreWriter) -> None:
        rows = [h.row0 for h in self._held]
        real_commit(self)
        if rows:
            log(self, "committed " + " ".join(map(str, rows)))
            try:
                (self.root.parent / "die-once").rename(self.root.parent / "died-once")  # one claims it
                dying.append(True)
            except FileNotFoundError:
                pass

    StoreWriter.add, StoreWriter.commit = add, commit  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this module
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
             runtime_env={"worker_process_setup_hook": _instrument})  # fmt: skip
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model(tok: Any) -> Any:
    return tiny.hooked_transformer(tok)


@pytest.fixture(scope="module")
def rows(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=N_ROWS, pos=24, seed=6)


@pytest.fixture(scope="module")
def in_process(model: Any, rows: torch.Tensor, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store built in this process: what the Ray builds must equal."""
    return _build(model, rows, tmp_path_factory.mktemp("here") / "st")


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread, as in a Ray task on CPU: the in-process reference then runs the same kernels,
    so bit-equality does not hang on how a CPU's matmul splits its work between threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _build(model: Any, rows: torch.Tensor, out: Path, **kw: Any) -> Path:
    sae = {**tiny.random_sae_weights(64, 48, seed=3), "hook_name": HOOK}
    sae_b = {**tiny.random_sae_weights(64, 48, seed=4), "hook_name": HOOK}
    with one_thread():  # a no-op for the Ray builds' coordinator, which computes nothing itself
        return fc.build_index(model, {"s": sae}, rows, out, sae_b={"s": sae_b}, memory_budget=BUDGET, batch_size=2,
                              progress=False, **kw)  # fmt: skip


def assert_same_store(got_dir: Path, want_dir: Path) -> None:
    """Index arrays and per-unit statistics to the bit; neuron sums within float64 rounding
    (each writer adds its chunks' sums in its own groups): rtol 1e-9, atol 1e-6 x max |sum|."""
    got, want = open_store(got_dir), open_store(want_dir)
    assert got.key == want.key and got.sources == want.sources and got.n_tokens == want.n_tokens
    assert np.array_equal(got.tokens(), want.tokens())
    for source in want.sources:
        for name in (*INDEX_ARRAYS, *STAT_ARRAYS):
            a, b = got.index(source)._map(name), want.index(source)._map(name)
            assert a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8)), (source, name)
        g, w = got.neuron_sums(source), want.neuron_sums(source)
        assert g is not None and w is not None and g.n == w.n
        for n in SUMS_ARRAYS:
            gv, wv = getattr(g, n), getattr(w, n)
            torch.testing.assert_close(gv, wv, rtol=1e-9, atol=1e-6 * float(wv.abs().max()))
    assert not (got_dir / "build").exists()


def _log(folder: Path) -> list[tuple[int, str, list[int]]]:
    out = []
    for line in (folder / "chunks.log").read_text().splitlines():
        pid, what, *rows = line.split()
        out.append((int(pid), what, [int(r) for r in rows]))
    return out


def test_two_workers_build_the_in_process_store(
    cluster: None, model: Any, rows: torch.Tensor, in_process: Path, tmp_path: Path
) -> None:
    got = _build(model, rows, tmp_path / "ray" / "st", ray="auto")  # this process's Ray: one worker per core
    assert_same_store(got, in_process)
    log = _log(tmp_path / "ray")
    computed = Counter(r for _, what, rs in log if what == "computed" for r in rs)
    assert computed == Counter(range(0, N_ROWS, 2)), computed  # every chunk once
    pids = {pid for pid, _, _ in log}
    assert len(pids) == 2 and os.getpid() not in pids  # two worker processes, not this one


def test_a_killed_worker_is_retried_and_redoes_only_its_uncommitted_chunk(
    cluster: None, model: Any, rows: torch.Tensor, in_process: Path, tmp_path: Path
) -> None:
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "die-once").touch()
    got = _build(model, rows, tmp_path / "ray" / "st", workers=2)
    assert (tmp_path / "ray" / "died-once").exists()
    assert_same_store(got, in_process)
    log = _log(tmp_path / "ray")
    dead = {pid for pid, what, _ in log if what == "died"}
    assert len(dead) == 1, log
    (pid,) = dead
    by_dead = [rs[0] for p, what, rs in log if p == pid and what == "computed"]
    kept = {r for p, what, rs in log if p == pid and what == "committed" for r in rs}
    assert kept and by_dead[-1] not in kept  # it died holding its last chunk, after committing some
    computed = Counter(r for _, what, rs in log if what == "computed" for r in rs)
    twice = {r for r, n in computed.items() if n > 1}
    assert set(computed) == set(range(0, N_ROWS, 2)) and twice == {by_dead[-1]}, computed
    assert max(computed.values()) == 2
    committers = Counter(r for _, what, rs in log if what == "committed" for r in rs)
    assert committers == Counter(range(0, N_ROWS, 2))  # each chunk committed once, none twice


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A tiny random GPT-2 saved with save_pretrained, with our BPE tokenizer beside it."""
    from transformers import GPT2Config, GPT2LMHeadModel

    d = tmp_path_factory.mktemp("hf")
    tok = tiny.make_tokenizer(d)
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=32, n_embd=32, n_layer=2, n_head=2,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip
    GPT2LMHeadModel(cfg).save_pretrained(d)
    return d, len(tok)


def test_index_command_with_two_ray_workers(cluster: None, hf_folder: tuple[Path, int], tmp_path: Path) -> None:
    from featurecard.cli import load_model_folder

    folder, vocab = hf_folder
    sae = as_sae({**tiny.random_sae_weights(128, 64, seed=5), "hook_name": HOOK})
    save_saelens_folder(sae, tmp_path / "sae")
    g = torch.Generator().manual_seed(1)
    toks = torch.randint(1, vocab, (12, 20), generator=g)
    np.save(tmp_path / "tokens.npy", toks.numpy().astype(np.int32))
    args = ["index", "--model", str(folder), "--sae", str(tmp_path / "sae"), "--tokens", str(tmp_path / "tokens.npy"),
            "--out", str(tmp_path / "ray"), "--memory-budget", "250KB", "--batch-size", "2", "--quiet",
            "--workers", "2", "--ray", "auto"]  # fmt: skip
    r = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "wrote the activation store" in r.stdout
    with one_thread():
        want = fc.build_index(load_model_folder(folder), {"sae": tmp_path / "sae"}, tmp_path / "tokens.npy",
                              tmp_path / "here", memory_budget="250KB", batch_size=2, progress=False)  # fmt: skip
    assert open_store(tmp_path / "ray").manifest["build"]["spec"]["chunk_rows"] < 12  # several chunks
    assert_same_store(tmp_path / "ray", want)
