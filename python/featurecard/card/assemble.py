"""Assembles one card from the index: every panel's data, computed exactly.

Given a unit's column of the activation index (and what the pass kept: neuron-correlation
sums, the final residual at every position), a card is small tensor work:

* right column: top activations (non-overlapping windows), equal-width activation intervals
  with seeded samples and their share of active tokens, the lowest nonzero activations; for
  every shown token where the unit is nonzero, its exact effect on the next-token prediction
  (:mod:`.effects`);
* middle: density, the activation histogram, top/bottom direct logits, the logit histogram,
  with a handful of round ticks each;
* left: decoder alignment with input neurons (when the SAE reads MLP neurons), correlated
  input neurons, correlated latents of the same SAE (over all of them) and of encoder B;
* for an SAE on an attention output (``hook_z``), each top example's DFA to its source tokens
  (:mod:`.dfa`).

Panels that cannot exist for a hook say why in ``unavailable`` instead of guessing.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..core.dfa import dfa_unavailable
from ..core.model import parse_hook
from ..core.sae import SparseAutoencoder, is_neuron_basis
from ..core.schema import FeatureCardState
from ..core.token_bytes import token_bytes_of
from .context import CardContext, UnitColumn
from .correlation import (
    Correlated,
    correlate_with_index,
    dense_column,
    top_correlated,
)
from .dfa import examples_dfa
from .dfa_payload import ExampleDfa
from .index import CardIndex
from .payload import (
    CARD_BUDGET,
    ExampleSeq,
    HistogramData,
    HoverRows,
    LeftTables,
    LogitRows,
    build_feature_card_state,
)
from .shown_effects import Spots, hovers, shown_spots
from .stats import bottom_windows, histogram, interval_groups, nice_ticks
from .windows import Window, direct_logits, logit_table, top_windows

PRIVILEGED = ("mlp.hook_post", "mlp.hook_pre")


@dataclass(frozen=True)
class CardOptions:
    n_top: int = 20
    buffer: tuple[int, int] = (5, 5)
    n_intervals: int = 10
    per_interval: int = 5
    n_bottom: int = 10
    n_logits: int = 10
    n_hover: int = 5
    n_left: int = 3
    n_bins: int = 50
    seed: int = 0
    # Bytes a card may take on the wire: hover rows and long token texts are cut to fit (see
    # featurecard.card.payload); None sends everything.
    max_bytes: int | None = CARD_BUDGET


def _np(t: Tensor) -> np.ndarray:
    """A tensor as numpy, float32 for float types numpy lacks (a bfloat16 / float16 model's numbers)."""
    if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64):
        t = t.float()
    return np.asarray(t.detach().cpu())


# Every unit's residual-stream direction, mapped once per SAE (a TransformerBridge stacks all
# layers' W_out on every access); kept only while it is small.
_DIRECTIONS: weakref.WeakKeyDictionary[SparseAutoencoder, tuple[Tensor | None, str]] = weakref.WeakKeyDictionary()
DIRECTION_CACHE_BYTES = 64 * 2**20


def _resid_direction(ctx: CardContext, feature: int) -> tuple[Tensor | None, str]:
    sae = ctx.sae
    cached = _DIRECTIONS.get(sae)
    if cached is None and sae.d_sae * ctx.adapter.model.cfg.d_model * 4 <= DIRECTION_CACHE_BYTES:
        cached = _DIRECTIONS[sae] = ctx.adapter.resid_directions(sae.hook_name, sae.decoder_rows())
    if cached is None:
        m, why = ctx.adapter.resid_directions(sae.hook_name, sae.decoder_rows()[feature : feature + 1])
        return (None if m is None else m[0]), why
    m, why = cached
    return (None if m is None else m[feature]), why


def _sequences(ctx: CardContext, windows: list[Window], dense: np.ndarray) -> list[ExampleSeq]:
    """The windows' tokens and activations (views: the state layer only reads and concatenates them)."""
    tok = np.asarray(ctx.tokens)
    return [
        ExampleSeq(
            row=w.row,
            start=w.start,
            focus=w.focus,
            token_ids=tok[w.row, w.start : w.stop],
            acts=dense[w.row, w.start : w.stop],
        )
        for w in windows
    ]


def _hist(values: Tensor, n_bins: int) -> HistogramData:
    edges, counts = histogram(values, n_bins)
    return HistogramData(edges=edges, counts=counts, ticks=nice_ticks(edges[0], edges[-1]))


