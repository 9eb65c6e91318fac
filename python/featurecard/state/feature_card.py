"""Builds a :class:`FeatureCardState` from plain arrays (numpy; no torch here).

Token ids are replaced by indices into a small local ``vocab`` list holding only the strings
this card shows, so a 50k-token vocabulary never travels. The local vocabulary is filled in
the order hover tokens, logit tokens, example tokens: the hover tables hold most indices
(``n_hover x 10``) and their few distinct tokens then get the smallest indices.

Size: every index array takes the smallest unsigned type that holds it (uint8, uint16, else
int32); hover effects (log-prob changes, loss change) travel as float16, which keeps three
significant digits, all the tooltip shows. Activations, logit tables and histograms stay
float32. Tokens are sent as text; the few that are not whole UTF-8 on their own (pieces of a
character cut by byte-level BPE) also as bytes (``vocab_bytes``), see
:mod:`featurecard.adapters.token_bytes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .codecs import encode_array
from .schema import (
    SCHEMA_VERSION,
    AlignmentTable,
    ArrayPayload,
    CorrelationTable,
    ExampleGroup,
    Examples,
    FeatureCardState,
    Histogram,
    Hover,
    LeftPanels,
    LogitTable,
    TokenBytes,
)


@dataclass(frozen=True)
class ExampleSeq:
    row: int
    start: int
    focus: int  # dataset position of the token that selected this sequence
    token_ids: np.ndarray  # int [w]
    acts: np.ndarray  # float [w]


@dataclass(frozen=True)
class LogitRows:
    top_ids: np.ndarray
    top_values: np.ndarray
    bottom_ids: np.ndarray
    bottom_values: np.ndarray
    of_token: Callable[[np.ndarray], np.ndarray] | None = None  # token ids -> direct logits


@dataclass(frozen=True)
class HistogramData:
    edges: list[float]
    counts: list[int]
    ticks: list[float]


@dataclass(frozen=True)
class HoverRows:
    rows: np.ndarray  # int [n], dataset row of each hover row
    pos: np.ndarray  # int [n], its position
    top_ids: np.ndarray  # [n, k]
    top_values: np.ndarray
    bottom_ids: np.ndarray
    bottom_values: np.ndarray
    loss_change: np.ndarray  # [n]


Triple = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass
class LeftTables:
    alignment: Triple | None = None  # ids, values, l1 share
    neurons: Triple | None = None  # ids, pearson, cosine
    latents: Triple | None = None
    latents_b: Triple | None = None


def _local_vocab(parts: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct token ids of ``parts`` in order of first appearance, and each part as
    indices into them (one ``np.unique`` for the whole card)."""
    flat = [np.asarray(p, dtype=np.int64).reshape(-1) for p in parts]
    every = np.concatenate(flat) if flat else np.zeros(0, np.int64)
    uniq, first, inverse = np.unique(every, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    local = rank[inverse.reshape(-1)]
    cuts = np.cumsum([f.size for f in flat])[:-1]
    return uniq[order], [x.reshape(np.shape(p)) for x, p in zip(np.split(local, cuts), parts, strict=True)]


def encode_indices(values: Sequence[int] | np.ndarray) -> ArrayPayload:
    """Non-negative integers in the smallest of uint8, uint16, int32 that holds them all."""
    arr = np.asarray(values, dtype=np.int64)
    top = int(arr.max()) if arr.size else 0
    if arr.size and int(arr.min()) < 0:
        return encode_array(arr, "int32")
    return encode_array(arr, "uint8" if top < 2**8 else "uint16" if top < 2**16 else "int32")


def _vocab_text(token_bytes: Sequence[bytes]) -> tuple[list[str], TokenBytes]:
    texts: list[str] = []
    partial: list[tuple[int, bytes]] = []
    for j, b in enumerate(token_bytes):
        try:
            texts.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(b.decode("utf-8", errors="replace"))
            partial.append((j, b))
    offsets = np.zeros(len(partial) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for _, b in partial])
    data = np.frombuffer(b"".join(b for _, b in partial), dtype=np.uint8)
    return texts, {
        "ids": encode_array([j for j, _ in partial], "int32"),
        "offsets": encode_array(offsets, "int32"),
        "data": encode_array(data, "uint8"),
    }


def seq_positions(seqs: Sequence[ExampleSeq]) -> tuple[np.ndarray, np.ndarray]:
    """Dataset row and position of every token of ``seqs``, concatenated."""
    lengths = np.array([len(s.token_ids) for s in seqs], dtype=np.int64)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    rows = np.repeat(np.array([s.row for s in seqs], dtype=np.int64), lengths)
    starts = np.repeat(np.array([s.start for s in seqs], dtype=np.int64), lengths)
    return rows, starts + np.arange(lengths.sum()) - first


