"""Histograms, ticks, interval groups and bottom examples against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from featurecard.card.stats import bottom_windows, histogram, interval_groups, nice_ticks


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(0, 1), (-0.3, 0.2), (-1e-7, 3e-7), (0.0009, 0.0011), (-250, 4000), (1.0, 1.0), (5, -5), (0, 2.3e-5)],
)
def test_ticks_are_few_round_and_cover_the_range(lo: float, hi: float) -> None:
    t = nice_ticks(lo, hi, max_ticks=6)
    assert 1 <= len(t) <= 6
    a, b = min(lo, hi), max(lo, hi)
    assert all(a - 1e-12 <= x <= b + 1e-12 for x in t)
    if a != b:
        step = t[1] - t[0] if len(t) > 1 else 0
        assert len(t) >= 2, "a proper range gets at least two ticks"
        mant = step / 10 ** math.floor(math.log10(step))
        assert min(abs(mant - m) for m in (1, 2, 5, 10)) < 1e-6
        # the ticks span most of the range (no tick explosion, no single lonely tick)
        assert (t[-1] - t[0]) >= 0.4 * (b - a)


def test_histogram_matches_numpy() -> None:
    v = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    edges, counts = histogram(v, 20)
    ref_counts, ref_edges = np.histogram(v.numpy(), bins=20, range=(float(v.min()), float(v.max())))
    np.testing.assert_allclose(edges, ref_edges, rtol=1e-5, atol=1e-6)
    assert abs(sum(counts) - 1000) == 0
    assert np.abs(np.array(counts) - ref_counts).max() <= 1  # float32 vs float64 edges at bin borders


def test_interval_groups_against_brute_force() -> None:
    g = torch.Generator().manual_seed(1)
    seq_len = 30
    pos = torch.randperm(20 * seq_len, generator=g)[:300].sort().values
    val = torch.rand(300, generator=g) * 4 - 1  # some negative, as a signed neuron
    groups = interval_groups(pos, val, seq_len, n_intervals=10, per=5, seed=3)
    active = val[val > 0]
    top = float(active.max())
    assert len(groups) == 10
    assert sum(gr.share for gr in groups) == pytest.approx(1.0)
    for i, gr in enumerate(groups):
        k = 9 - i  # highest first
        lo, hi = top * k / 10, top * (k + 1) / 10
        assert gr.lo == pytest.approx(lo) and gr.hi == pytest.approx(hi)
        n_in = int(((active > lo + 1e-9) & (active <= hi + 1e-9)).sum())
        assert gr.share == pytest.approx(n_in / active.numel(), abs=2 / active.numel())
        assert len(gr.windows) == min(5, n_in)
        for w in gr.windows:
            v = float(val[pos.tolist().index(w.row * seq_len + w.focus)])
            assert lo - 1e-6 < v <= hi + 1e-6
    again = interval_groups(pos, val, seq_len, n_intervals=10, per=5, seed=3)
    assert [gr.windows for gr in again] == [gr.windows for gr in groups], "seeded: the same samples"


def test_bottom_windows_are_the_smallest_nonzero() -> None:
    pos = torch.tensor([3, 10, 41, 50, 77])
    val = torch.tensor([0.5, 0.0, 0.2, -1.0, 0.9])
    w = bottom_windows(pos, val, seq_len=40, k=3, buffer=(2, 2))
    assert [(x.row, x.focus) for x in w] == [(1, 10), (1, 1), (0, 3)]
    assert (w[0].start, w[0].stop) == (8, 13)
