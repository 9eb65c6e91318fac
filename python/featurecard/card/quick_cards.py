"""Quick cards before the complete index: the SAE inputs kept from one forward pass.

Indexing every latent costs one encoder matmul over the whole dataset (``tokens × d_in ×
d_sae``); on a CPU that dominates the time to the first card, while the card itself needs
one latent's column. So when the SAE inputs at every position fit :data:`CAPTURE_BUDGET`,
the Workspace runs the model **once** and keeps them (:class:`Capture`, with what the hover
effects need: the final residual, or the output of the SAEs' last block from which
:class:`FinalRows` runs the later blocks for the rows a card shows); a card then encodes only
the latents it shows (:class:`StagedSource`; cards made together encode theirs in one matmul).
Every panel of that card is exact and final except the ones that need every latent's
statistics (correlated latents of the same SAE and of encoder B): those are *pending* until
:meth:`StagedSource.complete_index` encodes every latent, in blocks of :data:`BLOCK`, from the
same kept inputs (no second forward pass).

A latent's numbers depend on the shape of the matmul that encodes it (the BLAS picks the
summation order by shape), so the complete index encodes the latents cards asked for again
with the same companions and the same chunks of positions, and keeps those columns: a card's
numbers do not move, to the last bit, when its index completes. TopK SAEs rank all latents at
every token, so they are not staged (the Workspace indexes them in one pass, as before).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from ..core.dataset import FINAL_RESID_BUDGET, dataset_batches
from ..core.model import ModelAdapter, block_hook, flatten_hook_activation, parse_hook
from ..core.sae import SparseAutoencoder
from .correlation import NeuronCorrelationSums, add_counted_moments, counted_mean
from .index import ActivationIndex, IndexBuilder, concat_indexes
from .last_block import LastBlockAtSpots, unsupported

# The kept SAE inputs (all hooks together) stay below this; above it the Workspace indexes
# every latent in its one streamed pass instead.
CAPTURE_BUDGET = 1 * 2**30
# Latents encoded together (one matmul) for the complete index, which is these blocks side by side.
BLOCK = 128
# Dataset positions per encoder call (at most this many, whole rows).
CHUNK_POSITIONS = 8192
# A latent asked for alone is encoded with the others of its aligned group of this many.
NEIGHBOURS = 32
# The last block's keys and values kept by row for quick cards' hover effects stay below this.
KV_BUDGET = 1 * 2**30
# The spot path of FinalRows must match the model's own forward on one row to this (relative).
SPOT_CHECK_TOLERANCE = 1e-4
# Attention scores (rows x heads x shown positions x positions) computed together at most.
SPOT_SCORES = 2**24


@dataclass
class Capture:
    """What one forward pass keeps: inputs by hook (flat positions), the counted mask, the final residual."""

    inputs: dict[str, Float[Tensor, "n_pos d"]]
    keep: Bool[Tensor, " n_pos"]
    resid: Float[Tensor, "batch pos d_model"] | None  # kept residual hook (capture_pass); the Workspace takes it
    n_rows: int
    seq_len: int
    # Σx and Σx² per input dimension over counted tokens (float64), accumulated batch by batch.
    moments: dict[str, tuple[Float[Tensor, " d"], Float[Tensor, " d"]]] = field(default_factory=dict)

    @property
    def n_tokens(self) -> int:
        return int(self.keep.sum())

    def merge(self, other: Capture) -> Capture:
        """Add the inputs of another pass over the same tokens (hooks captured later); the
        inputs last, since a hook among them counts as captured."""
        self.moments.update(other.moments)
        self.inputs.update(other.inputs)
        return self


def capture_bytes(sources: Mapping[str, SparseAutoencoder], n_positions: int) -> int:
    """Bytes the kept inputs of ``sources`` would take (one copy per hook)."""
    per_hook = {s.hook_name: s.d_in * torch.empty(0, dtype=s.dtype).element_size() for s in sources.values()}
    return n_positions * sum(per_hook.values())


@torch.no_grad()
def capture_pass(
    adapter: ModelAdapter,
    hooks: Mapping[str, int],
    tokens: Int[Tensor, "batch pos"],
    *,
    exclude_bos: bool = True,
    batch_size: int = 32,
    progress: bool = True,
    keep_resid: str | None = None,
) -> Capture:
    """One forward pass over ``tokens`` keeping ``hooks`` (name -> vector size, as the SAEs
    reading them expect) and the residual hook ``keep_resid``
    (the final residual, or the input of a later block to resume from) at every position."""
    device = adapter.device
    n_rows, seq_len = tokens.shape
    wanted = sorted(set(hooks) | ({keep_resid} if keep_resid else set()))
    inputs: dict[str, Tensor] = {}
    moments: dict[str, tuple[Tensor, Tensor]] = {}
    shifts: dict[str, Tensor] = {}
    resid: Tensor | None = None
    keep = torch.empty(n_rows * seq_len, dtype=torch.bool, device=device)
    batches = dataset_batches(
        adapter, tokens, wanted, exclude_bos=exclude_bos, batch_size=batch_size, progress=progress
    )
    for b in batches:
        lo, hi = b.row0 * seq_len, b.row1 * seq_len
        keep[lo:hi] = b.keep.flatten()
        for hook in hooks:
            a = flatten_hook_activation(b.acts[hook], hooks[hook], hook).flatten(0, 1)
            if hook not in inputs:
                inputs[hook] = torch.empty(n_rows * seq_len, a.shape[1], dtype=a.dtype, device=device)
                zeros = torch.zeros(a.shape[1], dtype=torch.float64, device=device)
                moments[hook], shifts[hook] = (zeros, zeros.clone()), counted_mean(a, keep[lo:hi])
            inputs[hook][lo:hi] = a
            add_counted_moments(*moments[hook], a, keep[lo:hi], shifts[hook])
        if keep_resid:
            r = b.acts[keep_resid]
            if resid is None:
                resid = torch.empty(n_rows, seq_len, r.shape[-1], dtype=r.dtype, device=device)
            resid[b.row0 : b.row1] = r
    return Capture(inputs, keep, resid, n_rows, seq_len, moments)


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


class StagedSource:
    """One SAE's latents over a :class:`Capture`: the latents cards ask for, then all of them."""

    def __init__(self, sae: SparseAutoencoder, capture: Capture) -> None:
        if not sae.columnwise:
            raise ValueError(f"a {sae.architecture} SAE cannot be encoded block by block")
        self.sae, self.capture = sae, capture
        # Latents encoded together for cards (each group one matmul per chunk of positions),
        # and where each latent's column is: (its group's index, its offset there).
        self.groups: list[Tensor] = []
        self.quick: dict[int, tuple[ActivationIndex, int]] = {}

    @property
    def n_blocks(self) -> int:
        return -(-self.sae.d_sae // BLOCK)

    def _chunks(self) -> list[tuple[int, int]]:
        """Row ranges of at most CHUNK_POSITIONS positions (whole rows, at least one)."""
        rows = max(1, CHUNK_POSITIONS // self.capture.seq_len)
        return [(r, min(r + rows, self.capture.n_rows)) for r in range(0, self.capture.n_rows, rows)]

    @torch.no_grad()
    def _encode(self, sets: list[Tensor], spliced: list[Tensor], progress: bool = False) -> list[ActivationIndex]:
        """An index of each set of latents (ids), chunk by chunk (each chunk preprocessed once).

        A latent's numbers depend on its matmul's shape, so latents of ``spliced`` (groups
        encoded for cards) are encoded with their group again and written over their columns:
        a card's numbers do not move when the index completes."""
        cap, sae, seq_len = self.capture, self.sae, self.capture.seq_len
        x_all = cap.inputs[sae.hook_name]
        keep = cap.keep.reshape(cap.n_rows, seq_len)
        builders = [IndexBuilder(u.numel(), seq_len, device=x_all.device) for u in sets]
        # For each set, the (column in the set, spliced group, column in the group) to copy.
        where = {int(u): (g, j) for g, group in enumerate(spliced) for j, u in enumerate(group.tolist())}
        copies = [[(i, *where[u]) for i, u in enumerate(units.tolist()) if u in where] for units in sets]
        for r0, r1 in tqdm(self._chunks(), disable=not progress, desc="featurecard: indexing every latent"):
            sae_in = self._sae_in(r0, r1)
            again: dict[int, Tensor] = {}
            for builder, units, todo in zip(builders, sets, copies, strict=True):
                lo, hi = int(units[0]), int(units[-1]) + 1
                contiguous = hi - lo == units.numel()
                acts = sae.encode_units(sae_in, slice(lo, hi) if contiguous else units.to(x_all.device))
                for i, g, j in todo:
                    if g not in again:
                        again[g] = sae.encode_units(sae_in, spliced[g].to(x_all.device))
                    acts[:, i] = again[g][:, j]
                builder.add(acts.reshape(r1 - r0, seq_len, units.numel()), r0, keep[r0:r1])
        return [builder.finish(by_position=False) for builder in builders]

    def _sae_in(self, r0: int, r1: int) -> Tensor:
        """The SAE's preprocessed input for rows ``r0 .. r1 - 1``. Not kept: a chunk's copy is
        freed before the next is made, so its memory is reused instead of faulted in afresh
        (keeping all of them cost ~27k page faults, more than preprocessing them again for
        the next group of latents)."""
        seq_len = self.capture.seq_len
        return self.sae.preprocess(self.capture.inputs[self.sae.hook_name][r0 * seq_len : r1 * seq_len])

    def prepare(self, units: Iterable[int]) -> None:
        """Encode the latents ``units`` not encoded yet, together (several cards made together).

        One latent alone (a card switched to) comes with its :data:`NEIGHBOURS` (reading the
        inputs costs as much as encoding a few dozen latents from them, and the next card
        asked for is often a neighbour)."""
        want = {int(u) for u in units} - set(self.quick)
        if len(want) == 1:
            lo = next(iter(want)) // NEIGHBOURS * NEIGHBOURS
            want = set(range(lo, min(lo + NEIGHBOURS, self.sae.d_sae))) - set(self.quick)
        new = sorted(want)
        if not new:
            return
        group = torch.tensor(new, dtype=torch.long)
        (index,) = self._encode([group], [])
        where = {u: (index, i) for i, u in enumerate(new)}
        # The group first: an interrupt between the two costs a duplicate group, never an unspliced column.
        self.groups.append(group)
        self.quick.update(where)

    def column(self, unit: int) -> tuple[ActivationIndex, int]:
        """The index holding ``unit`` (encoding it if needed) and the unit's offset in it."""
        self.prepare([unit])
        return self.quick[unit]

    def complete_index(self, progress: bool = False) -> ActivationIndex:
        """Every latent's index, in blocks of :data:`BLOCK` latents side by side. Changes
        nothing here (an interrupted call can run again); :meth:`release_quick` frees the
        cards' columns once the caller holds the index."""
        d_sae = self.sae.d_sae
        blocks = [torch.arange(b * BLOCK, min((b + 1) * BLOCK, d_sae)) for b in range(self.n_blocks)]
        return concat_indexes(self._encode(blocks, self.groups, progress=progress), self.capture.n_rows)

    def release_quick(self) -> None:
        """Forget the columns encoded for cards (the complete index has them now)."""
        self.groups, self.quick = [], {}

    def neuron_sums(self, index: ActivationIndex) -> NeuronCorrelationSums:
        """The streamed neuron-correlation sums of the index pass, from the kept inputs."""
        cap, hook = self.capture, self.sae.hook_name
        x = cap.inputs[hook]
        sums = NeuronCorrelationSums(self.sae.d_sae, self.sae.d_in, device=x.device)
        sums.n = cap.n_tokens
        sums.s_x, sums.s_xx = (m.clone() for m in cap.moments[hook])
        v = index.values.double()
        counts = index.indptr[1:] - index.indptr[:-1]
        units = torch.repeat_interleave(torch.arange(index.n_units, device=x.device), counts)
        sums.s_f.index_add_(0, units, v)
        sums.s_ff.index_add_(0, units, v * v)
        # Σ f·x per (unit, dimension): one sparse product, its nonzeros in dataset order (the
        # by-position view), which torch multiplies ~3x faster than the same list by unit.
        assert index.pos_indptr is not None and index.pos_units is not None and index.pos_values is not None
        rows = torch.repeat_interleave(torch.arange(x.shape[0], device=x.device), index.pos_indptr.diff())
        f = torch.sparse_coo_tensor(
            torch.stack([index.pos_units.long(), rows]),
            index.pos_values.float(),
            (index.n_units, x.shape[0]),
            check_invariants=False,
        )
        sums.s_fx = torch.sparse.mm(f, x.float()).double()
        return sums