def _rows_of(hover: HoverRows, seqs: Sequence[ExampleSeq]) -> np.ndarray:
    """The hover row of every shown token (``n_hover`` where it has none)."""
    rows, pos = seq_positions(seqs)
    want = (rows << 32) | pos
    keys = (hover.rows.astype(np.int64) << 32) | hover.pos.astype(np.int64)
    if keys.size == 0:
        return np.zeros(want.size, np.int64)
    order = np.argsort(keys, kind="stable")
    at = order[np.minimum(np.searchsorted(keys, want, sorter=order), keys.size - 1)]
    return np.where(keys[at] == want, at, keys.size)


def build_feature_card_state(
    *,
    source: str,
    unit: str,
    hook_name: str,
    feature: int,
    n_features: int,
    n_tokens: int,
    max_act: float,
    density: float,
    groups: Sequence[tuple[str, Sequence[ExampleSeq]]],
    logits: LogitRows | None,
    unavailable: dict[str, str],
    pending: list[str] | None = None,
    token_bytes: Callable[[list[int]], list[bytes]],
    hover: HoverRows | None = None,
    act_hist: HistogramData | None = None,
    logit_hist: HistogramData | None = None,
    left: LeftTables | None = None,
) -> FeatureCardState:
    seqs = [s for _, g in groups for s in g]
    # The local vocabulary: hover tokens first (they fill most index arrays, see the docstring).
    empty = np.zeros(0, np.int64)
    example_ids = np.concatenate([s.token_ids for s in seqs]) if seqs else empty
    ids, (hover_top, hover_bottom, top_local, bottom_local, tokens) = _local_vocab(
        [
            hover.top_ids if hover is not None else empty,
            hover.bottom_ids if hover is not None else empty,
            logits.top_ids if logits is not None else empty,
            logits.bottom_ids if logits is not None else empty,
            example_ids,
        ]
    )
    hover_state: Hover | None = None
    if hover is not None:
        hover_state = {
            "token_row": encode_indices(_rows_of(hover, seqs)),
            "top_tokens": encode_indices(hover_top),
            "top_values": encode_array(hover.top_values, "float16"),
            "bottom_tokens": encode_indices(hover_bottom),
            "bottom_values": encode_array(hover.bottom_values, "float16"),
            "loss_change": encode_array(hover.loss_change, "float16"),
        }
    lengths = [len(s.token_ids) for s in seqs]
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    acts = np.concatenate([s.acts for s in seqs]).astype(np.float32) if seqs else np.zeros(0, np.float32)
    examples: Examples = {
        "groups": [ExampleGroup(title=t, count=len(g)) for t, g in groups],
        "seq_offsets": encode_indices(offsets),
        "tokens": encode_indices(tokens),
        "acts": encode_array(acts, "float32"),
        "seq_batch": encode_indices([s.row for s in seqs]),
        "seq_pos0": encode_indices([s.start for s in seqs]),
        "seq_focus": encode_indices([s.focus - s.start for s in seqs]),
    }
    table: LogitTable | None = None
    if logits is not None:
        per_token = logits.of_token(ids) if logits.of_token is not None else np.full(len(ids), np.nan)
        table = {
            "top_tokens": encode_indices(top_local),
            "top_values": encode_array(logits.top_values, "float32"),
            "bottom_tokens": encode_indices(bottom_local),
            "bottom_values": encode_array(logits.bottom_values, "float32"),
            "vocab_values": encode_array(per_token, "float16"),
        }
    texts, partial = _vocab_text(token_bytes(ids.tolist()))
    lt = left or LeftTables()
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "feature_card",
        "source": source,
        "unit": "neuron" if unit == "neuron" else "latent",
        "hook_name": hook_name,
        "feature": int(feature),
        "n_features": int(n_features),
        "n_tokens": int(n_tokens),
        "max_act": float(max_act),
        "density": float(density),
        "vocab": texts,
        "vocab_ids": encode_indices(ids),
        "vocab_bytes": partial,
        "examples": examples,
        "logits": table,
        "unavailable": dict(unavailable),
        "pending": list(pending or []),
        "hover": hover_state,
        "act_hist": _histogram(act_hist or HistogramData([0.0, 0.0], [0], [0.0])),
        "logit_hist": _histogram(logit_hist) if logit_hist is not None else None,
        "left": LeftPanels(
            alignment=_alignment(lt.alignment),
            neurons=_correlation(lt.neurons),
            latents=_correlation(lt.latents),
            latents_b=_correlation(lt.latents_b),
        ),
    }


def _histogram(h: HistogramData) -> Histogram:
    return {
        "edges": encode_array(h.edges, "float32"),
        "counts": encode_indices(h.counts),
        "ticks": encode_array(h.ticks, "float32"),
    }


def _correlation(t: Triple | None) -> CorrelationTable | None:
    if t is None:
        return None
    return {
        "ids": encode_array(t[0], "int32"),
        "pearson": encode_array(t[1], "float32"),
        "cosine": encode_array(t[2], "float32"),
    }


def _alignment(t: Triple | None) -> AlignmentTable | None:
    if t is None:
        return None
    return {
        "ids": encode_array(t[0], "int32"),
        "values": encode_array(t[1], "float32"),
        "l1_share": encode_array(t[2], "float32"),
    }
