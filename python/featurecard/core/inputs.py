"""What a Workspace accepts, checked when it is made: each error names the bad value and what
is accepted (the Workspace's module docstring lists the inputs)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor

from .model import ModelAdapter, parse_hook
from .sae import SAEError, SparseAutoencoder

# Hooks whose activation is not a vector of units at each position (attention between two positions).
_NO_UNITS = {
    "attn.hook_pattern": "attention weights [batch, head, query_pos, key_pos]",
    "attn.hook_attn_scores": "attention scores [batch, head, query_pos, key_pos]",
}
UNIT_HOOKS = "hooks with a vector at each position, [batch, pos, d] or [batch, pos, head, d_head]"


def holds_ids(dtype: torch.dtype) -> bool:
    """Whether a tensor of ``dtype`` holds token ids as they are: an integer type (a float, bool
    or complex one would have to be rounded or cast, which can silently change ids)."""
    return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)


def check_count(name: str, value: object) -> int:
    """A positive integer setting (``batch_size``, ``seq_len``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= 1; got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1 (accepted: 1, 2, ...); got {value}")
    return value


def check_mapping(name: str, value: object) -> Mapping[str, Any]:
    """``saes`` / ``sae_b``: a mapping from names to SAEs (None: none)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        got = f"a {type(value).__name__}" + (f" of {len(value)}" if isinstance(value, Sequence) else "")
        raise TypeError(
            f"{name} must be a mapping {{name: sae}} (e.g. {{'mlp0': sae}}), each sae a SAELens SAE, a "
            f"SAELens folder or a dict of weights with hook_name; got {got}"
        )
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise TypeError(f"{name} must be keyed by names (str); got the key {bad[0]!r}")
    return value


def check_tokens(adapter: ModelAdapter, tokens: object, seq_len: int) -> Int[Tensor, "batch pos"]:
    """The token dataset: ids ``[batch, pos]``, or text (one string is one document)."""
    if tokens is None:
        raise TypeError("Workspace needs tokens= (an int tensor [batch, pos], a string or a list of strings)")
    if isinstance(tokens, str):
        tokens = [tokens]  # one document, not one per character
    if not isinstance(tokens, Tensor) and isinstance(tokens, Sequence):
        if not tokens or not all(isinstance(t, str) for t in tokens):
            raise TypeError("tokens as a list must be a non-empty list of strings")
        return tokenize(adapter, list(tokens), seq_len)
    if not isinstance(tokens, Tensor):
        raise TypeError(
            f"tokens must be an int tensor [batch, pos], a string or a list of strings; got {type(tokens).__name__}"
        )
    if not holds_ids(tokens.dtype):
        raise TypeError(f"tokens must have an integer dtype (token ids); got {tokens.dtype}")
    if tokens.ndim != 2 or tokens.shape[0] == 0 or tokens.shape[1] == 0:
        raise ValueError(f"tokens must have shape [batch, pos] with batch, pos >= 1; got {tuple(tokens.shape)}")
    n_ctx, d_vocab = adapter.n_ctx, adapter.d_vocab
    if tokens.shape[1] > n_ctx:
        raise ValueError(f"tokens have {tokens.shape[1]} positions; the model's context is n_ctx={n_ctx}")
    lo, hi = int(tokens.min()), int(tokens.max())
    if lo < 0 or hi >= d_vocab:
        raise ValueError(f"token ids span [{lo}, {hi}]; the vocabulary accepts [0, {d_vocab - 1}]")
    return tokens.detach().to("cpu", torch.int64)


def tokenize(adapter: ModelAdapter, texts: list[str], seq_len: int) -> Int[Tensor, "batch pos"]:
    """Texts tokenized, each after BOS, joined and cut into rows of ``min(seq_len, n_ctx)``."""
    seq_len = min(seq_len, adapter.n_ctx)
    bos = adapter.bos_token_id
    stream: list[int] = []
    for t in texts:
        ids = adapter.to_tokens(t, prepend_bos=False)[0].tolist()
        stream += ([bos] if bos is not None else []) + ids
    n = len(stream) // seq_len
    if n == 0:
        raise ValueError(f"the texts give {len(stream)} tokens, fewer than one row of seq_len={seq_len}")
    return torch.tensor(stream[: n * seq_len], dtype=torch.int64).reshape(n, seq_len)


def check_finite(name: str, sae: SparseAutoencoder) -> None:
    """Refuse an SAE with NaN or inf in any weight (cards would fail, tables turn NaN)."""
    for f in dataclasses.fields(sae):
        t = getattr(sae, f.name)
        if not isinstance(t, Tensor) or not (t.dtype.is_floating_point or t.is_complex()):
            continue
        n_nan, n_inf = int(torch.isnan(t).sum()), int(torch.isinf(t).sum())
        if n_nan or n_inf:
            raise SAEError(
                f"SAE {name!r}: {f.name} {tuple(t.shape)} has {n_nan} NaN and {n_inf} inf entries of "
                f"{t.numel()}; every weight must be finite"
            )


def unit_width(hook_name: str, act: Tensor, n_pos: int) -> int:
    """How many units a hook has at each position (its activation on ``n_pos`` positions is
    ``act``); a ValueError for hooks without units at positions (attention patterns)."""
    kind = parse_hook(hook_name).kind
    if kind in _NO_UNITS or act.ndim not in (3, 4) or act.shape[1] != n_pos:
        what = _NO_UNITS.get(kind, f"an activation of shape {tuple(act.shape)} on {n_pos} positions")
        raise ValueError(
            f"{hook_name!r} gives {what}, not units at each position; neuron cards accept {UNIT_HOOKS} "
            "(e.g. blocks.0.mlp.hook_post, blocks.0.hook_resid_post, blocks.0.attn.hook_z)"
        )
    return int(act.flatten(2).shape[-1])


def prompt_tokens(adapter: ModelAdapter, prompt: str | Tensor | Sequence[int]) -> Int[Tensor, " pos"]:
    """One prompt as token ids ``[pos]``: text (BOS prepended), or ids ``[pos]`` / ``[1, pos]``;
    more than ``n_ctx`` tokens (a long text too) is refused with both numbers."""
    if isinstance(prompt, str):
        if not prompt:
            raise ValueError("the prompt is empty")
        # TransformerLens's to_tokens cuts a text at n_ctx by default: ask for every token, so a
        # long text is refused below instead of silently losing its end
        ids = torch.as_tensor(adapter.model.to_tokens(prompt, prepend_bos=True, truncate=False)[0]).cpu()
    elif isinstance(prompt, Tensor):
        if not holds_ids(prompt.dtype):
            raise TypeError(f"prompt tokens must be integer ids; got dtype {prompt.dtype}")
        if prompt.ndim == 2 and prompt.shape[0] == 1:
            prompt = prompt[0]
        if prompt.ndim != 1:
            raise ValueError(f"prompt tokens must have shape [pos] or [1, pos]; got {tuple(prompt.shape)}")
        ids = prompt
    elif isinstance(prompt, Sequence) and all(isinstance(i, int) and not isinstance(i, bool) for i in prompt):
        ids = torch.tensor(list(prompt), dtype=torch.int64)
    else:
        raise TypeError(f"prompt must be a string, an int tensor or a list of ints; got {type(prompt).__name__}")
    n, n_ctx, d_vocab = int(ids.shape[0]), adapter.n_ctx, adapter.d_vocab
    if n == 0:
        raise ValueError("the prompt has no tokens")
    if n > n_ctx:
        raise ValueError(f"the prompt has {n} tokens; the model's context is n_ctx={n_ctx} (accepted: 1 .. {n_ctx})")
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= d_vocab:
        raise ValueError(f"token ids span [{lo}, {hi}]; the vocabulary accepts [0, {d_vocab - 1}]")
    return ids.detach().to("cpu", torch.int64)
