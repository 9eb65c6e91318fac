"""SAE error nodes: splicing SAEs into the node table changes no other node's number.

References are independent of the table's code: the **bare** model (no SAE anywhere) run with
plain ``run_with_hooks`` and differentiated by ``torch.autograd`` (final LayerNorm scale frozen,
as the table's convention), and SAELens's own ``encode``/``decode`` for the per-token-normalised
SAEs. With every SAE attached (two on one hook, one on ``attn.hook_z``, one on a residual hook,
per-token-normalised ones):

* act × grad and direct effect of every MLP neuron and attention pair equal the bare model's
  (1e-4 relative, with an absolute floor of 1e-6 × the compared block's largest value);
* at each SAE and position, the hook's value · gradient splits into the latents' act × grad, the
  decoder bias' ``(s · b_dec + o) · grad`` and the error node's act × grad (1e-5 relative);
* a latent's write is the model-space write SAELens's own decode difference gives.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import tiny
from featurecard.nodes.session import NodeTableSession
from featurecard.nodes.table import NodeOptions, NodeTableResult, NodeTableRunner
from featurecard.workspace import Workspace

T, D = 5, 7
N_POS = 12
MLP0, Z1, RES1, RES0 = (
    "blocks.0.mlp.hook_post",
    "blocks.1.attn.hook_z",
    "blocks.1.hook_resid_pre",
    "blocks.0.hook_resid_post",
)
FINAL = "blocks.1.hook_resid_post"
HOOKS = {
    "mlp0": MLP0,
    "mlp0_topk": MLP0,
    "z1": Z1,
    "res1": RES1,
    "res0_cnr": RES0,
    "mlp1_ln": "blocks.1.mlp.hook_post",
}


def _saes() -> dict[str, dict[str, Any]]:
    d_in = {MLP0: 64, Z1: 32, RES1: 32, RES0: 32, "blocks.1.mlp.hook_post": 64}
    out: dict[str, dict[str, Any]] = {}
    for seed, (name, hook) in enumerate(HOOKS.items()):
        out[name] = {**tiny.random_sae_weights(d_in[hook], 40, seed=10 + seed), "hook_name": hook}
    out["mlp0_topk"]["k"] = 6
    out["res0_cnr"]["normalize_activations"] = "constant_norm_rescale"
    out["mlp1_ln"]["normalize_activations"] = "layer_norm"
    return out


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    return Workspace(model, saes=_saes(), tokens=tokens, progress=False)


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=N_POS, seed=3)[0]


def bare(model: Any, prompt: torch.Tensor, names: list[str]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Activations and autograd gradients of the logit difference in the model without any SAE."""
    store: dict[str, torch.Tensor] = {}

    def saver(name: str) -> Any:
        def fn(a: torch.Tensor, hook: Any) -> torch.Tensor:
            store[name] = a
            return a

        return fn

    hooks: list[tuple[str, Any]] = [("ln_final.hook_scale", lambda a, hook: a.detach())]  # noqa: ARG005
    hooks += [(n, saver(n)) for n in names]
    with torch.enable_grad():
        logits = model.run_with_hooks(prompt[None], fwd_hooks=hooks)
        target = logits[0, -1, T] - logits[0, -1, D]
        grads = torch.autograd.grad(target, [store[n] for n in names], allow_unused=True)
    acts = {n: store[n].detach()[0] for n in names}
    return acts, {
        n: (g if g is not None else torch.zeros_like(store[n]))[0].detach() for n, g in zip(names, grads, strict=True)
    }


def block(res: NodeTableResult, kind: str, layer: int = -1, sae: str = "") -> dict[str, torch.Tensor]:
    code = next(f.code for f in res.families if f.kind == kind and f.sae == sae)
    blk = next(b for b in res.blocks if b.family == code and (layer < 0 or b.layer == layer))
    return {k: v[0] for k, v in blk.scalars.items()}


