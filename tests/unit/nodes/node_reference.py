"""Plain-model references for node-table columns: the model with NO SAE spliced, run by
TransformerLens's ``run_with_hooks`` (capturing the activations), ``torch.autograd.grad`` of a
target computed here from the captures, SAE latents encoded here from the SAE's weights.

For a block of the table (a family at a layer), :func:`expected` rebuilds its four columns from
these alone: a neuron's ``post · ∂T/∂post``, a latent's ``f · (W_dec[i] · ∂T/∂x)`` (the latents
are not in the plain model: the spliced SAE's latent gradient is its decoder row times the hook's
gradient), writes from the weights, direct effects against the gradient at the read hook.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor

import featurecard as fc
import tiny
from featurecard.nodes.table import NodeTableResult
from featurecard.workspace import Workspace

MLP0, RES1 = "blocks.0.mlp.hook_post", "blocks.1.hook_resid_pre"
SAE_HOOKS = {"mlp0": MLP0, "res1": RES1}
N_POS, P = 12, 9
LAYER0 = {("mlp", 0), ("attn", 0), ("heads", 0), ("attn layer", 0), ("mlp layer", 0)}
SAES0 = {("mlp0", 0), ("mlp0 error", 0)}
RES = {("res1", 1), ("res1 error", 1)}


def sae_weights() -> dict[str, dict[str, Tensor]]:
    return {"mlp0": tiny.random_sae_weights(64, 48, seed=5), "res1": tiny.random_sae_weights(32, 40, seed=6)}


def make_ws(model: Any, tokens: Tensor, weights: dict[str, dict[str, Tensor]]) -> Workspace:
    saes = {"mlp0": {**weights["mlp0"], "hook_name": MLP0}, "res1": {**weights["res1"], "hook_name": RES1}}
    return Workspace(model, saes=saes, tokens=tokens, progress=False)


def hook(layer: int, kind: str) -> str:
    return "blocks." + str(layer) + "." + kind


def encode(w: dict[str, Tensor], x: Tensor) -> Tensor:
    """The standard SAE (``apply_b_dec_to_input``) by hand."""
    return torch.relu((x - w["b_dec"]) @ w["W_enc"] + w["b_enc"])


@dataclass
class Plain:
    acts: dict[str, Tensor]  # hook -> value of batch row 0, detached
    grads: dict[str, Tensor]  # hook -> ∂T/∂value (zeros where unused)
    target: float


def plain_run(
    model: Any,
    prompt: Tensor,
    target: Callable[[dict[str, Tensor]], Tensor],
    names: list[str],
    detach: tuple[str, ...] = (),
) -> Plain:
    """One plain forward pass with ``detach`` hooks detached; ``target`` of the captures; autograd."""
    store: dict[str, Tensor] = {}

    def saver(name: str) -> Any:
        def fn(a: Tensor, hook: Any) -> Tensor:
            store[name] = a
            return a

        return fn

    hooks: list[tuple[str, Any]] = [(n, lambda a, hook: a.detach()) for n in detach]  # noqa: ARG005
    hooks += [(n, saver(n)) for n in names]
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="A forward hook edited hook_scale")  # the bridge's RMSNorm
        model.run_with_hooks(prompt[None], fwd_hooks=hooks)
        t = target(store)
        live = [n for n in names if store[n].requires_grad] if t.requires_grad else []
        found = (
            dict(zip(live, torch.autograd.grad(t, [store[n] for n in live], allow_unused=True), strict=True))
            if live
            else {}
        )
        grads = [found.get(n) for n in names]
    return Plain(
        {n: store[n][0].detach() for n in names},
        {
            n: (g if g is not None else torch.zeros_like(store[n]))[0].detach()
            for n, g in zip(names, grads, strict=True)
        },
        float(t.detach()),
    )


def capture_names(n_layers: int, read: str) -> list[str]:
    names = [hook(L, k) for L in range(n_layers) for k in ("mlp.hook_post", "attn.hook_z", "attn.hook_v")]
    names += [hook(L, "attn.hook_pattern") for L in range(n_layers)]
    return list(dict.fromkeys([*names, RES1, read]))


def expand(v: Tensor, n_heads: int) -> Tensor:
    return v if v.shape[-2] == n_heads else v.repeat_interleave(n_heads // v.shape[-2], dim=-2)


def _mlp(model: Any, pl: Plain, L: int, g: Tensor) -> dict[str, Tensor]:
    post, w = pl.acts[hook(L, "mlp.hook_post")], model.W_out[L].detach()
    return {
        "activation": post,
        "write_norm": post.abs() * w.norm(dim=-1),
        "direct_effect": post * (g @ w.T),
        "act_times_grad": post * pl.grads[hook(L, "mlp.hook_post")],
    }


def _attn(model: Any, pl: Plain, L: int, g: Tensor) -> dict[str, Tensor]:
    a = pl.acts[hook(L, "attn.hook_pattern")]  # [head, q, k]
    v = expand(pl.acts[hook(L, "attn.hook_v")], a.shape[0])  # [k, head, d_head]
    wo = model.W_O[L].detach()
    write = torch.einsum("khe,hed->hkd", v, wo)  # [head, k, d_model]
    gp = pl.grads[hook(L, "attn.hook_pattern")]
    if type(model).__name__ != "HookedTransformer" or not gp.abs().sum():  # the bridge's pattern is observed only
        gp = torch.einsum("qhe,khe->hqk", pl.grads[hook(L, "attn.hook_z")], v)
    out = {
        "activation": a,
        "write_norm": a * write.norm(dim=-1)[:, None],
        "direct_effect": a * torch.einsum("hkd,qd->hqk", write, g),
        "act_times_grad": a * gp,
    }
    return {k: x.permute(1, 0, 2) for k, x in out.items()}  # [q, head, k]


def _rollup(model: Any, pl: Plain, L: int, g: Tensor, kind: str) -> dict[str, Tensor]:
    if kind == "mlp_layer":
        post = pl.acts[hook(L, "mlp.hook_post")]
        write = (post @ model.W_out[L].detach())[:, None]
        atg = (post * pl.grads[hook(L, "mlp.hook_post")]).sum(-1)[:, None]
    else:
        z = pl.acts[hook(L, "attn.hook_z")]
        write = torch.einsum("phe,hed->phd", z, model.W_O[L].detach())
        atg = (z * pl.grads[hook(L, "attn.hook_z")]).sum(-1)
        if kind == "attn_layer":
            write, atg = write.sum(1, keepdim=True), atg.sum(1, keepdim=True)
    return {
        "activation": torch.full_like(atg, float("nan")),
        "write_norm": write.norm(dim=-1),
        "direct_effect": (write * g[:, None]).sum(-1),
        "act_times_grad": atg,
    }


def _sae(model: Any, pl: Plain, w: dict[str, Tensor], hook_name: str, g: Tensor, error: bool) -> dict[str, Tensor]:
    x, gx = pl.acts[hook_name], pl.grads[hook_name]
    f = encode(w, x)
    to_resid = model.W_out[0].detach() if hook_name == MLP0 else torch.eye(x.shape[-1])
    if error:
        e = x - (f @ w["W_dec"] + w["b_dec"])
        E = e @ to_resid
        cols = {"activation": e.norm(dim=-1), "write_norm": E.norm(dim=-1), "direct_effect": (E * g).sum(-1)}
        return {**cols, "act_times_grad": (e * gx).sum(-1)}
    d = w["W_dec"] @ to_resid
    return {
        "activation": f,
        "write_norm": f.abs() * d.norm(dim=-1),
        "direct_effect": f * (g @ d.T),
        "act_times_grad": f * (gx @ w["W_dec"].T),
    }


def expected(
    model: Any, pl: Plain, kind: str, layer: int, g: Tensor, saes: dict[str, dict[str, Tensor]], name: str = ""
) -> dict[str, Tensor]:
    """A block's four columns over every position (cut to the target's positions by the caller)."""
    if kind == "mlp":
        return _mlp(model, pl, layer, g)
    if kind == "attn":
        return _attn(model, pl, layer, g)
    if kind in ("head", "attn_layer", "mlp_layer"):
        return _rollup(model, pl, layer, g, kind)
    sae = name.removesuffix(" error")
    cols = _sae(model, pl, saes[sae], SAE_HOOKS[sae], g, kind == "error")
    return {k: v[..., None] if kind == "error" else v for k, v in cols.items()}


def assert_close(ours: Tensor, want: Tensor, what: str, rel: float = 1e-4) -> None:
    """``|ours − want| <= rel·|want| + 1e-6·max|want|`` everywhere (NaN where NaN)."""
    ours, want = ours.float(), want.float()
    assert ours.shape == want.shape, (what, ours.shape, want.shape)
    nan = torch.isnan(want)
    assert torch.equal(torch.isnan(ours), nan), f"{what}: NaN in different places"
    if nan.all():
        return
    floor = 1e-6 * float(want[~nan].abs().max())
    err = (ours - want)[~nan].abs()
    bound = rel * want[~nan].abs() + floor
    worst = int(torch.argmax(err - bound))
    assert bool((err <= bound).all()), f"{what}: off by {float(err[worst]):.3g} (bound {float(bound[worst]):.3g})"


@dataclass
class Case:
    spec: Any
    read: str  # the residual hook the target reads
    frozen: tuple[str, ...]  # the LayerNorm scales it reads through
    value: Callable[[dict[str, torch.Tensor]], torch.Tensor]  # the target from the plain captures
    families: set[tuple[str, int]]  # (family name, layer) of the blocks that reach it


def direction() -> torch.Tensor:
    return torch.randn(32, generator=torch.Generator().manual_seed(11))


def _top_latent(ws: Workspace, prompt: torch.Tensor, w: dict[str, torch.Tensor], name: str) -> int:
    _, cache = ws.model.run_with_cache(prompt[None])
    return int(encode(w, cache[name][0, P]).argmax())


def attn_write(m: Any, s: dict[str, Tensor], L: int) -> Tensor:
    """An attention layer's write at ``P`` from the plain captures and the weights (no ``b_O``)."""
    return torch.einsum("he,hed->d", s[hook(L, "attn.hook_z")][0, P], m.W_O[L])


