"""Query / key / value sides of attention targets: each side equals plain-model autograd with the
other sides' inputs (``blocks.L.attn.hook_q`` / ``hook_k`` / ``hook_v``) detached, built here with
hooks; the three sides sum to the total (1e-5). On the tiny model and on a grouped-query one
(``n_key_value_heads=1``, RMSNorm, gated MLP, rotary: tiny.BLOCK_VARIANTS["gqa-rms-gated"]),
where every column of every node target is checked too."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from node_reference import N_POS, P, cases, check_blocks, family_names, hook, make_ws, sae_weights

import tiny
from featurecard.nodes.table import NodeOptions, NodeTableRunner
from featurecard.workspace import Workspace

SIDES = {"query": "attn.hook_q", "key": "attn.hook_k", "value": "attn.hook_v"}


_GQA: dict[str, Any] = {}


def _gqa(model: Any, tok: Any) -> Any:
    """The grouped-query variant of the session model's kind (built once)."""
    kind = type(model).__name__
    if kind not in _GQA:
        over = tiny.BLOCK_VARIANTS["gqa-rms-gated"]
        _GQA[kind] = tiny.hooked_transformer(tok, **over) if kind == "HookedTransformer" else tiny.bridge(tok, **over)
    return _GQA[kind]


@pytest.fixture(params=["standard", "gqa"])
def ws(request: pytest.FixtureRequest, model: Any, tok: Any, tokens: torch.Tensor) -> Workspace:
    return make_ws(model if request.param == "standard" else _gqa(model, tok), tokens, sae_weights())


@pytest.fixture
def gqa_ws(model: Any, tok: Any, tokens: torch.Tensor) -> Workspace:
    return make_ws(_gqa(model, tok), tokens, sae_weights())


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=N_POS, seed=3)[0]


@pytest.mark.parametrize("name", ["attn", "write_head", "write_attn"])
def test_each_side_is_autograd_with_the_other_sides_detached(ws: Workspace, prompt: torch.Tensor, name: str) -> None:
    weights = sae_weights()
    case = cases(ws, prompt, weights)[name]
    runner = NodeTableRunner(ws, NodeOptions(k=5))
    total = runner.run([prompt], case.spec)
    sides = {s: runner.run([prompt], case.spec, side=s) for s in SIDES}
    for side, res in sides.items():
        others = tuple(hook(1, kind) for s, kind in SIDES.items() if s != side)
        check_blocks(ws, res, case, weights, case.frozen + others)
        assert any(f"{side} side" in n for n in res.notes) and res.spec.describe().endswith(f"{side} side")
        assert family_names(res) == family_names(total)
    for b, blk in enumerate(total.blocks):
        for col in ("act_times_grad", "direct_effect"):
            summed = sum(sides[s].blocks[b].scalars[col] for s in SIDES)
            torch.testing.assert_close(summed, blk.scalars[col], rtol=1e-5, atol=1e-5, equal_nan=True)
        for col in ("activation", "write_norm"):  # the sides change gradients only
            torch.testing.assert_close(sides["key"].blocks[b].scalars[col], blk.scalars[col], equal_nan=True)
    if name == "attn":  # a probability does not depend on the values
        assert all(float(b.scalars["act_times_grad"].abs().sum()) == 0 for b in sides["value"].blocks)
    for side in ("query", "key"):
        assert any(float(b.scalars["act_times_grad"].abs().sum()) > 0 for b in sides[side].blocks)


@pytest.mark.parametrize("name", ["neuron", "attn", "latent_resid", "error_resid", "latent_mlp", "write_block"])
def test_node_targets_on_grouped_query_attention(gqa_ws: Workspace, prompt: torch.Tensor, name: str) -> None:
    assert gqa_ws.model.cfg.n_key_value_heads == 1
    weights = sae_weights()
    case = cases(gqa_ws, prompt, weights)[name]
    res = NodeTableRunner(gqa_ws, NodeOptions(k=5)).run([prompt], case.spec)
    assert family_names(res) == case.families
    check_blocks(gqa_ws, res, case, weights, case.frozen)
    assert int(res.selection.pos.max()) <= P
