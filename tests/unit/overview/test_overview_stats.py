"""The overview's per-latent numbers against a naive loop over the dataset with the SAE's formula.

Reference: the model's own ``run_with_cache`` at the SAE's hook, the standard SAE encoder written
out by hand (``relu((x - b_dec) @ W_enc + b_enc)``), and one Python loop over every non-BOS token
counting where each latent fires, its largest value and where that value is first reached.
Both indexes are read: the in-memory one (vectorised top positions) and a store on disk (one
column at a time).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.overview.stats import check_threshold, density_histogram, latent_stats
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"


def sae_weights() -> dict[str, Any]:
    """A random SAE with 3 latents that never fire and 2 that fire everywhere."""
    w = {k: v.clone() for k, v in tiny.random_sae_weights(64, 48, seed=11).items()}
    w["b_enc"][:3] = -1e4
    w["b_enc"][3:5] = 1e4
    w["b_enc"][5:20] -= torch.linspace(0.0, 1.5, 15)  # a spread of densities
    return {**w, "hook_name": HOOK}


def naive(model: Any, tokens: torch.Tensor, w: dict[str, Any], bos: int) -> dict[str, np.ndarray]:
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n == HOOK)
    x = cache[HOOK].detach().double()
    acts = torch.relu((x - w["b_dec"].double()) @ w["W_enc"].double() + w["b_enc"].double())
    d_sae = acts.shape[-1]
    count = np.zeros(d_sae, dtype=np.int64)
    best = np.zeros(d_sae)
    top = np.full(d_sae, -1, dtype=np.int64)
    n_tok = 0
    for r in range(tokens.shape[0]):
        for p in range(tokens.shape[1]):
            if int(tokens[r, p]) == bos:
                continue
            n_tok += 1
            for u in range(d_sae):
                a = float(acts[r, p, u])
                if a > 0:
                    count[u] += 1
                    if a > best[u]:
                        best[u], top[u] = a, int(tokens[r, p])
    return {"density": count / n_tok, "max_act": best, "top": top, "n_tok": np.array(n_tok)}


@pytest.mark.parametrize("stored", [False, True], ids=["memory", "store"])
def test_latent_numbers_match_a_naive_loop(model: Any, tokens: torch.Tensor, tmp_path: Path, stored: bool) -> None:
    sae = sae_weights()
    ws = Workspace(model, saes={"s": sae}, tokens=tokens, progress=False, cache_dir=tmp_path if stored else None)
    index = ws.index("s")
    assert hasattr(index, "root") == stored  # the store path reads columns one at a time
    got = latent_stats(index, ws.tokens, dense_threshold=0.5)
    want = naive(model, tokens, sae, int(model.tokenizer.bos_token_id))
    assert got.n_tokens == int(want["n_tok"])
    np.testing.assert_allclose(got.density, want["density"], rtol=0, atol=0)
    np.testing.assert_allclose(got.max_act, want["max_act"], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(got.top_token, want["top"])
    assert got.n_dead == int((want["density"] == 0).sum()) >= 3
    assert got.n_dense == int((want["density"] > 0.5).sum()) >= 2
    assert 0 < got.n_dense < 48 - got.n_dead  # the threshold splits the live latents
    assert got.mean_l0 == pytest.approx(float(want["density"].sum()), rel=1e-12)
    dead = want["density"] == 0
    assert (got.top_row[dead] == -1).all() and (got.top_pos[dead] == -1).all()
    live = ~dead
    rows, pos = got.top_row[live], got.top_pos[live]
    np.testing.assert_array_equal(tokens[rows, pos].numpy(), want["top"][live])


def test_density_histogram_counts_live_latents_by_decade() -> None:
    density = np.array([0.0, 0.0, 1.0, 0.5, 0.011, 0.0099, 0.001, 3e-5])
    h = density_histogram(density)
    assert h.edges[0] == -5 and h.edges[-1] == 0
    assert len(h.counts) == 50 and int(h.counts.sum()) == 6  # the two dead latents are apart
    np.testing.assert_allclose(np.diff(h.edges), 0.1, atol=1e-6)
    for d in density[density > 0]:
        i = min(int(np.searchsorted(h.edges, math.log10(d), side="right")) - 1, len(h.counts) - 1)
        assert h.counts[i] >= 1, d
    np.testing.assert_array_equal(h.ticks, [-5, -4, -3, -2, -1, 0])
    assert int(density_histogram(np.zeros(4)).counts.sum()) == 0  # every latent dead


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, "0.1", True, float("nan")])
def test_a_bad_threshold_names_the_range(bad: object) -> None:
    with pytest.raises(ValueError, match=r"dense_threshold must be a number in \(0, 1\]"):
        check_threshold(bad)
