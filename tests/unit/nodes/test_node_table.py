"""Node-table numbers against independent references on tiny real models (both kinds).

* direct effects = finite differences: remove the node's write (computed here from
  ``run_with_cache`` values, not from our code) at the final residual and re-run the model's
  own ``ln_final`` (scale frozen at its clean value) and unembedding;
* act × grad = activation × ``torch.autograd`` gradient through the model with the SAEs spliced
  in by plain hooks as ``x + (f − stop_grad(f)) @ W_dec`` (the hook's value and every upstream
  gradient are the bare model's; ``∂T/∂f`` is the latents' own gradient);
* the true ablation effect = the target of a plain ``run_with_hooks`` run with the unit edited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.nodes.node_model import final_logits_with_scale
from featurecard.nodes.table import NodeOptions, NodeTableResult, NodeTableRunner
from featurecard.workspace import Workspace

T, D = 5, 7  # target and distractor token ids
N_POS = 12
MLP0, RES1 = "blocks.0.mlp.hook_post", "blocks.1.hook_resid_pre"


@pytest.fixture
def ws(model: Any, tokens: torch.Tensor) -> Workspace:
    saes = {
        "mlp0": {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": MLP0},
        "res1": {**tiny.random_sae_weights(32, 40, seed=6), "hook_name": RES1},
    }
    return Workspace(model, saes=saes, tokens=tokens, progress=False)


@pytest.fixture
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=N_POS, seed=3)[0]


def run(ws: Workspace, prompt: torch.Tensor, **kw: Any) -> NodeTableResult:
    abl = kw.pop("ablations", ())
    return NodeTableRunner(ws, NodeOptions.from_kwargs(**kw)).run([prompt], T, D, -1, ablations=abl)


def value(res: NodeTableResult, family: int, layer: int, group: str, *idx: int) -> float:
    blk = next(b for b in res.blocks if b.family == family and b.layer == layer)
    return float(blk.scalars[group][(0, *idx)])


def reference(
    ws: Workspace,
    prompt: torch.Tensor,
    names: list[str],
    edit: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
    detach_ln: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The model with the SAEs spliced in by plain hooks: logit diff and captured tensors."""
    store: dict[str, torch.Tensor] = {}
    hooks: list[tuple[str, Any]] = [("ln_final.hook_scale", lambda a, hook: a.detach())]  # noqa: ARG005
    if detach_ln:
        for name in [f"blocks.{L}.{ln}.hook_scale" for L in (0, 1) for ln in ("ln1", "ln2")]:
            hooks.append((name, lambda a, hook: a.detach()))  # noqa: ARG005

    def saver(name: str) -> Any:
        def fn(a: torch.Tensor, hook: Any) -> torch.Tensor:
            a = edit(name, a) if edit else a
            store[name] = a
            return a

        return fn

    def spliced(sae_name: str) -> Any:
        def fn(a: torch.Tensor, hook: Any) -> torch.Tensor:
            sae = ws.saes[sae_name]
            f = sae.encode(a).detach()
            node = (edit(sae_name, f) if edit else f.clone()).requires_grad_(True)
            store[sae_name] = node
            return a + (node - f) @ sae.W_dec

        return fn

    hooks += [(n, saver(n)) for n in names]
    hooks += [(MLP0, spliced("mlp0")), (RES1, spliced("res1"))]
    with torch.enable_grad():
        logits = ws.model.run_with_hooks(prompt[None], fwd_hooks=hooks)
    return logits[0, -1, T] - logits[0, -1, D], store