def assert_column_close(ours: torch.Tensor, want: torch.Tensor, rel: float = 1e-4) -> None:
    floor = 1e-6 * float(want.abs().max())
    bad = (ours - want).abs() > rel * want.abs() + floor
    assert not bool(bad.any()), (
        f"{int(bad.sum())} of {bad.numel()} entries differ; worst {float((ours - want).abs().max()):.3g} "
        f"(largest value {float(want.abs().max()):.3g})"
    )


def test_mlp_and_head_numbers_equal_the_bare_model_with_every_sae_attached(ws: Workspace, prompt: torch.Tensor) -> None:
    res = NodeTableRunner(ws).run([prompt], T, D)
    names = [FINAL] + [f"blocks.{L}.{h}" for L in (0, 1) for h in ("mlp.hook_post", "attn.hook_z", "attn.hook_v")]
    names += [f"blocks.{L}.attn.hook_pattern" for L in (0, 1)]
    acts, grads = bare(ws.model, prompt, names)
    g = grads[FINAL]  # [pos, d_model]: zero except at the target position
    for L in (0, 1):
        post, w_out = acts[f"blocks.{L}.mlp.hook_post"], ws.model.W_out[L].detach()
        mlp = block(res, "mlp", L)
        assert_column_close(mlp["act_times_grad"], post * grads[f"blocks.{L}.mlp.hook_post"])
        assert_column_close(mlp["direct_effect"], post * (g @ w_out.T))
        a = acts[f"blocks.{L}.attn.hook_pattern"].permute(1, 0, 2)  # [q, head, k]
        v, gz, w_o = acts[f"blocks.{L}.attn.hook_v"], grads[f"blocks.{L}.attn.hook_z"], ws.model.W_O[L].detach()
        attn = block(res, "attn", L)
        assert_column_close(attn["act_times_grad"], a * torch.einsum("qhe,khe->qhk", gz, v))
        wg = torch.einsum("hed,qd->qhe", w_o, g)
        assert_column_close(attn["direct_effect"], a * torch.einsum("qhe,khe->qhk", wg, v))
        assert float(mlp["act_times_grad"].abs().max()) > 0 and float(attn["act_times_grad"].abs().max()) > 0


def test_each_hooks_value_times_grad_splits_into_latents_bias_and_error(ws: Workspace, prompt: torch.Tensor) -> None:
    res = NodeTableRunner(ws).run([prompt], T, D)
    acts, grads = bare(ws.model, prompt, sorted(set(HOOKS.values())))
    for name, hook in HOOKS.items():
        sae = ws.saes[name]
        h, g = acts[hook].flatten(1), grads[hook].flatten(1)  # [pos, d_in]
        s, o = sae.output_scale(h)
        bias = ((s * sae.b_dec + o) * g).sum(-1)
        latents = block(res, "sae", sae=name)["act_times_grad"].sum(-1)
        error = block(res, "error", sae=name)["act_times_grad"][:, 0]
        whole = (h * g).sum(-1)
        parts = latents + bias + error
        scale = block(res, "sae", sae=name)["act_times_grad"].abs().sum(-1) + bias.abs() + error.abs()
        assert bool(((parts - whole).abs() <= 1e-5 * scale + 1e-12).all()), (name, parts, whole)
        assert float(whole.abs().max()) > 0
        # the error node is the hook's value minus the model-space reconstruction
        err = h - (s * sae.decode(sae.encode(h)) + o)
        torch.testing.assert_close(block(res, "error", sae=name)["activation"][:, 0], err.norm(dim=-1))
        torch.testing.assert_close(
            block(res, "error", sae=name)["act_times_grad"][:, 0], (err * g).sum(-1), atol=1e-7, rtol=1e-4
        )


