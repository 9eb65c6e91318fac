"""Token dynamics (core/dynamics.py) against the model run another way.

* promote / suppress: the model run with the write added to its final residual and
  ``ln_final.hook_scale`` held at the clean value; the change of its logits must equal
  :func:`write_logits` (1e-5), and the top / bottom tokens must be those of that change;
* writes: each node's write against what the model's own output hook loses when the node is
  removed inside the forward pass (a neuron's ``hook_post``, a head's ``hook_z`` zeroed; a
  latent zeroed in an SAE spliced into its hook; the SAE's error left out);
* token read: against einsums on ``W_E``, ``W_pos`` and the LayerNorm weights, and, where the
  direct path is the whole path (an SAE on ``blocks.0.hook_resid_pre``), against the latent's
  pre-activation on a prompt that holds the token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import tiny
from featurecard.core.dynamics import (
    DynamicsError,
    FrozenReadout,
    error_writes,
    head_writes,
    latent_token_read,
    latent_writes,
    neuron_token_read,
    neuron_writes,
    token_dynamics,
    write_logits,
)
from featurecard.core.model import ModelAdapter
from featurecard.core.sae_input import as_sae

NORMS = ["LN", "LNPre", "RMS", "RMSPre", None]
Hook = Callable[[torch.Tensor, Any], torch.Tensor | None]


def make(tok: Any, kind: str, **over: Any) -> Any:
    return tiny.hooked_transformer(tok, **over) if kind == "HookedTransformer" else tiny.bridge(tok, **over)


@pytest.fixture(scope="module", params=[(k, n) for k in tiny.MODEL_KINDS for n in NORMS], ids=str)
def variant(request: pytest.FixtureRequest, tok: Any) -> Any:
    kind, norm = request.param
    return make(tok, kind, normalization_type=norm)


def run(model: Any, tokens: torch.Tensor, hooks: list[tuple[str, Hook]]) -> torch.Tensor:
    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=hooks).float()


def capture(model: Any, tokens: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}

    def saver(name: str) -> Hook:
        def hook(act: torch.Tensor, hook: Any) -> None:
            out[name] = act.detach().clone()

        return hook

    run(model, tokens, [(n, saver(n)) for n in names])
    return out


# -- promote / suppress ------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:A forward hook edited hook_scale")  # the bridge rebuilds its norm's output
def test_write_logits_are_the_models_logit_change_at_the_frozen_scale(variant: Any, tok: Any) -> None:
    model = variant
    tokens = tiny.random_tokens(tok, batch=1, pos=12, seed=3)
    final = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    has_norm = "ln_final.hook_scale" in model.hook_dict
    clean_acts = capture(model, tokens, [final, *(["ln_final.hook_scale"] if has_norm else [])])
    resid = clean_acts[final][0]
    readout = FrozenReadout.of(model)
    scale = clean_acts["ln_final.hook_scale"][0] if has_norm else torch.ones(resid.shape[0], 1)
    torch.testing.assert_close(readout.norm.scale_of(resid), scale, rtol=1e-5, atol=1e-6)
    write = 3.0 * torch.randn(resid.shape, generator=torch.Generator().manual_seed(0))
    hooks: list[tuple[str, Hook]] = [(final, lambda act, hook: act + write)]  # noqa: ARG005
    if has_norm:
        hooks.append(("ln_final.hook_scale", lambda act, hook: scale[None].expand_as(act)))  # noqa: ARG005
    clean = run(model, tokens, [])[0]
    delta = run(model, tokens, hooks)[0] - clean
    got = write_logits(readout, write, scale)
    assert float((got - delta).abs().max()) <= 1e-5 * max(1.0, float(clean.abs().max()))
    dyn = token_dynamics(readout, write, scale, k=10)
    up, down = delta.topk(10, dim=-1), delta.topk(10, dim=-1, largest=False)
    assert torch.equal(dyn.promote_ids, up.indices) and torch.equal(dyn.suppress_ids, down.indices)
    torch.testing.assert_close(dyn.promote_values, up.values, rtol=0, atol=1e-5 * max(1.0, float(clean.abs().max())))
    torch.testing.assert_close(dyn.suppress_values, down.values, rtol=0, atol=1e-5 * max(1.0, float(clean.abs().max())))
    later = token_dynamics(readout, write, None, k=10, chunk_elements=3 * readout.W_U.shape[-1]).scaled(scale)
    assert torch.equal(later.promote_ids, dyn.promote_ids) and torch.equal(later.suppress_ids, dyn.suppress_ids)
    torch.testing.assert_close(later.promote_values, dyn.promote_values)


def test_token_dynamics_refuses_k_outside_the_vocabulary(model: Any) -> None:
    readout = FrozenReadout.of(model)
    with pytest.raises(DynamicsError, match=r"k=0 is out of range: accepted 1 \.\. 300"):
        token_dynamics(readout, torch.zeros(2, model.cfg.d_model), None, k=0)


def output_of(model: Any, tokens: torch.Tensor, hooks: list[tuple[str, Hook]], name: str) -> torch.Tensor:
    """Hook ``name``'s value (first row) in a run with ``hooks``."""
    got: dict[str, torch.Tensor] = {}

    def save(act: torch.Tensor, hook: Any) -> None:
        got.setdefault("x", act[0].clone())

    run(model, tokens, [*hooks, (name, save)])
    return got["x"]


