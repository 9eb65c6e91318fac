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

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from ..core.dataset import dataset_batches
from ..core.model import ModelAdapter, flatten_hook_activation
from ..core.sae import SparseAutoencoder
from .correlation import NeuronCorrelationSums, add_counted_moments, counted_mean
from .index import ActivationIndex, IndexBuilder, concat_indexes

# The kept SAE inputs (all hooks together) stay below this; above it the Workspace indexes
# every latent in its one streamed pass instead.
CAPTURE_BUDGET = 1 * 2**30
# Latents encoded together (one matmul) for the complete index, which is these blocks side by side.
BLOCK = 128
# Dataset positions per encoder call (at most this many, whole rows).
CHUNK_POSITIONS = 8192
# A latent asked for alone is encoded with the others of its aligned group of this many.
NEIGHBOURS = 32


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
    # Rows per forward batch, and per encoder call over the kept inputs: the same grid, so a
    # latent encoded during the pass has the bits the complete index gives it.
    chunk_rows: int = 1

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


def chunk_rows(seq_len: int, batch_size: int) -> int:
    """Rows per forward batch of a capture pass and per encoder call over its inputs: at most
    ``batch_size`` and :data:`CHUNK_POSITIONS` positions, at least one."""
    return max(1, min(batch_size, CHUNK_POSITIONS // seq_len))


def with_neighbours(units: Iterable[int], d_sae: int) -> list[int]:
    """The latents to encode for ``units``: one latent alone comes with its :data:`NEIGHBOURS`
    (reading the inputs costs as much as encoding a few dozen latents from them, and the next
    card asked for is often a neighbour)."""
    want = {int(u) for u in units}
    if len(want) == 1:
        lo = next(iter(want)) // NEIGHBOURS * NEIGHBOURS
        want = set(range(lo, min(lo + NEIGHBOURS, d_sae)))
    return sorted(want)


def encode_set(sae: SparseAutoencoder, sae_in: Float[Tensor, "n d_in"], units: Tensor) -> Float[Tensor, "n units"]:
    """Latents ``units`` (ascending ids) of preprocessed inputs, as every staged encode does:
    a run of consecutive ids as a slice, else by ids (the two may differ in the last bits)."""
    lo, hi = int(units[0]), int(units[-1]) + 1
    return sae.encode_units(sae_in, slice(lo, hi) if hi - lo == units.numel() else units.to(sae_in.device))


class PassGroup:
    """Latents of one SAE encoded batch by batch during the capture pass (the first cards'
    latents: no second read of the kept inputs), exactly as :meth:`StagedSource.prepare` would."""

    def __init__(self, sae: SparseAutoencoder, units: list[int], seq_len: int, device: torch.device) -> None:
        self.sae, self.units = sae, torch.tensor(units, dtype=torch.long)
        self.builder = IndexBuilder(len(units), seq_len, device=device)

    def add(self, x: Float[Tensor, "n d_in"], row0: int, keep: Bool[Tensor, "batch pos"]) -> None:
        acts = encode_set(self.sae, self.sae.preprocess(x), self.units)
        self.builder.add(acts.reshape(*keep.shape, -1), row0, keep)


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
    groups: Iterable[PassGroup] = (),
) -> Capture:
    """One forward pass over ``tokens`` keeping ``hooks`` (name -> vector size, as the SAEs
    reading them expect) and the residual hook ``keep_resid``
    (the final residual, or the input of a later block to resume from) at every position,
    in batches of :func:`chunk_rows`; ``groups`` are encoded from each batch on the way."""
    device = adapter.device
    n_rows, seq_len = tokens.shape
    wanted = sorted(set(hooks) | ({keep_resid} if keep_resid else set()))
    inputs: dict[str, Tensor] = {}
    moments: dict[str, tuple[Tensor, Tensor]] = {}
    shifts: dict[str, Tensor] = {}
    resid: Tensor | None = None
    keep = torch.empty(n_rows * seq_len, dtype=torch.bool, device=device)
    rows = chunk_rows(seq_len, batch_size)
    by_hook: dict[str, list[PassGroup]] = {}
    for g in groups:
        by_hook.setdefault(g.sae.hook_name, []).append(g)
    batches = dataset_batches(adapter, tokens, wanted, exclude_bos=exclude_bos, batch_size=rows, progress=progress)
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
            for g in by_hook.get(hook, ()):
                g.add(a, b.row0, b.keep)
        if keep_resid:
            r = b.acts[keep_resid]
            if resid is None:
                resid = torch.empty(n_rows, seq_len, r.shape[-1], dtype=r.dtype, device=device)
            resid[b.row0 : b.row1] = r
    return Capture(inputs, keep, resid, n_rows, seq_len, moments, rows)


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
        """Row ranges of the capture pass's batches (:func:`chunk_rows`)."""
        rows = self.capture.chunk_rows
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
                acts = encode_set(sae, sae_in, units)
                for i, g, j in todo:
                    if g not in again:
                        again[g] = encode_set(sae, sae_in, spliced[g])
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
        """Encode the latents ``units`` not encoded yet, together (several cards made together;
        one alone comes with its neighbours, :func:`with_neighbours`)."""
        new = [u for u in with_neighbours(set(units) - set(self.quick), self.sae.d_sae) if u not in self.quick]
        if not new:
            return
        group = torch.tensor(new, dtype=torch.long)
        (index,) = self._encode([group], [])
        self.adopt(group, index)

    def adopt(self, group: Tensor, index: ActivationIndex) -> None:
        """Take latents ``group`` encoded together (here, or by a :class:`PassGroup`) and their index."""
        where = {int(u): (index, i) for i, u in enumerate(group.tolist())}
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
