"""The embedded demo, built for real at the tiny recipe (no mocks), checked against independent facts."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from featurecard import embedded
from featurecard.embedded import Recipe, threads

ROOT = Path(__file__).resolve().parents[1]

TL4_PYTHON = ROOT / ".venv-tl4" / "bin" / "python"
TINY = Recipe.tiny()


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cache = tmp_path_factory.mktemp("demo-cache")
    start = time.perf_counter()
    model, sae, tokens = embedded.demo(recipe=TINY, cache_dir=cache, progress=False)
    seconds = time.perf_counter() - start
    folder = embedded.entry_dir(TINY, cache)
    info = json.loads((folder / "build_info.json").read_text())
    return {
        "cache": cache,
        "folder": folder,
        "model": model,
        "sae": sae,
        "tokens": tokens,
        "info": info,
        "seconds": seconds,
    }


@pytest.fixture(scope="session")
def train_stream(built: dict[str, Any]) -> np.ndarray:
    """The tiny recipe's training tokens, recomputed from the corpus with the saved tokenizer."""
    from featurecard.embedded.corpus import build_corpus
    from featurecard.embedded.tokenizer import encode_stream, load_tokenizer

    paragraphs = build_corpus(TINY.corpus_sources, TINY.corpus_max_bytes)
    tok = load_tokenizer(built["folder"] / "tokenizer")
    return encode_stream(tok, paragraphs)


def test_layout_and_tokens(built: dict[str, Any]) -> None:
    folder: Path = built["folder"]
    for name in (
        "tokenizer/tokenizer.json",
        "model.safetensors",
        "model_config.json",
        "sae/cfg.json",
        "sae/sae_weights.safetensors",
        "tokens.npy",
        "build_info.json",
    ):
        assert (folder / name).is_file(), name
    assert folder.parent == built["cache"] / "demo"
    assert folder.name.startswith("tiny-v1-")
    tokens = built["tokens"]
    assert isinstance(tokens, torch.Tensor)
    assert tokens.dtype == torch.int64
    assert tuple(tokens.shape) == (TINY.heldout_seqs, TINY.n_ctx)
    bos = built["model"].tokenizer.bos_token_id
    assert (tokens[:, 0] == bos).all()
    assert int(tokens.max()) < TINY.vocab_size
    saved = np.load(folder / "tokens.npy")
    assert saved.dtype == np.uint16
    assert np.array_equal(saved.astype(np.int64), tokens.numpy())
    assert not built["model"].training


def test_tokenizer_round_trip_and_single_bos(built: dict[str, Any]) -> None:
    tok = built["model"].tokenizer
    text = "The value of the argument is returned as a tensor.\nÜnïcode — ✓ too."
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id == 0
    assert ids.count(0) == 1
    assert tok.decode(ids[1:]) == text
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_to_str_tokens_through_the_model(built: dict[str, Any]) -> None:
    model = built["model"]
    text = "The model computes the attention pattern."
    strs = model.to_str_tokens(text)
    assert strs[0] == "<|endoftext|>"
    assert "".join(strs[1:]) == text
    tokens = model.to_tokens(text)
    assert int((tokens == 0).sum()) == 1
    assert tokens.shape[-1] == len(strs)


def test_model_beats_unigram_and_uniform(built: dict[str, Any], train_stream: np.ndarray) -> None:
    counts = np.bincount(train_stream, minlength=TINY.vocab_size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    unigram = float(-(p * np.log(p)).sum())
    model, tokens = built["model"], built["tokens"]
    with torch.no_grad():
        logits = model(tokens, return_type="logits")
    loss = float(torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten()))
    assert loss < unigram < np.log(TINY.vocab_size)
    assert loss == pytest.approx(built["info"]["metrics"]["heldout_loss"], abs=1e-4)


def test_sae_metrics_are_consistent(built: dict[str, Any]) -> None:
    sae, m = built["sae"], built["info"]["metrics"]
    assert sae.architecture == "topk"
    assert sae.k == TINY.sae_k
    assert sae.hook_name == "blocks.0.mlp.hook_post"
    assert (sae.d_in, sae.d_sae) == (TINY.d_mlp, TINY.sae_latents)
    assert m["sae_l0"] <= TINY.sae_k
    assert 0.3 < m["sae_explained_variance"] <= 1
    assert 0 <= m["sae_dead_fraction"] < 0.5
    assert m["ce_clean"] <= m["ce_spliced"] < m["ce_zero_ablation"]


def test_saelens_loads_the_folder_and_encodes_the_same(built: dict[str, Any]) -> None:
    sae_lens = pytest.importorskip("sae_lens")
    ref = sae_lens.SAE.load_from_disk(str(built["folder"] / "sae"), device="cpu")
    assert ref.cfg.architecture() == "topk"
    assert ref.cfg.metadata.hook_name == "blocks.0.mlp.hook_post"
    model, sae, tokens = built["model"], built["sae"], built["tokens"]
    _, cache = model.run_with_cache(tokens[:4], names_filter=lambda n: n == sae.hook_name)
    x = cache[sae.hook_name][:, 1:].reshape(-1, sae.d_in)
    with torch.no_grad():
        ours, theirs = sae.encode(x), ref.encode(x)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert (ours > 0).sum(-1).max() <= TINY.sae_k