def test_direct_effects_equal_finite_differences_with_frozen_ln(ws: Workspace, prompt: torch.Tensor) -> None:
    res = run(ws, prompt)
    model, p = ws.model, N_POS - 1
    _, cache = model.run_with_cache(prompt[None])
    r, scale = cache["blocks.1.hook_resid_post"], cache["ln_final.hook_scale"]

    def target(resid: torch.Tensor) -> float:
        lg = final_logits_with_scale(model, resid, scale)[0, p]
        return float((lg[T] - lg[D]).detach())

    def finite_difference(write: torch.Tensor) -> float:
        r2 = r.clone()
        r2[0, p] -= write
        return target(r) - target(r2)

    g = torch.Generator().manual_seed(0)
    for layer in (0, 1):
        post = cache[f"blocks.{layer}.mlp.hook_post"][0, p]
        for i in [*torch.randint(0, 64, (4,), generator=g).tolist(), int(post.abs().argmax())]:
            write = post[i] * model.W_out[layer][i]
            assert value(res, 0, layer, "direct_effect", p, i) == pytest.approx(finite_difference(write), abs=1e-5)
        pattern, v = cache[f"blocks.{layer}.attn.hook_pattern"][0], cache[f"blocks.{layer}.attn.hook_v"][0]
        for h in range(2):
            for k in (0, 3, p):
                write = pattern[h, p, k] * v[k, h] @ model.W_O[layer][h]
                assert value(res, 1, layer, "direct_effect", p, h, k) == pytest.approx(
                    finite_difference(write), abs=1e-5
                )
    f = ws.saes["mlp0"].encode(cache[MLP0])[0, p]
    for i in torch.nonzero(f).squeeze(1).tolist()[:6]:
        write = f[i] * ws.saes["mlp0"].W_dec[i] @ model.W_out[0]
        assert value(res, 2, 0, "direct_effect", p, i) == pytest.approx(finite_difference(write), abs=1e-5)
    f = ws.saes["res1"].encode(cache[RES1])[0, p]
    for i in torch.nonzero(f).squeeze(1).tolist()[:6]:
        assert value(res, 3, 1, "direct_effect", p, i) == pytest.approx(
            finite_difference(f[i] * ws.saes["res1"].W_dec[i]), abs=1e-5
        )