def _correlated(c: Correlated) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _np(c.ids), _np(c.pearson), _np(c.cosine)


PENDING = "being computed: this table ranks every latent, so it waits for the complete index"
# A first card (``quick``) leaves the correlated latents pending where ranking them would read
# more than this many bytes of the index (every latent's activations where the unit fires): on
# a cold store of 3.1M tokens a latent firing on 3 % of them reads ~35 MB of scattered pages
# (1.4 s here). The widget asks for the complete card next.
LATENTS_READ_BUDGET = 16 * 2**20
READING = "being computed: this table ranks every latent by reading where each fires with this one"


def _latents_wait(ctx: CardContext, col: UnitColumn, index: CardIndex) -> bool:
    """Whether a quick card leaves the latents of ``index`` correlated with its unit for the
    complete card (see :data:`LATENTS_READ_BUDGET`)."""
    if not ctx.quick or index.n_tokens == 0:
        return False
    share = col.positions.numel() / index.n_tokens  # the positions read, of all
    return share * index.nbytes() / 2 > LATENTS_READ_BUDGET  # half of nbytes: the by-position view


def _left(
    ctx: CardContext,
    feature: int,
    col: UnitColumn,
    f_dense: Tensor,
    opt: CardOptions,
    unavailable: dict[str, str],
) -> tuple[LeftTables, list[str]]:
    """The left column's tables, and the names of those pending on the complete index."""
    sae, site = ctx.sae, parse_hook(ctx.sae.hook_name)
    left, pending = LeftTables(), list[str]()
    if site.kind in PRIVILEGED and not is_neuron_basis(sae):
        w = sae.decoder_rows()[feature].float()
        top = w.abs().topk(min(opt.n_left, w.numel()))
        share = top.values / w.abs().sum().clamp(min=1e-30)
        left.alignment = (_np(top.indices), _np(w[top.indices]), _np(share))
    else:
        unavailable["alignment"] = (
            f"{sae.hook_name} is not a privileged basis (MLP neurons): decoder weights on its "
            "dimensions are not neuron alignments"
            if not is_neuron_basis(sae)
            else "a neuron is aligned with itself"
        )
    if col.positions.numel() == 0:  # a dead unit: every correlation is undefined
        why = f"unit {feature} never fires on the dataset, so it correlates with nothing"
        unavailable.update(neurons=why, latents=why, **({"latents_b": why} if ctx.has_b else {}))
        return left, pending
    k_neurons = opt.n_left + (1 if is_neuron_basis(sae) else 0)
    c: Correlated | None = None
    if ctx.neuron_sums is not None:
        c = ctx.neuron_sums.correlated(feature, k=k_neurons)
    elif ctx.staged is not None:
        c = ctx.staged.neurons(feature, col.positions, col.values, k_neurons)
    if c is None:
        unavailable["neurons"] = "too many units x input dimensions to keep correlation sums in memory"
    if c is not None:
        if is_neuron_basis(sae):  # a neuron's best match is itself: drop it
            keep = c.ids != feature
            c = Correlated(c.ids[keep][: opt.n_left], c.pearson[keep][: opt.n_left], c.cosine[keep][: opt.n_left])
        left.neurons = _correlated(c)
    if ctx.index is None or _latents_wait(ctx, col, ctx.index):
        pending.append("latents")
        unavailable["latents"] = PENDING if ctx.index is None else READING
    else:
        pearson, cosine = correlate_with_index(f_dense, ctx.index)
        left.latents = _correlated(top_correlated(pearson, cosine, opt.n_left, exclude=feature))
    if ctx.index_b is not None and _latents_wait(ctx, col, ctx.index_b):
        pending.append("latents_b")
        unavailable["latents_b"] = READING
    elif ctx.index_b is not None:
        pb, cb = correlate_with_index(f_dense, ctx.index_b)
        left.latents_b = _correlated(top_correlated(pb, cb, opt.n_left))
    elif ctx.has_b:
        pending.append("latents_b")
        unavailable["latents_b"] = PENDING
    return left, pending


@dataclass(frozen=True)
class _Shown:
    """A card but for what needs the final residual (hover effects) and the state building:
    its column, example groups and their active tokens, the left column's tables."""

    col: UnitColumn
    groups: list[tuple[str, list[ExampleSeq]]]
    spots: Spots
    unavailable: dict[str, str]
    left: LeftTables
    pending: list[str]