def mlp_write(m: Any, s: dict[str, Tensor], L: int) -> Tensor:
    """An MLP layer's write at ``P`` (no ``b_out``)."""
    return s[hook(L, "mlp.hook_post")][0, P] @ m.W_out[L]


def cases(ws: Workspace, prompt: torch.Tensor, w: dict[str, dict[str, torch.Tensor]]) -> dict[str, Case]:
    d, m = direction(), ws.model
    u_res, u_mlp = _top_latent(ws, prompt, w["res1"], RES1), _top_latent(ws, prompt, w["mlp0"], MLP0)
    pre1, ln1, ln2 = hook(1, "hook_resid_pre"), hook(1, "ln1.hook_scale"), hook(1, "ln2.hook_scale")

    def err(s: dict[str, torch.Tensor]) -> torch.Tensor:
        x = s[RES1][0, P]
        return (x - (encode(w["res1"], x) @ w["res1"]["W_dec"] + w["res1"]["b_dec"])).norm()

    everything0 = LAYER0 | SAES0 | RES
    return {
        "neuron": Case(
            fc.node("neuron", layer=1, unit=3, pos=P),
            hook(1, "hook_resid_mid"),
            (ln2,),
            lambda s: s[hook(1, "mlp.hook_post")][0, P, 3],
            everything0 | {("attn", 1), ("heads", 1), ("attn layer", 1)},
        ),
        "attn": Case(
            fc.node("attn", layer=1, head=1, pos=P, src=4),
            pre1,
            (ln1,),
            lambda s: s[hook(1, "attn.hook_pattern")][0, 1, P, 4],
            everything0,
        ),
        "latent_resid": Case(
            fc.node("latent", source="res1", unit=u_res, pos=P),
            RES1,
            (),
            lambda s: encode(w["res1"], s[RES1][0, P])[u_res],
            LAYER0 | SAES0,
        ),
        "error_resid": Case(fc.node("error", source="res1", pos=P), RES1, (), err, LAYER0 | SAES0),
        "latent_mlp": Case(
            fc.node("latent", source="mlp0", unit=u_mlp, pos=P),
            hook(0, "hook_resid_mid"),
            (hook(0, "ln2.hook_scale"),),
            lambda s: encode(w["mlp0"], s[MLP0][0, P])[u_mlp],
            {("attn", 0), ("heads", 0), ("attn layer", 0)},
        ),
        "write_head": Case(
            fc.node("write", layer=1, kind="attn", head=0, pos=P, direction=d),
            pre1,
            (ln1,),
            lambda s: s[hook(1, "attn.hook_z")][0, P, 0] @ m.W_O[1][0] @ d,
            everything0,
        ),
        "write_attn": Case(
            fc.node("write", layer=1, kind="attn", pos=P, direction=d.numpy()),
            pre1,
            (ln1,),
            lambda s: attn_write(m, s, 1) @ d,  # no b_O: it belongs to no node
            everything0,
        ),
        "write_mlp": Case(
            fc.node("write", layer=0, kind="mlp", pos=P, direction=d.tolist()),
            hook(0, "hook_resid_mid"),
            (hook(0, "ln2.hook_scale"),),
            lambda s: mlp_write(m, s, 0) @ d,  # no b_out
            {("attn", 0), ("heads", 0), ("attn layer", 0)},
        ),
        "write_block": Case(
            fc.node("write", layer=1, kind="block", pos=P, direction=d),
            pre1,
            (ln1, ln2),
            lambda s: (attn_write(m, s, 1) + mlp_write(m, s, 1)) @ d,
            everything0,
        ),
    }


def family_names(res: NodeTableResult) -> set[tuple[str, int]]:
    return {(res.families[b.family].name, b.layer) for b in res.blocks}


def check_blocks(
    ws: Workspace,
    res: NodeTableResult,
    case: Case,
    w: dict[str, dict[str, Tensor]],
    detach: tuple[str, ...],
    p: int = P,
    extra: tuple[str, ...] = (),
) -> None:
    """Every column of every block (positions up to ``p``) against the plain model with
    ``detach`` detached; ``extra`` hooks are captured too (for the target)."""
    names = [*capture_names(2, case.read), hook(0, "hook_mlp_out"), hook(1, "hook_attn_out"), hook(1, "hook_mlp_out")]
    pl = plain_run(ws.model, res.tokens[0], case.value, list(dict.fromkeys([*names, *extra])), detach)
    assert float(res.target[0]) == pytest.approx(pl.target, rel=1e-5, abs=1e-6)
    g = pl.grads[case.read]
    assert res.blocks
    for b in res.blocks:
        fam = res.families[b.family]
        want = expected(ws.model, pl, fam.kind, b.layer, g, w, fam.name)
        for col, ours in b.scalars.items():
            assert_close(ours[0], want[col][: p + 1], f"{fam.name} L{b.layer} {col}")
