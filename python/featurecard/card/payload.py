"""Builds a :class:`FeatureCardState` from plain arrays (numpy; no torch here).

Token ids are replaced by indices into a small local ``vocab`` list holding only the strings
this card shows, so a 50k-token vocabulary never travels. The local vocabulary is filled in
the order hover tokens, logit tokens, example tokens: the hover tables hold most indices
(``n_hover x 10``) and their few distinct tokens then get the smallest indices.

Size: every index array takes the smallest unsigned type that holds it (uint8, uint16, else
int32); hover effects (log-prob changes, loss change) travel as float16, which keeps three
significant digits, all the tooltip shows. Activations, logit tables and histograms stay
float32. Tokens are sent as text; the few that are not whole UTF-8 on their own (pieces of a
character cut by byte-level BPE) also as bytes (``vocab_bytes``); the local vocabulary is
built by :mod:`featurecard.core.vocab`, as for every view.

Budget: a card is at most :data:`CARD_BUDGET` bytes on the wire (``payload_nbytes``) by
construction, whatever the vocabulary and however dense the unit. The examples the options ask
for are always sent whole; what grows without bound is the hover rows (one per distinct shown
token where the unit fires, each with ``2k`` tokens that join the local vocabulary) and the
text of long tokens. A card over the budget first cuts token texts to
:data:`MAX_TOKEN_TEXT` bytes, then keeps the hover rows that fit, in priority order (each
example's own token first, then by activation), then cuts token texts shorter still. With the
default options (80 windows of at most 11 tokens) the examples alone fit with every token's
text cut to "…", so the budget always holds (tested on a worst case built for it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ..core.codecs import encode_array, encode_indices, payload_nbytes, to_portable
from ..core.schema import (
    SCHEMA_VERSION,
    AlignmentTable,
    CorrelationTable,
    ExampleGroup,
    Examples,
    ExampleWindow,
    FeatureCardState,
    Histogram,
    Hover,
    LeftPanels,
    LogitTable,
)
from ..core.vocab import LocalVocab, local_vocab
from .dfa_payload import ExampleDfa, dfa_payload


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

#: Bytes a card may take on the wire (binary buffers plus the JSON of the rest), enforced in
#: :func:`build_feature_card_state` by cutting hover rows and long token texts.
CARD_BUDGET = 32_000
#: A token's text, as JSON, is cut to this many bytes (with "…") once a card is over budget;
#: shorter still if cutting hover rows was not enough.
MAX_TOKEN_TEXT = 64
#: The ``unavailable`` key that says how many active tokens' hover effects were left out.
HOVER_CUT = "hover_rows"


def _priority(hover: HoverRows, seqs: Sequence[ExampleSeq], acts: np.ndarray) -> np.ndarray:
    """Hover rows from most to least worth sending: each example's own (focus) token, in group
    order, then the rest by |activation|; ties in dataset order."""
    n = hover.rows.size
    at = _rows_of(hover, seqs)  # the hover row of every shown token (n where none)
    act = np.zeros(n, np.float64)
    on = at < n
    act[at[on]] = np.abs(acts[on])
    lengths = np.array([len(s.token_ids) for s in seqs], dtype=np.int64)
    focus_t = np.cumsum(lengths) - lengths + np.array([s.focus - s.start for s in seqs], dtype=np.int64)
    focus_rows = at[focus_t] if seqs else np.zeros(0, np.int64)
    ranks = np.arange(focus_rows.size)
    focus_rank = np.full(n, len(seqs), np.int64)
    has = focus_rows < n
    np.minimum.at(focus_rank, focus_rows[has], ranks[has])
    return np.lexsort((np.arange(n), -act, focus_rank))


def _subset(hover: HoverRows, keep: np.ndarray) -> HoverRows:
    keep = np.sort(keep)
    return HoverRows(
        hover.rows[keep],
        hover.pos[keep],
        hover.top_ids[keep],
        hover.top_values[keep],
        hover.bottom_ids[keep],
        hover.bottom_values[keep],
        hover.loss_change[keep],
    )


@dataclass
class LeftTables:
    alignment: Triple | None = None  # ids, values, l1 share
    neurons: Triple | None = None  # ids, pearson, cosine
    latents: Triple | None = None
    latents_b: Triple | None = None


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


def build_feature_card_state(*, budget: int | None = CARD_BUDGET, **kw: Any) -> FeatureCardState:
    """The card's state (arguments as :func:`_build`), cut to ``budget`` bytes on the wire
    (see the module docstring; None: no budget)."""
    state = _build(**kw)
    if budget is None or payload_nbytes(state) <= budget:
        return state
    state = _build(**kw, text_cap=MAX_TOKEN_TEXT)
    if payload_nbytes(state) <= budget:
        return state
    return _cut(kw, budget)


def _cut(kw: dict[str, Any], budget: int) -> FeatureCardState:
    """The most hover rows (in priority order) that fit ``budget`` with token texts cut to
    :data:`MAX_TOKEN_TEXT`; with none left, token texts cut shorter until the card fits."""
    hover: HoverRows | None = kw.get("hover")
    n = hover.rows.size if hover is not None else 0
    seqs = [s for _, g in kw["groups"] for s in g]
    acts = np.concatenate([s.acts for s in seqs]) if seqs else np.zeros(0)
    order = _priority(hover, seqs, acts) if hover is not None else np.zeros(0, np.int64)

    def build(k: int, text_cap: int) -> FeatureCardState:
        if hover is None or k == n:
            return _build(**kw, text_cap=text_cap)
        why = dict(kw["unavailable"])
        why[HOVER_CUT] = (
            f"hover effects of {n - k} of the {n} active tokens shown were left out to keep the card "
            f"under {budget // 1000} KB (each example's own token and the strongest activations are kept)"
        )
        return _build(**{**kw, "unavailable": why, "hover": _subset(hover, order[:k])}, text_cap=text_cap)

    lo, hi = 0, max(n - 1, 0)  # the most rows that fit lie in [lo, hi] (all n did not fit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if payload_nbytes(build(mid, MAX_TOKEN_TEXT)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    cap, best = MAX_TOKEN_TEXT, build(lo, MAX_TOKEN_TEXT)
    while payload_nbytes(best) > budget and cap > 4:  # no hover row fits: shorter token texts
        cap //= 2
        best = build(0, cap)
    return best


def _build(
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
    dfa: ExampleDfa | None = None,
    text_cap: int | None = None,
) -> FeatureCardState:
    seqs = [s for _, g in groups for s in g]
    vocab = _card_vocab(hover, logits, seqs, token_bytes, text_cap)
    hover_top, hover_bottom, top_local, bottom_local, tokens = vocab.local
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
        "vocab": vocab.texts,
        "vocab_ids": vocab.ids_payload,
        "vocab_bytes": vocab.partial,
        "examples": _examples(groups, seqs, tokens, dfa),
        "logits": _logit_table(logits, vocab.ids, top_local, bottom_local) if logits is not None else None,
        "unavailable": dict(unavailable),
        "pending": list(pending or []),
        "hover": _hover(hover, seqs, hover_top, hover_bottom) if hover is not None else None,
        "act_hist": _histogram(act_hist or HistogramData([0.0, 0.0], [0], [0.0])),
        "logit_hist": _histogram(logit_hist) if logit_hist is not None else None,
        "left": LeftPanels(
            alignment=_alignment(lt.alignment),
            neurons=_correlation(lt.neurons),
            latents=_correlation(lt.latents),
            latents_b=_correlation(lt.latents_b),
        ),
        "label": None,  # a host with labels fills it in (featurecard.card.widget)
    }


def window_payload(
    *,
    source: str,
    feature: int,
    row: int,
    start: int,
    focus: int,
    token_ids: np.ndarray,
    acts: np.ndarray,
    token_bytes: Callable[[list[int]], list[bytes]],
) -> ExampleWindow:
    """A ``window`` request's answer (:mod:`featurecard.card.expand`): the window's tokens as
    indices into its own local vocabulary, built as a card's. A reply is plain JSON (a custom
    message without buffers), so its arrays' buffers are base64, as in an exported file."""
    vocab = local_vocab([token_ids], token_bytes)
    window: ExampleWindow = {
        "source": source,
        "feature": int(feature),
        "row": int(row),
        "start": int(start),
        "focus": int(focus),
        "tokens": vocab.indices(0),
        "acts": encode_array(np.asarray(acts, dtype=np.float32), "float32"),
        "vocab": vocab.texts,
        "vocab_ids": vocab.ids_payload,
        "vocab_bytes": vocab.partial,
    }
    return cast("ExampleWindow", to_portable(window))


