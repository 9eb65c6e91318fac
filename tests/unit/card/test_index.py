"""The activation index against dense brute force: per-unit statistics, both views."""

from __future__ import annotations

import torch

from featurecard.card.index import IndexBuilder


def _build(acts: torch.Tensor, keep: torch.Tensor, batch: int = 3):
    b = IndexBuilder(acts.shape[-1], acts.shape[1])
    for r in range(0, acts.shape[0], batch):
        b.add(acts[r : r + batch], r, keep[r : r + batch])
    return b.finish()


def test_signed_sparse_units_match_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    acts = torch.randn(7, 9, 11, generator=g)
    acts[torch.rand(acts.shape, generator=g) < 0.6] = 0
    acts[..., 3] = 0  # a dead unit
    acts[..., 4] = -torch.rand(7, 9, generator=g) - 0.1  # never zero, always negative
    keep = torch.ones(7, 9, dtype=torch.bool)
    keep[:, 0] = False  # BOS
    idx = _build(acts, keep)
    kept = acts[keep]  # [n_tokens, units]
    assert idx.n_tokens == kept.shape[0]
    torch.testing.assert_close(idx.max_act, kept.amax(0))
    assert torch.equal(idx.n_active, (kept > 0).sum(0))
    flat = (acts * keep.unsqueeze(-1)).reshape(-1, 11)
    for u in range(11):
        pos, val = idx.column(u)
        want = torch.nonzero(flat[:, u]).squeeze(-1)
        assert torch.equal(pos.long(), want)
        torch.testing.assert_close(val, flat[want, u])
    s_g, s_gg = idx.unit_sums()
    torch.testing.assert_close(s_g, flat.double().sum(0))
    torch.testing.assert_close(s_gg, (flat.double() ** 2).sum(0))


def test_by_position_view() -> None:
    g = torch.Generator().manual_seed(1)
    acts = torch.relu(torch.randn(5, 6, 8, generator=g))
    keep = torch.rand(5, 6, generator=g) > 0.2
    idx = _build(acts, keep, batch=2)
    flat = (acts * keep.unsqueeze(-1)).reshape(-1, 8)
    positions = torch.tensor([0, 7, 13, 29, 7])
    which, units, values = idx.at_positions(positions)
    got = {(int(w), int(u)): float(v) for w, u, v in zip(which, units, values, strict=True)}
    want = {(i, u): float(flat[p, u]) for i, p in enumerate(positions.tolist()) for u in range(8) if flat[p, u] != 0}
    assert got.keys() == want.keys()
    for key, v in want.items():
        assert abs(got[key] - v) < 1e-6
