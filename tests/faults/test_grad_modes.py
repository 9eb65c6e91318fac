"""Node tables and contribution graphs under the grad modes of TransformerLens notebooks.

Most notebooks start with ``torch.set_grad_enabled(False)``; some wrap cells in
``torch.no_grad()`` or ``torch.inference_mode()``. The node table needs one backward pass: it
must turn gradients on for itself, take inference tensors (a prompt, SAE weights made inside
``inference_mode``) without "Inference tensors cannot be saved for backward", give the numbers
it gives with gradients on, and leave the caller's mode as it was. The graph needs no
gradient, and must give the same state under every mode.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.workspace import Workspace

T, D = 5, 7
MLP0, RES1 = "blocks.0.mlp.hook_post", "blocks.1.hook_resid_pre"


def _saes() -> dict[str, dict[str, Any]]:
    return {
        "mlp0": {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": MLP0},
        "res1": {**tiny.random_sae_weights(32, 40, seed=6), "hook_name": RES1},
    }


@contextlib.contextmanager
def grad_disabled() -> Iterator[None]:
    """``torch.set_grad_enabled(False)`` as a notebook's first cell leaves it (restored after)."""
    before = torch.is_grad_enabled()
    torch.set_grad_enabled(False)
    try:
        yield
    finally:
        torch.set_grad_enabled(before)


MODES: dict[str, Callable[[], contextlib.AbstractContextManager[Any]]] = {
    "set_grad_enabled_false": grad_disabled,
    "no_grad": torch.no_grad,
    "inference_mode": torch.inference_mode,
}


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    return Workspace(model, saes=_saes(), tokens=tokens, progress=False)


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=10, seed=3)[0]


def _same_blocks(a: Any, b: Any) -> None:
    assert len(a.blocks) == len(b.blocks)
    for x, y in zip(a.blocks, b.blocks, strict=True):
        assert (x.family, x.layer) == (y.family, y.layer)
        for g in x.scalars:
            torch.testing.assert_close(x.scalars[g], y.scalars[g], rtol=1e-6, atol=1e-9, equal_nan=True)
    torch.testing.assert_close(a.target, b.target)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_node_table_under_each_grad_mode_equals_grad_enabled(ws: Workspace, prompt: torch.Tensor, mode: str) -> None:
    want = ws.nodes(prompt, target=T, distractor=D, ablations=[{"family": "mlp", "layer": 1, "unit": 3, "pos": 9}])
    with MODES[mode]():
        inside = prompt.clone()  # under inference_mode: an inference tensor
        got = ws.nodes(inside, target=T, distractor=D, ablations=[{"family": "mlp", "layer": 1, "unit": 3, "pos": 9}])
        assert not torch.is_grad_enabled()  # the caller's mode is left as it was
        if mode == "inference_mode":
            assert torch.is_inference_mode_enabled()
    assert got.result is not None and want.result is not None
    _same_blocks(got.result, want.result)
    assert float(np.nanmax(np.abs(got.result.selection.values.numpy()))) > 0  # roll-up rows have no activation (NaN)
    assert got.state["rows"]["values"] == want.state["rows"]["values"]


def test_workspace_made_inside_inference_mode(model: Any, tokens: torch.Tensor, prompt: torch.Tensor) -> None:
    """SAE weights and prompt made in inference mode are inference tensors: cloned for the backward."""
    want = Workspace(model, saes=_saes(), tokens=tokens, progress=False).nodes(prompt, target=T, distractor=D)
    with torch.inference_mode():
        saes = {
            n: {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in s.items()} for n, s in _saes().items()
        }
        assert saes["mlp0"]["W_enc"].is_inference()
        ws = Workspace(model, saes=saes, tokens=tokens.clone(), progress=False)
        got = ws.nodes(prompt.clone(), target=T, distractor=D)
    assert got.result is not None and want.result is not None
    _same_blocks(got.result, want.result)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_graph_under_each_grad_mode_equals_grad_enabled(ws: Workspace, prompt: torch.Tensor, mode: str) -> None:
    want = ws.graph(prompt, target=-1)
    with MODES[mode]():
        got = ws.graph(prompt.clone(), target=-1)
    assert got.state == want.state
