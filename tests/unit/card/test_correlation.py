"""Correlations against torch.corrcoef and plain cosine over dense activations."""

from __future__ import annotations

import torch

from featurecard.card.correlation import NeuronCorrelationSums, correlate_with_index, dense_column
from featurecard.card.index import IndexBuilder


def sparse_acts(n: int, d: int, density: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, d, generator=g)
    return torch.where(torch.rand(n, d, generator=g) < density, a, torch.zeros_like(a))


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.T @ b) / (a.norm(dim=0)[:, None] * b.norm(dim=0)[None, :])


def test_neuron_correlations_match_corrcoef() -> None:
    n, d_sae, d_in = 600, 40, 12
    acts = sparse_acts(n, d_sae, 0.05, 0)
    x = torch.randn(n, d_in, generator=torch.Generator().manual_seed(1)) + acts[:, :12] * 3
    sums = NeuronCorrelationSums(d_sae, d_in)
    for s in range(0, n, 128):  # streamed in uneven batches
        sums.add(acts[s : s + 128], x[s : s + 128])
    dense = acts
    ref = torch.corrcoef(torch.cat([dense, x], 1).T.double())[:d_sae, d_sae:]
    cos = cosine(dense.double(), x.double())
    for f in (0, 5, 11, 39):
        c = sums.correlated(f, k=3)
        want = ref[f].topk(3)
        assert c.ids.tolist() == want.indices.tolist()
        torch.testing.assert_close(c.pearson.double(), want.values, atol=1e-6, rtol=0)
        torch.testing.assert_close(c.cosine.double(), cos[f, want.indices], atol=1e-6, rtol=0)
    # the dense path (density >= 10%) gives the same sums
    dense_sums = NeuronCorrelationSums(d_sae, d_in)
    dense_sums.add(acts + 1e-3, x)
    sparse_sums = NeuronCorrelationSums(d_sae, d_in)
    sparse_sums.add(acts, x)
    torch.testing.assert_close(dense_sums.s_fx - 1e-3 * x.double().sum(0), sparse_sums.s_fx, atol=1e-4, rtol=1e-5)


def test_latent_correlations_over_all_latents_match_corrcoef() -> None:
    batch, seq, d_sae = 10, 16, 50
    acts = sparse_acts(batch * seq, d_sae, 0.15, 2).reshape(batch, seq, d_sae)
    keep = torch.ones(batch, seq, dtype=torch.bool)
    keep[:, 0] = False  # BOS excluded: it must not count in n
    b = IndexBuilder(d_sae, seq)
    b.add(acts[:6], 0, keep[:6])
    b.add(acts[6:], 6, keep[6:])
    idx = b.finish()
    counted = acts[keep]  # [n_counted, d_sae]
    ref = torch.corrcoef(counted.T.double())
    cos = cosine(counted.double(), counted.double())
    for f in (0, 17, 49):
        p, c = correlate_with_index(dense_column(*idx.column(f), batch * seq), idx)
        torch.testing.assert_close(p, ref[f], atol=1e-9, rtol=0)
        torch.testing.assert_close(c, cos[f], atol=1e-9, rtol=0)