# -- writes ------------------------------------------------------------------------------------
def zero_at(q: int, index: tuple[int, ...]) -> Hook:
    def hook(act: torch.Tensor, hook: Any) -> torch.Tensor:
        act = act.clone()
        act[(0, q, *index)] = 0.0
        return act

    return hook


def test_neuron_and_head_writes_are_what_the_block_output_loses(model: Any, tokens: torch.Tensor) -> None:
    toks, q, layer = tokens[:1], 7, 1
    out = capture(model, toks, [f"blocks.{layer}.mlp.hook_post", f"blocks.{layer}.attn.hook_z"])
    post, z = out[f"blocks.{layer}.mlp.hook_post"][0], out[f"blocks.{layer}.attn.hook_z"][0]
    for name, hook_at, loses in (
        ("mlp.hook_post", (5,), "hook_mlp_out"),
        ("attn.hook_z", (1,), "hook_attn_out"),
    ):
        clean = capture(model, toks, [f"blocks.{layer}.{loses}"])[f"blocks.{layer}.{loses}"][0]
        hooks: list[tuple[str, Hook]] = [(f"blocks.{layer}.{name}", zero_at(q, hook_at))]
        lost = clean - output_of(model, toks, hooks, f"blocks.{layer}.{loses}")
        if name == "mlp.hook_post":
            want = neuron_writes(model.W_out[layer], torch.tensor([5]), post[q, 5:6])[0]
        else:
            want = head_writes(model.W_O[layer], z)[q, 1]
        torch.testing.assert_close(lost[q], want, rtol=1e-5, atol=1e-5)
        assert float(lost[torch.arange(lost.shape[0]) != q].abs().max()) == 0.0  # only the query's write moves


def splice(sae: Any, q: int, drop: int | None, keep_error: bool) -> Hook:
    """Replace the hook's value at ``q`` by the SAE's reconstruction (without latent ``drop``),
    plus the error when ``keep_error``."""

    def hook(act: torch.Tensor, hook: Any) -> torch.Tensor:
        act = act.clone()
        shape = act[0, q].shape
        x = act[0, q].reshape(-1)
        f = sae.encode(x)
        s, o = sae.output_scale(x)
        recon = s * sae.decode(f) + o
        if drop is not None:
            f = f.clone()
            f[drop] = 0.0
        new = s * sae.decode(f) + o + ((x - recon) if keep_error else 0.0)
        act[0, q] = new.reshape(shape)
        return act

    return hook


@pytest.mark.parametrize(
    ("hook", "loses", "norm"),
    [
        ("mlp.hook_post", "hook_mlp_out", "constant_norm_rescale"),
        ("attn.hook_z", "hook_attn_out", "none"),
        ("hook_resid_mid", "hook_resid_mid", "layer_norm"),
    ],
)
def test_latent_and_error_writes_are_what_a_spliced_sae_changes(
    model: Any, tokens: torch.Tensor, hook: str, loses: str, norm: str
) -> None:
    toks, q, layer = tokens[:1], 9, 0
    name = f"blocks.{layer}.{hook}"
    x = capture(model, toks, [name])[name][0, q].reshape(-1)
    w = tiny.random_sae_weights(x.shape[0], 48, seed=2)
    sae = as_sae({**w, "normalize_activations": norm}, hook_name=name)
    f = sae.encode(x)
    j = int(f.argmax())
    assert float(f[j]) > 0.0
    adapter = ModelAdapter(model)
    out_name = f"blocks.{layer}.{loses}"

    def spliced(drop: int | None, keep_error: bool) -> torch.Tensor:
        return output_of(model, toks, [(name, splice(sae, q, drop, keep_error))], out_name)[q]

    with_latent = spliced(None, True)
    lost_latent = with_latent - spliced(j, True)
    torch.testing.assert_close(
        lost_latent, latent_writes(adapter, sae, torch.tensor([j]), f[j : j + 1], x[None])[0], rtol=1e-4, atol=1e-5
    )
    lost_error = with_latent - spliced(None, False)
    torch.testing.assert_close(lost_error, error_writes(adapter, sae, x[None])[0], rtol=1e-4, atol=1e-5)


