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
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .recipe import Recipe

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from .train import Data

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


class _Laps:
    """Wall time of each build step, in the order the steps ran."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.start = self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self.last, 3)
        self.last = now

    def total(self) -> dict[str, float]:
        return {**self.timings, "total": round(time.perf_counter() - self.start, 3)}


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(f"featurecard demo: {msg}", file=sys.stderr, flush=True)


@dataclass
class _Data:
    """The corpus, its tokenizer and the token sequences the build trains and evaluates on."""

    paragraphs: list[str]
    tokenizer: Any  # a tokenizers.Tokenizer
    stream: NDArray[np.int64]  # the shuffled corpus as one stream of token ids
    sequences: Data  # training and held-out sequences


@dataclass
class _Trained:
    model: Any
    sae: Any
    stats: dict[str, Any]  # training stats: {"model": ..., "sae": ...}


def _data(recipe: Recipe, folder: Path, laps: _Laps, progress: bool) -> _Data:
    """Corpus, tokenizer (saved in ``folder``) and the training / held-out sequences."""
    from .corpus import build_corpus
    from .tokenizer import encode_stream, train_tokenizer
    from .train import make_sequences, shuffled, split

    _say(progress, f"extracting the corpus ({recipe.corpus_sources} docstrings)")
    paragraphs = build_corpus(recipe.corpus_sources, recipe.corpus_max_bytes)
    laps.lap("corpus")
    _say(progress, f"training the tokenizer on {len(paragraphs)} paragraphs")
    tokenizer = train_tokenizer(paragraphs, recipe.vocab_size, folder / "tokenizer")
    laps.lap("tokenizer")
    stream = encode_stream(tokenizer, shuffled(paragraphs, recipe.data_seed))
    data = split(make_sequences(stream, recipe.n_ctx), recipe.heldout_seqs)
    laps.lap("encode")
    return _Data(paragraphs, tokenizer, stream, data)


def _train(recipe: Recipe, data: _Data, laps: _Laps, progress: bool) -> _Trained:
    """The model, then the SAE on it, seeded without touching the caller's random state."""
    import torch

    from .sae_train import train_sae
    from .train import new_model, train_model

    with torch.random.fork_rng(devices=[]):  # seed freely without touching the caller's RNG
        model = new_model(recipe, data.tokenizer)
        laps.lap("import_and_init")
        model_stats = train_model(model, data.sequences.train, recipe, progress)
        laps.lap("model")
        sae, sae_stats = train_sae(model, data.sequences.train, recipe, progress)
        laps.lap("sae")
    return _Trained(model, sae, {"model": model_stats, "sae": sae_stats})


def _evaluate(recipe: Recipe, data: _Data, trained: _Trained) -> dict[str, Any]:
    from .evaluate import evaluate, unigram_entropy

    metrics = evaluate(trained.model, trained.sae, data.sequences.heldout)
    metrics["unigram_entropy"] = unigram_entropy(data.sequences.train.numpy()[:, 1:], recipe.vocab_size)
    return metrics


def _save(recipe: Recipe, folder: Path, data: _Data, trained: _Trained) -> None:
    """The model, the SAE (a SAELens folder) and the held-out tokens, into ``folder``."""
    import numpy as np

    from ..core.saelens_folder import save_saelens_folder
    from .train import save_model_dir

    save_model_dir(trained.model, recipe, folder)
    save_saelens_folder(
        trained.sae,
        folder / "sae",
        model_name=f"featurecard-demo-{recipe.name}",
        prepend_bos=True,
        context_size=recipe.n_ctx,
    )
    np.save(folder / "tokens.npy", data.sequences.heldout.numpy().astype(np.uint16))


def _build_info(
    recipe: Recipe, folder: Path, data: _Data, trained: _Trained, metrics: dict[str, Any], timings: dict[str, float]
) -> dict[str, Any]:
    """What ``build_info.json`` records: versions, machine, corpus, seeds, metrics, timings, hashes."""
    import torch

    from .corpus import corpus_sha256, source_roots

    paragraphs = data.paragraphs
    return {
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
            "stream_tokens": len(data.stream),
            "train_sequences": len(data.sequences.train),
        },
        "seeds": {"model": recipe.model_seed, "data": recipe.data_seed, "sae": recipe.sae_seed},
        "metrics": metrics,
        "training": trained.stats,
        "timings_s": timings,
        "files": {name: _sha256(folder / name) for name in _FILES},
    }


def build(recipe: Recipe, folder: Path, progress: bool = True) -> dict[str, Any]:
    """Build everything for ``recipe`` into the (empty) ``folder``; returns the build info."""
    laps = _Laps()
    data = _data(recipe, folder, laps, progress)
    trained = _train(recipe, data, laps, progress)
    metrics = _evaluate(recipe, data, trained)
    laps.lap("evaluate")
    _save(recipe, folder, data, trained)
    laps.lap("save")
    info = _build_info(recipe, folder, data, trained, metrics, laps.total())
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
