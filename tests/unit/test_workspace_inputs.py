"""Bad input gets an error that names the value and the accepted range."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import tiny
from featurecard.adapters.model import HookNameError
from featurecard.adapters.sae import SAEError
from featurecard.workspace import Workspace


def sae(d_in: int = 64, hook: str = "blocks.0.mlp.hook_post") -> dict[str, Any]:
    return {**tiny.random_sae_weights(d_in, 16), "hook_name": hook}


def test_token_errors(model: Any, tokens: torch.Tensor) -> None:
    with pytest.raises(TypeError, match=r"integer dtype.*float32"):
        Workspace(model, saes={"s": sae()}, tokens=tokens.float())
    with pytest.raises(ValueError, match=r"shape \[batch, pos\].*\(24,\)"):
        Workspace(model, saes={"s": sae()}, tokens=tokens[0])
    bad = tokens.clone()
    bad[0, 1] = 100_000
    with pytest.raises(ValueError, match=r"token ids span \[\d+, 100000\]; the vocabulary accepts \[0, \d+\]"):
        Workspace(model, saes={"s": sae()}, tokens=bad)
    with pytest.raises(ValueError, match="40 positions; the model's context is n_ctx=32"):
        Workspace(model, saes={"s": sae()}, tokens=torch.ones(2, 40, dtype=torch.long))
    with pytest.raises(TypeError, match="list of strings"):
        Workspace(model, saes={"s": sae()}, tokens=[1, 2, 3])  # type: ignore[list-item]


def test_strings_are_tokenized_into_rows(model: Any) -> None:
    texts = ["The model computes the attention pattern for each head."] * 12
    ws = Workspace(model, saes={"s": sae()}, tokens=texts, seq_len=16, progress=False)
    assert ws.tokens.shape[1] == 16
    bos = model.tokenizer.bos_token_id
    flat = ws.tokens.flatten().tolist()
    one = [bos, *model.to_tokens(texts[0], prepend_bos=False)[0].tolist()]
    assert flat[: len(one)] == one


def test_hook_and_sae_errors(model: Any, tokens: torch.Tensor) -> None:
    with pytest.raises(
        HookNameError, match=r"'blocks\.0\.mlp\.hook_pst'.*valid names:.*blocks\.\{0-1\}\.mlp\.hook_post"
    ):
        Workspace(model, saes={"s": sae(hook="blocks.0.mlp.hook_pst")}, tokens=tokens)
    with pytest.raises(SAEError, match=r"d_in=64, but blocks\.0\.hook_resid_post gives vectors of size 32"):
        Workspace(model, saes={"s": sae(hook="blocks.0.hook_resid_post")}, tokens=tokens)
    with pytest.raises(KeyError, match="sae_b has 'x', which is not one of the SAEs"):
        Workspace(model, saes={"s": sae()}, tokens=tokens, sae_b={"x": sae()})


def test_feature_range(model: Any, tokens: torch.Tensor) -> None:
    ws = Workspace(model, saes={"s": sae()}, tokens=tokens, progress=False)
    with pytest.raises(IndexError, match=r"feature 16 is out of range for 's': accepted 0 \.\. 15"):
        ws.card_state("s", 16)
    with pytest.raises(IndexError, match=r"accepted 0 \.\. 15"):
        ws.card_state("s", -1)
    with pytest.raises(TypeError, match=r"int in \[0, 15\]; got 1.5"):
        ws.check_feature("s", 1.5)
    with pytest.raises(KeyError, match="neither an SAE"):
        ws.card_state("nope", 0)
