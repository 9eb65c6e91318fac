"""The final residual at the dataset positions a quick card shows (:class:`FinalRows`).

A quick card's hover effects need the final residual only where the card shows an active
token, so the capture pass (:mod:`featurecard.card.quick_cards`) stops after the SAEs' last
block and keeps that block's output (:func:`resid_to_keep`); the later blocks run here for the
rows and positions cards ask for.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from ..core.dataset import FINAL_RESID_BUDGET
from ..core.model import ModelAdapter, block_hook, parse_hook
from .last_block import LastBlockAtSpots, unsupported

# The last block's keys and values kept by row for quick cards' hover effects stay below this.
KV_BUDGET = 1 * 2**30
# The spot path of FinalRows must match the model's own forward on one row to this (relative).
SPOT_CHECK_TOLERANCE = 1e-4
# Attention scores (rows x heads x shown positions x positions) computed together at most.
SPOT_SCORES = 2**24


def resid_to_keep(adapter: ModelAdapter, hooks: Iterable[str], n_positions: int) -> str | None:
    """What the capture pass keeps for hover effects: the output of the hooks' last block (the
    later blocks then run for shown rows only) where the model can resume from it, else the
    final residual; nothing over :data:`~featurecard.core.dataset.FINAL_RESID_BUDGET`."""
    if n_positions * int(adapter.model.cfg.d_model) * 4 > FINAL_RESID_BUDGET:
        return None
    layers = [parse_hook(h).layer for h in hooks]
    last = max((layer for layer in layers if layer is not None), default=0)
    if adapter.can_resume and last + 1 < adapter.n_layers:
        return block_hook(last, "hook_resid_post")
    return adapter.final_resid_hook


class FinalRows:
    """The final residual at dataset positions, computed when a card first shows them and kept.

    A quick card's hover effects need the final residual only where it shows an active token,
    so the capture pass stops after the SAEs' last block, keeping that block's output at every
    position. For the positions a card asks for, the blocks in between run (the model's own
    forward, whole rows, kept in place of the captured rows), and the last block runs at those
    positions only, from its keys and values kept per row (:mod:`~featurecard.card.last_block`).
    That path is trusted once one row equals the model's own forward
    (:data:`SPOT_CHECK_TOLERANCE`); where it does not, or the block is one it refuses
    (``why_rows`` says why), whole rows run through the model's forward as before.
    """

    def __init__(self, adapter: ModelAdapter, resid: Float[Tensor, "batch pos d_model"], hook: str, batch_size: int):
        """``resid``: ``hook`` (a ``blocks.{L}.hook_resid_post``) at every dataset position."""
        layer = parse_hook(hook).layer
        if layer is None or not hook.endswith("hook_resid_post"):
            raise ValueError(f"FinalRows resumes from a block's hook_resid_post; got {hook!r}")
        n_rows, seq_len, _ = resid.shape
        self.adapter, self.layer, self.batch_size = adapter, layer + 1, batch_size
        self.last = adapter.n_layers - 1
        # Row by row, ``resid`` turns into the last block's input (blocks.{last}.hook_resid_pre).
        self.pre, self.at_last = resid, np.full(n_rows, self.layer == self.last)
        self.final = torch.empty(resid.shape, dtype=torch.float32, device=resid.device)
        self.done = np.zeros((n_rows, seq_len), dtype=bool)
        self.why_rows = unsupported(adapter.model, self.last)
        self.spots = None if self.why_rows else LastBlockAtSpots(adapter.model, self.last)
        self.checked = False
        # The last block's keys and values by row (views of the batches they were computed in,
        # so keeping them costs no copy), while they fit KV_BUDGET.
        self.kv: dict[int, tuple[Tensor, Tensor]] = {}
        self.kv_keep: bool | None = None

    @torch.no_grad()
    def at(self, rows: np.ndarray, pos: np.ndarray) -> Float[Tensor, "n d_model"]:
        need = ~self.done[rows, pos]
        if need.any():
            if self.spots is not None and not self.checked:
                self._check(int(rows[need][0]))
                need = ~self.done[rows, pos]
            if self.spots is None:
                self._whole_rows(np.unique(rows[need]))
            elif need.any():  # each position once, though several cards show it
                seq_len = self.done.shape[1]
                r, p = np.divmod(np.unique(rows[need] * seq_len + pos[need]), seq_len)
                self._at_spots(r, p)
        dev = self.final.device
        return self.final[torch.as_tensor(rows, device=dev), torch.as_tensor(pos, device=dev)]

    def _chunks(self, rows: np.ndarray) -> Iterable[tuple[np.ndarray, Tensor]]:
        for s in range(0, rows.size, self.batch_size):
            part = rows[s : s + self.batch_size]
            yield part, torch.as_tensor(part, device=self.pre.device)

    def _advance(self, rows: np.ndarray) -> None:
        """Run the blocks before the last one for ``rows`` (whole rows), in place.

        Each chunk's rows are rewritten and marked advanced by two adjacent stores (no Python
        call between them, where an interrupt could land), so an interrupt leaves every row
        either as captured or advanced and marked: never advanced twice or read half-way."""
        todo = np.unique(rows[~self.at_last[rows]])
        hook = block_hook(self.last, "hook_resid_pre")
        for part, chunk in self._chunks(todo):
            new = self.adapter.capture_from(self.pre[chunk], self.layer, [hook])[hook]
            self.pre[chunk] = new
            self.at_last[part] = True

    def _whole_rows(self, rows: np.ndarray) -> None:
        """The model's own forward from the last block for whole rows."""
        self._advance(rows)
        hook = self.adapter.final_resid_hook
        for part, chunk in self._chunks(rows):
            new = self.adapter.capture_from(self.pre[chunk], self.last, [hook])[hook].float()
            self.final[chunk] = new
            self.done[part] = True

    def _check(self, row: int) -> None:
        """Trust the spot path only if it reproduces one whole row of the model's forward
        (the row, its mark and ``checked`` are stored last, together: an interrupted check leaves
        nothing behind and runs again on the same row, as a fresh Workspace would)."""
        assert self.spots is not None
        self._advance(np.array([row]))
        hook = self.adapter.final_resid_hook
        want = self.adapter.capture_from(self.pre[row : row + 1], self.last, [hook])[hook][0].float()
        seq_len = self.done.shape[1]
        k, v = self.spots.keys_values(self.pre[row : row + 1])
        pos = torch.arange(seq_len, device=self.pre.device)
        got = self.spots(self.pre[row], k, v, torch.zeros_like(pos), pos).float()
        gap = float((got - want).abs().max())
        if not gap <= SPOT_CHECK_TOLERANCE * (1.0 + float(want.abs().max())):
            self.why_rows = f"the last block at chosen positions differs from the model's forward by {gap:.3g}"
            self.spots = None
        self.final[row], self.done[row], self.checked = want, True, True

    def _keys_values(self, rows: np.ndarray) -> tuple[Tensor, Tensor]:
        """The last block's keys and values for ``rows`` (sorted, distinct), kept by row if they fit."""
        assert self.spots is not None
        todo = np.array([r for r in rows.tolist() if r not in self.kv], dtype=np.int64)
        if todo.size == rows.size:  # all new (always, when not kept): handed back without a second read
            k, v = self.spots.keys_values(self.pre[torch.as_tensor(rows, device=self.pre.device)])
            self._keep(rows, k, v)
            return k, v
        for part, chunk in self._chunks(todo):
            self._keep(part, *self.spots.keys_values(self.pre[chunk]))
        return torch.stack([self.kv[r][0] for r in rows.tolist()]), torch.stack([self.kv[r][1] for r in rows.tolist()])

    def _keep(self, rows: np.ndarray, k: Tensor, v: Tensor) -> None:
        if self.kv_keep is None:
            n_rows = self.done.shape[0]
            self.kv_keep = (k[0].numel() + v[0].numel()) * k.element_size() * n_rows <= KV_BUDGET
        if self.kv_keep:
            for i, r in enumerate(rows.tolist()):
                self.kv[r] = (k[i], v[i])

    def _at_spots(self, rows: np.ndarray, pos: np.ndarray) -> None:
        """The last block at (rows, pos) only: rows in groups of similar counts (less padding)."""
        assert self.spots is not None
        self._advance(rows)
        uniq, counts = np.unique(rows, return_counts=True)
        n_heads, seq_len = int(self.adapter.model.cfg.n_heads), self.done.shape[1]
        order = np.argsort(-counts, kind="stable")
        by_count, counts = uniq[order], counts[order]
        s, dev = 0, self.pre.device
        while s < by_count.size:
            most = int(counts[s])
            step = max(1, min(self.batch_size, SPOT_SCORES // (n_heads * most * seq_len)))
            group = np.sort(by_count[s : s + step])
            s += step
            sel = np.isin(rows, group)
            r, p = rows[sel], pos[sel]
            order = np.argsort(r, kind="stable")
            r, p = r[order], p[order]
            k, v = self._keys_values(group)
            ri, pi = torch.as_tensor(r, device=dev), torch.as_tensor(p, device=dev)
            local = torch.as_tensor(np.searchsorted(group, r), device=dev)
            self.final[ri, pi] = self.spots(self.pre[ri, pi], k, v, local, pi).float()
            self.done[r, p] = True