def _card_vocab(
    hover: HoverRows | None,
    logits: LogitRows | None,
    seqs: Sequence[ExampleSeq],
    token_bytes: Callable[[list[int]], list[bytes]],
    text_cap: int | None,
) -> LocalVocab:
    """The local vocabulary: hover tokens first (they fill most index arrays, see the docstring)."""
    empty = np.zeros(0, np.int64)
    example_ids = np.concatenate([s.token_ids for s in seqs]) if seqs else empty
    parts = [
        hover.top_ids if hover is not None else empty,
        hover.bottom_ids if hover is not None else empty,
        logits.top_ids if logits is not None else empty,
        logits.bottom_ids if logits is not None else empty,
        example_ids,
    ]
    return local_vocab(parts, token_bytes, text_cap)


def _hover(hover: HoverRows, seqs: Sequence[ExampleSeq], top: np.ndarray, bottom: np.ndarray) -> Hover:
    """The hover panel; ``top``/``bottom``: its tokens as local vocabulary indices."""
    return {
        "token_row": encode_indices(_rows_of(hover, seqs)),
        "top_tokens": encode_indices(top),
        "top_values": encode_array(hover.top_values, "float16"),
        "bottom_tokens": encode_indices(bottom),
        "bottom_values": encode_array(hover.bottom_values, "float16"),
        "loss_change": encode_array(hover.loss_change, "float16"),
    }


