"""A model left in train() mode: every pass runs in eval mode, and the user's modes come back.

TransformerLens's configs have no dropout, so each block's MLP gets a real ``nn.Dropout``
(p = 0.5) applied to its output whenever that module is in training mode, as a model with
dropout does. Reference: the same model in eval mode; a card from it must equal, to the bit,
the cards of the model left in training mode, however many times they are made.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from faultkit import assert_same_state

import tiny
from featurecard.workspace import Workspace
from tiny import MODEL_KINDS

HOOK = "blocks.0.mlp.hook_post"


def _with_dropout(tok: Any, kind: str) -> Any:
    model = (tiny.hooked_transformer if kind == "HookedTransformer" else tiny.bridge)(tok, n_layers=3)
    for block in model.blocks:
        block.mlp.add_module("dropout", torch.nn.Dropout(0.5))
        block.mlp.register_forward_hook(lambda module, _args, out: module.dropout(out))
    return model


def _card(model: Any, tokens: torch.Tensor, complete: bool) -> Any:
    sae = {**tiny.random_sae_weights(64, 48, seed=4), "hook_name": HOOK}
    ws = Workspace(model, saes={"s": sae}, tokens=tokens, batch_size=4, progress=False)
    return ws.card_state("s", 3, complete=complete)


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("complete", [False, True], ids=["quick", "complete"])
def test_cards_of_a_model_in_train_mode_are_its_eval_cards(
    tok: Any, tokens: torch.Tensor, kind: str, complete: bool
) -> None:
    model = _with_dropout(tok, kind)
    want = _card(model.eval(), tokens, complete)
    model.train()
    # the dropout does act in training mode (so the test can fail)
    x = torch.randn(4, 8, 64)
    assert not torch.equal(model.blocks[0].mlp.dropout(x), x)
    modes = [m.training for m in model.modules()]
    assert all(modes)
    for _ in range(2):
        assert_same_state(_card(model, tokens, complete), want, "a card of the model left in train()")
    assert [m.training for m in model.modules()] == modes  # the user's modes are back


def test_mixed_modes_are_restored_module_by_module(tok: Any, tokens: torch.Tensor) -> None:
    model = _with_dropout(tok, MODEL_KINDS[0])
    want = _card(model.eval(), tokens, complete=False)
    model.blocks[1].train()  # only one block in training mode
    modes = {name: m.training for name, m in model.named_modules()}
    assert any(modes.values()) and not all(modes.values())
    assert_same_state(_card(model, tokens, complete=False), want, "a card of a partly training model")
    assert {name: m.training for name, m in model.named_modules()} == modes


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_a_node_table_of_a_model_in_train_mode_is_its_eval_table(tok: Any, tokens: torch.Tensor, kind: str) -> None:
    """The node table's forward and backward pass (act x grad) run in eval mode too."""
    model = _with_dropout(tok, kind)
    sae = {**tiny.random_sae_weights(64, 48, seed=4), "hook_name": HOOK}
    prompt = tokens[0, :12]

    def table() -> Any:
        ws = Workspace(model, saes={"s": sae}, tokens=tokens, progress=False)
        return ws.nodes(prompt, position=-2).state

    model.eval()
    want = table()
    model.train()
    for _ in range(2):
        assert_same_state(table(), want, "a node table of the model left in train()")
    assert all(m.training for m in model.modules())


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_a_contribution_graph_of_a_model_in_train_mode_is_its_eval_graph(
    tok: Any, tokens: torch.Tensor, kind: str
) -> None:
    """The graph's forward pass runs in eval mode (and under the model's lock) too."""
    model = _with_dropout(tok, kind)
    prompt = tokens[0, :12]

    def graph() -> Any:
        ws = Workspace(model, tokens=tokens, progress=False)
        return ws.graph(prompt).state

    model.eval()
    want = graph()
    model.train()
    for _ in range(2):
        assert_same_state(graph(), want, "a contribution graph of the model left in train()")
    assert all(m.training for m in model.modules())
