"""The graph's logit lens against the plain model: each residual state from ``run_with_cache``
through the model's ``ln_final`` and ``unembed``, and the last state against the model's own
output (``log_softmax(model(prompt))``); the same for every chunking of positions (every level
of a chunk goes through the unembedding in one call)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import tiny
from featurecard.core.model import ModelAdapter
from featurecard.graph.build import GraphOptions, contributions

N_POS = 10
K = 4


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=N_POS, seed=7)[0]


@pytest.mark.parametrize("chunk_elements", [1, 3 * 5 * 300, 1 << 24])  # 1 and 3 positions a chunk, all
def test_the_lens_of_every_state_is_the_models_readout_of_it(
    model: Any, prompt: torch.Tensor, chunk_elements: int
) -> None:
    opts = GraphOptions(lens_k=K, neurons=False, promote=False, chunk_elements=chunk_elements)
    data = contributions(ModelAdapter(model), prompt, {}, opts)
    lens = data.lens
    assert lens is not None and data.layout.levels == ("embed", "0.attn", "0.mlp", "1.attn", "1.mlp")
    with torch.no_grad():
        logits, cache = model.run_with_cache(prompt[None])
        hooks = ["blocks.0.hook_resid_pre", "blocks.0.hook_resid_mid", "blocks.0.hook_resid_post"]
        hooks += ["blocks.1.hook_resid_mid", "blocks.1.hook_resid_post"]
        lp = torch.stack([torch.log_softmax(model.unembed(model.ln_final(cache[h]))[0], -1) for h in hooks])
    final = torch.log_softmax(logits[0].float(), -1)
    torch.testing.assert_close(lp[-1], final, rtol=0, atol=1e-5)  # the reference is the model's own output
    v, i = lp.topk(K, dim=-1)
    torch.testing.assert_close(lens.top_values, v, rtol=0, atol=1e-5)
    assert torch.equal(lens.top_ids, i)
    delta = lp[1:] - lp[:-1]
    up, down = delta.topk(K, dim=-1), delta.topk(K, dim=-1, largest=False)
    torch.testing.assert_close(lens.up_values, up.values, rtol=0, atol=1e-5)
    torch.testing.assert_close(lens.down_values, down.values, rtol=0, atol=1e-5)
    assert torch.equal(lens.up_ids, up.indices) and torch.equal(lens.down_ids, down.indices)
