"""An example row widened to ±20 tokens (card/expand.py), against the plain model and the SAE by hand.

The reference runs the model's own ``run_with_cache`` on the whole dataset row and encodes its
hook input with the SAE's formula written out here (standard ReLU: ``relu((x - b_dec) W_enc +
b_enc)``), not through featurecard's SAE or adapter; a neuron's value is the cache's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.core.codecs import decode_array
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"
ROWS, POS = 4, 64


@pytest.fixture(scope="module", params=tiny.MODEL_KINDS)
def model(request: pytest.FixtureRequest, tok: Any) -> Any:
    """Each model kind, with a context long enough for a whole ±20 window inside a row."""
    make = tiny.hooked_transformer if request.param == "HookedTransformer" else tiny.bridge
    return make(tok, n_ctx=POS)


@pytest.fixture
def dataset(tok: Any) -> torch.Tensor:
    ids = tiny.random_tokens(tok, batch=ROWS, pos=POS, seed=3)
    ids[2, 30] = tok.bos_token_id  # a BOS inside a row: the index leaves it out, so the window shows 0
    return ids


@pytest.fixture
def ws(model: Any, dataset: torch.Tensor) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": HOOK}
    return Workspace(model, saes={"mlp0": sae}, tokens=dataset, progress=False)


def by_hand(model: Any, ws: Workspace, row: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every latent's and every neuron's activation along dataset row ``row``: [pos, d_sae], [pos, d_mlp]."""
    _, cache = model.run_with_cache(ws.tokens[row : row + 1], names_filter=lambda n: n == HOOK)
    x = cache[HOOK][0].detach().double()
    w = tiny.random_sae_weights(64, 48, seed=5)
    pre = (x - w["b_dec"].double()) @ w["W_enc"].double() + w["b_enc"].double()
    return pre.clamp(min=0), x


def decoded(win: dict[str, Any]) -> tuple[list[int], np.ndarray]:
    """The window's model token ids (through its local vocabulary) and activations."""
    local = decode_array(win["tokens"])
    return decode_array(win["vocab_ids"])[local].tolist(), decode_array(win["acts"])


@pytest.mark.parametrize(
    ("row", "position", "start", "stop"),
    [(1, 30, 10, 51), (0, 3, 0, 24), (3, 60, 40, 64), (2, 25, 5, 46)],
)
def test_window_tokens_and_latent_acts_match_the_model_and_sae_by_hand(
    model: Any, ws: Workspace, row: int, position: int, start: int, stop: int
) -> None:
    f = 7
    win = ws.window("mlp0", f, row, position)
    assert (win["source"], win["feature"], win["row"], win["start"]) == ("mlp0", f, row, start)
    assert win["focus"] == position - start
    ids, acts = decoded(win)
    assert len(ids) == stop - start <= 41
    assert ids == ws.tokens[row, start:stop].tolist()
    ref = by_hand(model, ws, row)[0][start:stop, f].numpy()
    bos = (ws.tokens[row, start:stop] == model.tokenizer.bos_token_id).numpy()
    ref[bos] = 0.0  # the index (and the card's rows) leave BOS out
    assert acts.dtype == np.float32 and (acts > 0).any()
    np.testing.assert_allclose(acts, ref, rtol=1e-4, atol=1e-5)
    # each window's vocabulary holds each of its tokens' text, once
    assert len(win["vocab"]) == len(set(ids))


def test_a_neuron_windows_acts_are_the_neurons_own(model: Any, ws: Workspace) -> None:
    unit, row, position = 5, 1, 40
    win = ws.window(HOOK, unit, row, position)
    ids, acts = decoded(win)
    assert ids == ws.tokens[row, 20:61].tolist() and win["focus"] == 20
    np.testing.assert_allclose(acts, by_hand(model, ws, row)[1][20:61, unit].numpy(), rtol=1e-4, atol=1e-5)


def test_the_window_holds_the_cards_own_rows(ws: Workspace) -> None:
    """The ±5 tokens a card shows are the middle of its ±20 window, with the same activations."""
    f = int(torch.argmax(ws.index("mlp0").n_active))
    st = ws.card_state("mlp0", f)
    ex = st["examples"]
    offsets, acts = decode_array(ex["seq_offsets"]), decode_array(ex["acts"])
    rows, pos0, focus = (decode_array(ex[k]) for k in ("seq_batch", "seq_pos0", "seq_focus"))
    for s in range(min(5, len(rows))):
        at = int(pos0[s] + focus[s])
        win = ws.window("mlp0", f, int(rows[s]), at)
        wacts = decoded(win)[1]
        lo = int(pos0[s]) - win["start"]
        shown = acts[offsets[s] : offsets[s + 1]]
        np.testing.assert_allclose(wacts[lo : lo + len(shown)], shown, rtol=1e-4, atol=1e-5)


def test_bad_arguments_name_the_value_and_the_range(ws: Workspace) -> None:
    with pytest.raises(IndexError, match=r"row 4 is out of range: accepted 0 \.\. 3"):
        ws.window("mlp0", 0, 4, 0)
    with pytest.raises(IndexError, match=r"position -1 is out of range: accepted 0 \.\. 63"):
        ws.window("mlp0", 0, 0, -1)
    with pytest.raises(IndexError, match=r"position 64 is out of range: accepted 0 \.\. 63"):
        ws.window("mlp0", 0, 0, 64)
    with pytest.raises(TypeError, match=r"row must be an int in \[0, 3\]; got '1'"):
        ws.window("mlp0", 0, "1", 0)
    with pytest.raises(TypeError, match=r"position must be an int in \[0, 63\]; got True"):
        ws.window("mlp0", 0, 0, True)
    with pytest.raises(IndexError, match=r"feature 48 is out of range for 'mlp0': accepted 0 \.\. 47"):
        ws.window("mlp0", 48, 0, 0)
    with pytest.raises(TypeError, match=r"source must be an SAE name or a hook name \(a str\); got 3"):
        ws.window(3, 0, 0, 0)
