"""Node specs: construction, validation (errors name the bad value and what is accepted), the
round trip through plain JSON, and the refusals that need the model and the prompt."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from node_reference import N_POS, make_ws, sae_weights

import featurecard as fc
import tiny
from featurecard.nodes.node_spec import AttnNode, WriteNode, node_from_dict
from featurecard.nodes.table import NodeTableRunner
from featurecard.workspace import Workspace


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    return make_ws(model, tokens, sae_weights())


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=N_POS, seed=3)[0]


def test_specs_are_frozen_and_round_trip_through_json() -> None:
    d = np.linspace(-1, 1, 32)
    specs = [
        fc.node("neuron", layer=1, unit=3, pos=5),
        fc.node("latent", source="mlp0", unit=7, pos=5),
        fc.node("error", source="mlp0", pos=-1),
        fc.node("attn", layer=0, head=1, pos=5, src=3),
        fc.node("write", layer=1, kind="attn", head=0, pos=5, direction=d),
        fc.node("write", layer=0, kind="block", pos=np.int64(2), direction=torch.ones(32)),
    ]
    for spec in specs:
        assert node_from_dict(spec.as_dict()) == spec
        with pytest.raises(AttributeError):
            spec.pos = 1  # type: ignore[misc]
    w = specs[4]
    assert isinstance(w, WriteNode) and w.direction == tuple(d.tolist()) and w.as_dict()["write_kind"] == "attn"
    assert specs[5].pos == 2 and type(specs[5].pos) is int
    assert specs[3] == AttnNode(pos=5, layer=0, head=1, src=3) and hash(specs[3]) == hash(AttnNode(5, 0, 1, 3))
    assert specs[0].describe() == "MLP neuron L1 n3 at position 5"
    assert specs[2].describe() == "‖error‖ of mlp0 at position -1"


@pytest.mark.parametrize(
    ("kind", "kw", "error", "match"),
    [
        ("neron", {}, ValueError, r"node kind 'neron' is not one of \['neuron', 'latent', 'error', 'attn', 'write'\]"),
        ("neuron", {"layer": 1, "unit": 3}, TypeError, r"takes \['layer', 'unit', 'pos'\]; missing \['pos'\]"),
        ("neuron", {"layer": 1, "unit": 3, "pos": 1, "head": 2}, TypeError, r"unknown \['head'\]"),
        ("neuron", {"layer": -1, "unit": 3, "pos": 1}, ValueError, r"node layer must be an int >= 0; got -1"),
        ("neuron", {"layer": 1.0, "unit": 3, "pos": 1}, TypeError, r"node layer must be an int; got 1\.0"),
        ("neuron", {"layer": 1, "unit": True, "pos": 1}, TypeError, r"node unit must be an int; got True"),
        ("attn", {"layer": 0, "head": 1, "pos": "5", "src": 3}, TypeError, r"node pos must be an int; got '5'"),
        ("latent", {"source": 3, "unit": 1, "pos": 1}, TypeError, r"source must be the name of one of the Work"),
        ("write", {"layer": 0, "kind": "resid", "pos": 1, "direction": [1.0]}, ValueError, r"one of \['attn', 'mlp',"),
        ("write", {"layer": 0, "kind": "mlp", "head": 1, "pos": 1, "direction": [1.0]}, ValueError, r"only an att"),
        ("write", {"layer": 0, "kind": "mlp", "pos": 1, "direction": [[1.0]]}, ValueError, r"non-empty vector"),
        ("write", {"layer": 0, "kind": "mlp", "pos": 1, "direction": []}, ValueError, r"non-empty vector"),
        ("write", {"layer": 0, "kind": "mlp", "pos": 1, "direction": [float("nan")]}, ValueError, r"finite"),
        ("write", {"layer": 0, "kind": "mlp", "pos": 1, "direction": ["a"]}, TypeError, r"hold numbers"),
    ],
)
def test_bad_specs_are_refused(kind: str, kw: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        fc.node(kind, **kw)


@pytest.mark.parametrize(
    ("spec", "side", "error", "match"),
    [
        (
            fc.node("neuron", layer=2, unit=3, pos=5),
            "total",
            IndexError,
            r"node layer 2 is out of range: accepted 0 \.\. 1",
        ),
        (fc.node("neuron", layer=1, unit=64, pos=5), "total", IndexError, r"node unit 64 .* accepted 0 \.\. 63"),
        (
            fc.node("latent", source="mlp1", unit=1, pos=5),
            "total",
            KeyError,
            r"'mlp1' is not an SAE .* \['mlp0', 'res1'\]",
        ),
        (fc.node("latent", source="res1", unit=40, pos=5), "total", IndexError, r"unit 40 .* accepted 0 \.\. 39"),
        (fc.node("attn", layer=1, head=2, pos=5, src=1), "total", IndexError, r"node head 2 .* accepted 0 \.\. 1"),
        (fc.node("attn", layer=1, head=1, pos=5, src=6), "total", ValueError, r"src 6 is after its query position 5"),
        (fc.node("attn", layer=1, head=1, pos=12, src=1), "total", IndexError, r"position 12 .* accepted -12 \.\. 11"),
        (fc.node("write", layer=1, kind="mlp", pos=5, direction=[1.0] * 31), "total", ValueError, r"31 numbers; .* 32"),
        (fc.node("neuron", layer=1, unit=3, pos=5), "query", ValueError, r"a 'neuron' node has only side='total'"),
        (fc.node("attn", layer=1, head=1, pos=5, src=1), "keys", ValueError, r"side must be one of \['total', 'query'"),
    ],
)
def test_specs_are_checked_against_the_model_and_prompt(
    ws: Workspace, prompt: torch.Tensor, spec: Any, side: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        NodeTableRunner(ws).run([prompt], spec, side=side)


def test_node_targets_take_no_distractor_and_token_targets_no_side(ws: Workspace, prompt: torch.Tensor) -> None:
    runner = NodeTableRunner(ws)
    with pytest.raises(ValueError, match=r"a node target takes no distractor; got distractor=7"):
        runner.run([prompt], fc.node("neuron", layer=1, unit=3, pos=5), 7)
    with pytest.raises(ValueError, match=r"a token target has only side='total'"):
        runner.run([prompt], 5, 7, side="key")