# -- token read --------------------------------------------------------------------------------
def by_hand(model: Any, layer: int, unit: int, scale: torch.Tensor, pos: int | None, center: bool) -> torch.Tensor:
    emb = model.W_E.detach() + (model.pos_embed.W_pos.detach()[pos] if pos is not None else 0.0)
    if center:
        emb = emb - emb.mean(-1, keepdim=True)
    return torch.einsum("td,d,d->t", emb, model.blocks[layer].ln2.w.detach(), model.W_in[layer][:, unit]) / scale


@pytest.mark.parametrize("norm", ["LN", "RMS"])
@pytest.mark.parametrize("pos", [None, 4])
def test_neuron_token_read_is_the_direct_path_through_ln2(tok: Any, norm: str, pos: int | None) -> None:
    for kind in tiny.MODEL_KINDS:
        model = make(tok, kind, normalization_type=norm)
        toks = tiny.random_tokens(tok, batch=1, pos=8, seed=1)
        scale = capture(model, toks, ["blocks.1.ln2.hook_scale"])["blocks.1.ln2.hook_scale"][0, 4, 0]
        got = neuron_token_read(model, 1, 11, scale, position=pos, k=10)
        assert not isinstance(got, str)
        want = by_hand(model, 1, 11, scale, pos, center=norm == "LN").topk(10)
        assert torch.equal(got.ids, want.indices), kind
        torch.testing.assert_close(got.values, want.values, rtol=1e-5, atol=1e-6)
        assert got.position == pos and got.through == "blocks.1.ln2 at a frozen scale"


def test_latent_token_read_on_the_embedding_is_the_latents_preactivation(model: Any, tok: Any) -> None:
    """On ``blocks.0.hook_resid_pre`` the direct path is the whole path: the read of a token at a
    position plus the bias terms is the latent's pre-activation on a prompt holding it there."""
    name, pos, j = "blocks.0.hook_resid_pre", 5, 3
    sae = as_sae(tiny.random_sae_weights(model.cfg.d_model, 32, seed=4), hook_name=name)
    got = latent_token_read(model, sae, j, position=pos, k=5)
    assert not isinstance(got, str)
    toks = tiny.random_tokens(tok, batch=5, pos=8, seed=2)
    toks[:, pos] = got.ids
    x = capture(model, toks, [name])[name][:, pos]
    pre = (x - sae.b_dec) @ sae.W_enc[:, j] + sae.b_enc[j]
    bias = -(sae.b_dec @ sae.W_enc[:, j]) + sae.b_enc[j]
    torch.testing.assert_close(got.values + bias, pre, rtol=1e-5, atol=1e-5)
    assert got.through == "the residual stream directly"


def test_latent_token_read_freezes_the_saes_own_normalisation(model: Any) -> None:
    sae = as_sae(
        {**tiny.random_sae_weights(32, 16, seed=5), "normalize_activations": "layer_norm"},
        hook_name="blocks.1.hook_resid_pre",
    )
    x = torch.randn(32, generator=torch.Generator().manual_seed(7))
    got = latent_token_read(model, sae, 2, sae_in=x, k=300)
    assert not isinstance(got, str)
    e = model.W_E.detach()
    want = ((e - e.mean(-1, keepdim=True)) / ((x - x.mean()).std() + 1e-5)) @ sae.W_enc[:, 2]
    torch.testing.assert_close(got.values, want.topk(300).values, rtol=1e-5, atol=1e-6)
    with pytest.raises(DynamicsError, match="pass sae_in"):
        latent_token_read(model, sae, 2)


def test_token_read_says_where_it_does_not_apply(model: Any, tok: Any) -> None:
    for hook in ("blocks.0.attn.hook_z", "blocks.0.mlp.hook_post", "blocks.1.hook_mlp_out"):
        d_in = 32 if hook.endswith("mlp_out") else 64 if "mlp" in hook else 32
        sae = as_sae(tiny.random_sae_weights(d_in, 8), hook_name=hook)
        why = latent_token_read(model, sae, 0)
        assert isinstance(why, str) and "nonlinearity" in why and hook in why
    gated = make(tok, tiny.MODEL_KINDS[0], **tiny.BLOCK_VARIANTS["gqa-rms-gated"])
    assert "gated" in str(neuron_token_read(gated, 0, 1, 1.0))
    assert "rotary" in str(
        neuron_token_read(
            make(tok, tiny.MODEL_KINDS[0], gated_mlp=False, positional_embedding_type="rotary", rotary_dim=8),
            0,
            1,
            1.0,
            position=2,
        )
    )
    with pytest.raises(DynamicsError, match=r"accepted layers 0 \.\. 1, units 0 \.\. 63"):
        neuron_token_read(model, 0, 64, 1.0)
