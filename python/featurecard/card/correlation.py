"""Correlations of a unit with the SAE's input neurons and with every latent of an index.

**Against input neurons** (streamed): while the index is built, :class:`NeuronCorrelationSums`
accumulates, over counted tokens, ``Σf``, ``Σf²`` per unit, ``Σx``, ``Σx²`` per input dimension
and ``Σ f·x`` per (unit, dimension), in float64. Sparse units make ``Σ f·x`` a sparse-dense
product (cost ∝ nonzeros × d_in). Pearson and cosine then follow in closed form for any unit.

**Against latents** (on demand, exact over *all* latents): ``Σ f·g`` is nonzero only where
``f`` fires, so for each position where unit ``f`` is nonzero the index's by-position view
gives the latents active there, and one scatter-add over those pairs gives ``Σ f·g`` for every
latent ``g`` (cost ∝ f's nonzeros × the L0 of the index, not the index's size); with the
per-latent sums (computed once per index) this gives Pearson and cosine. SAEDashboard only
compares latents inside one batch of features; sae_vis keeps a dense d_sae × d_sae running matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from .index import CardIndex


@dataclass(frozen=True)
class Correlated:
    ids: Int[Tensor, " k"]
    pearson: Float[Tensor, " k"]
    cosine: Float[Tensor, " k"]


def _pearson_cosine(
    n: int, s_f: Tensor, s_ff: Tensor, s_g: Tensor, s_gg: Tensor, s_fg: Tensor
) -> tuple[Tensor, Tensor]:
    cov = n * s_fg - s_f * s_g
    var = (n * s_ff - s_f**2).clamp(min=0) * (n * s_gg - s_g**2).clamp(min=0)
    pearson = torch.where(var > 0, cov / var.sqrt(), torch.zeros_like(cov))
    norm = (s_ff * s_gg).sqrt()
    cosine = torch.where(norm > 0, s_fg / norm, torch.zeros_like(s_fg))
    return pearson, cosine


def top_correlated(pearson: Tensor, cosine: Tensor, k: int, exclude: int | None = None) -> Correlated:
    """The ``k`` largest Pearson correlations (``exclude``: the unit itself)."""
    p = pearson.clone()
    if exclude is not None:
        p[exclude] = float("-inf")
    top = p.topk(min(k, p.numel()))
    return Correlated(top.indices, top.values.float(), cosine[top.indices].float())


def counted_mean(x: Float[Tensor, "n d"], keep: Bool[Tensor, " n"]) -> Float[Tensor, " d"]:
    """The mean of the rows of ``x`` where ``keep`` (zeros if none): a shift for
    :func:`add_counted_moments`."""
    counted = x[keep]
    return counted.mean(0) if counted.shape[0] else x.new_zeros(x.shape[1])


@torch.no_grad()
def add_counted_moments(
    s_x: Float[Tensor, " d"],
    s_xx: Float[Tensor, " d"],
    x: Float[Tensor, "n d"],
    keep: Bool[Tensor, " n"],
    shift: Float[Tensor, " d"],
) -> None:
    """Add Σx and Σx² over the rows of ``x`` where ``keep`` to the float64 totals ``s_x``, ``s_xx``.

    The batch is summed in float32 as ``x − shift`` (a shift near the mean, e.g. the first
    batch's :func:`counted_mean`) and moved back in float64: within 1e-6 of float64 sums of
    ``x`` even where a dimension's mean dwarfs its spread (no cancellation), at a tenth of
    the time of summing ``x`` in float64. The counted rows are weighted in by a product with the
    mask (two matrix-vector products: no masked copy, and half the passes over the batch)."""
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()  # a half-precision model's activations are summed in float32
    w = keep.to(x.dtype)[None]
    d = torch.sub(x, shift.to(x.dtype))
    s1 = torch.mm(w, d)[0].double()
    s2 = torch.mm(w, d.mul_(d))[0].double()
    n, c = keep.sum().double(), shift.double()
    s_x.add_(s1 + n * c)
    s_xx.add_(s2 + 2 * c * s1 + n * c * c)


class NeuronCorrelationSums:
    """Streamed sums for unit-vs-input-dimension correlations (see the module docstring)."""

    def __init__(self, n_units: int, d_in: int, device: torch.device | str = "cpu") -> None:
        f64 = torch.float64
        self.n = 0
        self.s_f = torch.zeros(n_units, dtype=f64, device=device)
        self.s_ff = torch.zeros(n_units, dtype=f64, device=device)
        self.s_x = torch.zeros(d_in, dtype=f64, device=device)
        self.s_xx = torch.zeros(d_in, dtype=f64, device=device)
        self.s_fx = torch.zeros(n_units, d_in, dtype=f64, device=device)
        self._shift: Tensor | None = None  # see add_counted_moments

    @torch.no_grad()
    def add(self, acts: Float[Tensor, "n n_units"], x: Float[Tensor, "n d_in"]) -> None:
        """Counted tokens only (excluded positions already removed)."""
        t, u = torch.nonzero(acts, as_tuple=True)
        self.add_nonzeros(t, u, acts[t, u], x, torch.ones(x.shape[0], dtype=torch.bool, device=x.device))

    @torch.no_grad()
    def add_nonzeros(
        self,
        rows: Int[Tensor, " m"],
        units: Int[Tensor, " m"],
        values: Float[Tensor, " m"],
        x: Float[Tensor, "n d_in"],
        keep: Bool[Tensor, " n"],
    ) -> None:
        """The same from a batch's nonzeros (``rows`` index ``x``; none at excluded rows)."""
        xf = x.float()
        self.n += int(keep.sum())
        v = values.float()
        u = units.long()
        self.s_f.index_add_(0, u, v.double())
        self.s_ff.index_add_(0, u, (v * v).double())
        if self._shift is None:
            self._shift = counted_mean(xf, keep)
        add_counted_moments(self.s_x, self.s_xx, xf, keep, self._shift)
        n_units = self.s_f.shape[0]
        sparse = torch.sparse_coo_tensor(
            torch.stack([u, rows.long()]), v, (n_units, x.shape[0]), check_invariants=False
        )
        self.s_fx.add_(torch.sparse.mm(sparse, xf))  # float32 product added into float64 in place: no float64 copy

    def correlated(self, unit: int, k: int = 3) -> Correlated:
        p, c = _pearson_cosine(self.n, self.s_f[unit], self.s_ff[unit], self.s_x, self.s_xx, self.s_fx[unit])
        return top_correlated(p, c, k)


def dense_column(
    positions: Int[Tensor, " k"], values: Float[Tensor, " k"], n_positions: int
) -> Float[Tensor, " n_positions"]:
    """A unit's activation at every flat dataset position from its column (zeros elsewhere)."""
    out = torch.zeros(n_positions, dtype=torch.float64, device=values.device)
    out[positions.long()] = values.double()
    return out


@torch.no_grad()
def neurons_from_column(
    positions: Int[Tensor, " k"],
    values: Float[Tensor, " k"],
    x: Float[Tensor, "n_positions d_in"],
    s_x: Float[Tensor, " d_in"],
    s_xx: Float[Tensor, " d_in"],
    n: int,
    k: int = 3,
) -> Correlated:
    """The same as :meth:`NeuronCorrelationSums.correlated`, from one column and the inputs kept
    at every position (``s_x``, ``s_xx``: their sums over the ``n`` counted tokens).

    ``Σ f·x`` is summed in float32 over ``x − mean`` (no cancellation against a large mean)
    and the mean's share ``Σf · mean`` added back in float64."""
    v = values.double()
    dt = torch.promote_types(x.dtype, torch.float32)
    shift = (s_x / max(n, 1)).to(dt)
    rows = torch.index_select(x, 0, positions.to(torch.int64)).to(dt).sub_(shift)
    s_fx = (rows.T @ values.to(dt)).double() + v.sum() * shift.double()
    p, c = _pearson_cosine(n, v.sum(), (v * v).sum(), s_x, s_xx, s_fx)
    return top_correlated(p, c, k)


@torch.no_grad()
def correlate_with_index(
    f_dense: Float[Tensor, " n_positions"],
    index: CardIndex,
) -> tuple[Float[Tensor, " n_units"], Float[Tensor, " n_units"]]:
    """Pearson and cosine of one dense activation vector with every unit of ``index``.

    Both vectors are taken over the index's counted tokens (``index.n_tokens`` of them);
    ``f_dense`` must already be zero at excluded positions.
    """
    where = torch.nonzero(f_dense).squeeze(-1)
    which, units, values = index.at_positions(where)
    prod = values.double() * f_dense[where][which]
    s_fg = torch.zeros(index.n_units, dtype=torch.float64, device=f_dense.device).index_add_(0, units, prod)
    s_g, s_gg = index.unit_sums()
    s_f, s_ff = f_dense.sum(), (f_dense**2).sum()
    return _pearson_cosine(index.n_tokens, s_f, s_ff, s_g, s_gg, s_fg)
