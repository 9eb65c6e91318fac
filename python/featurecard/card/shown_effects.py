"""Hover effects of the tokens cards show, for several cards at once.

A card's hover tooltips need, at every shown token where its unit is nonzero, the exact
change of the next-token log-probabilities when the unit's write is removed from the final
residual (:mod:`.effects`). The final residual there comes from what the pass kept
(every position), from :class:`~featurecard.card.final_rows.FinalRows` (the later blocks at those
positions only), or from a forward pass of those rows; the cards made together read it in
one call, and their effects come from one call too (the cards' tokens share chunks; each
card's numbers equal those of the card made alone within float32 rounding of the unembedding,
:data:`~featurecard.card.effects.ROUNDING_TOLERANCE`: see
:func:`~featurecard.card.effects.token_effects`).

For SAEs that de-normalise their output per token (SAELens's ``constant_norm_rescale`` and
``layer_norm``) the write removed is the model-space one, ``s(x) · a · direction``
(:func:`write_scale`), so the effects equal those of removing SAELens's own decode
difference in the model's forward (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch import Tensor

from ..core.model import NormUnembed, flatten_hook_activation
from ..core.sdpa_attention import is_hooked_transformer
from .effects import Readout, token_effects
from .payload import ExampleSeq, HoverRows, seq_positions

if TYPE_CHECKING:
    from .context import CardContext


# Rows re-run together for hover effects (a card's rows at once could hold hundreds of rows'
# activations).
RERUN_ROWS = 32


def _rerun(ctx: CardContext, rows: np.ndarray, pos: np.ndarray) -> dict[str, Tensor]:
    """What the pass did not keep, at each (row, pos), from one forward pass of those rows: the
    final residual (where neither it nor :class:`~featurecard.card.final_rows.FinalRows` is
    kept) and the input of an SAE that de-normalises its output per token (where the capture
    pass did not keep it), keyed by hook."""
    hooks: dict[str, int | None] = {}
    if ctx.final_resid is None and ctx.final_rows is None:
        hooks[ctx.adapter.final_resid_hook] = None
    if ctx.sae.rescales_output and _kept_inputs(ctx) is None:
        hooks[ctx.sae.hook_name] = ctx.sae.d_in
    return _captured_at(ctx, rows, pos, hooks) if hooks and rows.size else {}


def _final_resid_at(ctx: CardContext, rows: np.ndarray, pos: np.ndarray, rerun: dict[str, Tensor]) -> Tensor:
    """The final residual at each (row, pos): kept from the pass, or from ``rerun``."""
    if ctx.final_resid is not None:
        dev = ctx.final_resid.device
        return ctx.final_resid[torch.as_tensor(rows, device=dev), torch.as_tensor(pos, device=dev)]
    if ctx.final_rows is not None:
        return ctx.final_rows.at(rows, pos)
    return rerun[ctx.adapter.final_resid_hook].float()


def _kept_inputs(ctx: CardContext) -> Tensor | None:
    """The SAE's inputs at every position, where the capture pass kept them."""
    return None if ctx.staged is None else ctx.staged.kept_inputs()


def _sae_inputs_at(ctx: CardContext, rows: np.ndarray, pos: np.ndarray, rerun: dict[str, Tensor]) -> Tensor:
    """The SAE's input (its hook's value) at each (row, pos): kept by the capture pass, or from ``rerun``."""
    kept = _kept_inputs(ctx)
    if kept is None:
        return rerun[ctx.sae.hook_name]
    return kept[torch.as_tensor(rows * int(ctx.tokens.shape[1]) + pos, device=kept.device)]


