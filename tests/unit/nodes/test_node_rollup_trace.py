"""Tracing a roll-up row (a head summed over sources, a whole attention or MLP layer; issue #17).

A roll-up's trace target is its write (no ``b_O`` / ``b_out``) projected on the shown target's
gradient at that write, frozen. Checked here against the plain model (no SAE spliced,
:mod:`node_reference`): the direction against autograd of the token target at
``hook_attn_out`` / ``hook_mlp_out``; the new target's value against the row's act × grad in the
previous table; every column of the traced table against autograd of ``write · direction``
(the direction a constant) through the plain model.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from node_reference import N_POS, Case, check_blocks, hook, make_ws, plain_run, sae_weights

import featurecard as fc
import tiny
from featurecard.nodes.node_model import final_logits_with_scale
from featurecard.workspace import Workspace

T, D = 5, 7
WRITE = {"head": "attn", "attn_layer": "attn", "mlp_layer": "mlp"}


@pytest.fixture
def weights() -> dict[str, dict[str, torch.Tensor]]:
    return sae_weights()


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor, weights: dict[str, dict[str, torch.Tensor]]) -> Workspace:
    return make_ws(model, tokens, weights)


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=N_POS, seed=3)[0]


def _row(table: Any, kind: str) -> tuple[int, int, int, float]:
    """(layer, unit, pos, act × grad) of the table's ``kind`` row in the latest layer, largest |act × grad|."""
    res = table.result
    sel, g = res.selection, list(res.selection.groups).index("act_times_grad")
    rows = [
        (int(sel.layer[j]), int(sel.unit[j]), int(sel.pos[j]), float(sel.values[0, g, j]))
        for j in range(len(sel))
        if res.families[int(sel.family[j])].kind == kind
    ]
    assert rows, kind
    return max(rows, key=lambda r: (r[0], abs(r[3])))


def _token_value(ws: Workspace) -> Any:
    resid, last = hook(1, "hook_resid_post"), N_POS - 1

    def value(s: dict[str, torch.Tensor]) -> torch.Tensor:
        lg = final_logits_with_scale(ws.model, s[resid], s["ln_final.hook_scale"].detach())[0, last]
        return lg[T] - lg[D]

    return value


def _write_value(model: Any, kind: str, L: int, u: int, p: int, d: torch.Tensor) -> Any:
    """``write · d`` from the plain captures (the write without the output bias)."""

    def value(s: dict[str, torch.Tensor]) -> torch.Tensor:
        if kind == "mlp_layer":
            return s[hook(L, "mlp.hook_post")][0, p] @ model.W_out[L].detach() @ d
        heads = torch.einsum("he,hed->hd", s[hook(L, "attn.hook_z")][0, p], model.W_O[L].detach())
        return (heads[u] if kind == "head" else heads.sum(0)) @ d

    return value


@pytest.mark.parametrize("kind", ["head", "attn_layer", "mlp_layer"])
def test_tracing_a_rollup_row_follows_its_act_times_grad(
    ws: Workspace, prompt: torch.Tensor, weights: dict[str, dict[str, torch.Tensor]], kind: str
) -> None:
    table = ws.nodes(prompt, target=T, distractor=D)
    L, u, p, atg = _row(table, kind)
    assert L == 1  # a layer with something upstream of it
    spec = {"kind": "write", "write_kind": WRITE[kind], "layer": L, "pos": p}  # what the trace button sends
    if kind == "head":
        spec["head"] = u
    table._trace_request(node=spec, side="total")
    target = table.state["target"]
    d = torch.tensor(target["node"]["direction"])
    # the direction: ∂(logit diff)/∂(the layer's write) at p, final LayerNorm scale frozen, plain model
    out = hook(L, "hook_attn_out" if WRITE[kind] == "attn" else "hook_mlp_out")
    names = [out, hook(1, "hook_resid_post"), "ln_final.hook_scale"]
    pl = plain_run(ws.model, prompt, _token_value(ws), names)
    torch.testing.assert_close(d, pl.grads[out][p].float(), rtol=1e-4, atol=1e-6 * float(d.abs().max()))
    # its value: the row's act × grad in the previous table
    assert table.state["prompts"][0]["target"] == pytest.approx(atg, rel=1e-4, abs=1e-6)
    assert target["node"]["label"].startswith("∂[logit") and len(table.trail) == 2
    # every column against autograd of write · d (d a constant) through the plain model
    read = hook(L, "hook_resid_pre" if WRITE[kind] == "attn" else "hook_resid_mid")
    frozen = (hook(L, "ln1.hook_scale" if WRITE[kind] == "attn" else "ln2.hook_scale"),)
    case = Case(None, read, frozen, _write_value(ws.model, kind, L, u, p, d), set())
    assert table.result is not None and table.result.blocks
    check_blocks(ws, table.result, case, weights, frozen, p=p)
    table.back(0)
    assert table.state["target"]["kind"] == "logit_diff" and len(table.trail) == 1


def test_an_explicit_direction_from_python(
    ws: Workspace, prompt: torch.Tensor, weights: dict[str, dict[str, torch.Tensor]]
) -> None:
    """``fc.node("write", ..., direction=tensor)``: a roll-up's write on the caller's direction."""
    d, p = torch.randn(32, generator=torch.Generator().manual_seed(4)), 8
    node = fc.node("write", layer=1, kind="attn", head=1, pos=p, direction=d)
    table = ws.nodes(prompt, target=node)
    frozen = (hook(1, "ln1.hook_scale"),)
    case = Case(node, hook(1, "hook_resid_pre"), frozen, _write_value(ws.model, "head", 1, 1, p, d), set())
    assert table.result is not None
    check_blocks(ws, table.result, case, weights, frozen, p=p)
    assert "a direction (norm" in table.state["target"]["description"]


def test_refusals_name_the_problem(ws: Workspace, prompt: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"needs direction= \(a \[d_model\] vector\)"):
        ws.nodes(prompt, target=fc.node("write", layer=1, kind="mlp", pos=3))
    table = ws.nodes(prompt, target=fc.node("neuron", layer=0, unit=3, pos=6))
    before = table.state
    with pytest.raises(ValueError, match="no one gradient to follow"):
        table.trace(fc.node("write", layer=0, kind="block", pos=2))
    with pytest.raises(ValueError, match=r"gradient at the write of MLP layer 1 at position 2 .* is zero"):
        table.trace(fc.node("write", layer=1, kind="mlp", pos=2))  # layer 1 is downstream of the target
    with pytest.raises(IndexError, match=r"position 40 is out of range .* accepted -12 \.\. 11"):
        table.trace(fc.node("write", layer=0, kind="attn", pos=40))
    assert table.state is before and len(table.trail) == 1
    only_units = ws.nodes(prompt, target=T, distractor=D, node_types=("mlp", "attn"))
    with pytest.raises(ValueError, match="no gradient at layer 0's attn write"):
        only_units.trace(fc.node("write", layer=0, kind="attn", head=1, pos=2))
