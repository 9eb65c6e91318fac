"""Quick cards (one block of latents from the kept inputs) against brute force and the complete card."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.card import final_rows, first_cards, quick_cards
from featurecard.card.correlation import add_counted_moments, counted_mean, neurons_from_column
from featurecard.card.widget import FeatureCard
from featurecard.core.codecs import decode_array
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several blocks and several chunks even on the tiny dataset (8 rows x 24 positions)."""
    monkeypatch.setattr(quick_cards, "BLOCK", 32)
    monkeypatch.setattr(quick_cards, "CHUNK_POSITIONS", 48)  # 2 rows per encoder call


def _ws(model: Any, tokens: torch.Tensor, **sae_over: Any) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 96, seed=1), "hook_name": HOOK, **sae_over}
    return Workspace(model, saes={"s": sae}, tokens=tokens, progress=False)


def _dense_reference(model: Any, ws: Workspace, tokens: torch.Tensor) -> torch.Tensor:
    """The SAE over the model's own run_with_cache, BOS zeroed: [positions, d_sae]."""
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n == HOOK)
    acts = ws.saes["s"].encode(cache[HOOK]) * (tokens != ws.adapter.bos_token_id).unsqueeze(-1)
    return acts.reshape(-1, acts.shape[-1])


def _arrays(x: Any) -> Any:
    """A state with its binary arrays decoded, for comparisons."""
    if isinstance(x, dict) and "buffer" in x and "dtype" in x:
        return decode_array(x)
    if isinstance(x, dict):
        return {k: _arrays(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_arrays(v) for v in x]
    return x


def _assert_same(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        # float16 payloads (hover effects) round float32 numbers that may differ in their last
        # bits (the last block at chosen positions against the whole forward): one float16 step.
        rtol = 2**-10 if a.dtype == np.float16 else 1e-5
        np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=1e-6, err_msg=path)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-7), path
    else:
        assert a == b, path


def _assert_same_cards(a: Any, b: Any, keys: tuple[str, ...]) -> None:
    """Decoded card states equal in ``keys``; hover tables by token id, where near-ties (equal
    in float16) may come in either order or trade the table's last place."""
    for key in keys:
        if key == "hover" and a[key] is not None and b[key] is not None:
            _assert_same_hover(a, b)
        elif key == "vocab":  # a near-tie at a hover table's edge may bring in another token
            ta, tb = (dict(zip(x["vocab_ids"].tolist(), x["vocab"], strict=True)) for x in (a, b))
            assert all(ta[i] == tb[i] for i in ta.keys() & tb.keys())
            ids = a["vocab_ids"]
            shown = set(ids[a["examples"]["tokens"]].tolist()) | set(ids[a["logits"]["top_tokens"]].tolist())
            assert shown <= tb.keys() and len(ta.keys() ^ tb.keys()) <= 4
        else:
            _assert_same(a[key], b[key], key)


def _assert_same_hover(a: Any, b: Any) -> None:
    ha, hb = a["hover"], b["hover"]
    for key in ("token_row", "loss_change"):
        _assert_same(ha[key], hb[key], f"hover.{key}")
    for side in ("top", "bottom"):
        va, vb = ha[f"{side}_values"].astype(np.float64), hb[f"{side}_values"].astype(np.float64)
        np.testing.assert_allclose(va, vb, rtol=2**-10, atol=1e-6, err_msg=f"hover.{side}_values")
        ia, ib = a["vocab_ids"][ha[f"{side}_tokens"]], b["vocab_ids"][hb[f"{side}_tokens"]]
        for r, j in np.argwhere(ia != ib):
            tied = np.isclose(vb[r], va[r, j], rtol=2**-10, atol=1e-6)
            assert tied[ib[r] == ia[r, j]].any() or np.isclose(va[r, j], va[r, -1], rtol=2**-10), (side, r, j)


