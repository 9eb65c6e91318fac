"""The prompt view's versioned payload, and its builder from plain arrays (no torch here).

Every key here is mirrored one-to-one by ``js/src/prompt/schema.ts`` (checked by
``tests/unit/core/test_schema_sync.py``); it carries the one ``SCHEMA_VERSION`` of
``core/schema.py`` and ``kind: "prompt_view"``. The prompt's tokens are indices into the state's
local ``vocab`` (ids and bytes as every view sends them, :mod:`featurecard.core.vocab`); the
firing (position, latent) pairs travel as parallel typed arrays sorted by position (largest
activation first at each), 20 bytes a pair plus DFA's ragged values (4 bytes per source token
of each pair) for attention-output SAEs. NaN (no next token, no dataset token counted) travels
as a float32 NaN inside the binary arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

import numpy as np

from ..core.codecs import encode_array, encode_indices
from ..core.schema import SCHEMA_VERSION, ArrayPayload, TokenBytes
from ..core.vocab import BytesOf, local_vocab


class PromptPairs(TypedDict):
    """Every (position, latent) pair where a latent fires, by position, largest activation first."""

    pos: ArrayPayload  # uint [m], token position in the prompt
    latent: ArrayPayload  # int32 [m]
    act: ArrayPayload  # float32 [m], the latent's activation there
    quantile: ArrayPayload  # float32 [m], fraction of the dataset's counted tokens where it is lower
    loss_next: ArrayPayload  # float32 [m], next-token loss without its write minus with it (NaN at the end)
    loss_prompt: ArrayPayload  # float32 [m], the prompt's mean next-token loss, same difference


class PromptDfa(TypedDict):
    """DFA of each pair to its source tokens (attention-output SAEs): pair i's sources 0 .. pos[i]
    are values[offsets[i]:offsets[i + 1]]; they sum to pre[i] - bias[i]."""

    offsets: ArrayPayload  # int32 [m + 1]
    values: ArrayPayload  # float32 [sum(pos + 1)]
    pre: ArrayPayload  # float32 [m], the pair's pre-activation
    bias: ArrayPayload  # float32 [m], its bias terms, carried by no source token


class PromptState(TypedDict):
    """Everything the prompt view needs to redraw without a kernel."""

    schema_version: int
    kind: Literal["prompt_view"]
    source: str  # the SAE's name in the Workspace
    hook: str
    n_latents: int
    text: str  # the prompt as given ('' when given as token ids)
    tokens: ArrayPayload  # uint [n_pos], indices into vocab
    counted: ArrayPayload  # uint8 [n_pos], 1 where the dataset counts the token (0: BOS, excluded)
    clean_loss: ArrayPayload  # float32 [n_pos - 1], next-token loss of the clean prompt
    pairs: PromptPairs
    dfa: PromptDfa | None  # None unless the SAE reads an attention output (see unavailable)
    n_tokens: int  # counted tokens of the dataset the quantiles are over
    vocab: list[str]  # the prompt's token texts, see core/vocab.py
    vocab_ids: ArrayPayload  # uint [n_vocab], the model's token id of each vocab entry
    vocab_bytes: TokenBytes  # raw bytes of the vocab entries that are not whole UTF-8 text
    unavailable: dict[str, str]  # "dfa" / "loss" -> why it is not shown
    notes: list[str]  # how the numbers were made


# The synced traitlets of the PromptView widget, mirrored by `PromptModel` in js/src/prompt/schema.ts.
PROMPT_TRAITS: dict[str, str] = {
    "state": "PromptState | {}: the prompt view",
    "selected": "{unit, pos} | {source, unit} | {}: the latent whose card is open ('select' request)",
    "card": "FeatureCardState | {}: the open latent's card, the prompt above its examples",
    "error": "str: why the last request failed ('' when it did not); the last good state stays",
    "busy": "bool: a computation is running",
}


@dataclass(frozen=True)
class PromptNumbers:
    """The plain numbers of a prompt view (numpy), as the session computed them."""

    ids: np.ndarray  # int64 [n_pos]
    counted: np.ndarray  # bool [n_pos]
    pos: np.ndarray  # int64 [m]
    latent: np.ndarray  # int64 [m]
    act: np.ndarray  # float [m]
    quantile: np.ndarray  # float [m]
    loss_next: np.ndarray  # float [m]
    loss_prompt: np.ndarray  # float [m]
    clean_loss: np.ndarray  # float [n_pos - 1]
    n_tokens: int
    dfa: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None  # offsets, values, pre, bias


def _f32(a: np.ndarray) -> ArrayPayload:
    return encode_array(np.asarray(a, dtype=np.float32), "float32")


def build_prompt_state(
    source: str,
    hook: str,
    n_latents: int,
    text: str,
    num: PromptNumbers,
    token_bytes: BytesOf,
    unavailable: dict[str, str],
    notes: Sequence[str],
) -> PromptState:
    """The payload of one prompt view; ``token_bytes``: token ids -> raw bytes."""
    m = int(num.pos.shape[0])
    for name in ("latent", "act", "quantile", "loss_next", "loss_prompt"):
        if getattr(num, name).shape != (m,):
            raise ValueError(f"{name} has shape {getattr(num, name).shape}; it must be ({m},), one per pair")
    vocab = local_vocab([num.ids], token_bytes)
    dfa: PromptDfa | None = None
    if num.dfa is not None:
        offsets, values, pre, bias = num.dfa
        dfa = {
            "offsets": encode_array(offsets, "int32"),
            "values": _f32(values),
            "pre": _f32(pre),
            "bias": _f32(bias),
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "prompt_view",
        "source": source,
        "hook": hook,
        "n_latents": int(n_latents),
        "text": text,
        "tokens": vocab.indices(0),
        "counted": encode_array(num.counted.astype(np.uint8), "uint8"),
        "clean_loss": _f32(num.clean_loss),
        "pairs": {
            "pos": encode_indices(num.pos),
            "latent": encode_array(num.latent, "int32"),
            "act": _f32(num.act),
            "quantile": _f32(num.quantile),
            "loss_next": _f32(num.loss_next),
            "loss_prompt": _f32(num.loss_prompt),
        },
        "dfa": dfa,
        "n_tokens": int(num.n_tokens),
        "vocab": vocab.texts,
        "vocab_ids": vocab.ids_payload,
        "vocab_bytes": vocab.partial,
        "unavailable": dict(unavailable),
        "notes": list(notes),
    }