def test_act_times_grad_matches_autograd_through_the_spliced_saes(ws: Workspace, prompt: torch.Tensor) -> None:
    res = run(ws, prompt)
    names = [MLP0, "blocks.1.mlp.hook_post", "blocks.0.attn.hook_z", "blocks.1.attn.hook_z"]
    if "blocks.0.attn.hook_pattern" in ws.adapter.hook_names and type(ws.model).__name__ == "HookedTransformer":
        names += ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"]
    ref, store = reference(ws, prompt, names)
    assert float(res.target[0]) == pytest.approx(float(ref.detach()), abs=1e-5)
    keys = [*names, "mlp0", "res1"]
    grads = dict(zip(keys, torch.autograd.grad(ref, [store[k] for k in keys]), strict=True))
    p = N_POS - 1

    def ours(family: int, layer: int) -> torch.Tensor:
        blk = next(b for b in res.blocks if b.family == family and b.layer == layer)
        return blk.scalars["act_times_grad"][0]

    for layer in (0, 1):
        name = f"blocks.{layer}.mlp.hook_post"
        want = (store[name] * grads[name])[0, : p + 1]
        torch.testing.assert_close(ours(0, layer), want, atol=1e-6, rtol=1e-4)
        # a head's pairs sum to the head's act x grad at its output z
        z = f"blocks.{layer}.attn.hook_z"
        head = (store[z] * grads[z]).sum(-1)[0]  # [q, head]
        torch.testing.assert_close(ours(1, layer).sum(-1), head, atol=1e-6, rtol=1e-4)
        pat = f"blocks.{layer}.attn.hook_pattern"
        if pat in grads:  # HookedTransformer: the pattern really is used downstream
            want = (store[pat] * grads[pat])[0].permute(1, 0, 2)  # [q, head, k]
            torch.testing.assert_close(ours(1, layer), want, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(ours(2, 0), (store["mlp0"] * grads["mlp0"])[0], atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(ours(3, 1), (store["res1"] * grads["res1"])[0], atol=1e-6, rtol=1e-4)
    assert float(ours(1, 0).abs().sum()) > 0


def test_detached_ln_scale_matches_a_model_with_it_detached(ws: Workspace, prompt: torch.Tensor) -> None:
    res = run(ws, prompt, detach_ln_scale=True)
    assert any("LayerNorm scale is detached" in n for n in res.notes)
    z = "blocks.0.attn.hook_z"
    ref, store = reference(ws, prompt, [z, MLP0], detach_ln=True)
    grad_z, grad_mlp = torch.autograd.grad(ref, [store[z], store[MLP0]])
    blk = next(b for b in res.blocks if b.family == 1 and b.layer == 0)
    torch.testing.assert_close(
        blk.scalars["act_times_grad"][0].sum(-1), (store[z] * grad_z).sum(-1)[0], atol=1e-6, rtol=1e-4
    )
    mlp = next(b for b in res.blocks if b.family == 0 and b.layer == 0)
    torch.testing.assert_close(mlp.scalars["act_times_grad"][0], (store[MLP0] * grad_mlp)[0], atol=1e-6, rtol=1e-4)
    plain = next(b for b in run(ws, prompt).blocks if b.family == 1 and b.layer == 0)
    assert not torch.allclose(plain.scalars["act_times_grad"], blk.scalars["act_times_grad"])


def test_latents_equal_the_sae_on_cached_hook_values(ws: Workspace, prompt: torch.Tensor) -> None:
    res = run(ws, prompt)
    assert res.notes == []
    _, cache = ws.model.run_with_cache(prompt[None])
    for name, hook in (("mlp0", MLP0), ("res1", RES1)):
        torch.testing.assert_close(res.captures[f"sae:{name}"], ws.saes[name].encode(cache[hook]), atol=1e-6, rtol=1e-5)


def _edit_at(
    name: str, pos: int, unit: int, value: float | torch.Tensor = 0.0
) -> Callable[[str, torch.Tensor], torch.Tensor]:
    def edit(n: str, a: torch.Tensor) -> torch.Tensor:
        if n != name:
            return a
        a = a.clone()
        a[:, pos, unit] = value
        return a

    return edit


@pytest.mark.parametrize(
    ("ablation", "hook"),
    [
        ({"family": "mlp", "layer": 1, "unit": 9, "pos": N_POS - 1}, "blocks.1.mlp.hook_post"),
        ({"family": "mlp", "layer": 0, "unit": 3, "pos": 4}, MLP0),
        ({"family": "attn", "layer": 0, "unit": 1, "pos": N_POS - 1}, "blocks.0.attn.hook_z"),
        ({"family": "mlp0", "layer": -1, "unit": -1, "pos": N_POS - 2}, "mlp0"),
    ],
)
def test_true_ablation_effect(ws: Workspace, prompt: torch.Tensor, ablation: dict[str, Any], hook: str) -> None:
    if ablation["family"] == "mlp0":  # the most active latent at that position
        f = ws.saes["mlp0"].encode(ws.model.run_with_cache(prompt[None])[1][MLP0])
        ablation = {**ablation, "unit": int(f[0, ablation["pos"]].argmax())}
    res = run(ws, prompt, ablations=[ablation])
    clean, _ = reference(ws, prompt, [])
    edited, _store = reference(
        ws, prompt, [hook] if hook != "mlp0" else [], edit=_edit_at(hook, ablation["pos"], ablation["unit"])
    )
    assert float(res.clean_target[0]) == pytest.approx(float(clean.detach()), abs=1e-5)
    assert float(res.target[0]) == pytest.approx(float(edited.detach()), abs=1e-5)
    assert abs(float((edited - clean).detach())) > 1e-6, "the ablation must change something for this test to mean"
    if ablation["family"] == "mlp":  # the table is recomputed with the ablation in place
        assert float(res.captures[f"mlp:{ablation['layer']}"][0, ablation["pos"], ablation["unit"]]) == 0.0


def test_mean_ablation_uses_the_dataset_mean(ws: Workspace, prompt: torch.Tensor) -> None:
    hook, unit, pos = "blocks.1.mlp.hook_post", 9, N_POS - 1
    res = run(ws, prompt, ablations=[{"family": "mlp", "layer": 1, "unit": unit, "pos": pos, "mode": "mean"}])
    _, cache = ws.model.run_with_cache(ws.tokens)
    keep = ws.tokens != ws.model.tokenizer.bos_token_id
    mean = cache[hook][keep][:, unit].mean()
    edited, _ = reference(ws, prompt, [hook], edit=_edit_at(hook, pos, unit, float(mean)))
    assert float(res.target[0]) == pytest.approx(float(edited.detach()), abs=1e-5)


def test_two_prompts_batched_equal_each_alone(ws: Workspace, prompt: torch.Tensor, tok: Any) -> None:
    other = tiny.random_tokens(tok, batch=1, pos=N_POS, seed=4)[0]
    runner = NodeTableRunner(ws, NodeOptions(k=5))
    both = runner.run([prompt, other], T, D)
    for row, p in enumerate((prompt, other)):
        alone = runner.run([p], T, D)
        torch.testing.assert_close(both.target[row], alone.target[0], atol=1e-5, rtol=1e-5)
        for b2, b1 in zip(both.blocks, alone.blocks, strict=True):
            for g in b1.scalars:
                torch.testing.assert_close(b2.scalars[g][row], b1.scalars[g][0], atol=1e-5, rtol=1e-4, equal_nan=True)
        rows = set(
            zip(
                *(
                    t.tolist()
                    for t in (
                        alone.selection.family,
                        alone.selection.layer,
                        alone.selection.unit,
                        alone.selection.pos,
                        alone.selection.src,
                    )
                ),
                strict=True,
            )
        )
        union = set(
            zip(
                *(
                    t.tolist()
                    for t in (
                        both.selection.family,
                        both.selection.layer,
                        both.selection.unit,
                        both.selection.pos,
                        both.selection.src,
                    )
                ),
                strict=True,
            )
        )
        assert rows <= union


def test_targets_and_input_errors(ws: Workspace, prompt: torch.Tensor) -> None:
    runner = NodeTableRunner(ws)
    logits = ws.model(prompt[None])[0].detach()
    logp = torch.log_softmax(logits, -1)
    res = runner.run([prompt], T, None, position=5)
    assert res.spec.kind == "logprob" and float(res.target[0]) == pytest.approx(float(logp[5, T]), abs=1e-5)
    res = runner.run([prompt], None, None, position=5)
    assert res.spec.kind == "loss" and float(res.target[0]) == pytest.approx(-float(logp[5, prompt[6]]), abs=1e-5)
    assert int(res.selection.pos.max()) <= 5  # later positions cannot affect the target
    with pytest.raises(ValueError, match="next prompt token"):
        runner.run([prompt], None, None)
    with pytest.raises(
        IndexError, match=r"position 12 is out of range for a prompt of 12 tokens: accepted -12 \.\. 11"
    ):
        runner.run([prompt], T, D, position=12)
    with pytest.raises(ValueError, match="same number of tokens"):
        runner.run([prompt, prompt[:-1]], T, D)
    with pytest.raises(ValueError, match="must be exactly one token"):
        runner.run([prompt], "The model computes", None)
    with pytest.raises(TypeError, match=r"unknown node-table options \['kk'\]"):
        NodeOptions.from_kwargs(kk=3)
    with pytest.raises(IndexError, match=r"ablation unit 64 is out of range for mlp: accepted 0 \.\. 63"):
        runner.run([prompt], T, D, ablations=[{"family": "mlp", "layer": 0, "unit": 64, "pos": 0}])


def test_long_texts_and_bad_target_types_are_refused(ws: Workspace, prompt: torch.Tensor) -> None:
    runner = NodeTableRunner(ws)
    long_text = " ".join(["The value of the argument"] * 12)
    n = int(ws.model.to_tokens(long_text, truncate=False).shape[1])
    assert n > ws.adapter.n_ctx  # TransformerLens's to_tokens would silently cut it to n_ctx
    with pytest.raises(ValueError, match=rf"the prompt has {n} tokens; the model's context is n_ctx=32"):
        runner.run([long_text], T, D)
    with pytest.raises(ValueError, match=r"prompt tokens must have shape \[pos\] or \[1, pos\]; got \(2, 12\)"):
        runner.run([torch.stack([prompt, prompt])], T, D)
    for bad in (5.0, [5], torch.tensor(5.0), True):
        with pytest.raises(TypeError, match=r"target must be a string \(one token\) or an int token id; got"):
            runner.run([prompt], bad, D)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"distractor must be a string .* got 7\.5"):
        runner.run([prompt], T, 7.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"position must be an int in \[-12, 11\]; got '3'"):
        runner.run([prompt], T, D, position="3")  # type: ignore[arg-type]
    assert runner.run([prompt], np.int64(T), D).spec.token == T


@pytest.mark.parametrize(
    ("ablation", "error", "match"),
    [
        ({"family": "mlp", "layer": 1, "unit": 9, "pos": 3, "mdoe": "mean"}, TypeError, r"unknown keys \['mdoe'\]"),
        ({"family": "mlp", "layer": 1, "unit": 9.7, "pos": 3}, TypeError, r"ablation unit must be an int; got 9\.7"),
        ({"family": "mlp", "layer": 1.0, "unit": 9, "pos": 3}, TypeError, r"ablation layer must be an int; got 1\.0"),
        ({"family": "mlp", "layer": 1, "unit": 9, "pos": "3"}, TypeError, r"ablation pos must be an int; got '3'"),
        ({"family": "mlp", "layer": 1, "unit": True, "pos": 3}, TypeError, r"ablation unit must be an int; got True"),
    ],
)
def test_bad_ablation_dicts_are_refused(
    ws: Workspace, prompt: torch.Tensor, ablation: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        run(ws, prompt, ablations=[ablation])
