"""Building, caching and loading the embedded demo: ``demo()`` returns ``(model, sae, tokens)``.

The cache lives in ``$FEATURECARD_CACHE_DIR`` or ``platformdirs.user_cache_dir("featurecard")``,
under ``demo/<recipe name>-v<format>-<hash of recipe fields and corpus fingerprint>/``::

    tokenizer/                       tokenizer.json + tokenizer_config.json (Hugging Face folder)
    model.safetensors                the TransformerBridge's state_dict
    model_config.json                its TransformerBridgeConfig keyword arguments
    sae/                             SAELens 6 folder: cfg.json + sae_weights.safetensors (TopK)
    tokens.npy                       held-out sequences, uint16 [heldout_seqs, n_ctx], BOS first
    build_info.json                  versions, recipe, corpus facts, metrics, timings, file hashes

A build writes into a temporary sibling folder that ``os.replace`` moves into place, under a
``filelock.FileLock``, so two kernels never build the same entry at once and a crashed build
leaves nothing half-written. Loading checks the files' SHA-256 against ``build_info.json``; an
entry that fails the check is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .recipe import Recipe

CACHE_ENV = "FEATURECARD_CACHE_DIR"
_FILES = (
    "model.safetensors",
    "model_config.json",
    "tokens.npy",
    "sae/cfg.json",
    "sae/sae_weights.safetensors",
    "tokenizer/tokenizer.json",
    "tokenizer/tokenizer_config.json",
)


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Where demo builds are cached: ``cache_dir``, else ``$FEATURECARD_CACHE_DIR``, else the user cache."""
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV) or None
    if cache_dir is None:
        import platformdirs

        cache_dir = platformdirs.user_cache_dir("featurecard")
    return Path(cache_dir).expanduser() / "demo"


def entry_dir(recipe: Recipe | str = "default", cache_dir: str | Path | None = None) -> Path:
    """The cache folder of ``recipe``'s build (it may not exist yet)."""
    r = Recipe.named(recipe) if isinstance(recipe, str) else recipe
    return cache_root(cache_dir) / r.cache_key()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_complete(folder: Path) -> bool:
    """``folder`` holds a finished build whose files match the hashes in its ``build_info.json``."""
    try:
        info = json.loads((folder / "build_info.json").read_text())
        hashes: dict[str, str] = info["files"]
        return all(_sha256(folder / name) == hashes[name] for name in _FILES)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("featurecard", "torch", "transformer-lens", "transformers", "tokenizers", "numpy", "safetensors"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def build(recipe: Recipe, folder: Path, progress: bool = True) -> dict[str, Any]:
    """Build everything for ``recipe`` into the (empty) ``folder``; returns the build info."""
    import numpy as np
    import torch

    from ..core.saelens_folder import save_saelens_folder
    from .corpus import build_corpus, corpus_sha256, source_roots
    from .evaluate import evaluate, unigram_entropy
    from .sae_train import train_sae
    from .tokenizer import encode_stream, train_tokenizer
    from .train import make_sequences, new_model, save_model_dir, shuffled, split, train_model

    timings: dict[str, float] = {}
    t0 = t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[name] = round(now - t, 3)
        t = now

    def say(msg: str) -> None:
        if progress:
            print(f"featurecard demo: {msg}", file=sys.stderr, flush=True)

    say(f"extracting the corpus ({recipe.corpus_sources} docstrings)")
    paragraphs = build_corpus(recipe.corpus_sources, recipe.corpus_max_bytes)
    lap("corpus")
    say(f"training the tokenizer on {len(paragraphs)} paragraphs")
    tokenizer = train_tokenizer(paragraphs, recipe.vocab_size, folder / "tokenizer")
    lap("tokenizer")
    stream = encode_stream(tokenizer, shuffled(paragraphs, recipe.data_seed))
    data = split(make_sequences(stream, recipe.n_ctx), recipe.heldout_seqs)
    lap("encode")
    with torch.random.fork_rng(devices=[]):  # seed freely without touching the caller's RNG
        model = new_model(recipe, tokenizer)
        lap("import_and_init")
        model_stats = train_model(model, data.train, recipe, progress)
        lap("model")
        sae, sae_stats = train_sae(model, data.train, recipe, progress)
        lap("sae")
    metrics = evaluate(model, sae, data.heldout)
    metrics["unigram_entropy"] = unigram_entropy(data.train.numpy()[:, 1:], recipe.vocab_size)
    lap("evaluate")

    save_model_dir(model, recipe, folder)
    save_saelens_folder(
        sae,
        folder / "sae",
        model_name=f"featurecard-demo-{recipe.name}",
        prepend_bos=True,
        context_size=recipe.n_ctx,
    )
    np.save(folder / "tokens.npy", data.heldout.numpy().astype(np.uint16))
    lap("save")
    timings["total"] = round(time.perf_counter() - t0, 3)
    info: dict[str, Any] = {
        "cache_key": recipe.cache_key(),
        "fingerprint": recipe.fingerprint(),
        "versions": _versions(),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
        },
        "corpus": {
            "paragraphs": len(paragraphs),
            "bytes": sum(len(p.encode()) + 1 for p in paragraphs),
            "sha256": corpus_sha256(paragraphs),
            "roots": [name for name, _ in source_roots(recipe.corpus_sources)],
            "stream_tokens": len(stream),
            "train_sequences": len(data.train),
        },
        "seeds": {"model": recipe.model_seed, "data": recipe.data_seed, "sae": recipe.sae_seed},
        "metrics": metrics,
        "training": {"model": model_stats, "sae": sae_stats},
        "timings_s": timings,
        "files": {name: _sha256(folder / name) for name in _FILES},
    }
    (folder / "build_info.json").write_text(json.dumps(info, indent=2))
    return info


