"""Assembles one card from the index: every panel's data, computed exactly.

Given a unit's column of the activation index (and what the pass kept: neuron-correlation
sums, the final residual at every position), a card is small tensor work:

* right column: top activations (non-overlapping windows), equal-width activation intervals
  with seeded samples and their share of active tokens, the lowest nonzero activations; for
  every shown token where the unit is nonzero, its exact effect on the next-token prediction
  (:mod:`.compute.effects`);
* middle: density, the activation histogram, top/bottom direct logits, the logit histogram,
  with a handful of round ticks each;
* left: decoder alignment with input neurons (when the SAE reads MLP neurons), correlated
  input neurons, correlated latents of the same SAE (over all of them) and of encoder B.

Panels that cannot exist for a hook say why in ``unavailable`` instead of guessing.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from .adapters.model import ModelAdapter, parse_hook
from .adapters.sae import SparseAutoencoder, is_neuron_basis
from .adapters.token_bytes import TokenBytes
from .compute.card import Window, direct_logits, logit_table, top_windows, window_activations
from .compute.correlation import Correlated, NeuronCorrelationSums, correlate_with_index, dense_column, top_correlated
from .compute.effects import token_effects
from .compute.index import ActivationIndex
from .compute.stats import bottom_windows, histogram, interval_groups, nice_ticks
from .state.feature_card import ExampleSeq, HistogramData, HoverRows, LeftTables, LogitRows, build_feature_card_state
from .state.schema import FeatureCardState

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


@dataclass
class CardContext:
    """Everything a card reads; the Workspace fills it from its pass."""

    adapter: ModelAdapter
    source: str
    sae: SparseAutoencoder
    index: ActivationIndex
    tokens: Int[Tensor, "batch pos"]
    neuron_sums: NeuronCorrelationSums | None
    final_resid: Float[Tensor, "batch pos d_model"] | None
    index_b: ActivationIndex | None = None


def _np(t: Tensor) -> np.ndarray:
    return np.asarray(t.detach().cpu())


_TOKEN_BYTES: weakref.WeakKeyDictionary[ModelAdapter, TokenBytes] = weakref.WeakKeyDictionary()


def token_bytes(adapter: ModelAdapter) -> TokenBytes:
    """The adapter's tokenizer as token id -> raw bytes (one cache per adapter)."""
    tb = _TOKEN_BYTES.get(adapter)
    if tb is None:
        tb = _TOKEN_BYTES[adapter] = TokenBytes(adapter.model.tokenizer)
    return tb


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


def _sequences(ctx: CardContext, windows: list[Window], pos: Tensor, val: Tensor) -> list[ExampleSeq]:
    tok = ctx.tokens
    seq_len = ctx.index.seq_len
    return [
        ExampleSeq(
            row=w.row,
            start=w.start,
            focus=w.focus,
            token_ids=_np(tok[w.row, w.start : w.stop]),
            acts=_np(window_activations(pos, val, w, seq_len)),
        )
        for w in windows
    ]


def _final_resid_rows(ctx: CardContext, rows: list[int]) -> dict[int, Tensor]:
    if ctx.final_resid is not None:
        return {r: ctx.final_resid[r] for r in rows}
    hook = ctx.adapter.final_resid_hook
    out = ctx.adapter.capture(ctx.tokens[rows], [hook])[hook].float()
    return {r: out[i] for i, r in enumerate(rows)}


def _hover(ctx: CardContext, seqs: list[ExampleSeq], direction: Tensor | None, k: int) -> HoverRows | None:
    """Effects at every distinct shown (row, pos) where the unit is nonzero."""
    if direction is None:
        return None
    spots: dict[tuple[int, int], float] = {}
    for s in seqs:
        for i, a in enumerate(s.acts.tolist()):
            if a != 0:
                spots.setdefault((s.row, s.start + i), a)
    keys = list(spots)
    m = ctx.adapter.model
    if keys:
        resid = _final_resid_rows(ctx, sorted({r for r, _ in keys}))
        r = torch.stack([resid[row][p] for row, p in keys])
    else:  # nothing shown is active: token_effects returns empty tables
        r = torch.zeros(0, int(m.cfg.d_model), device=direction.device)
    seq_len = ctx.tokens.shape[1]
    nxt = torch.tensor([int(ctx.tokens[row, p + 1]) if p + 1 < seq_len else -1 for row, p in keys], dtype=torch.int64)
    acts = torch.tensor([spots[key] for key in keys], device=r.device)
    eff = token_effects(r, acts, direction.to(r.device), m.ln_final, m.unembed, nxt, k=k)
    return HoverRows(
        keys=keys,
        top_ids=_np(eff.top_ids),
        top_values=_np(eff.top_values),
        bottom_ids=_np(eff.bottom_ids),
        bottom_values=_np(eff.bottom_values),
        loss_change=_np(eff.loss_change),
    )


