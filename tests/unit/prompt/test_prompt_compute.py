"""The prompt view's numbers against independent computations on the tiny models.

References: the model's own ``run_with_cache`` at the SAE's hook and the SAE written out by hand
(``relu((x - b_dec) @ W_enc + b_enc)``); a Python count over every counted dataset token for the
quantiles; for each (position, latent) pair a separate ``run_with_hooks`` of the plain model that
subtracts ``a · W_dec[f]`` from the hook value at that position (batch of one, no code of ours);
for DFA, a loop over heads of ``pattern[h, q, s] · v[s, h] @ W_enc[h-block, f]`` from the
captured pattern and values, and the pre-activation from the captured ``hook_z``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tiny
from featurecard.core.dfa import dfa_at, dfa_inputs, dfa_unavailable
from featurecard.core.model import ModelAdapter
from featurecard.core.sae import SparseAutoencoder
from featurecard.core.sae_input import as_sae
from featurecard.prompt.dfa import prompt_dfa
from featurecard.prompt.effects import loss_effects
from featurecard.prompt.firing import check_max_per_token, prompt_firing, quantiles
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"
Z_HOOK = "blocks.1.attn.hook_z"
TEXT = "The value of the argument is <b>bold</b>"


def mlp_sae() -> dict[str, Any]:
    w = {k: v.clone() for k, v in tiny.random_sae_weights(64, 40, seed=5).items()}
    w["b_enc"] -= 0.1  # sparser: a handful of latents per token
    return {**w, "hook_name": HOOK}


def z_sae(**extra: Any) -> dict[str, Any]:
    return {**tiny.random_sae_weights(32, 24, seed=9), "hook_name": Z_HOOK, **extra}


def prompt_ids(model: Any) -> torch.Tensor:
    return model.to_tokens(TEXT, prepend_bos=True)[0].cpu()


def hand_acts(model: Any, ids: torch.Tensor, w: dict[str, Any], hook: str) -> torch.Tensor:
    _, cache = model.run_with_cache(ids[None], names_filter=lambda n: n == hook)
    x = cache[hook][0].detach().flatten(1).double()
    return torch.relu((x - w["b_dec"].double()) @ w["W_enc"].double() + w["b_enc"].double())


def test_firing_latents_match_the_sae_by_hand(model: Any) -> None:
    w = mlp_sae()
    sae = as_sae(w)
    ids = prompt_ids(model)
    got = prompt_firing(ModelAdapter(model), sae, ids)
    want = hand_acts(model, ids, w, HOOK)
    want[0] = 0  # BOS: not counted by the Workspace's dataset, so it lists no latents
    pairs = {(int(p), int(f)) for p, f in torch.nonzero(want > 0).tolist()}
    assert {(int(p), int(f)) for p, f in zip(got.pos, got.latent, strict=True)} == pairs
    assert 2 * len(ids) < len(pairs) < 0.5 * want.numel()  # a real spread, not all or nothing
    np.testing.assert_allclose(got.act, want[got.pos, got.latent].numpy(), rtol=1e-5, atol=1e-6)
    for p in range(len(ids)):  # largest first at each position
        a = got.act[got.pos == p]
        assert (np.diff(a) <= 0).all()
    capped = prompt_firing(ModelAdapter(model), sae, ids, max_per_token=2)
    assert max(np.bincount(capped.pos)) == 2
    np.testing.assert_array_equal(np.asarray(capped.counted), ids.numpy() != model.tokenizer.bos_token_id)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_a_bad_cap_names_the_range(bad: object) -> None:
    with pytest.raises(ValueError, match="max_per_token must be None"):
        check_max_per_token(bad)


def test_quantiles_match_a_naive_count_over_the_dataset(model: Any, tokens: torch.Tensor) -> None:
    w = mlp_sae()
    ws = Workspace(model, saes={"s": w}, tokens=tokens, progress=False)
    ids = prompt_ids(model)
    got = prompt_firing(ws.adapter, ws.saes["s"], ids)
    q = quantiles(ws.index("s"), got.latent, got.act)
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n == HOOK)
    x = cache[HOOK].detach().float()
    acts = torch.relu((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"])  # float32, as the index stores them
    counted = tokens != model.tokenizer.bos_token_id
    bos_free = acts[counted]  # [n_counted, d_sae]
    n = bos_free.shape[0]
    for i, (f, a) in enumerate(zip(got.latent, got.act, strict=True)):
        below = sum(1 for t in range(n) if float(bos_free[t, f]) < float(a))
        assert q[i] == pytest.approx(below / n, abs=1.5 / n), (f, a)
    assert q.min() > 0 and q.max() <= 1 and len(np.unique(q)) > 5


def hand_loss_effect(model: Any, ids: torch.Tensor, hook: str, p: int, write: torch.Tensor) -> tuple[float, float]:
    def remove(act: torch.Tensor, hook: object) -> torch.Tensor:
        flat = act.reshape(*act.shape[:2], -1).clone()
        flat[0, p] -= write
        return flat.reshape(act.shape)

    def losses(logits: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits[0, :-1].double(), -1)
        return -logp[torch.arange(len(ids) - 1), ids[1:]]

    with torch.no_grad():
        clean = losses(model(ids[None]))
        ablated = losses(model.run_with_hooks(ids[None], fwd_hooks=[(hook, remove)]))
    nxt = float(ablated[p] - clean[p]) if p < len(ids) - 1 else float("nan")
    return nxt, float(ablated.mean() - clean.mean())


@pytest.mark.parametrize("which", ["mlp", "z"])
def test_loss_effects_match_one_hooked_run_per_pair(model: Any, which: str) -> None:
    w = mlp_sae() if which == "mlp" else z_sae()
    sae = as_sae(w)
    ids = prompt_ids(model)
    f = prompt_firing(ModelAdapter(model), sae, ids, max_per_token=3)
    got = loss_effects(ModelAdapter(model), sae, ids, f.pos, f.latent, f.act, f.scale, batch_size=5)
    assert f.n_pairs > 10
    for i in range(f.n_pairs):
        write = float(f.act[i]) * w["W_dec"][int(f.latent[i])]
        nxt, mean = hand_loss_effect(model, ids, sae.hook_name, int(f.pos[i]), write)
        if np.isnan(nxt):
            assert np.isnan(got.next[i])
        else:
            assert got.next[i] == pytest.approx(nxt, abs=2e-5, rel=1e-4)
        assert got.prompt[i] == pytest.approx(mean, abs=2e-5, rel=1e-4)
    assert np.nanmax(np.abs(got.next)) > 1e-3  # the writes matter
    assert np.isnan(got.next[f.pos == len(ids) - 1]).all()


def test_loss_effects_of_a_normalising_sae_remove_the_model_space_write(model: Any) -> None:
    w = {**mlp_sae(), "normalize_activations": "constant_norm_rescale"}
    sae = as_sae(w)
    ids = prompt_ids(model)
    f = prompt_firing(ModelAdapter(model), sae, ids, max_per_token=1)
    got = loss_effects(ModelAdapter(model), sae, ids, f.pos, f.latent, f.act, f.scale)
    _, cache = model.run_with_cache(ids[None], names_filter=lambda n: n == HOOK)
    x = cache[HOOK][0].detach()
    for i in range(0, f.n_pairs, 3):
        p = int(f.pos[i])
        s = float(x[p].norm()) / 64**0.5  # SAELens de-normalises by 1 / coeff = ‖x‖ / sqrt(d_in)
        nxt, mean = hand_loss_effect(model, ids, HOOK, p, s * float(f.act[i]) * w["W_dec"][int(f.latent[i])])
        assert got.prompt[i] == pytest.approx(mean, abs=2e-5, rel=1e-4)
        assert np.isnan(nxt) or got.next[i] == pytest.approx(nxt, abs=2e-5, rel=1e-4)


def test_dfa_matches_a_hand_computation_and_sums_to_the_pre_activation(model: Any) -> None:
    w = z_sae()
    sae = as_sae(w)
    ids = prompt_ids(model)
    f = prompt_firing(ModelAdapter(model), sae, ids)
    d = prompt_dfa(ModelAdapter(model), sae, ids, f.pos, f.latent)
    assert f.n_pairs > 10
    for i in range(f.n_pairs):
        vals = d.values[d.offsets[i] : d.offsets[i + 1]]
        assert vals.shape == (int(f.pos[i]) + 1,)
        want, pre, bias = tiny.hand_dfa(model, ids, w, int(f.pos[i]), int(f.latent[i]))
        pre_minus_bias = pre - bias
        np.testing.assert_allclose(vals, want, rtol=1e-4, atol=1e-5)
        assert float(vals.astype(np.float64).sum()) == pytest.approx(pre_minus_bias, abs=1e-5)
        assert d.pre[i] - d.bias[i] == pytest.approx(pre_minus_bias, abs=1e-5)
        assert d.pre[i] == pytest.approx(float(f.act[i]), abs=1e-5)  # a firing ReLU latent: act = pre


@pytest.mark.parametrize(
    "extra",
    [
        {"apply_b_dec_to_input": False},
        {"normalize_activations": "layer_norm"},
        {"normalize_activations": "constant_norm_rescale"},
        {"k": 4},
    ],
    ids=["no-b_dec", "layer_norm", "constant_norm", "topk"],
)
def test_dfa_sums_to_pre_minus_bias_for_every_encoder_option(model: Any, extra: dict[str, Any]) -> None:
    sae: SparseAutoencoder = as_sae(z_sae(**extra))
    ids = prompt_ids(model)
    inputs = dfa_inputs(ModelAdapter(model), sae, ids)
    latents = torch.arange(sae.d_sae)
    for q in range(len(ids)):
        dfa, pre, bias = dfa_at(sae, inputs, q, latents)
        x = inputs.x[q][None]
        own = (sae.preprocess(x) @ sae.W_enc + sae.b_enc)[0]  # the SAE's own pre-activation
        np.testing.assert_allclose(pre.numpy(), own.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose((dfa.double().sum(-1)).numpy(), (pre - bias).double().numpy(), atol=1e-5)
        if "k" in extra:  # a TopK latent that fires has act = its pre-activation
            acts = sae.encode(x)[0]
            on = acts > 0
            np.testing.assert_allclose(acts[on].numpy(), pre[on].numpy(), rtol=1e-5, atol=1e-6)


def test_dfa_is_refused_for_saes_off_attention_outputs() -> None:
    sae = as_sae(mlp_sae())
    assert "blocks.L.attn.hook_z" in dfa_unavailable(sae) and HOOK in dfa_unavailable(sae)
