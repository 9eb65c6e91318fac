"""The on-disk index: a second Workspace reopens it without a forward pass and gives the same
cards; any change to what the pass reads changes the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.card import index_pass
from featurecard.card.index_cache import pass_key
from featurecard.core.codecs import decode_array
from featurecard.core.sae_input import as_sae
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"


def _sae(seed: int = 0) -> dict[str, Any]:
    return {**tiny.random_sae_weights(64, 48, seed=seed), "hook_name": HOOK}


def test_reopened_index_gives_the_same_cards(
    model: Any, tokens: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Workspace(model, saes={"s": _sae()}, tokens=tokens, progress=False, cache_dir=tmp_path)
    want = [first.card_state("s", f) for f in range(3)]
    (root,) = tmp_path.glob("index-*")
    assert (root / "manifest.json").is_file()

    def no_pass(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the index should come from the store, not from a new pass")

    monkeypatch.setattr("featurecard.workspace.index_pass", no_pass)
    monkeypatch.setattr("featurecard.card.store_cache.chunk_pass", no_pass)
    second = Workspace(model, saes={"s": _sae()}, tokens=tokens, progress=False, cache_dir=tmp_path)
    for f, st in enumerate(want):
        got = second.card_state("s", f)
        for key in ("max_act", "density"):
            assert got[key] == st[key]
        np.testing.assert_array_equal(decode_array(got["examples"]["acts"]), decode_array(st["examples"]["acts"]))
        assert got["left"] == st["left"]
    a, b = first.index("s"), second.index("s")
    for u in range(a.n_units):
        for x, y in zip(a.column(u), b.column(u), strict=True):
            assert torch.equal(x, y), u
    for name in ("n_active", "max_act"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert index_pass.index_pass is not no_pass  # only the Workspace's reference was replaced


def test_key_follows_every_input(model: Any, tokens: torch.Tensor) -> None:
    sae = as_sae(_sae())
    base = pass_key(model, {"s": sae}, tokens, exclude_bos=True)
    assert base == pass_key(model, {"s": as_sae(_sae())}, tokens, exclude_bos=True)
    assert base != pass_key(model, {"s": as_sae(_sae(seed=1))}, tokens, exclude_bos=True)
    assert base != pass_key(model, {"t": sae}, tokens, exclude_bos=True)
    assert base != pass_key(model, {"s": sae}, tokens[:, :-1], exclude_bos=True)
    assert base != pass_key(model, {"s": sae}, tokens, exclude_bos=False)
    w = next(iter(model.parameters()))
    kept = w.detach().clone()  # restored exactly (x + 1 - 1 need not be x in float32)
    with torch.no_grad():
        w[(0,) * w.ndim] += 1.0
        try:
            assert base != pass_key(model, {"s": sae}, tokens, exclude_bos=True)
        finally:
            w.copy_(kept)
    assert base == pass_key(model, {"s": sae}, tokens, exclude_bos=True)