def _shown(ctx: CardContext, feature: int, opt: CardOptions) -> _Shown:
    col = ctx.column(feature)
    seq_len, pos, val = col.seq_len, col.positions, col.values
    unavailable: dict[str, str] = {}
    # The unit at every dataset token: example windows are slices of it, correlations read it.
    f_dense = dense_column(pos, val, ctx.tokens.numel())
    dense = _np(f_dense.float()).reshape(ctx.tokens.shape)
    top = _sequences(ctx, top_windows(pos, val, seq_len, k=opt.n_top, buffer=opt.buffer), dense)
    groups: list[tuple[str, list[ExampleSeq]]] = [("Top activations", top)]
    for g in interval_groups(pos, val, seq_len, opt.n_intervals, opt.per_interval, opt.buffer, seed=opt.seed):
        title = f"Interval {g.lo:.3g} – {g.hi:.3g} · contains {100 * g.share:.1f}%"
        groups.append((title, _sequences(ctx, g.windows, dense)))
    groups.append(
        ("Bottom activations", _sequences(ctx, bottom_windows(pos, val, seq_len, opt.n_bottom, opt.buffer), dense))
    )
    if not top:
        unavailable["examples"] = f"unit {feature} never activates (> 0) on the {col.n_tokens} dataset tokens"
    left, pending = _left(ctx, feature, col, f_dense, opt, unavailable)
    return _Shown(col, groups, shown_spots(groups), unavailable, left, pending)


@torch.no_grad()
def card_state(ctx: CardContext, feature: int, opt: CardOptions | None = None) -> FeatureCardState:
    return card_states(ctx, [feature], opt)[0]


@torch.no_grad()
def card_states(ctx: CardContext, features: list[int], opt: CardOptions | None = None) -> list[FeatureCardState]:
    """Several cards at once: their shown tokens first, then the hover effects of all of them
    in one call (quick cards run the later blocks once, at the union of those positions)."""
    opt = opt or CardOptions()
    if ctx.index is None and ctx.staged is not None:
        ctx.staged.prepare(features)  # their latents in one matmul
    shown = [_shown(ctx, f, opt) for f in features]
    directions = [_resid_direction(ctx, f) for f in features]
    rows = hovers(ctx, [s.spots for s in shown], [d for d, _ in directions], opt.n_hover)
    dfas = examples_dfa(ctx, [(f, s.groups[0][1]) for f, s in zip(features, shown, strict=True)])
    return [
        _finish(ctx, f, s, d, h, opt, dfa)
        for f, s, d, h, dfa in zip(features, shown, directions, rows, dfas, strict=True)
    ]


def _finish(
    ctx: CardContext,
    feature: int,
    shown: _Shown,
    direction_why: tuple[Tensor | None, str],
    hover: HoverRows | None,
    opt: CardOptions,
    dfa: ExampleDfa | None = None,
) -> FeatureCardState:
    sae, col, unavailable = ctx.sae, shown.col, dict(shown.unavailable)
    if dfa is None:
        unavailable["dfa"] = dfa_unavailable(sae)
    rows: LogitRows | None = None
    logit_hist: HistogramData | None = None
    direction, why = direction_why
    if direction is None:
        unavailable["logits"] = why
        unavailable["hover"] = why
    else:
        logits = direct_logits(direction, ctx.adapter.unembed_matrix())
        t = logit_table(logits, opt.n_logits)
        vocab_logits = _np(logits.float())
        rows = LogitRows(
            _np(t.top_ids),
            _np(t.top_values),
            _np(t.bottom_ids),
            _np(t.bottom_values),
            of_token=lambda ids: vocab_logits[ids],
        )
        logit_hist = _hist(logits, opt.n_bins)
    return build_feature_card_state(
        source=ctx.source,
        unit="neuron" if is_neuron_basis(sae) else "latent",
        hook_name=sae.hook_name,
        feature=feature,
        n_features=col.n_units,
        n_tokens=col.n_tokens,
        max_act=col.max_act,
        density=col.n_active / max(col.n_tokens, 1),
        groups=shown.groups,
        logits=rows,
        unavailable=unavailable,
        pending=shown.pending,
        token_bytes=token_bytes_of(ctx.adapter.model.tokenizer),
        hover=hover,
        act_hist=_hist(col.values[col.values != 0], opt.n_bins),
        logit_hist=logit_hist,
        left=shown.left,
        dfa=dfa,
        budget=opt.max_bytes,
    )
