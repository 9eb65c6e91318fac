"""A card's prompt block: the prompt a card was opened from, with the unit's activation at each token.

A card opened from a prompt view (``Workspace.prompt``) shows that prompt above its examples,
drawn as an example row is (shaded by the unit's activation, the token it was opened from
marked). The block is :class:`~featurecard.core.schema.CardPrompt`: its tokens index its own
local vocabulary (as a widened example row's do, :func:`~.payload.window_payload`), so the card's
own vocabulary and budget are untouched. For an SAE on an attention output the block also holds
the unit's DFA at the token it was opened from (:mod:`featurecard.prompt.dfa`), drawn as a second
row. Torch-free, like every payload module.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from ..core.codecs import encode_array
from ..core.schema import CardPrompt, FeatureCardState
from ..core.vocab import BytesOf, local_vocab


def prompt_block(
    text: str,
    token_ids: np.ndarray,
    acts: np.ndarray,
    focus: int,
    token_bytes: BytesOf,
    dfa: np.ndarray | None = None,
) -> CardPrompt:
    """The block of a prompt of ``token_ids`` with the unit's ``acts`` at each; ``focus`` in
    ``[-1, n - 1]`` (-1: no token); ``dfa``: the unit's DFA at ``focus`` to sources ``0 .. focus``
    (an SAE on an attention output), or None."""
    ids = np.asarray(token_ids, dtype=np.int64)
    values = np.asarray(acts, dtype=np.float32)
    n = int(ids.shape[0])
    if ids.ndim != 1 or values.shape != (n,):
        raise ValueError(f"token_ids {ids.shape} and acts {values.shape} must both have shape [n]")
    if not -1 <= focus < n:
        raise ValueError(f"focus must be a token position in [0, {n - 1}] (or -1: none); got {focus}")
    if dfa is not None and (focus < 0 or np.shape(dfa) != (focus + 1,)):
        raise ValueError(f"dfa has shape {np.shape(dfa)}; at focus {focus} it must be ({focus + 1},)")
    vocab = local_vocab([ids], token_bytes)
    block: CardPrompt = {
        "text": text,
        "tokens": vocab.indices(0),
        "acts": encode_array(values, "float32"),
        "focus": int(focus),
        "dfa": None if dfa is None else encode_array(np.asarray(dfa, dtype=np.float32), "float32"),
        "vocab": vocab.texts,
        "vocab_ids": vocab.ids_payload,
        "vocab_bytes": vocab.partial,
    }
    return block


def with_prompt(state: FeatureCardState, block: CardPrompt) -> FeatureCardState:
    """``state`` with the prompt block added (a new dict; the cached card is left as it was)."""
    out = dict(state)
    out["prompt"] = block
    return cast("FeatureCardState", out)