def test_second_call_loads_from_cache(built: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from featurecard.embedded import build as build_module

    def no_build(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("demo() rebuilt a cached entry")

    monkeypatch.setattr(build_module, "build", no_build)
    model, sae, tokens = embedded.demo(recipe=TINY, cache_dir=built["cache"], progress=False)
    assert torch.equal(tokens, built["tokens"])
    assert torch.equal(sae.W_enc, built["sae"].W_enc)
    for (name, a), b in zip(model.state_dict().items(), built["model"].state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_cache_key_follows_recipe_fields(tmp_path: Path) -> None:
    base = TINY.cache_key()
    assert base == Recipe.tiny().cache_key()
    assert TINY.replace(sae_k=4).cache_key() != base
    assert TINY.replace(model_seed=7).cache_key() != base
    assert TINY.replace(lr=1e-3).cache_key() != base
    assert Recipe.default().cache_key() != base
    assert embedded.entry_dir("tiny", tmp_path) == tmp_path / "demo" / base


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(embedded.CACHE_ENV, str(tmp_path))
    assert embedded.cache_root() == tmp_path / "demo"


def test_corrupt_entry_is_not_complete(built: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "entry"
    shutil.copytree(built["folder"], copy)
    assert embedded.is_complete(copy)
    (copy / "tokens.npy").write_bytes(b"garbage")
    assert not embedded.is_complete(copy)


@pytest.mark.slow
def test_builds_are_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two builds with a fixed thread count are equal to the bit, even when the machine's load
    changes between them (the governor would otherwise change the thread count, and with it the
    last bits: a busy neighbour is simulated for the second build)."""
    from safetensors.torch import load_file

    monkeypatch.setenv("FEATURECARD_BUILD_THREADS", "1")
    first = embedded.ensure_built(TINY, tmp_path / "a", progress=False)
    # the second build sees a neighbour using every core (the governor, were it on, would react)
    monkeypatch.setattr(threads, "_busy_cpu_seconds", lambda: 2.0 * time.perf_counter())
    folder = embedded.ensure_built(TINY, tmp_path / "b", progress=False)
    for name in ("model.safetensors", "sae/sae_weights.safetensors"):
        a, b = load_file(str(first / name)), load_file(str(folder / name))
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}:{key}"
    assert (first / "tokens.npy").read_bytes() == (folder / "tokens.npy").read_bytes()
    tok_json = "tokenizer/tokenizer.json"
    assert (first / tok_json).read_text() == (folder / tok_json).read_text()
    info = json.loads((folder / "build_info.json").read_text())
    assert {str(n) for part in ("model", "sae") for n in info["training"][part]["steps_by_threads"]} == {"1"}


def test_the_build_thread_count_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURECARD_BUILD_THREADS", "0")
    with pytest.raises(ValueError, match="FEATURECARD_BUILD_THREADS='0'"):
        threads.ThreadGovernor()


_TL4_SCRIPT = """
import sys, json, torch
from importlib.metadata import version
from featurecard.embedded import load_model_dir
model = load_model_dir(sys.argv[1])
tokens = torch.tensor(json.loads(sys.argv[2]))
with torch.no_grad():
    logits = model(tokens, return_type="logits")
print(json.dumps({"tl": version("transformer-lens"), "logits": logits.tolist()}))
"""


def test_saved_model_loads_in_transformer_lens_4(built: dict[str, Any]) -> None:
    if not TL4_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the TransformerLens 4 environment at {TL4_PYTHON}")
        pytest.skip(f"no TransformerLens 4 environment at {TL4_PYTHON} (create .venv-tl4 to run this check)")
    tokens = built["tokens"][:2, :16]
    with torch.no_grad():
        ours = built["model"](tokens, return_type="logits")
    path = os.pathsep.join(filter(None, [str(ROOT / "python"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [str(TL4_PYTHON), "-c", _TL4_SCRIPT, str(built["folder"]), json.dumps(tokens.tolist())],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert int(out["tl"].split(".")[0]) >= 4
    theirs = torch.tensor(out["logits"])
    assert theirs.shape == ours.shape
    assert float((theirs - ours).abs().max()) < 1e-4


def test_thread_governor_yields_cores_to_busy_neighbours(monkeypatch: pytest.MonkeyPatch) -> None:
    from featurecard.embedded import threads

    start = torch.get_num_threads()
    clock = iter(range(0, 10_000, 100))  # every look: 100 more busy CPU-seconds, far beyond our own use
    monkeypatch.setattr(threads, "_busy_cpu_seconds", lambda: float(next(clock)))
    torch.set_num_threads(2)
    try:
        with threads.ThreadGovernor(every=1, cores=2) as gov:
            gov.tick()
            assert torch.get_num_threads() == 1
            assert gov.others > 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(start)


def test_sparse_topk_backward_matches_dense_autograd() -> None:
    from featurecard.embedded.sae_train import topk_reconstruct

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 16, generator=g).relu()
    base = {
        "W_enc": torch.randn(16, 48, generator=g),
        "b_enc": 0.1 * torch.randn(48, generator=g),
        "W_dec": torch.randn(48, 16, generator=g),
        "b_dec": 0.1 * torch.randn(16, generator=g),
    }
    sparse = {k: torch.nn.Parameter(v.clone()) for k, v in base.items()}
    dense = {k: torch.nn.Parameter(v.clone()) for k, v in base.items()}
    loss_sparse = (topk_reconstruct(x, sparse, 5) - x).pow(2).sum()
    pre = (x - dense["b_dec"]) @ dense["W_enc"] + dense["b_enc"]
    top = pre.topk(5, dim=-1)
    f = torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())
    loss_dense = (f @ dense["W_dec"] + dense["b_dec"] - x).pow(2).sum()
    loss_sparse.backward()
    loss_dense.backward()
    torch.testing.assert_close(loss_sparse, loss_dense)
    for name in base:
        ours, ref = sparse[name].grad, dense[name].grad
        assert ours is not None and ref is not None
        scale = float(ref.abs().max())
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6 * scale, msg=name)
