"""Every panel of a card, wired end to end, against independent references."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.core.codecs import decode_array
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    a = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": HOOK}
    b = {**tiny.random_sae_weights(64, 30, seed=6), "hook_name": HOOK}
    return Workspace(model, saes={"mlp0": a}, sae_b={"mlp0": b}, tokens=tokens, progress=False)


def dense(model: Any, ws: Workspace, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Counted-token activations of an SAE, and its input, from run_with_cache."""
    _, cache = model.run_with_cache(ws.tokens, names_filter=lambda n: n == HOOK)
    keep = ws.tokens != model.tokenizer.bos_token_id
    x = cache[HOOK][keep]
    sae = ws.sae_b["mlp0"] if name == "B" else ws.saes[name]
    return sae.encode(x).detach(), x.detach()


def live(ws: Workspace) -> int:
    return int(torch.argmax(ws.index("mlp0").n_active))


def arr(p: Any) -> np.ndarray:
    return decode_array(p)


def test_left_column_against_corrcoef(model: Any, ws: Workspace) -> None:
    f = live(ws)
    st = ws.card_state("mlp0", f)
    acts, x = dense(model, ws, "mlp0")
    acts_b, _ = dense(model, ws, "B")
    left = st["left"]
    ref_lat = torch.corrcoef(acts.T.double())[f]
    ref_lat[f] = -2
    assert arr(left["latents"]["ids"]).tolist() == ref_lat.topk(3).indices.tolist()
    np.testing.assert_allclose(arr(left["latents"]["pearson"]), ref_lat.topk(3).values.numpy(), atol=1e-5)
    ref_b = torch.corrcoef(torch.cat([acts[:, f : f + 1], acts_b], 1).T.double())[0, 1:]
    assert arr(left["latents_b"]["ids"]).tolist() == ref_b.topk(3).indices.tolist()
    ref_n = torch.corrcoef(torch.cat([acts[:, f : f + 1], x], 1).T.double())[0, 1:]
    assert arr(left["neurons"]["ids"]).tolist() == ref_n.topk(3).indices.tolist()
    np.testing.assert_allclose(arr(left["neurons"]["pearson"]), ref_n.topk(3).values.numpy(), atol=1e-5)
    w = ws.saes["mlp0"].W_dec[f]
    assert arr(left["alignment"]["ids"]).tolist() == w.abs().topk(3).indices.tolist()
    np.testing.assert_allclose(
        arr(left["alignment"]["l1_share"]), (w.abs().topk(3).values / w.abs().sum()).numpy(), rtol=1e-5
    )


def test_hand_built_sae_has_known_answers(model: Any, tokens: torch.Tensor) -> None:
    """Latent j reads neuron j alone and writes it back: its aligned and most correlated
    neuron is j (100% of L1), and its top example is neuron j's largest positive value."""
    d = model.cfg.d_mlp
    eye = torch.eye(d)
    sae = {"W_enc": eye, "b_enc": torch.zeros(d), "W_dec": eye, "b_dec": torch.zeros(d), "hook_name": HOOK}
    ws = Workspace(model, saes={"id": sae}, tokens=tokens, progress=False)
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n == HOOK)
    for j in (3, 17):
        st = ws.card_state("id", j)
        left = st["left"]
        assert arr(left["alignment"]["ids"])[0] == j
        assert arr(left["alignment"]["l1_share"])[0] == pytest.approx(1.0)
        assert arr(left["neurons"]["ids"])[0] == j
        assert arr(left["neurons"]["pearson"])[0] > 0.7
        neuron = cache[HOOK][..., j].masked_fill(tokens == model.tokenizer.bos_token_id, -1e9)
        row, pos = divmod(int(neuron.argmax()), tokens.shape[1])
        assert int(arr(st["examples"]["seq_batch"])[0]) == row
        start = int(arr(st["examples"]["seq_pos0"])[0])
        assert start + int(arr(st["examples"]["seq_focus"])[0]) == pos
        assert st["max_act"] == pytest.approx(float(neuron.max()), abs=1e-5)


def test_groups_histograms_and_hover(model: Any, ws: Workspace) -> None:
    f = live(ws)
    st = ws.card_state("mlp0", f)
    titles = [g["title"] for g in st["examples"]["groups"]]
    assert titles[0] == "Top activations" and titles[-1] == "Bottom activations"
    assert sum(t.startswith("Interval") for t in titles) == 10
    shares = [float(t.split("contains ")[1].rstrip("%")) for t in titles if t.startswith("Interval")]
    assert sum(shares) == pytest.approx(100, abs=0.6)
    acts, _ = dense(model, ws, "mlp0")
    col = acts[:, f]
    counts = arr(st["act_hist"]["counts"])
    assert counts.sum() == int((col != 0).sum())
    assert len(arr(st["act_hist"]["ticks"])) <= 6
    assert arr(st["logit_hist"]["counts"]).sum() == model.cfg.d_vocab
    # hover rows exist exactly where a shown token's activation is nonzero
    shown = arr(st["examples"]["acts"])
    rows = arr(st["hover"]["token_row"])
    n_h = st["hover"]["loss_change"]["shape"][0]
    assert ((rows < n_h) == (shown != 0)).all()  # n_h (one past the last row) marks silent tokens
    assert set(rows[rows < n_h].tolist()) == set(range(n_h))
    assert arr(st["hover"]["top_values"]).shape == (n_h, 5)
    assert (arr(st["hover"]["top_values"])[:, 0] >= arr(st["hover"]["top_values"])[:, -1]).all()


def test_card_on_a_hook_without_linear_path(model: Any, tokens: torch.Tensor) -> None:
    sae = {**tiny.random_sae_weights(64, 16), "hook_name": "blocks.0.mlp.hook_pre"}
    ws = Workspace(model, saes={"p": sae}, tokens=tokens, progress=False)
    st = ws.card_state("p", 0)
    assert st["hover"] is None and st["logit_hist"] is None
    assert "no linear path" in st["unavailable"]["hover"]
    assert st["left"]["alignment"] is not None  # mlp.hook_pre is still MLP neurons
