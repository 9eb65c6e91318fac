"""DFA in a card's top examples (an SAE on ``hook_z``) against a hand computation.

Reference: the plain model's ``run_with_cache`` on each example's whole dataset row, and for every
source token a loop over heads of ``pattern[h, q, s] · v[s, h] @ W_enc[h-block, f]``; the
pre-activation written out by hand from the captured ``hook_z`` (``(z − b_dec) @ W_enc[:, f] +
b_enc[f]``). No code of ours computes the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.card.dfa_payload import ExampleDfa, dfa_payload
from featurecard.core.codecs import decode_array
from featurecard.workspace import Workspace

Z_HOOK = "blocks.1.attn.hook_z"
MLP_HOOK = "blocks.0.mlp.hook_post"


def z_weights() -> dict[str, Any]:
    return {**tiny.random_sae_weights(32, 24, seed=9), "hook_name": Z_HOOK}


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    mlp = {**tiny.random_sae_weights(64, 20, seed=5), "hook_name": MLP_HOOK}
    return Workspace(model, saes={"z": z_weights(), "mlp": mlp}, tokens=tokens, progress=False)


def live_latents(ws: Workspace, n: int) -> list[int]:
    return [int(f) for f in torch.argsort(ws.index("z").n_active, descending=True)[:n]]


@pytest.mark.parametrize("complete", [True, False], ids=["complete", "first-card"])
def test_card_dfa_matches_a_hand_computation(model: Any, ws: Workspace, complete: bool) -> None:
    w = z_weights()
    features = [0, 1] if not complete else live_latents(ws, 2)
    checked = 0
    for f, st in zip(features, ws.card_states("z", features, complete=complete), strict=True):
        ex = st["examples"]
        d = ex["dfa"]
        assert d is not None and "dfa" not in st["unavailable"]
        n_top = ex["groups"][0]["count"]
        assert d["count"] == n_top
        offsets, acts = decode_array(ex["seq_offsets"]), decode_array(ex["acts"])
        rows, pos0, focus = (decode_array(ex[k]) for k in ("seq_batch", "seq_pos0", "seq_focus"))
        values = decode_array(d["values"])
        outside, pre, bias = (decode_array(d[k]) for k in ("outside", "pre", "bias"))
        assert values.shape == (int(offsets[n_top]),)
        for i in range(n_top):
            a, b = int(offsets[i]), int(offsets[i + 1])
            start, q = int(pos0[i]), int(pos0[i]) + int(focus[i])
            want, want_pre, want_bias = tiny.hand_dfa(model, ws.tokens[int(rows[i])], w, q, f)
            shown = np.zeros(b - a)
            shown[: q + 1 - start] = want[start:]
            np.testing.assert_allclose(values[a:b], shown, rtol=1e-4, atol=1e-5)
            assert float(outside[i]) == pytest.approx(want[:start].sum(), abs=1e-5)
            assert float(pre[i]) == pytest.approx(want_pre, abs=1e-5)
            assert float(bias[i]) == pytest.approx(want_bias, abs=1e-5)
            # DFA sums to the pre-activation minus its bias terms; a firing ReLU latent's act is its pre
            total = float(values[a:b].astype(np.float64).sum() + outside[i])
            assert total == pytest.approx(want_pre - want_bias, abs=1e-5)
            assert float(acts[a + int(focus[i])]) == pytest.approx(want_pre, abs=1e-4)
            checked += 1
    assert checked >= 4


def test_no_dfa_off_attention_outputs(ws: Workspace) -> None:
    st = ws.card_state("mlp", 0)
    assert st["examples"]["dfa"] is None
    assert "blocks.L.attn.hook_z" in st["unavailable"]["dfa"] and MLP_HOOK in st["unavailable"]["dfa"]


def test_a_card_without_top_examples_has_empty_dfa(model: Any, tokens: torch.Tensor) -> None:
    w = z_weights()
    w["b_enc"] = w["b_enc"] - 1e3  # no latent ever fires
    ws = Workspace(model, saes={"z": w}, tokens=tokens, progress=False)
    d = ws.card_state("z", 3)["examples"]["dfa"]
    assert d is not None and d["count"] == 0 and decode_array(d["values"]).shape == (0,)


def test_dfa_payload_checks_its_shapes() -> None:
    dfa = ExampleDfa(np.zeros(5, np.float32), np.zeros(1, np.float32), np.ones(1, np.float32), np.zeros(1, np.float32))
    assert dfa_payload(dfa, [5, 3]) is not None
    with pytest.raises(ValueError, match="the first 1 of the 2 examples show 4 tokens"):
        dfa_payload(dfa, [4, 3])


def test_rows_run_in_chunks_and_cut_give_the_same_dfa(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """One row per forward (a tiny element budget), each cut after its last example token: the
    same numbers as the whole rows in one forward."""
    from featurecard.card import dfa as card_dfa

    features = live_latents(ws, 3)
    whole = [st["examples"]["dfa"] for st in ws.card_states("z", features)]
    monkeypatch.setattr(card_dfa, "DFA_ELEMENTS", 1)
    widths: list[tuple[int, ...]] = []
    real = card_dfa.dfa_inputs_rows

    def counted(adapter: Any, sae: Any, ids: torch.Tensor) -> Any:
        widths.append(tuple(ids.shape))
        return real(adapter, sae, ids)

    monkeypatch.setattr(card_dfa, "dfa_inputs_rows", counted)
    states = ws.card_states("z", features)
    chunked = [st["examples"]["dfa"] for st in states]
    need: dict[int, int] = {}  # each row, cut after the last top example's token it holds
    for st in states:
        ex = st["examples"]
        n = ex["groups"][0]["count"]
        rows, pos0, focus = (decode_array(ex[k])[:n] for k in ("seq_batch", "seq_pos0", "seq_focus"))
        for r, p, f in zip(rows.tolist(), pos0.tolist(), focus.tolist(), strict=True):
            need[r] = max(need.get(r, 0), p + f + 1)
    assert sorted(widths) == sorted((1, w) for w in need.values())  # one row per forward, each cut
    for a, b in zip(whole, chunked, strict=True):
        assert a is not None and b is not None and a["count"] == b["count"] > 0
        for k in ("values", "outside", "pre", "bias"):
            np.testing.assert_allclose(decode_array(a[k]), decode_array(b[k]), rtol=1e-5, atol=1e-6)