def _hist(values: Tensor, n_bins: int) -> HistogramData:
    edges, counts = histogram(values, n_bins)
    return HistogramData(edges=edges, counts=counts, ticks=nice_ticks(edges[0], edges[-1]))


def _correlated(c: Correlated) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _np(c.ids), _np(c.pearson), _np(c.cosine)


def _left(ctx: CardContext, feature: int, opt: CardOptions, unavailable: dict[str, str]) -> LeftTables:
    sae, site = ctx.sae, parse_hook(ctx.sae.hook_name)
    left = LeftTables()
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
    if ctx.index.column(feature)[0].numel() == 0:  # a dead unit: every correlation is undefined
        why = f"unit {feature} never fires on the dataset, so it correlates with nothing"
        unavailable.update(neurons=why, latents=why, **({"latents_b": why} if ctx.index_b is not None else {}))
        return left
    if ctx.neuron_sums is not None:
        c = ctx.neuron_sums.correlated(feature, k=opt.n_left + (1 if is_neuron_basis(sae) else 0))
        if is_neuron_basis(sae):  # a neuron's best match is itself: drop it
            keep = c.ids != feature
            c = Correlated(c.ids[keep][: opt.n_left], c.pearson[keep][: opt.n_left], c.cosine[keep][: opt.n_left])
        left.neurons = _correlated(c)
    else:
        unavailable["neurons"] = "too many units x input dimensions to keep correlation sums in memory"
    n_pos = ctx.tokens.numel()
    f_dense = dense_column(ctx.index, feature, n_pos)
    pearson, cosine = correlate_with_index(f_dense, ctx.index)
    left.latents = _correlated(top_correlated(pearson, cosine, opt.n_left, exclude=feature))
    if ctx.index_b is not None:
        pb, cb = correlate_with_index(f_dense, ctx.index_b)
        left.latents_b = _correlated(top_correlated(pb, cb, opt.n_left))
    return left


@torch.no_grad()
def card_state(ctx: CardContext, feature: int, opt: CardOptions | None = None) -> FeatureCardState:
    opt = opt or CardOptions()
    idx, sae, seq_len = ctx.index, ctx.sae, ctx.index.seq_len
    pos, val = idx.column(feature)
    unavailable: dict[str, str] = {}
    top = _sequences(ctx, top_windows(pos, val, seq_len, k=opt.n_top, buffer=opt.buffer), pos, val)
    groups: list[tuple[str, list[ExampleSeq]]] = [("Top activations", top)]
    for g in interval_groups(pos, val, seq_len, opt.n_intervals, opt.per_interval, opt.buffer, seed=opt.seed):
        title = f"Interval {g.lo:.3g} – {g.hi:.3g} · contains {100 * g.share:.1f}%"
        groups.append((title, _sequences(ctx, g.windows, pos, val)))
    groups.append(
        ("Bottom activations", _sequences(ctx, bottom_windows(pos, val, seq_len, opt.n_bottom, opt.buffer), pos, val))
    )
    if not top:
        unavailable["examples"] = f"unit {feature} never activates (> 0) on the {idx.n_tokens} dataset tokens"

    rows: LogitRows | None = None
    logit_hist: HistogramData | None = None
    direction, why = _resid_direction(ctx, feature)
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
    all_seqs = [s for _, g in groups for s in g]
    return build_feature_card_state(
        source=ctx.source,
        unit="neuron" if is_neuron_basis(sae) else "latent",
        hook_name=sae.hook_name,
        feature=feature,
        n_features=idx.n_units,
        n_tokens=idx.n_tokens,
        max_act=float(idx.max_act[feature]),
        density=idx.density(feature),
        groups=groups,
        logits=rows,
        unavailable=unavailable,
        token_bytes=token_bytes(ctx.adapter),
        hover=_hover(ctx, all_seqs, direction, opt.n_hover),
        act_hist=_hist(val[val != 0], opt.n_bins),
        logit_hist=logit_hist,
        left=_left(ctx, feature, opt, unavailable),
    )
