"""Contribution graphs of one prompt: one streamed pass, then thresholds and routes.

**The pass** (:func:`contributions`). The model runs once on the prompt with hooks. When
``blocks.L.hook_resid_post`` fires, everything layer L read and wrote has been captured; the
layer's contributions are computed there (see :mod:`featurecard.graph.contributions`) and
its big activations (the attention pattern, the values) are dropped before layer L+1 runs, so
memory holds one layer's attention at a time, never the model's. What stays per layer: the
share of each part at each position, and the (source, query) edges whose share exceeds
``keep_above`` (the lowest threshold a graph can then use without running the model again),
each with its per-head split; per-unit tops (:mod:`featurecard.graph.units`) and the logit lens.

**The graph** (:func:`build_graph`). Nodes are residual states ``("resid", level, pos)`` and
blocks ``("attn", layer, pos)``, ``("mlp", layer, pos)``. Into each residual state flow its
parts: the previous level (the residual connection), the attention block's source tokens and
``b_O``, the MLP. The threshold has one meaning: a part is kept when its share of the state,
summed over heads, exceeds it; the kept parts are then renormalised to sum to 1 at that state.
Kept source tokens become edges ``resid(in, k) -> attn(L, q)`` carrying their heads; the
attention block feeds the state with the sum of its kept parts (``b_O`` included); the MLP
gets ``resid(in, q) -> mlp(L, q) -> resid(out, q)``. The routes to a target token are the edges
reached backwards from its last residual state (plain reachability, as LLM Transparency Tool).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..core.forward_guard import forward_guard
from ..core.inputs import prompt_tokens
from ..core.model import ModelAdapter
from ..core.sae import SparseAutoencoder
from .blocks import BlockModel, Layout, SaeSite
from .contributions import DEFAULT_CHUNK_ELEMENTS, attention_contributions, block_contributions
from .units import LensData, UnitGroup, logit_lens, neuron_group, sae_group

NodeKey = tuple[str, int, int]  # (kind, level or layer, position)


@dataclass(frozen=True)
class GraphOptions:
    """What a contribution pass computes (see :func:`contributions`)."""

    keep_above: float = 0.01  # edges at or below this share are dropped during the pass
    neurons: bool = True  # per-neuron tops of every MLP
    top_units: int = 10  # neurons / latents kept per (block, position)
    logit_lens: bool = True
    lens_k: int = 10
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS

    def __post_init__(self) -> None:
        if not 0.0 <= self.keep_above < 1.0:
            raise ValueError(f"keep_above must be in [0, 1); got {self.keep_above}")
        for name in ("top_units", "lens_k", "chunk_elements"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")


@dataclass
class ContributionData:
    """Every share of one prompt (float32 on CPU); per level r >= 1 and position the parts sum to 1."""

    tokens: Int[Tensor, " pos"]
    layout: Layout
    keep_above: float
    resid: Float[Tensor, "level_m1 pos"]  # share of level r in level r + 1 (the residual connection)
    heads: Float[Tensor, "layer pos head_index"]  # attention, summed over source tokens
    bias: Float[Tensor, "layer pos"]  # b_O
    mlp: Float[Tensor, "layer pos"]  # zeros without MLPs
    edge_layer: Int[Tensor, " edge"]
    edge_query: Int[Tensor, " edge"]
    edge_key: Int[Tensor, " edge"]
    edge_share: Float[Tensor, " edge"]  # summed over heads
    edge_heads: Float[Tensor, "edge head_index"]
    units: list[UnitGroup] = field(default_factory=list)
    lens: LensData | None = None
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def n_pos(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def n_levels(self) -> int:
        return len(self.layout.levels)


@torch.no_grad()
def contributions(
    adapter: ModelAdapter,
    prompt: str | Tensor | Sequence[int],
    saes: Mapping[str, SparseAutoencoder] | None = None,
    options: GraphOptions | None = None,
) -> ContributionData:
    """Run the model once on ``prompt`` and compute every contribution (see the module docstring)."""
    opt = options or GraphOptions()
    blocks = BlockModel(adapter)
    tokens = prompt_tokens(adapter, prompt)
    lay, n_pos = blocks.layout, int(tokens.shape[0])
    dtype = adapter.model.W_U.dtype
    n_levels, n_layers, n_heads = len(lay.levels), lay.n_layers, lay.n_heads
    out = ContributionData(
        tokens=tokens,
        layout=lay,
        keep_above=opt.keep_above,
        resid=torch.zeros(n_levels - 1, n_pos),
        heads=torch.zeros(n_layers, n_pos, n_heads),
        bias=torch.zeros(n_layers, n_pos),
        mlp=torch.zeros(n_layers, n_pos),
        edge_layer=torch.zeros(0, dtype=torch.int64),
        edge_query=torch.zeros(0, dtype=torch.int64),
        edge_key=torch.zeros(0, dtype=torch.int64),
        edge_share=torch.zeros(0),
        edge_heads=torch.zeros(0, n_heads),
    )
    sites: dict[int, list[tuple[str, SparseAutoencoder, SaeSite]]] = defaultdict(list)
    for name, sae in (saes or {}).items():
        site = blocks.sae_site(sae.hook_name, sae.hook_head_index)
        if isinstance(site, str):
            out.unavailable[f"SAE {name}"] = site
        else:
            sites[site.layer].append((name, sae, site))
    store: dict[str, Tensor] = {}
    levels: list[Tensor | None] = [None] * n_levels
    edges: list[tuple[int, Tensor, Tensor, Tensor, Tensor]] = []

    def save(name: str) -> object:
        def hook(act: Tensor, hook: object) -> None:  # noqa: ARG001 - TL passes the HookPoint
            store[name] = act[0].detach()

        return hook

    def level(r: int, layer: int | None) -> object:
        def hook(act: Tensor, hook: object) -> None:  # noqa: ARG001
            levels[r] = act[0].detach().float()
            if layer is not None:
                finish(layer)

        return hook

    def finish(layer: int) -> None:
        pre, post = f"blocks.{layer}.attn.", f"blocks.{layer}."
        pattern, v, attn_out = store[pre + "hook_pattern"], store[pre + "hook_v"], store[post + "hook_attn_out"]
        mlp_out = store[post + "hook_mlp_out"].float() if lay.has_mlp else None
        writes = blocks.head_writes(layer, v)
        blocks.check_attention(layer, pattern, writes, attn_out, dtype)
        a_in, a_out = lay.attn_in[layer], lay.attn_out[layer]
        resid_in, whole = _need(levels, a_in), _need(levels, a_out)
        parts = [blocks.b_O(layer).expand_as(whole)]
        if lay.parallel and mlp_out is not None:
            parts.append(mlp_out)
        ac = attention_contributions(
            pattern,
            writes,
            whole,
            torch.stack([*parts, resid_in]),
            keep_above=opt.keep_above,
            chunk_elements=opt.chunk_elements,
        )
        out.heads[layer], out.bias[layer], out.resid[a_out - 1] = (
            ac.heads.cpu(),
            ac.others[0].cpu(),
            ac.others[-1].cpu(),
        )
        if lay.parallel and lay.has_mlp:
            out.mlp[layer] = ac.others[1].cpu()
        edges.append((layer, ac.edge_query, ac.edge_key, ac.edge_share, ac.edge_heads))
        del pattern, v, writes
        if mlp_out is not None and not lay.parallel:
            m_in, m_out = lay.mlp_in[layer], lay.mlp_out[layer]
            shares = block_contributions(_need(levels, m_out), torch.stack([mlp_out, _need(levels, m_in)]))
            out.mlp[layer], out.resid[m_out - 1] = shares[0].cpu(), shares[1].cpu()
        if mlp_out is not None and opt.neurons:
            post_act = store[blocks.neuron_hook(layer)]
            why = blocks.neurons_exact(layer, post_act, mlp_out, dtype)
            if why:
                out.unavailable[f"neurons {layer}"] = why
            else:
                whole_m = _need(levels, lay.mlp_out[layer])
                out.units.append(
                    neuron_group(blocks, layer, post_act, mlp_out, whole_m, opt.top_units, opt.chunk_elements)
                )
        block_outs = {"attn": attn_out.float(), "mlp": mlp_out}
        for name, sae, site in sites.get(layer, []):
            whole_s = _need(levels, site.level)
            block_out = None if site.block == "resid" else block_outs[site.block]
            out.units.append(
                sae_group(
                    blocks, name, sae, site, store[sae.hook_name], whole_s, block_out, opt.top_units, opt.chunk_elements
                )
            )
        for key in [k for k in store if k.startswith(post)]:  # this layer's activations
            del store[key]
        if not opt.logit_lens:  # only this layer's top level is read again (by the next layer)
            top = lay.mlp_out[layer] if lay.has_mlp else a_out
            for r in range(n_levels):
                if r != top:
                    levels[r] = None

    hooks: list[tuple[str, object]] = []
    for layer in range(n_layers):
        for _name, sae, _site in sites.get(layer, []):
            hooks.append((sae.hook_name, save(sae.hook_name)))
        for suffix in ("attn.hook_pattern", "attn.hook_v", "hook_attn_out"):
            hooks.append((f"blocks.{layer}.{suffix}", save(f"blocks.{layer}.{suffix}")))
        if lay.has_mlp:
            hooks.append((f"blocks.{layer}.hook_mlp_out", save(f"blocks.{layer}.hook_mlp_out")))
            if opt.neurons:
                hooks.append((blocks.neuron_hook(layer), save(blocks.neuron_hook(layer))))
    last_of = {lay.mlp_out[i] if lay.has_mlp else lay.attn_out[i]: i for i in range(n_layers)}
    for r, name in enumerate(lay.level_hooks):
        hooks.append((name, level(r, last_of.get(r))))
    with forward_guard(adapter.model):  # one forward at a time per model, in eval mode
        adapter.model.run_with_hooks(tokens[None].to(adapter.device), fwd_hooks=hooks)
    if edges:
        out.edge_layer = torch.cat([torch.full_like(q.cpu(), layer) for layer, q, _, _, _ in edges])
        out.edge_query = torch.cat([q.cpu() for _, q, _, _, _ in edges])
        out.edge_key = torch.cat([k.cpu() for _, _, k, _, _ in edges])
        out.edge_share = torch.cat([s.cpu() for _, _, _, s, _ in edges])
        out.edge_heads = torch.cat([h.cpu() for _, _, _, _, h in edges])
    if opt.logit_lens:
        out.lens = logit_lens(blocks, [_need(levels, r) for r in range(n_levels)], opt.lens_k, opt.chunk_elements)
    return out


def _need(levels: list[Tensor | None], r: int) -> Tensor:
    t = levels[r]
    if t is None:
        raise RuntimeError(f"residual level {r} was not captured (its hook never fired)")
    return t


# -- the graph ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GraphEdge:
    """One kept edge: ``share`` before and ``weight`` after renormalisation at its state."""

    src: NodeKey
    dst: NodeKey
    kind: str  # "resid" | "attn" (source token -> attention block) | "attn_out" | "mlp_in" | "mlp_out"
    share: float
    weight: float
    heads: tuple[float, ...] = ()  # per-head weights of an "attn" edge (they sum to ``weight``)


@dataclass(frozen=True)
class Graph:
    """The edges of one prompt above one threshold (see the module docstring)."""

    threshold: float
    n_levels: int
    n_pos: int
    edges: tuple[GraphEdge, ...]

    def routes(self, target: int, also: Iterable[NodeKey] = ()) -> tuple[GraphEdge, ...]:
        """The edges reached backwards from the last residual state of ``target`` (and ``also``)."""
        if not 0 <= target < self.n_pos:
            raise IndexError(f"target {target} is out of range: accepted 0 .. {self.n_pos - 1}")
        into: dict[NodeKey, list[GraphEdge]] = defaultdict(list)
        for e in self.edges:
            into[e.dst].append(e)
        todo = [("resid", self.n_levels - 1, target), *also]
        seen, reached = set(todo), []
        while todo:
            for e in into.get(todo.pop(), []):
                reached.append(e)
                if e.src not in seen:
                    seen.add(e.src)
                    todo.append(e.src)
        order = {id(e): i for i, e in enumerate(self.edges)}
        return tuple(sorted(reached, key=lambda e: order[id(e)]))


def build_graph(data: ContributionData, threshold: float) -> Graph:
    """Keep the parts whose share exceeds ``threshold``, renormalise them per state, make edges."""
    if not data.keep_above <= threshold < 1.0:
        raise ValueError(
            f"threshold {threshold} is out of range: accepted [{data.keep_above}, 1) (the pass kept edges "
            f"above keep_above={data.keep_above}; compute again with a lower keep_above to go lower)"
        )
    lay, n_pos = data.layout, data.n_pos
    resid, bias, mlp = data.resid.numpy(), data.bias.numpy(), data.mlp.numpy()
    by_node: dict[tuple[int, int], list[int]] = defaultdict(list)
    layers, queries = data.edge_layer.tolist(), data.edge_query.tolist()
    shares, keys = data.edge_share.tolist(), data.edge_key.tolist()
    for i, (layer, q) in enumerate(zip(layers, queries, strict=True)):
        if shares[i] > threshold:
            by_node[(layer, q)].append(i)
    attn_into = {r: layer for layer, r in enumerate(lay.attn_out)}
    mlp_into = {r: layer for layer, r in enumerate(lay.mlp_out)}
    edges: list[GraphEdge] = []
    for r in range(1, data.n_levels):
        la, lm = attn_into.get(r), mlp_into.get(r)
        for q in range(n_pos):
            kept_resid = float(resid[r - 1, q])
            kept_resid = kept_resid if kept_resid > threshold else 0.0
            src = by_node.get((la, q), []) if la is not None else []
            b = float(bias[la, q]) if la is not None and bias[la, q] > threshold else 0.0
            m = float(mlp[lm, q]) if lm is not None and mlp[lm, q] > threshold else 0.0
            total = kept_resid + sum(shares[i] for i in src) + b + m
            if total <= 0.0:
                continue
            dst: NodeKey = ("resid", r, q)
            if kept_resid:
                edges.append(GraphEdge(("resid", r - 1, q), dst, "resid", kept_resid, kept_resid / total))
            if la is not None and (src or b):
                a_node: NodeKey = ("attn", la, q)
                for i in src:
                    heads = tuple(float(h) / total for h in data.edge_heads[i].tolist())
                    edges.append(
                        GraphEdge(
                            ("resid", lay.attn_in[la], keys[i]), a_node, "attn", shares[i], shares[i] / total, heads
                        )
                    )
                s = sum(shares[i] for i in src) + b
                edges.append(GraphEdge(a_node, dst, "attn_out", s, s / total))
            if lm is not None and m:
                m_node: NodeKey = ("mlp", lm, q)
                edges.append(GraphEdge(("resid", lay.mlp_in[lm], q), m_node, "mlp_in", m, m / total))
                edges.append(GraphEdge(m_node, dst, "mlp_out", m, m / total))
    return Graph(threshold=threshold, n_levels=data.n_levels, n_pos=n_pos, edges=tuple(edges))