def ensure_built(recipe: Recipe, cache_dir: str | Path | None = None, progress: bool = True) -> Path:
    """The cache folder of ``recipe``, building it first (under a file lock) when it is missing."""
    from filelock import FileLock

    folder = entry_dir(recipe, cache_dir)
    if is_complete(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f"{folder.name}.lock")):
        if is_complete(folder):  # another kernel built it while we waited
            return folder
        if progress:
            print(
                f"featurecard demo: building '{recipe.name}' once (a few minutes on 2 CPU cores); cached in {folder}",
                file=sys.stderr,
                flush=True,
            )
        for stale in folder.parent.glob(f".{folder.name}.tmp-*"):  # left by a killed build; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it private (0o700); an entry is ordinary cache data
            build(recipe, tmp, progress)
            if folder.exists():  # a stale or corrupt entry
                shutil.rmtree(folder)
            tmp.replace(folder)  # atomic rename on one file system
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_entry(folder: Path, device: Any = None) -> tuple[Any, Any, Any]:
    """``(model, sae, tokens)`` from a finished cache folder."""
    import numpy as np
    import torch

    from ..core.saelens_folder import load_saelens_folder
    from .train import load_model_dir

    model = load_model_dir(folder, device=device)
    sae = load_saelens_folder(folder / "sae", device=device)
    tokens = torch.from_numpy(np.load(folder / "tokens.npy").astype(np.int64))
    if device is not None:
        tokens = tokens.to(device)
    return model, sae, tokens


def demo(
    *, recipe: Recipe | str = "default", cache_dir: str | Path | None = None, progress: bool = True, device: Any = None
) -> tuple[Any, Any, Any]:
    """The embedded demo: ``(model, sae, tokens)``, built offline on first use and cached after.

    * ``model``: a TransformerLens ``TransformerBridge`` (2 layers, d_model 128, 4096-token BPE for
      the default), in eval mode, on ``device`` (CPU by default).
    * ``sae``: a :class:`~featurecard.core.sae.SparseAutoencoder`, TopK, on
      ``blocks.0.mlp.hook_post``; its folder (``<cache entry>/sae``) also opens with SAELens.
    * ``tokens``: ``LongTensor [256, 128]`` of held-out sequences, each starting with BOS.

    The first call builds (about 3–5 minutes on 2 idle CPU cores, with progress bars); later
    calls load in seconds. ``recipe="tiny"`` builds a toy version in seconds. The build itself
    always runs on the CPU, so a cached entry does not depend on ``device``.
    """
    r = Recipe.named(recipe) if isinstance(recipe, str) else recipe
    folder = ensure_built(r, cache_dir, progress)
    return load_entry(folder, device)


__all__ = ["CACHE_ENV", "build", "cache_root", "demo", "ensure_built", "entry_dir", "is_complete", "load_entry"]
