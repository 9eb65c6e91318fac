"""The build recipe of the embedded demo: every size, step count, learning rate and seed.

A :class:`Recipe` fully determines a build on a given machine, together with the corpus (which
follows the installed Python and package versions, see :mod:`.corpus`). Its fields and the corpus
fingerprint make the cache key, so changing any field builds (and caches) a new model.

``Recipe.default()`` is the recipe chosen by measuring sizes and step counts on 2 CPU cores: a 2-layer
d_model 128 transformer on ~12 MB of docstrings, trained 360 steps, and a TopK SAE (k 32, 2048
latents) on ``blocks.0.mlp.hook_post``; about 3.5 minutes on 2 idle CPU cores.
``Recipe.tiny()`` is the same pipeline at toy size for tests (seconds).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .corpus import Sources, corpus_fingerprint

#: Bump when the build or the cache layout changes in a way the recipe fields do not show.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Recipe:
    """Everything a demo build depends on, besides the installed corpus sources."""

    name: str = "default"
    # corpus
    corpus_sources: Sources = "all"
    corpus_max_bytes: int | None = None
    # tokenizer
    vocab_size: int = 4096
    # model (a TransformerBridgeConfig)
    n_layers: int = 2
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    n_ctx: int = 128
    act_fn: str = "gelu"
    normalization_type: str = "LN"
    # model training: AdamW, linear warmup then cosine decay to min_lr_frac * lr
    model_seed: int = 0
    data_seed: int = 1
    batch_size: int = 32
    model_steps: int = 360
    lr: float = 2e-3
    warmup_steps: int = 50
    min_lr_frac: float = 0.1
    weight_decay: float = 0.05
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    # held-out sequences (each [BOS] + n_ctx - 1 tokens): returned by demo(), used for metrics
    heldout_seqs: int = 256
    # SAE (TopK) on one hook
    sae_hook: str = "blocks.0.mlp.hook_post"
    sae_latents: int = 2048
    sae_k: int = 32
    sae_steps: int = 150
    sae_batch: int = 4096
    sae_lr: float = 2e-3
    sae_seed: int = 2
    sae_refill_steps: int = 16

    @classmethod
    def default(cls) -> Recipe:
        return cls()

    @classmethod
    def tiny(cls) -> Recipe:
        """A few seconds' build for tests: stdlib-only corpus, toy sizes, same code path."""
        return cls(
            name="tiny",
            corpus_sources="stdlib",
            corpus_max_bytes=1_500_000,
            vocab_size=512,
            n_layers=2,
            d_model=64,
            n_heads=2,
            d_head=32,
            d_mlp=256,
            n_ctx=64,
            batch_size=32,
            model_steps=100,
            lr=4e-3,
            warmup_steps=10,
            heldout_seqs=32,
            sae_latents=256,
            sae_k=8,
            sae_steps=30,
            sae_batch=1024,
            sae_lr=4e-3,
            sae_refill_steps=10,
        )

    @classmethod
    def named(cls, name: str) -> Recipe:
        recipes = {"default": cls.default, "tiny": cls.tiny}
        if name not in recipes:
            raise ValueError(f"unknown demo recipe {name!r}; known: {sorted(recipes)} (or pass a Recipe)")
        return recipes[name]()

    def replace(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, **changes)

    def fields(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def model_config(self) -> dict[str, Any]:
        """Keyword arguments of ``TransformerBridgeConfig`` (the same in TransformerLens 3.9 and 4.x)."""
        return {
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "n_heads": self.n_heads,
            "d_head": self.d_head,
            "d_mlp": self.d_mlp,
            "n_ctx": self.n_ctx,
            "act_fn": self.act_fn,
            "normalization_type": self.normalization_type,
            "d_vocab": self.vocab_size,
            "seed": self.model_seed,
        }

    def fingerprint(self) -> dict[str, Any]:
        """What the cache key hashes: the recipe, the corpus sources' versions and the format version."""
        return {
            "format": FORMAT_VERSION,
            "recipe": self.fields(),
            "corpus": corpus_fingerprint(self.corpus_sources, self.corpus_max_bytes),
        }

    def cache_key(self) -> str:
        """``<name>-v<format>-<12 hex digits>``: the folder name of this build in the cache."""
        blob = json.dumps(self.fingerprint(), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
        return f"{self.name}-v{FORMAT_VERSION}-{digest}"


__all__ = ["FORMAT_VERSION", "Recipe"]
