"""The activation index and the card data against brute force on a real (tiny) model."""

from __future__ import annotations

from typing import Any

import torch

import tiny
from featurecard.card.correlation import dense_column
from featurecard.card.index_pass import index_pass
from featurecard.card.windows import Window, logit_table, top_windows
from featurecard.core.codecs import decode_array
from featurecard.core.model import ModelAdapter
from featurecard.core.sae_input import as_sae
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"


def dense_acts(model: Any, sae: Any, tokens: torch.Tensor, bos: int) -> torch.Tensor:
    """Reference: the SAE on the model's own run_with_cache output, BOS zeroed."""
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n == sae.hook_name)
    acts = sae.encode(cache[sae.hook_name])
    return acts * (tokens != bos).unsqueeze(-1)


def test_index_equals_dense_encoding(model: Any, tokens: torch.Tensor) -> None:
    sae = as_sae({**tiny.random_sae_weights(64, 96), "hook_name": HOOK})
    adapter = ModelAdapter(model)
    idx = index_pass(adapter, {"s": sae}, tokens, batch_size=3, progress=False, keep_final_resid=False).indexes["s"]
    dense = dense_acts(model, sae, tokens, adapter.bos_token_id or 0).reshape(-1, 96)
    rebuilt = torch.zeros_like(dense)
    for f in range(96):
        pos, val = idx.column(f)
        assert torch.all(pos[1:] > pos[:-1]), "positions ascend within a column"
        rebuilt[pos.long(), f] = val
    torch.testing.assert_close(rebuilt, dense, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(idx.max_act, dense.max(0).values.clamp(min=0), atol=1e-5, rtol=1e-5)
    n_counted = int((tokens != adapter.bos_token_id).sum())
    assert idx.n_tokens == n_counted
    torch.testing.assert_close(idx.n_active, (dense > 0).sum(0))


def brute_force_windows(pos: list[int], val: list[float], seq_len: int, k: int, buf: tuple[int, int]) -> list[Window]:
    cands = sorted(zip(val, pos, strict=True), key=lambda t: -t[0])
    chosen: list[Window] = []
    for v, p in cands:
        if v <= 0 or len(chosen) == k:
            break
        row, q = divmod(p, seq_len)
        w = Window(row, max(0, q - buf[0]), min(seq_len, q + buf[1] + 1), q)
        overlaps = any(c.row == row and not (w.stop <= c.start or c.stop <= w.start) for c in chosen)
        if not overlaps:
            chosen.append(w)
    return chosen


def test_top_windows_against_brute_force() -> None:
    g = torch.Generator().manual_seed(3)
    seq_len = 40
    for trial in range(20):
        n = 200
        pos = torch.randperm(10 * seq_len, generator=g)[:n].sort().values
        val = torch.rand(n, generator=g) - 0.2 * (trial % 2)
        got = top_windows(pos, val, seq_len, k=15, buffer=(5, 5))
        want = brute_force_windows(pos.tolist(), val.tolist(), seq_len, 15, (5, 5))
        assert got == want
        # the focus token carries the activation that selected it
        rows = dense_column(pos, val, 10 * seq_len).float().reshape(10, seq_len)
        for w in got:
            acts = rows[w.row, w.start : w.stop]
            flat = w.row * seq_len + w.focus
            assert acts[w.focus - w.start] == val[pos.tolist().index(flat)]


def test_logit_table_against_naive_loop(model: Any) -> None:
    adapter = ModelAdapter(model)
    direction = torch.randn(model.cfg.d_model, generator=torch.Generator().manual_seed(0))
    w_u = adapter.unembed_matrix().detach()
    naive = [sum(float(direction[i]) * float(w_u[i, t]) for i in range(w_u.shape[0])) for t in range(w_u.shape[1])]
    order = sorted(range(len(naive)), key=lambda t: -naive[t])
    table = logit_table(direction @ w_u, k=10)
    assert table.top_ids.tolist() == order[:10]
    assert table.bottom_ids.tolist() == order[::-1][:10]
    torch.testing.assert_close(table.top_values, torch.tensor([naive[t] for t in order[:10]]), atol=1e-4, rtol=1e-4)


def test_card_state_mlp_post_logits_go_through_w_out(model: Any, tokens: torch.Tensor) -> None:
    w = tiny.random_sae_weights(64, 96)
    ws = Workspace(model, saes={"s": {**w, "hook_name": HOOK}}, tokens=tokens, progress=False)
    f = int(torch.argmax(ws.index("s").n_active))
    st = ws.card_state("s", f)
    expect = (w["W_dec"][f] @ model.W_out[0]) @ model.W_U  # independent: weights straight from the model
    top = decode_array(st["logits"]["top_values"])  # type: ignore[index]
    torch.testing.assert_close(torch.from_numpy(top.copy()), expect.topk(10).values, atol=1e-4, rtol=1e-4)
    vocab = st["vocab"]
    top_strs = [vocab[i] for i in decode_array(st["logits"]["top_tokens"])]  # type: ignore[index]
    assert top_strs == [model.tokenizer.decode([int(t)]) for t in expect.topk(10).indices]
    # examples: the focus token of the first sequence carries the unit's max activation
    acts = decode_array(st["examples"]["acts"])
    focus = int(decode_array(st["examples"]["seq_focus"])[0])
    assert abs(float(acts[focus]) - st["max_act"]) < 1e-5
    # the example tokens are the dataset's tokens at the shown positions
    offs = decode_array(st["examples"]["seq_offsets"])
    row, p0 = (
        int(decode_array(st["examples"]["seq_batch"])[0]),
        int(decode_array(st["examples"]["seq_pos0"])[0]),
    )
    shown = [vocab[i] for i in decode_array(st["examples"]["tokens"])[offs[0] : offs[1]]]
    assert shown == [model.tokenizer.decode([int(t)]) for t in tokens[row, p0 : p0 + len(shown)]]


def test_neuron_card_uses_the_neuron_itself(model: Any, tokens: torch.Tensor) -> None:
    ws = Workspace(model, tokens=tokens, progress=False)
    st = ws.card_state(HOOK, 5)
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n == HOOK)
    neuron = cache[HOOK][..., 5][tokens != model.tokenizer.bos_token_id]
    assert abs(st["max_act"] - float(neuron.max())) < 1e-5
    assert abs(st["density"] - float((neuron > 0).float().mean())) < 1e-6
    expect = model.W_out[0][5] @ model.W_U
    top = decode_array(st["logits"]["top_values"])  # type: ignore[index]
    torch.testing.assert_close(torch.from_numpy(top.copy()), expect.topk(10).values, atol=1e-4, rtol=1e-4)


