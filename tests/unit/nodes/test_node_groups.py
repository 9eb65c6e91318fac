"""The multi-group top-k union against a brute-force sort over every node of every block."""

from __future__ import annotations

import pytest
import torch

from featurecard.nodes.groups import GROUPS, SIGNED, Block, select_nodes, stable_top


def random_blocks(seed: int, batch: int = 2) -> list[Block]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(5, 7), (5, 3, 5), (5, 11), (5, 2, 5)]  # neurons, pairs, latents, pairs

    def values(shape: tuple[int, ...]) -> torch.Tensor:
        # coarse values: many exact ties, zeros and a few NaNs
        v = torch.randint(-4, 5, (batch, *shape), generator=g).float() / 2
        v[torch.rand(v.shape, generator=g) < 0.05] = float("nan")
        return v

    return [Block(i % 3, i, {gname: values(s) for gname in GROUPS}) for i, s in enumerate(shapes)]


def brute_force(blocks: list[Block], k: int) -> list[tuple[int, int, int, int, int]]:
    """Every node listed with its key, sorted with Python's sort, per prompt and group."""
    seen: dict[tuple[int, int, int, int, int], None] = {}
    n_batch = next(iter(blocks[0].scalars.values())).shape[0]
    for row in range(n_batch):
        for gname in GROUPS:
            nodes = []
            for b, blk in enumerate(blocks):
                flat = blk.scalars[gname][row].reshape(-1).tolist()
                shape = blk.shape()
                for i, v in enumerate(flat):
                    coords = list(torch.unravel_index(torch.tensor(i), shape))
                    key = (
                        blk.family,
                        blk.layer,
                        int(coords[1]),
                        int(coords[0]),
                        int(coords[2]) if len(shape) == 3 else -1,
                    )
                    nodes.append((v, b, i, key))
            top = sorted((n for n in nodes if n[0] > 0), key=lambda n: (-n[0], n[1], n[2]))[:k]
            for n in top:
                seen.setdefault(n[3], None)
            if gname in SIGNED:
                bottom = sorted((n for n in nodes if n[0] < 0), key=lambda n: (n[0], n[1], n[2]))[:k]
                for n in bottom:
                    seen.setdefault(n[3], None)
    return list(seen)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 3, 10])
def test_union_matches_brute_force(seed: int, k: int) -> None:
    blocks = random_blocks(seed)
    sel = select_nodes(blocks, k)
    got = list(zip(*(t.tolist() for t in (sel.family, sel.layer, sel.unit, sel.pos, sel.src)), strict=True))
    assert got == brute_force(blocks, k)
    # every group's value for every row, for every prompt
    for j, (fam, layer, unit, pos, src) in enumerate(got):
        blk = next(b for b in blocks if b.family == fam and b.layer == layer)
        for gi, gname in enumerate(GROUPS):
            want = blk.scalars[gname][(slice(None), pos, unit) + ((src,) if src >= 0 else ())]
            torch.testing.assert_close(sel.values[:, gi, j], want, equal_nan=True)


def test_stable_top_orders_ties_by_index_and_skips_zero_nan() -> None:
    v = torch.tensor([1.0, 3.0, float("nan"), 3.0, 0.0, -2.0, 1.0, -2.0])
    assert stable_top(v, 3).tolist() == [1, 3, 0]
    assert stable_top(v, 10, largest=False).tolist() == [5, 7]
    assert stable_top(torch.zeros(4), 2).tolist() == []


def test_errors() -> None:
    blocks = random_blocks(0)
    with pytest.raises(ValueError, match="k must be at least 1"):
        select_nodes(blocks, 0)
    with pytest.raises(KeyError, match="group 'nope' is missing"):
        select_nodes(blocks, 2, groups=("nope",))
