"""Promote / suppress in the ContributionGraph's state: the numbers the front end draws (decoded
from the state as it decodes them: local vocab indices, float32 values) equal core/dynamics.py
on activations captured here by a plain run of the model, for a head, both blocks and an SAE
latent; a head's also equal the model's own logit change when its write is added to the final
residual with ``ln_final.hook_scale`` held. A node's heads are computed when the front end asks
('promote_heads'); they equal those of the eager pass, and an export holds every node's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.core.codecs import decode_array
from featurecard.core.dynamics import FrozenReadout, head_writes, latent_writes, token_dynamics
from featurecard.core.model import ModelAdapter
from featurecard.workspace import Workspace

HOOK = "blocks.0.mlp.hook_post"
Q = 7


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": HOOK}
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=12, seed=4)[0]


def captured(model: Any, prompt: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}

    def saver(name: str) -> Any:
        def hook(act: torch.Tensor, hook: Any) -> None:
            out[name] = act[0].detach().clone()

        return hook

    with torch.no_grad():
        model.run_with_hooks(prompt[None], fwd_hooks=[(n, saver(n)) for n in names])
    return out


def shown(st: dict[str, Any], p: dict[str, Any], index: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Token ids and values of one node, decoded as the front end decodes them."""
    ids = decode_array(st["vocab_ids"])
    return (
        ids[decode_array(p["promote_tokens"])[index]],
        decode_array(p["promote_values"])[index],
        ids[decode_array(p["suppress_tokens"])[index]],
        decode_array(p["suppress_values"])[index],
    )


def check(got: tuple[np.ndarray, ...], write: torch.Tensor, readout: FrozenReadout, scale: torch.Tensor) -> None:
    want = token_dynamics(readout, write[None], scale.reshape(1, 1), k=10)
    np.testing.assert_array_equal(got[0], want.promote_ids[0].numpy())
    np.testing.assert_array_equal(got[2], want.suppress_ids[0].numpy())
    np.testing.assert_allclose(got[1], want.promote_values[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[3], want.suppress_values[0].numpy(), rtol=1e-5, atol=1e-6)


def test_the_states_promote_and_suppress_equal_core_dynamics(
    ws: Workspace, model: Any, prompt: torch.Tensor, ask: Any
) -> None:
    g = ws.graph(prompt)
    assert not decode_array(g.state["promote"]["heads_done"]).any()  # heads come on request
    assert ask(g, "promote_heads", layer=1, pos=Q)["result"] == {"layer": 1, "pos": Q}
    st: dict[str, Any] = dict(g.state)
    done = decode_array(st["promote"]["heads_done"])
    assert done[1, Q] == 1 and done.sum() == 1
    acts = captured(
        model,
        prompt,
        ["blocks.1.attn.hook_z", "blocks.0.hook_attn_out", "blocks.1.hook_mlp_out", HOOK, "ln_final.hook_scale"],
    )
    readout, scale = FrozenReadout.of(model), acts["ln_final.hook_scale"][Q]
    pr = st["promote"]
    head = head_writes(model.W_O[1], acts["blocks.1.attn.hook_z"])[Q, 1]
    check(shown(st, pr["heads"], (1, Q, 1)), head, readout, scale)
    check(shown(st, pr["attn"], (0, Q)), acts["blocks.0.hook_attn_out"][Q], readout, scale)
    check(shown(st, pr["mlp"], (1, Q)), acts["blocks.1.hook_mlp_out"][Q], readout, scale)
    (group,) = [u for u in st["units"] if u["source"] == "mlp0"]
    unit = int(decode_array(group["ids"])[Q, 0])
    act = float(decode_array(group["acts"])[Q, 0])
    assert act > 0.0
    sae = ws.saes["mlp0"]
    latent = latent_writes(ModelAdapter(model), sae, torch.tensor([unit]), torch.tensor([act]), acts[HOOK][Q : Q + 1])
    check(shown(st, group["promote"], (Q, 0)), latent[0], readout, scale)
    assert all(u["promote"] is None for u in st["units"] if u["unit"] == "neuron")  # promote_neurons=False


@pytest.mark.filterwarnings("ignore:A forward hook edited hook_scale")
def test_a_heads_promoted_tokens_are_the_models_logit_change(ws: Workspace, model: Any, prompt: torch.Tensor) -> None:
    st: dict[str, Any] = dict(ws.graph(prompt, promote_heads=True).state)  # every head, in the pass
    final = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    acts = captured(model, prompt, ["blocks.0.attn.hook_z", "ln_final.hook_scale"])
    write = torch.zeros(prompt.shape[0], model.cfg.d_model)
    write[Q] = acts["blocks.0.attn.hook_z"][Q, 0] @ model.W_O[0, 0]
    scale = acts["ln_final.hook_scale"]
    with torch.no_grad():
        clean = model(prompt[None])[0, Q]
        moved = model.run_with_hooks(
            prompt[None],
            fwd_hooks=[
                (final, lambda act, hook: act + write),  # noqa: ARG005
                ("ln_final.hook_scale", lambda act, hook: scale[None]),  # noqa: ARG005
            ],
        )[0, Q]
    delta = moved - clean
    up, down = delta.topk(10), delta.topk(10, largest=False)
    got = shown(st, st["promote"]["heads"], (0, Q, 0))
    np.testing.assert_array_equal(got[0], up.indices.numpy())
    np.testing.assert_array_equal(got[2], down.indices.numpy())
    np.testing.assert_allclose(got[1], up.values.numpy(), atol=1e-5 * max(1.0, float(clean.abs().max())))


def test_promote_false_sends_none(ws: Workspace, prompt: torch.Tensor) -> None:
    st = ws.graph(prompt, promote=False).state
    assert st["promote"] is None and all(u["promote"] is None for u in st["units"])
    with_neurons = ws.graph(prompt, promote_neurons=True).state
    assert all(u["promote"] is not None for u in with_neurons["units"])


def test_heads_on_request_equal_the_eager_pass_and_exports_hold_them_all(
    ws: Workspace, prompt: torch.Tensor, ask: Any, tmp_path: Any
) -> None:
    eager = ws.graph(prompt, promote_heads=True).data.promote
    g = ws.graph(prompt)
    lazy = g.data.promote
    assert eager is not None and lazy is not None and bool(eager.heads_done.all())
    before = g.state
    reply = ask(g, "promote_heads", layer=2, pos=0)
    assert reply["error"] == "ValueError: layer 2 is out of range: accepted 0 .. 1" == g.error and g.state is before
    assert ask(g, "promote_heads", layer=0, pos=3)["ok"] and g.error == ""
    lazy.fill_heads()  # every other node
    assert bool(lazy.heads_done.all()) and lazy.later is None
    for f in ("promote_ids", "suppress_ids"):
        assert torch.equal(getattr(lazy.heads, f), getattr(eager.heads, f)), f
    for f in ("promote_values", "suppress_values"):
        torch.testing.assert_close(getattr(lazy.heads, f), getattr(eager.heads, f), rtol=1e-6, atol=1e-6)
    g2 = ws.graph(prompt)
    g2.export_html(tmp_path / "g.html")
    assert decode_array(g2.state["promote"]["heads_done"]).all()
    no = ws.graph(prompt, promote=False)
    assert "promote=False" in ask(no, "promote_heads", layer=0, pos=0)["error"]
