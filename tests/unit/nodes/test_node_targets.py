"""Node targets (a neuron, a latent, an SAE error, an attention probability, a write on a
direction): every column of every block against the plain model (no SAE spliced) by
``torch.autograd.grad`` (:mod:`node_reference`), the target's value against the plain forward
pass, and the blocks present against which nodes reach the target's read point (stated here per
target, not taken from the code)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from node_reference import (
    MLP0,
    N_POS,
    Case,
    P,
    cases,
    check_blocks,
    direction,
    family_names,
    hook,
    make_ws,
    sae_weights,
)

import featurecard as fc
import tiny
from featurecard.nodes.node_model import final_logits_with_scale
from featurecard.nodes.table import NodeOptions, NodeTableRunner
from featurecard.workspace import Workspace


@pytest.fixture
def weights() -> dict[str, dict[str, torch.Tensor]]:
    return sae_weights()


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor, weights: dict[str, dict[str, torch.Tensor]]) -> Workspace:
    return make_ws(model, tokens, weights)


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=N_POS, seed=3)[0]


@pytest.mark.parametrize(
    "name",
    [
        "neuron",
        "attn",
        "latent_resid",
        "error_resid",
        "latent_mlp",
        "write_head",
        "write_attn",
        "write_mlp",
        "write_block",
    ],
)
def test_every_column_of_a_node_target_equals_plain_autograd(
    ws: Workspace, prompt: torch.Tensor, weights: dict[str, dict[str, torch.Tensor]], name: str
) -> None:
    case = cases(ws, prompt, weights)[name]
    res = NodeTableRunner(ws, NodeOptions(k=5)).run([prompt], case.spec)
    assert res.spec.position == P and res.spec.kind == "node"
    assert family_names(res) == case.families  # only nodes that reach the read point; never the target itself
    check_blocks(ws, res, case, weights, case.frozen)
    assert len(res.selection) > 0 and int(res.selection.pos.max()) <= P
    assert any(case.read in n for n in res.notes)


def test_unfrozen_target_layernorm_lets_gradients_through_it(
    ws: Workspace, prompt: torch.Tensor, weights: dict[str, dict[str, torch.Tensor]]
) -> None:
    case = cases(ws, prompt, weights)["attn"]
    res = NodeTableRunner(ws, NodeOptions(freeze_target_ln=False)).run([prompt], case.spec)
    check_blocks(ws, res, case, weights, ())
    frozen = NodeTableRunner(ws).run([prompt], case.spec)
    mlp0 = next(b for b in res.blocks if b.family == 0).scalars["act_times_grad"]
    assert not torch.allclose(mlp0, next(b for b in frozen.blocks if b.family == 0).scalars["act_times_grad"])


def test_a_target_with_nothing_upstream_and_negative_positions(ws: Workspace, prompt: torch.Tensor) -> None:
    runner = NodeTableRunner(ws)
    res = runner.run([prompt], fc.node("write", layer=0, kind="attn", pos=-1, direction=direction()))
    assert res.blocks == [] and len(res.selection) == 0 and res.spec.position == N_POS - 1
    assert res.selection.values.shape == (1, 4, 0) and res.profiles.shape == (1, 0, N_POS)
    res = runner.run([prompt], fc.node("attn", layer=1, head=0, pos=-1, src=-2))
    assert res.spec.node.src == N_POS - 2  # type: ignore[union-attr]


def test_ablations_apply_to_node_targets(ws: Workspace, prompt: torch.Tensor) -> None:
    spec = fc.node("neuron", layer=1, unit=3, pos=P)
    abl = {"family": "mlp", "layer": 0, "unit": 5, "pos": P}
    res = NodeTableRunner(ws).run([prompt], spec, ablations=[abl])

    def edit(a: torch.Tensor, hook: Any) -> torch.Tensor:
        a = a.clone()
        a[:, P, 5] = 0
        return a

    _, cache = ws.model.run_with_cache(prompt[None])
    with ws.model.hooks(fwd_hooks=[(MLP0, edit)]):
        _, edited = ws.model.run_with_cache(prompt[None])
    assert float(res.clean_target[0]) == pytest.approx(float(cache[hook(1, "mlp.hook_post")][0, P, 3]), abs=1e-5)
    assert float(res.target[0]) == pytest.approx(float(edited[hook(1, "mlp.hook_post")][0, P, 3]), abs=1e-5)
    assert float(res.target[0]) != pytest.approx(float(res.clean_target[0]), abs=1e-7)


def test_every_column_of_a_token_target_with_the_rollups(ws: Workspace, prompt: torch.Tensor) -> None:
    """The logit difference at the last position: units and roll-ups against plain autograd."""
    t, d, last = 5, 7, N_POS - 1
    resid = hook(1, "hook_resid_post")

    def value(s: dict[str, torch.Tensor]) -> torch.Tensor:
        lg = final_logits_with_scale(ws.model, s[resid], s["ln_final.hook_scale"].detach())[0, last]
        return lg[t] - lg[d]

    case = Case(None, resid, ("ln_final.hook_scale",), value, set())
    weights = sae_weights()
    res = NodeTableRunner(ws, NodeOptions(k=4)).run([prompt], t, d)
    check_blocks(ws, res, case, weights, case.frozen, p=last, extra=("ln_final.hook_scale",))
    kinds = [res.families[int(f)].kind for f in res.selection.family]
    rollup = [k in ("head", "attn_layer", "mlp_layer") for k in kinds]
    assert any(rollup) and rollup == sorted(rollup)  # the roll-ups' own top-k, after the units'
    pairs = next(b for b in res.blocks if res.families[b.family].kind == "attn" and b.layer == 1)
    heads = next(b for b in res.blocks if res.families[b.family].kind == "head" and b.layer == 1)
    for col in ("act_times_grad", "direct_effect"):  # a head is its pairs summed over sources
        torch.testing.assert_close(pairs.scalars[col].sum(-1), heads.scalars[col], rtol=1e-5, atol=1e-6)
    norms = pairs.scalars["write_norm"].sum(-1)
    assert bool((heads.scalars["write_norm"] <= norms + 1e-5).all()) and not torch.allclose(
        heads.scalars["write_norm"], norms
    )
