"""Small real models for tests: a BPE tokenizer trained here, random TransformerLens models.

Not mocks: real HookedTransformer / TransformerBridge objects, just tiny and untrained, so tests
compare our numbers against independent references computed on the same weights.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch

TEXT = (
    "The model computes the attention pattern for each head. "
    "Returns a tensor of shape (batch, pos). The value of the argument is <b>bold</b> and "
    "</script><i>x</i> & more. Each layer adds to the residual stream.\n"
) * 20


# Block variants that glue around a model's own attention must follow (the last block at
# chosen positions, fused attention in dataset passes): keyword overrides of hooked_transformer.
BLOCK_VARIANTS: dict[str, dict[str, Any]] = {
    "gelu-LN": {},
    "rotary-neox-partial": {"positional_embedding_type": "rotary", "rotary_dim": 8, "rotary_adjacent_pairs": False},
    "rotary-gptj": {"positional_embedding_type": "rotary", "rotary_dim": 16, "rotary_adjacent_pairs": True},
    "gqa-rms-gated": {
        "n_key_value_heads": 1,
        "normalization_type": "RMS",
        "gated_mlp": True,
        "act_fn": "silu",
        "positional_embedding_type": "rotary",
        "rotary_dim": 16,
    },
    "parallel": {"parallel_attn_mlp": True},
    "attn-only": {"attn_only": True},
}


def tl_major() -> int:
    """The installed TransformerLens major version (4 has no HookedTransformer)."""
    from importlib.metadata import version

    return int(version("transformer-lens").split(".")[0])


# The TransformerLens model kinds this environment has (both in TL 3.x, the bridge alone in 4.x).
MODEL_KINDS = ["HookedTransformer", "TransformerBridge"] if tl_major() < 4 else ["TransformerBridge"]


def make_tokenizer(folder: Path, vocab_size: int = 300, extra_tokens: tuple[str, ...] = ()) -> Any:
    """A byte-level BPE tokenizer with BOS prepended, saved and loaded back (as TL requires)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tk.train_from_iterator([TEXT], trainer)
    if extra_tokens:
        tk.add_tokens(list(extra_tokens))
    tk.post_processor = processors.TemplateProcessing(single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", 0)])
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    wrapped.save_pretrained(str(folder))
    return PreTrainedTokenizerFast.from_pretrained(str(folder))


def _cfg_kwargs(tok: Any, **over: Any) -> dict[str, Any]:
    kw = {
        "n_layers": 2,
        "d_model": 32,
        "n_heads": 2,
        "d_head": 16,
        "d_mlp": 64,
        "n_ctx": 32,
        "act_fn": "gelu",
        "normalization_type": "LN",
        "d_vocab": len(tok),
        "seed": 0,
    }
    kw.update(over)
    return kw


def hooked_transformer(tok: Any, **over: Any) -> Any:
    import warnings

    from transformer_lens import HookedTransformer, HookedTransformerConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = HookedTransformer(HookedTransformerConfig(**_cfg_kwargs(tok, **over)), tokenizer=tok)
    _randomize_biases(model)
    return model.eval()


def bridge(tok: Any, **over: Any) -> Any:
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    model = TransformerBridge.boot_native(TransformerBridgeConfig(**_cfg_kwargs(tok, **over)), tokenizer=tok)
    _randomize_biases(model)
    return model.eval()


def _randomize_biases(model: Any) -> None:
    # Fresh models have zero biases and unit LN weights: make every term matter in the tests.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 or "ln" in name or name.endswith(("b_in", "b_out", "b_O", "b_U")):
                p.add_(0.1 * torch.randn(p.shape, generator=g))


@functools.cache
def random_sae_weights(d_in: int, d_sae: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "W_enc": torch.randn(d_in, d_sae, generator=g) / d_in**0.5,
        "b_enc": 0.1 * torch.randn(d_sae, generator=g) - 0.05,
        "W_dec": torch.randn(d_sae, d_in, generator=g) / d_in**0.5,
        "b_dec": 0.1 * torch.randn(d_in, generator=g),
    }


def random_tokens(tok: Any, batch: int = 8, pos: int = 24, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, len(tok), (batch, pos), generator=g)
    ids[:, 0] = tok.bos_token_id
    return ids


def hand_dfa(model: Any, row: torch.Tensor, w: dict[str, Any], q: int, f: int) -> tuple[np.ndarray, float, float]:
    """Direct feature attribution of latent ``f`` of an SAE on ``blocks.1.attn.hook_z`` (weights ``w``)
    at position ``q`` to sources ``0 .. q``, by loops over heads and sources from ``run_with_cache``;
    the latent's pre-activation there and its bias terms (a reference for the card's and the prompt
    view's DFA)."""
    _, cache = model.run_with_cache(row[None])
    pattern = cache["blocks.1.attn.hook_pattern"][0].double()  # [head, q, k]
    v = cache["blocks.1.attn.hook_v"][0].double()  # [k, head, d_head]
    n_heads, d_head = v.shape[1], v.shape[2]
    w_enc = w["W_enc"].double()
    out = np.zeros(q + 1)
    for s in range(q + 1):
        for h in range(n_heads):
            out[s] += float(pattern[h, q, s] * (v[s, h] @ w_enc[h * d_head : (h + 1) * d_head, f]))
    z = cache["blocks.1.attn.hook_z"][0, q].flatten().double()
    pre = float((z - w["b_dec"].double()) @ w_enc[:, f] + w["b_enc"][f])
    bias = float(w["b_enc"][f] - w["b_dec"].double() @ w_enc[:, f])
    return out, pre, bias
