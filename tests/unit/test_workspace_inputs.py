"""Bad input gets an error that names the value and the accepted range."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import tiny
from featurecard.core.model import HookNameError
from featurecard.core.sae import SAEError
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


def test_one_string_is_one_document(model: Any) -> None:
    """``tokens="text"`` is the list ``["text"]``, not one document per character."""
    text = tiny.TEXT[:400]
    one = Workspace(model, saes={"s": sae()}, tokens=text, seq_len=16, progress=False)
    listed = Workspace(model, saes={"s": sae()}, tokens=[text], seq_len=16, progress=False)
    assert torch.equal(one.tokens, listed.tokens)
    ids = [model.tokenizer.bos_token_id, *model.to_tokens(text, prepend_bos=False)[0].tolist()]
    assert one.tokens.flatten().tolist() == ids[: one.tokens.numel()]
    assert one.tokens.numel() == len(ids) // 16 * 16


@pytest.mark.parametrize(
    ("setting", "value", "error", "match"),
    [
        ("batch_size", 0, ValueError, r"batch_size must be >= 1 \(accepted: 1, 2, \.\.\.\); got 0"),
        ("batch_size", -1, ValueError, r"batch_size must be >= 1 .*got -1"),
        ("batch_size", 2.0, TypeError, r"batch_size must be an int >= 1; got 2\.0"),
        ("batch_size", True, TypeError, r"batch_size must be an int >= 1; got True"),
        ("seq_len", 0, ValueError, r"seq_len must be >= 1 \(accepted: 1, 2, \.\.\.\); got 0"),
    ],
)
def test_counts_are_checked(
    model: Any, tokens: torch.Tensor, setting: str, value: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Workspace(model, saes={"s": sae()}, tokens=tokens, **{setting: value})


def test_saes_must_be_a_mapping(model: Any, tokens: torch.Tensor) -> None:
    with pytest.raises(TypeError, match=r"saes must be a mapping \{name: sae\}.*got a list of 2"):
        Workspace(model, saes=[sae(), sae()], tokens=tokens)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"sae_b must be a mapping \{name: sae\}.*got a dict_values"):
        Workspace(model, saes={"s": sae()}, tokens=tokens, sae_b={"s": sae()}.values())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"saes must be keyed by names \(str\); got the key 0"):
        Workspace(model, saes={0: sae()}, tokens=tokens)  # type: ignore[dict-item]


@pytest.mark.parametrize(("field", "bad"), [("W_enc", float("nan")), ("b_dec", float("inf")), ("W_dec", -float("inf"))])
def test_non_finite_sae_weights_are_refused(model: Any, tokens: torch.Tensor, field: str, bad: float) -> None:
    weights = sae()
    weights[field] = weights[field].clone()
    flat = weights[field].view(-1)
    flat[:3] = bad
    n = flat.numel()
    nan, inf = (3, 0) if bad != bad else (0, 3)
    with pytest.raises(SAEError, match=rf"SAE 's': {field} .* has {nan} NaN and {inf} inf entries of {n}"):
        Workspace(model, saes={"s": weights}, tokens=tokens)
    with pytest.raises(SAEError, match=rf"SAE 's \(encoder B\)': {field} "):
        Workspace(model, saes={"s": sae()}, tokens=tokens, sae_b={"s": weights})


@pytest.mark.parametrize("hook", ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_attn_scores"])
def test_a_neuron_card_on_a_hook_without_units_is_refused(model: Any, tokens: torch.Tensor, hook: str) -> None:
    ws = Workspace(model, saes={"s": sae()}, tokens=tokens, progress=False)
    refused = rf"'{hook}' gives attention .*not units at each position; neuron cards accept"
    with pytest.raises(ValueError, match=refused):
        ws.neuron_card(hook, 0)
    with pytest.raises(ValueError, match="not units at each position"):
        ws.card_state(hook, 0)
    assert ws.source("blocks.0.attn.hook_z").d_sae == model.cfg.n_heads * model.cfg.d_head  # units: accepted