def test_blocks_of_the_complete_index_equal_dense_encoding(model: Any, tokens: torch.Tensor) -> None:
    ws = _ws(model, tokens)
    ws.card_state("s", 40, complete=False)  # stages the SAE and encodes latent 40's neighbours
    assert not ws.is_complete("s") and sorted(ws._staged["s"].quick) == list(range(32, 64))
    idx = ws.index("s")  # completes from the kept inputs
    dense = _dense_reference(model, ws, tokens)
    rebuilt = torch.zeros_like(dense)
    for f in range(96):
        pos, val = idx.column(f)
        assert torch.all(pos[1:] > pos[:-1])
        rebuilt[pos.long(), f] = val
    torch.testing.assert_close(rebuilt, dense, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(idx.n_active, (dense > 0).sum(0))
    torch.testing.assert_close(idx.max_act, dense.max(0).values.clamp(min=0), atol=1e-5, rtol=1e-5)
    # The by-position view lists, at each position, its nonzero latents in ascending order.
    assert idx.pos_indptr is not None and idx.pos_units is not None and idx.pos_values is not None
    for t in (0, 5, 30, dense.shape[0] - 1):
        lo, hi = int(idx.pos_indptr[t]), int(idx.pos_indptr[t + 1])
        want = torch.nonzero(dense[t]).flatten()
        assert idx.pos_units[lo:hi].long().tolist() == want.tolist()
        torch.testing.assert_close(idx.pos_values[lo:hi], dense[t, want], atol=1e-5, rtol=1e-5)


def test_the_complete_index_keeps_the_bits_of_the_columns_cards_showed(model: Any, tokens: torch.Tensor) -> None:
    """Latents encoded for cards (alone, or with the cards made together) keep their exact
    numbers in the complete index, though its blocks encode them with other companions."""
    ws = _ws(model, tokens)
    ws.card_states("s", [3, 40, 95], complete=False)
    ws.card_state("s", 7, complete=False)
    src = ws._staged["s"]
    quick = {f: src.quick[f][0].column(src.quick[f][1]) for f in (3, 7, 40, 95)}
    # Cards made together encode their latents; a card alone, its neighbours not encoded yet.
    assert [g.tolist() for g in src.groups] == [[3, 40, 95], [u for u in range(32) if u != 3]]
    idx = ws.index("s")
    for f, (pos, val) in quick.items():
        got_pos, got_val = idx.column(f)
        assert torch.equal(got_pos, pos) and torch.equal(got_val, val), f
        assert float(idx.max_act[f]) == float(val.max())


def test_a_quick_card_is_the_complete_card_but_for_the_pending_tables(model: Any, tokens: torch.Tensor) -> None:
    quick_ws, full_ws = _ws(model, tokens), _ws(model, tokens)
    for f in (3, 40, 95):
        quick = quick_ws.card_state("s", f, complete=False)
        full = full_ws.card_state("s", f)  # the one-pass engine, a separate Workspace
        assert quick["pending"] == ["latents"] and "being computed" in quick["unavailable"]["latents"]
        # A HookedTransformer resumes from block 1 for the shown rows; a bridge keeps the final residual.
        resumed = quick_ws._final_rows is not None
        assert resumed == quick_ws.adapter.can_resume and resumed == (quick_ws._final_resid is None)
        assert quick["left"]["latents"] is None and full["pending"] == []
        q, c = _arrays(dict(quick)), _arrays(dict(full))
        _assert_same_cards(q, c, ("examples", "hover", "act_hist", "logits", "logit_hist", "vocab", "n_tokens"))
        assert quick["max_act"] == pytest.approx(full["max_act"], rel=1e-6)
        assert quick["density"] == full["density"]
        _assert_same(q["left"]["neurons"], c["left"]["neurons"], "neurons")
        _assert_same(q["left"]["alignment"], c["left"]["alignment"], "alignment")
    done, ref = _arrays(dict(quick_ws.card_state("s", 40))), _arrays(dict(full_ws.card_state("s", 40)))
    assert done["pending"] == []  # complete=True builds the index from the kept inputs
    _assert_same(done["left"], ref["left"], "left")  # latents over all, neuron sums from the index
    assert quick_ws.is_complete("s") and not quick_ws._capture.inputs  # kept inputs freed


def test_cards_made_together_equal_the_complete_cards(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """card_states runs the later blocks once, for the union of what the cards show, and each
    card equals the one-pass engine's card of that feature (a separate Workspace)."""
    quick_ws, full_ws = _ws(model, tokens), _ws(model, tokens)
    features = [3, 40, 95, 41]
    quick_ws.card_state("s", 0, complete=False)  # stages the SAE (and the one-row check)
    calls: list[int] = []
    if quick_ws._final_rows is not None:
        real = final_rows.FinalRows.at
        monkeypatch.setattr(final_rows.FinalRows, "at", lambda self, r, p: calls.append(len(r)) or real(self, r, p))
    quick = quick_ws.card_states("s", features, complete=False)
    if quick_ws._final_rows is not None:  # one read for every card's shown tokens
        assert len(calls) == 1
    for f, q in zip(features, quick, strict=True):
        assert q["feature"] == f and q["pending"] == ["latents"]
        a, b = _arrays(dict(q)), _arrays(dict(full_ws.card_state("s", f)))
        _assert_same_cards(a, b, ("examples", "hover", "act_hist", "logits", "logit_hist", "n_tokens"))
    with pytest.raises(IndexError, match="out of range"):
        quick_ws.card_states("s", [1, 96])


def test_neuron_correlations_from_a_column_equal_corrcoef(model: Any, tokens: torch.Tensor) -> None:
    ws = _ws(model, tokens)
    ws.card_state("s", 7, complete=False)
    cap = ws._capture
    assert cap is not None
    block, offset = ws._staged["s"].column(7)
    pos, val = block.column(offset)
    x = cap.inputs[HOOK][cap.keep].double()
    f = torch.zeros(cap.inputs[HOOK].shape[0], dtype=torch.float64)
    f[pos.long()] = val.double()
    f = f[cap.keep]
    ref = torch.corrcoef(torch.cat([f[None], x.T]))[0, 1:]
    got = neurons_from_column(pos, val, cap.inputs[HOOK], *cap.moments[HOOK], cap.n_tokens, k=5)
    torch.testing.assert_close(got.pearson.double(), ref.topk(5).values, atol=1e-6, rtol=1e-6)
    cos = (f @ x) / (f.norm() * x.norm(dim=0))
    torch.testing.assert_close(got.cosine.double(), cos[got.ids], atol=1e-6, rtol=1e-6)


def test_neuron_correlations_where_the_mean_dwarfs_the_spread() -> None:
    """float32 inputs around 1000 with a spread of 0.01: Pearson against float64 corrcoef."""
    g = torch.Generator().manual_seed(3)
    n, d = 4000, 16
    f = torch.rand(n, generator=g) * (torch.rand(n, generator=g) < 0.3)
    noise = torch.randn(n, d, generator=g, dtype=torch.float64)
    x = (1000 + 0.01 * (noise + f[:, None].double() * torch.arange(d) / d)).float()
    pos = torch.nonzero(f).flatten()
    s_x, s_xx = x.double().sum(0), (x.double() ** 2).sum(0)
    got = neurons_from_column(pos, f[pos], x, s_x, s_xx, n, k=d)
    ref = torch.corrcoef(torch.cat([f[None].double(), x.double().T]))[0, 1:]
    torch.testing.assert_close(got.pearson.double(), ref.topk(d).values, atol=1e-4, rtol=0)
    torch.testing.assert_close(got.pearson.double(), ref[got.ids], atol=1e-4, rtol=0)


def test_capture_moments_equal_float64_sums_where_the_mean_dwarfs_the_spread() -> None:
    """Σx and Σx² over the counted rows, batch by batch (the capture pass and the one-pass
    engine's neuron sums), against float64 sums of the whole."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 512, 8, generator=g) * torch.tensor([1e-3, 1, 1, 5, 1, 1, 1, 1])
    x += torch.tensor([10.0, 0, 3, 0, -50, 0, 1, 0])  # an offset 10^4 times the spread first
    keep = torch.rand(6, 512, generator=g) > 0.1
    s_x, s_xx = torch.zeros(8, dtype=torch.float64), torch.zeros(8, dtype=torch.float64)
    shift = counted_mean(x[0], keep[0])
    for b in range(6):
        add_counted_moments(s_x, s_xx, x[b], keep[b], shift)
    ref = x[keep].double()
    n = ref.shape[0]
    # What the correlations read: the mean to a millionth of the spread, the variance to 1e-5
    # (float32 sums of x itself would have lost dimension 0 entirely).
    assert ((s_x / n - ref.mean(0)).abs() <= 1e-6 * ref.std(0)).all()
    var = s_xx / n - (s_x / n) ** 2
    torch.testing.assert_close(var, ref.var(0, unbiased=False), rtol=1e-5, atol=0)


def test_topk_and_over_budget_sources_are_not_staged(
    model: Any, tokens: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They keep no inputs: their first cards are streamed (tests/unit/card/test_first_cards.py)."""
    monkeypatch.setattr(first_cards, "BACKGROUND", False)
    topk = _ws(model, tokens, architecture="topk", k=4)
    assert topk.card_state("s", 2, complete=False)["pending"] == ["latents"] and not topk._staged
    monkeypatch.setattr(quick_cards, "CAPTURE_BUDGET", 0)
    big = _ws(model, tokens)
    assert big.card_state("s", 2, complete=False)["pending"] == ["latents"] and not big._staged
    assert big._capture is None and not big.is_complete("s")


def test_encoder_b_is_pending_too_and_completes_with_its_sae(model: Any, tokens: torch.Tensor) -> None:
    b = {**tiny.random_sae_weights(64, 40, seed=5), "hook_name": HOOK}
    ws = Workspace(
        model,
        saes={"s": {**tiny.random_sae_weights(64, 96, seed=1), "hook_name": HOOK}},
        sae_b={"s": b},
        tokens=tokens,
        progress=False,
    )
    f = int(torch.tensor([ws.card_state("s", j, complete=False)["density"] for j in range(8)]).argmax())
    assert ws.card_state("s", f, complete=False)["pending"] == ["latents", "latents_b"]
    full = ws.card_state("s", f)
    assert full["pending"] == [] and full["left"]["latents_b"] is not None
    assert ws.is_complete("s::B")


def test_the_widget_shows_the_quick_card_then_completes_on_request(model: Any, tokens: torch.Tensor) -> None:
    ws = _ws(model, tokens)
    card = ws.card("s", feature=11)
    assert card.state["pending"] == ["latents"] and not ws.is_complete("s")
    sent: list[Any] = []
    card.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]  # noqa: ARG005
    card._on_request(card, {"kind": "fc-request", "id": "r1", "name": "complete", "args": {}}, [])
    assert sent == [{"kind": "fc-reply", "id": "r1", "ok": True, "result": {"complete": True}}]
    assert card.state["pending"] == [] and card.state["left"]["latents"] is not None and not card.busy
    card.feature = 12  # now the index is complete: cards come whole
    assert card.state["pending"] == []


def test_an_export_of_a_quick_card_is_complete(model: Any, tokens: torch.Tensor, tmp_path: Any) -> None:
    card = FeatureCard(model, {**tiny.random_sae_weights(64, 96, seed=1), "hook_name": HOOK}, tokens, feature=3)
    assert card.state["pending"] == ["latents"]
    card.export_html(tmp_path / "c.html")
    assert card.state["pending"] == []


def test_quick_neuron_cards_on_a_second_hook_equal_complete_ones(model: Any, tokens: torch.Tensor) -> None:
    ws, ref = _ws(model, tokens), _ws(model, tokens)
    ws.card_state("s", 5, complete=False)  # captures blocks.0 first
    hook = "blocks.1.mlp.hook_post"  # a second capture, merged into the first
    quick = _arrays(dict(ws.card_state(hook, 17, complete=False)))
    full = _arrays(dict(ref.card_state(hook, 17)))
    assert quick["pending"] == ["latents"] and quick["unit"] == "neuron"
    for key in ("examples", "hover", "act_hist", "logits", "n_tokens", "max_act", "density"):
        _assert_same(quick[key], full[key], key)
    _assert_same(quick["left"]["neurons"], full["left"]["neurons"], "neurons")
    done = _arrays(dict(ws.card_state(hook, 17)))
    _assert_same(done["left"], full["left"], "left")
    assert ws.card_state("s", 5, complete=False)["pending"] == ["latents"]  # the SAE is still quick