def test_error_nodes_direct_effect_and_write(ws: Workspace, prompt: torch.Tensor) -> None:
    res = NodeTableRunner(ws).run([prompt], T, D)
    acts, grads = bare(ws.model, prompt, [MLP0, Z1, RES1, FINAL])
    g = grads[FINAL]
    maps = {
        "mlp0": ws.model.W_out[0].detach(),
        "z1": ws.model.W_O[1].detach().reshape(32, -1),
        "res1": torch.eye(32),
    }
    for name, w in maps.items():
        sae, h = ws.saes[name], acts[HOOKS[name]].flatten(1)
        write = (h - sae.decode(sae.encode(h))) @ w
        err = block(res, "error", sae=name)
        torch.testing.assert_close(err["direct_effect"][:, 0], (write * g).sum(-1), atol=1e-6, rtol=1e-4)
        torch.testing.assert_close(err["write_norm"][:, 0], write.norm(dim=-1), atol=1e-6, rtol=1e-4)


def test_error_families_in_the_payload_open_no_card(ws: Workspace, prompt: torch.Tensor) -> None:
    session = NodeTableSession(ws, [prompt], T, D, NodeOptions(k=3))
    state = session.compute(-1)
    errors = [f for f in state["families"] if f["kind"] == "error"]
    assert [f["name"] for f in errors] == [f"{n} error" for n in HOOKS]
    assert all(not f["card"] and f["n_units"] == 1 for f in errors)
    with pytest.raises(ValueError, match="error term, which has no feature card"):
        session.card_source({"family": "mlp0 error", "layer": 0, "unit": 0})
    # only latents, or only errors
    only = NodeTableRunner(ws, NodeOptions(node_types=("error",))).run([prompt], T, D)
    kinds = {only.families[int(c)].kind for c in only.selection.family}
    assert kinds == {"error"}


CASES = [("constant_norm_rescale", RES0, 32), ("layer_norm", RES0, 32), ("constant_norm_rescale", MLP0, 64)]


@pytest.mark.parametrize(("norm", "hook", "d_in"), CASES, ids=[f"{n}-{h}" for n, h, _ in CASES])
def test_normalised_sae_writes_equal_saelens_decode_difference(
    model: Any, tokens: torch.Tensor, prompt: torch.Tensor, norm: str, hook: str, d_in: int
) -> None:
    pytest.importorskip("sae_lens", reason="SAELens is in the main environment only (TL 3.x)")
    from sae_lens.registry import get_sae_class
    from sae_lens.saes.sae import SAEMetadata

    sae_cls, cfg_cls = get_sae_class("standard")
    cfg = cfg_cls(d_in=d_in, d_sae=40, normalize_activations=norm)
    cfg.metadata = SAEMetadata(hook_name=hook)
    sl = sae_cls(cfg)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _, p in sl.named_parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    sl.eval()
    ws = Workspace(model, saes={"n": sl}, tokens=tokens, progress=False)
    res = NodeTableRunner(ws).run([prompt], T, D)
    acts, grads = bare(model, prompt, [hook, FINAL])
    x, gh, gf = acts[hook], grads[hook], grads[FINAL]
    to_resid = model.W_out[0].detach() if hook == MLP0 else torch.eye(32)
    lat = block(res, "sae", sae="n")
    with torch.no_grad():
        f = sl.encode(x)
        full = sl.decode(f)  # SAELens's decode de-normalises with what its encode stored, then drops it
        checked = 0
        for p in range(N_POS):
            for i in torch.nonzero(f[p]).squeeze(1).tolist()[:4]:
                f0 = sl.encode(x).clone()
                f0[p, i] = 0
                write = (full - sl.decode(f0))[p]  # SAELens's own model-space write of the latent
                assert float(lat["direct_effect"][p, i]) == pytest.approx(
                    float(write @ to_resid @ gf[p]), rel=1e-4, abs=1e-6
                )
                assert float(lat["write_norm"][p, i]) == pytest.approx(
                    float((write @ to_resid).norm()), rel=1e-4, abs=1e-6
                )
                assert float(lat["act_times_grad"][p, i]) == pytest.approx(float(write @ gh[p]), rel=1e-4, abs=1e-6)
                checked += 1
    assert checked >= 10
