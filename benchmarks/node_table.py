"""Node table: one backward pass per target against a naive one backward pass per node.

On the embedded default (``fc.demo()``: 2 layers, d_model 128, 4 heads, d_mlp 512, a TopK SAE
with 2,048 latents on ``blocks.0.mlp.hook_post``), for a 128-token prompt (a held-out dataset
row) and the logit difference between the model's two most likely next tokens at the last
position, every node type at every position:

* **ours**: ``NodeTableRunner.run``: one forward and one backward pass, then every group's value
  for every node in closed form, and the multi-group top-k (median of ``--repeats``);
* **naive**: the same forward pass (SAE spliced in by a plain hook with its error term kept in
  the graph, final LayerNorm scale frozen), then one ``torch.autograd.grad`` per node for its
  act × grad and direct effect.
  A random sample of nodes is timed and the per-node time extrapolated to all nodes; the naive
  values are checked against ours on the way (so the comparison is between equal answers).

The ratio is naive (extrapolated) / ours. Not a timed test: run it by hand on a quiet machine::

    .venv/bin/python benchmarks/node_table.py                 # the embedded default (built once)
    .venv/bin/python benchmarks/node_table.py --recipe tiny   # seconds, for a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import featurecard as fc
from featurecard.nodes.table import NodeOptions, NodeTableRunner

SAE_HOOK = "blocks.0.mlp.hook_post"


def naive_node(model: Any, sae: Any, prompt: torch.Tensor, t: int, d: int) -> tuple[Any, dict[str, torch.Tensor]]:
    """One forward pass with the SAE spliced in; returns the target and the tensors to differentiate."""
    store: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Any:
        def fn(a: torch.Tensor, hook: Any) -> torch.Tensor:  # noqa: ARG001 - TL passes the HookPoint
            store[name] = a
            return a

        return fn

    def splice(a: torch.Tensor, hook: Any) -> torch.Tensor:  # noqa: ARG001
        store[SAE_HOOK] = a
        f = sae.encode(a)
        store["sae"] = latents = f.clone()  # Transformer Debugger's splice: the error stays in the graph
        return sae.decode(latents) + (a - sae.decode(f))

    n_layers = model.cfg.n_layers
    hooks = [("ln_final.hook_scale", lambda a, hook: a.detach()), (SAE_HOOK, splice)]  # noqa: ARG005
    hooks += [(f"blocks.{L}.mlp.hook_post", keep(f"mlp{L}")) for L in range(1, n_layers)]
    hooks += [(f"blocks.{L}.attn.hook_z", keep(f"z{L}")) for L in range(n_layers)]
    hooks += [(f"blocks.{L}.attn.hook_v", keep(f"v{L}")) for L in range(n_layers)]
    hooks += [(f"blocks.{L}.attn.hook_pattern", keep(f"pattern{L}")) for L in range(n_layers)]
    hooks.append((f"blocks.{n_layers - 1}.hook_resid_post", keep("final")))
    with torch.enable_grad():
        logits = model.run_with_hooks(prompt[None], fwd_hooks=hooks)
    return logits[0, -1, t] - logits[0, -1, d], store


def naive_values(
    model: Any, sae: Any, store: dict[str, torch.Tensor], target: Any, node: tuple[str, int, tuple[int, ...]]
) -> tuple[float, float]:
    """(act × grad, direct effect) of one node, from its own backward pass."""
    kind, layer, idx = node
    key = {"mlp": SAE_HOOK if layer == 0 else f"mlp{layer}", "attn": f"z{layer}", "sae": "sae"}[kind]
    grad, g_final = torch.autograd.grad(target, [store[key], store["final"]], retain_graph=True)
    with torch.no_grad():
        return _values(model, sae, store, kind, layer, idx, key, grad, g_final)


def _values(
    model: Any,
    sae: Any,
    store: dict[str, torch.Tensor],
    kind: str,
    layer: int,
    idx: tuple[int, ...],
    key: str,
    grad: torch.Tensor,
    g_final: torch.Tensor,
) -> tuple[float, float]:
    if kind == "attn":
        q, h, k = idx
        a = store[f"pattern{layer}"][0, h, q, k].detach()
        v = store[f"v{layer}"][0, k, h].detach()
        return float(a * (grad[0, q, h] @ v)), float(a * (v @ model.W_O[layer][h] @ g_final[0, q]))
    pos, unit = idx
    act = store[key][0, pos, unit].detach()
    row = model.W_out[layer][unit] if kind == "mlp" else sae.W_dec[unit] @ model.W_out[0]
    return float(act * grad[0, pos, unit]), float(act * (row @ g_final[0, pos]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="default")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sample", type=int, default=60, help="naive nodes timed (20 per family)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, sae, tokens = fc.demo(recipe=args.recipe, progress=False)
    ws = fc.Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)
    prompt = tokens[0, : min(128, tokens.shape[1])]
    top = model(prompt[None])[0, -1].topk(2).indices.tolist()
    t, d = int(top[0]), int(top[1])
    print(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}; {len(prompt)}-token prompt")

    runner = NodeTableRunner(ws, NodeOptions())
    runner.run([prompt], t, d)  # warm-up (allocators, first hooks)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = runner.run([prompt], t, d)
        times.append(time.perf_counter() - t0)
    ours = statistics.median(times)
    counts = {"mlp": 0, "attn": 0, "sae": 0}
    n_pos = len(prompt)
    for blk in res.blocks:
        kind = {0: "mlp", 1: "attn"}.get(blk.family, "sae")
        shape = blk.shape()
        counts[kind] += n_pos * shape[1] * (n_pos + 1) // 2 if kind == "attn" else shape[0] * shape[1]
    total = sum(counts.values())

    g = torch.Generator().manual_seed(0)
    per = max(1, args.sample // 3)
    nodes: list[tuple[str, int, tuple[int, ...]]] = []
    for _ in range(per):
        L = int(torch.randint(0, model.cfg.n_layers, (1,), generator=g))
        nodes.append(
            (
                "mlp",
                L,
                (
                    int(torch.randint(0, n_pos, (1,), generator=g)),
                    int(torch.randint(0, model.cfg.d_mlp, (1,), generator=g)),
                ),
            )
        )
        q = int(torch.randint(0, n_pos, (1,), generator=g))
        nodes.append(
            (
                "attn",
                L,
                (
                    q,
                    int(torch.randint(0, model.cfg.n_heads, (1,), generator=g)),
                    int(torch.randint(0, q + 1, (1,), generator=g)),
                ),
            )
        )
        nodes.append(
            (
                "sae",
                0,
                (int(torch.randint(0, n_pos, (1,), generator=g)), int(torch.randint(0, sae.d_sae, (1,), generator=g))),
            )
        )
    target, store = naive_node(model, sae, prompt, t, d)
    t0 = time.perf_counter()
    naive = [naive_values(model, sae, store, target, n) for n in nodes]
    per_node = (time.perf_counter() - t0) / len(nodes)

    worst = 0.0
    for (kind, layer, idx), (axg, de) in zip(nodes, naive, strict=True):
        fam = {"mlp": 0, "attn": 1, "sae": 2}[kind]
        blk = next(b for b in res.blocks if b.family == fam and b.layer == layer)
        ours_axg = float(blk.scalars["act_times_grad"][(0, *idx)])
        ours_de = float(blk.scalars["direct_effect"][(0, *idx)])
        worst = max(worst, abs(ours_axg - axg), abs(ours_de - de))
    assert worst < 1e-4, f"naive and ours disagree by {worst}"

    naive_total = per_node * total
    print(f"nodes: {counts} = {total:,}")
    print(f"ours: {1000 * ours:.0f} ms for every group of every node + top-k (median of {args.repeats})")
    print(
        f"naive: {1000 * per_node:.2f} ms per node (one backward each, {len(nodes)} sampled) "
        f"-> {naive_total:.0f} s for all nodes (extrapolated)"
    )
    print(f"ratio naive / ours: {naive_total / ours:,.0f}x   (max |difference| on the sample: {worst:.1e})")
    print(
        f"rows in the table: {len(res.selection)}; load average after: {Path('/proc/loadavg').read_text().split()[:3]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