def _captured_at(
    ctx: CardContext, rows: np.ndarray, pos: np.ndarray, hooks: dict[str, int | None]
) -> dict[str, Tensor]:
    """Each hook's value at each (row, pos), from one forward pass of the distinct rows
    (attention ``z`` flattened to ``[head * d_head]``, checked against the hook's ``d`` where given),
    run as the dataset passes run (fused attention and norms): the same numbers as a pass that
    keeps them, and half the time of the model's own forward on the benchmark.

    On a ``HookedTransformer`` a row runs only up to its last asked position (the model is
    causal: later tokens change nothing before them), in groups of rows of similar lengths;
    a TransformerBridge runs whole rows (TransformerLens 4's bridge changes its last bits with
    the row's length, and a TopK first card must equal its complete card to the bit)."""
    distinct, inverse = np.unique(rows, return_inverse=True)
    if is_hooked_transformer(ctx.adapter.model):  # each row's length: its last asked position + 1
        need = np.zeros(distinct.size, dtype=np.int64)
        np.maximum.at(need, inverse, pos + 1)
    else:
        need = np.full(distinct.size, int(ctx.tokens.shape[1]), dtype=np.int64)
    by_len = np.argsort(-need, kind="stable")  # the distinct rows, longest first
    rank = np.empty_like(by_len)
    rank[by_len] = np.arange(by_len.size)
    slot = rank[inverse]  # each spot's row in that order
    parts: dict[str, list[Tensor]] = {hook: [] for hook in hooks}
    for s in range(0, distinct.size, RERUN_ROWS):  # bounded memory: a card may show hundreds of rows
        group = by_len[s : s + RERUN_ROWS]
        sel = (slot >= s) & (slot < s + RERUN_ROWS)
        part = ctx.tokens[torch.as_tensor(distinct[group])][:, : int(need[group].max())]
        acts = ctx.adapter.capture_dataset(part, list(hooks))
        for hook, d in hooks.items():
            x = acts[hook] if d is None else flatten_hook_activation(acts[hook], d, hook)
            dev = x.device
            parts[hook].append(x[torch.as_tensor(slot[sel] - s, device=dev), torch.as_tensor(pos[sel], device=dev)])
    # The parts hold the spots by group (each group's in their order): put them back in the spots' order.
    order = np.argsort(np.argsort(slot // RERUN_ROWS, kind="stable"), kind="stable")
    return {hook: torch.cat(p)[torch.as_tensor(order, device=p[0].device)] for hook, p in parts.items()}


def write_scale(ctx: CardContext, rows: np.ndarray, pos: np.ndarray, rerun: dict[str, Tensor]) -> Tensor | None:
    """The factor ``s(x)`` by which the SAE's output is de-normalised at each (row, pos), for
    SAEs that rescale their output per token (``constant_norm_rescale``, ``layer_norm``: see
    :meth:`~featurecard.core.sae.SparseAutoencoder.output_scale`); None for the others
    (``s = 1``). A latent's write in model space at a token is ``s(x) · a · direction``."""
    if not ctx.sae.rescales_output or rows.size == 0:
        return None
    s, _ = ctx.sae.output_scale(_sae_inputs_at(ctx, rows, pos, rerun))
    return s[:, 0]


@dataclass(frozen=True)
class Spots:
    """The distinct shown (row, pos) where the unit is nonzero, in dataset order, with its activation."""

    rows: np.ndarray  # int64 [n]
    pos: np.ndarray  # int64 [n]
    acts: np.ndarray  # float [n]


def shown_spots(groups: list[tuple[str, list[ExampleSeq]]]) -> Spots:
    """What a card's hover effects need: its example groups' tokens where the unit is nonzero."""
    seqs = [s for _, g in groups for s in g]
    if not seqs:
        return Spots(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    acts = np.concatenate([s.acts for s in seqs])
    rows, pos = seq_positions(seqs)
    on = acts != 0
    keys, where = np.unique((rows[on] << 32) | pos[on], return_index=True)
    return Spots(keys >> 32, keys & 0xFFFFFFFF, acts[on][where])


def _readout(ctx: CardContext) -> Readout:
    """The model's readout of final residuals; the modules called get rows in the model's own
    dtype (the kept final residual is float32: a bfloat16 / float16 model computes in its dtype)."""
    readout = ctx.adapter.final_readout()
    if isinstance(readout, NormUnembed):
        return readout
    dtype = ctx.adapter.unembed_matrix().dtype
    if dtype in (torch.float32, torch.float64):
        return readout
    return lambda x: readout(x.to(dtype))


def hovers(ctx: CardContext, spots: list[Spots], directions: list[Tensor | None], k: int) -> list[HoverRows | None]:
    """Effects at every shown token where each unit is nonzero, for all the cards in one call."""
    cards = [i for i, d in enumerate(directions) if d is not None]
    out: list[HoverRows | None] = [None] * len(spots)
    if not cards:
        return out
    rows = np.concatenate([spots[i].rows for i in cards])
    pos = np.concatenate([spots[i].pos for i in cards])
    counts = [spots[i].rows.size for i in cards]
    m = ctx.adapter.model
    dirs = torch.stack([cast("Tensor", directions[i]) for i in cards])
    # Nothing shown is active: token_effects returns empty tables.
    rerun = _rerun(ctx, rows, pos)  # one forward for whatever is not kept
    r = _final_resid_at(ctx, rows, pos, rerun) if rows.size else torch.zeros(0, int(m.cfg.d_model), device=dirs.device)
    tok = np.asarray(ctx.tokens)
    seq_len = tok.shape[1]
    nxt = np.where(pos + 1 < seq_len, tok[rows, np.minimum(pos + 1, seq_len - 1)], -1)
    acts = torch.as_tensor(np.concatenate([spots[i].acts for i in cards]), device=r.device)
    scale = write_scale(ctx, rows, pos, rerun)  # the model-space write of a per-token-normalised SAE
    if scale is not None:
        acts = acts.to(scale.dtype) * scale.to(acts.device)
    which = torch.repeat_interleave(torch.arange(len(cards)), torch.tensor(counts)).to(r.device)
    eff = token_effects(r, acts, dirs.to(r.device), _readout(ctx), torch.as_tensor(nxt), k=k, which=which)
    tables = [
        t.cpu().numpy() for t in (eff.top_ids, eff.top_values, eff.bottom_ids, eff.bottom_values, eff.loss_change)
    ]
    ends = np.cumsum(counts)
    for i, hi, n in zip(cards, ends, counts, strict=True):
        part = [t[hi - n : hi] for t in tables]
        out[i] = HoverRows(spots[i].rows, spots[i].pos, *part)
    return out
