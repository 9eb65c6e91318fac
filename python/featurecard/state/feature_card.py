"""Builds a :class:`FeatureCardState` from plain arrays (numpy; no torch here).

Token ids are replaced by indices into a small local ``vocab`` list holding only the strings
this card shows, so a 50k-token vocabulary never travels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .codecs import encode_array
from .schema import (
    SCHEMA_VERSION,
    AlignmentTable,
    CorrelationTable,
    ExampleGroup,
    Examples,
    FeatureCardState,
    Histogram,
    Hover,
    LeftPanels,
    LogitTable,
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


@dataclass(frozen=True)
class HistogramData:
    edges: list[float]
    counts: list[int]
    ticks: list[float]


@dataclass(frozen=True)
class HoverRows:
    keys: list[tuple[int, int]]  # (dataset row, position) of each hover row
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


class _LocalVocab:
    def __init__(self) -> None:
        self.index: dict[int, int] = {}

    def __call__(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        return np.array([self.index.setdefault(int(i), len(self.index)) for i in ids], dtype=np.int32)


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
    token_text: Callable[[list[int]], list[str]],
    hover: HoverRows | None = None,
    act_hist: HistogramData | None = None,
    logit_hist: HistogramData | None = None,
    left: LeftTables | None = None,
) -> FeatureCardState:
    local = _LocalVocab()
    seqs = [s for _, g in groups for s in g]
    lengths = [len(s.token_ids) for s in seqs]
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    tokens = local(np.concatenate([s.token_ids for s in seqs])) if seqs else np.zeros(0, np.int32)
    acts = np.concatenate([s.acts for s in seqs]).astype(np.float32) if seqs else np.zeros(0, np.float32)
    examples: Examples = {
        "groups": [ExampleGroup(title=t, count=len(g)) for t, g in groups],
        "seq_offsets": encode_array(offsets, "int32"),
        "tokens": encode_array(tokens, "int32"),
        "acts": encode_array(acts, "float32"),
        "seq_batch": encode_array([s.row for s in seqs], "int32"),
        "seq_pos0": encode_array([s.start for s in seqs], "int32"),
        "seq_focus": encode_array([s.focus - s.start for s in seqs], "int32"),
    }
    table: LogitTable | None = None
    if logits is not None:
        table = {
            "top_tokens": encode_array(local(logits.top_ids), "int32"),
            "top_values": encode_array(logits.top_values, "float32"),
            "bottom_tokens": encode_array(local(logits.bottom_ids), "int32"),
            "bottom_values": encode_array(logits.bottom_values, "float32"),
        }
    hover_state: Hover | None = None
    if hover is not None:
        where = {key: h for h, key in enumerate(hover.keys)}
        token_row = [where.get((s.row, s.start + i), -1) for s in seqs for i in range(len(s.token_ids))]
        k = hover.top_ids.shape[1] if hover.top_ids.ndim == 2 else 0
        hover_state = {
            "token_row": encode_array(np.asarray(token_row, dtype=np.int64), "int32"),
            "top_tokens": encode_array(local(hover.top_ids.reshape(-1)).reshape(-1, k), "int32"),
            "top_values": encode_array(hover.top_values, "float32"),
            "bottom_tokens": encode_array(local(hover.bottom_ids.reshape(-1)).reshape(-1, k), "int32"),
            "bottom_values": encode_array(hover.bottom_values, "float32"),
            "loss_change": encode_array(hover.loss_change, "float32"),
        }
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
        "vocab": token_text(list(local.index)),
        "examples": examples,
        "logits": table,
        "unavailable": dict(unavailable),
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
        "counts": encode_array(h.counts, "int32"),
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