def _examples(
    groups: Sequence[tuple[str, Sequence[ExampleSeq]]],
    seqs: Sequence[ExampleSeq],
    tokens: np.ndarray,
    dfa: ExampleDfa | None = None,
) -> Examples:
    """The example windows, flat: ``tokens`` (local indices) and activations cut by ``seq_offsets``;
    the DFA of the first ones (:mod:`.dfa_payload`)."""
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s.token_ids) for s in seqs])
    acts = np.concatenate([s.acts for s in seqs]).astype(np.float32) if seqs else np.zeros(0, np.float32)
    return {
        "groups": [ExampleGroup(title=t, count=len(g)) for t, g in groups],
        "seq_offsets": encode_indices(offsets),
        "tokens": encode_indices(tokens),
        "acts": encode_array(acts, "float32"),
        "seq_batch": encode_indices([s.row for s in seqs]),
        "seq_pos0": encode_indices([s.start for s in seqs]),
        "seq_focus": encode_indices([s.focus - s.start for s in seqs]),
        "dfa": dfa_payload(dfa, [len(s.token_ids) for s in seqs]),
    }


def _logit_table(logits: LogitRows, ids: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> LogitTable:
    """The logit tables, and each vocabulary token's own value (``ids``: the local vocabulary)."""
    per_token = logits.of_token(ids) if logits.of_token is not None else np.full(len(ids), np.nan)
    return {
        "top_tokens": encode_indices(top),
        "top_values": encode_array(logits.top_values, "float32"),
        "bottom_tokens": encode_indices(bottom),
        "bottom_values": encode_array(logits.bottom_values, "float32"),
        "vocab_values": encode_array(per_token, "float16"),
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
