"""Promote / suppress of the graph's pass on every block variant (grouped-query, RMS, gated,
rotary, parallel, attention-only) and a model without LayerNorms: each head's, block's and
latent's top and bottom tokens equal core/dynamics.py on the writes of a plain captured run
(a head's ``hook_z @ W_O``, the blocks' output hooks, a latent's mapped decoder row), at the
final LayerNorm's scale of that run."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import tiny
from featurecard.core.dynamics import FrozenReadout, TokenDynamics, head_writes, latent_writes, token_dynamics
from featurecard.core.model import ModelAdapter
from featurecard.core.sae_input import as_sae
from featurecard.graph.build import GraphOptions, contributions

VARIANTS = {**tiny.BLOCK_VARIANTS, "no-norm": {"normalization_type": None}}


def captured(model: Any, prompt: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}

    def saver(name: str) -> Any:
        def hook(act: torch.Tensor, hook: Any) -> None:
            out[name] = act[0].detach().clone()

        return hook

    with torch.no_grad():
        model.run_with_hooks(prompt[None], fwd_hooks=[(n, saver(n)) for n in names if n in model.hook_dict])
    return out


def same(got: TokenDynamics, want: TokenDynamics) -> None:
    assert torch.equal(got.promote_ids, want.promote_ids) and torch.equal(got.suppress_ids, want.suppress_ids)
    torch.testing.assert_close(got.promote_values, want.promote_values, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.suppress_values, want.suppress_values, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.skipif(tiny.tl_major() >= 4, reason="HookedTransformer variants: gone in TransformerLens 4")
def test_graph_promote_equals_core_dynamics_on_captured_writes(tok: Any, variant: str) -> None:
    model = tiny.hooked_transformer(tok, **VARIANTS[variant])
    adapter, prompt = ModelAdapter(model), tiny.random_tokens(tok, batch=1, pos=10, seed=6)[0]
    has_mlp = variant != "attn-only"
    sae_hook = "blocks.1.mlp.hook_post" if has_mlp else "blocks.1.attn.hook_z"
    d_in = model.cfg.d_mlp if has_mlp else model.cfg.n_heads * model.cfg.d_head
    saes = {"s": as_sae(tiny.random_sae_weights(d_in, 24, seed=3), hook_name=sae_hook)}
    data = contributions(adapter, prompt, saes, GraphOptions(promote_k=5))
    pr = data.promote
    assert pr is not None and (pr.mlp is not None) == has_mlp
    assert not pr.heads_done.any()  # heads come on request (graph/promote.py): all of them here
    pr.fill_heads()
    names = [f"blocks.{L}.{h}" for L in range(2) for h in ("attn.hook_z", "hook_attn_out", "hook_mlp_out")]
    acts = captured(model, prompt, [*names, sae_hook, "ln_final.hook_scale"])
    readout = FrozenReadout.of(model)
    scale = acts.get("ln_final.hook_scale", torch.ones(prompt.shape[0], 1))
    for layer in range(2):
        heads = head_writes(model.W_O[layer], acts[f"blocks.{layer}.attn.hook_z"])
        same(_at(pr.heads, layer), token_dynamics(readout, heads, scale[:, None], 5))
        attn = acts[f"blocks.{layer}.hook_attn_out"]
        same(_at(pr.attn, layer), token_dynamics(readout, attn, scale, 5))
        if pr.mlp is not None:
            same(_at(pr.mlp, layer), token_dynamics(readout, acts[f"blocks.{layer}.hook_mlp_out"], scale, 5))
    (group,) = [u for u in data.units if u.unit == "latent"]
    assert group.promote is not None
    n_pos, k = group.ids.shape
    x = acts[sae_hook].reshape(n_pos, -1)
    x_rows = x[:, None].expand(n_pos, k, x.shape[-1]).reshape(n_pos * k, -1)
    w = latent_writes(adapter, saes["s"], group.ids.reshape(-1), group.acts.reshape(-1), x_rows)
    same(group.promote, token_dynamics(readout, w.reshape(n_pos, k, -1), scale[:, None], 5))


def _at(d: TokenDynamics, layer: int) -> TokenDynamics:
    return TokenDynamics(d.promote_ids[layer], d.promote_values[layer], d.suppress_ids[layer], d.suppress_values[layer])