def test_attn_z_and_resid_hooks(model: Any, tokens: torch.Tensor) -> None:
    d_z = model.cfg.n_heads * model.cfg.d_head
    wz = tiny.random_sae_weights(d_z, 32, seed=1)
    wr = tiny.random_sae_weights(model.cfg.d_model, 32, seed=2)
    ws = Workspace(
        model,
        saes={
            "z": {**wz, "hook_name": "blocks.1.attn.hook_z"},
            "r": {**wr, "hook_name": "blocks.0.hook_resid_post"},
        },
        tokens=tokens,
        progress=False,
    )
    st = ws.card_state("z", 0)
    expect = (wz["W_dec"][0] @ model.W_O[1].reshape(d_z, -1)) @ model.W_U
    torch.testing.assert_close(
        torch.from_numpy(decode_array(st["logits"]["top_values"]).copy()),  # type: ignore[index]
        expect.topk(10).values,
        atol=1e-4,
        rtol=1e-4,
    )
    st = ws.card_state("r", 1)
    expect = wr["W_dec"][1] @ model.W_U
    torch.testing.assert_close(
        torch.from_numpy(decode_array(st["logits"]["bottom_values"]).copy()),  # type: ignore[index]
        -(-expect).topk(10).values,
        atol=1e-4,
        rtol=1e-4,
    )
    assert set(ws._indexes) == {"z", "r"}, "one pass indexes every SAE"


def test_mlp_pre_has_no_logit_panel(model: Any, tokens: torch.Tensor) -> None:
    ws = Workspace(
        model,
        saes={"p": {**tiny.random_sae_weights(64, 16), "hook_name": "blocks.0.mlp.hook_pre"}},
        tokens=tokens,
        progress=False,
    )
    st = ws.card_state("p", 0)
    assert st["logits"] is None
    assert "no linear path" in st["unavailable"]["logits"]
