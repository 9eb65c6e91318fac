"""The SAE overview's versioned payload, and its builder from plain arrays (no torch here).

Every key here is mirrored one-to-one by ``js/src/overview/schema.ts`` (checked by
``tests/unit/core/test_schema_sync.py``); it carries the one ``SCHEMA_VERSION`` of
``core/schema.py`` and ``kind: "sae_overview"``. Per-latent numbers travel as typed binary
arrays (density and max activation ``float32 [n]``, the top token ``int32 [n]`` as an index
into the local ``vocab``, -1 for a dead latent): 12 bytes a latent, about 200 kB for 16k
latents, plus the distinct top tokens' texts. Labels are not in the state but in the widget's
own ``labels`` trait (they change without recomputing anything).

A number that is undefined (CE loss recovered when zero-ablating the hook changes nothing, the
explained variance of a constant activation) travels as ``null``: JSON has no NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

import numpy as np

from ..core.codecs import encode_array
from ..core.schema import SCHEMA_VERSION, ArrayPayload, TokenBytes
from ..core.vocab import BytesOf, local_vocab


class OverviewSummary(TypedDict):
    """The SAE's totals over the dataset, and its reconstruction metrics on the first rows."""

    n_latents: int
    n_tokens: int  # counted tokens of the dataset (BOS excluded by default)
    n_dead: int  # latents that never fire on the dataset
    n_dense: int  # latents with density > dense_threshold
    dense_threshold: float
    mean_l0: float  # mean number of latents active on a token
    explained_variance: float | None
    ce_clean: float | None  # mean next-token loss of the model
    ce_sae: float | None  # with the SAE's reconstruction spliced in at its hook
    ce_zero: float | None  # with the hook zero-ablated
    ce_recovered: float | None  # (ce_zero - ce_sae) / (ce_zero - ce_clean)
    recon_rows: int  # dataset rows the four numbers above were measured on
    recon_tokens: int  # counted positions the SAE was spliced at


class DensityBins(TypedDict):
    """Live latents by log10 density: counts[i] in [edges[i], edges[i + 1])."""

    edges: ArrayPayload  # float32 [n_bins + 1], log10 density
    counts: ArrayPayload  # int32 [n_bins]
    ticks: ArrayPayload  # float32 [n_ticks], whole decades


class OverviewLatents(TypedDict):
    """Every latent, in index order."""

    density: ArrayPayload  # float32 [n], fraction of counted tokens where the latent is > 0
    max_act: ArrayPayload  # float32 [n], 0 for a dead latent
    top_token: ArrayPayload  # int32 [n], index into vocab of the token at its largest activation, -1 if dead


class OverviewState(TypedDict):
    """Everything the overview needs to redraw without a kernel."""

    schema_version: int
    kind: Literal["sae_overview"]
    source: str  # the SAE's name in the Workspace
    hook: str
    summary: OverviewSummary
    histogram: DensityBins
    latents: OverviewLatents
    vocab: list[str]  # the texts of the top tokens, see core/vocab.py
    vocab_ids: ArrayPayload  # uint [n_vocab], the model's token id of each vocab entry
    vocab_bytes: TokenBytes  # raw bytes of the vocab entries that are not whole UTF-8 text
    notes: list[str]  # how the numbers were made


# The synced traitlets of the SaeOverview widget, mirrored by `OverviewModel` in js/src/overview/schema.ts.
OVERVIEW_TRAITS: dict[str, str] = {
    "state": "OverviewState | {}: the overview",
    "labels": "{str(latent): text}: the SAE's labels; the kernel sets them ('label' request)",
    "selected": "{unit} | {source, unit} | {}: the latent whose card is open ('select' request)",
    "card": "FeatureCardState | {}: the open latent's card",
    "error": "str: why the last request failed ('' when it did not); the last good state stays",
    "busy": "bool: a computation is running",
}


@dataclass(frozen=True)
class OverviewNumbers:
    """The plain numbers of an overview (numpy and floats), as the session computed them."""

    density: np.ndarray  # float [n]
    max_act: np.ndarray  # float [n]
    top_token: np.ndarray  # int [n], model token ids, -1 for a dead latent
    n_tokens: int
    n_dead: int
    n_dense: int
    dense_threshold: float
    mean_l0: float
    edges: np.ndarray
    counts: np.ndarray
    ticks: np.ndarray
    recon: dict[str, float]  # explained_variance, ce_clean, ce_sae, ce_zero, ce_recovered
    recon_rows: int
    recon_tokens: int


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def build_overview_state(
    source: str, hook: str, num: OverviewNumbers, token_bytes: BytesOf, notes: Sequence[str]
) -> OverviewState:
    """The payload of one SAE's overview; ``token_bytes``: token ids -> raw bytes."""
    n = int(num.density.shape[0])
    if num.max_act.shape != (n,) or num.top_token.shape != (n,):
        raise ValueError(f"max_act {num.max_act.shape} / top_token {num.top_token.shape} do not fit {n} latents")
    live = num.top_token >= 0
    vocab = local_vocab([num.top_token[live]], token_bytes)
    top = np.full(n, -1, dtype=np.int64)
    top[live] = vocab.local[0]
    summary: OverviewSummary = {
        "n_latents": n,
        "n_tokens": int(num.n_tokens),
        "n_dead": int(num.n_dead),
        "n_dense": int(num.n_dense),
        "dense_threshold": float(num.dense_threshold),
        "mean_l0": float(num.mean_l0),
        "explained_variance": _finite(num.recon["explained_variance"]),
        "ce_clean": _finite(num.recon["ce_clean"]),
        "ce_sae": _finite(num.recon["ce_sae"]),
        "ce_zero": _finite(num.recon["ce_zero"]),
        "ce_recovered": _finite(num.recon["ce_recovered"]),
        "recon_rows": int(num.recon_rows),
        "recon_tokens": int(num.recon_tokens),
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "sae_overview",
        "source": source,
        "hook": hook,
        "summary": summary,
        "histogram": {
            "edges": encode_array(num.edges, "float32"),
            "counts": encode_array(num.counts, "int32"),
            "ticks": encode_array(num.ticks, "float32"),
        },
        "latents": {
            "density": encode_array(num.density, "float32"),
            "max_act": encode_array(num.max_act, "float32"),
            "top_token": encode_array(top, "int32"),
        },
        "vocab": vocab.texts,
        "vocab_ids": vocab.ids_payload,
        "vocab_bytes": vocab.partial,
        "notes": list(notes),
    }
