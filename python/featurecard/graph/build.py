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
from ..core.model import ModelAdapter, block_hook, block_prefix
from ..core.sae import SparseAutoencoder
from .blocks import BlockModel, Layout, SaeSite
from .contributions import attention_contributions, block_contributions
from .options import GraphOptions as GraphOptions  # re-exported: callers import it from here
from .promote import PromoteData, PromotePass
from .units import LensData, UnitGroup, logit_lens, neuron_group, sae_group

NodeKey = tuple[str, int, int]  # (kind, level or layer, position)


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
    promote: PromoteData | None = None
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
    run = LayerPass(blocks, empty_data(tokens, blocks.layout, opt.keep_above), saes or {}, opt)
    with forward_guard(adapter.model):  # one forward at a time per model, in eval mode
        adapter.model.run_with_hooks(tokens[None].to(adapter.device), fwd_hooks=run.hooks())
    run.collect_edges()
    run.out.promote = run.promote.result() if run.promote else None
    if opt.logit_lens:
        run.out.lens = logit_lens(blocks, run.all_levels(), opt.lens_k, opt.chunk_elements)
    return run.out


def empty_data(tokens: Int[Tensor, " pos"], lay: Layout, keep_above: float) -> ContributionData:
    """All shares zero, no edges: what :class:`LayerPass` fills in layer by layer."""
    n_pos, n_levels, n_layers, n_heads = int(tokens.shape[0]), len(lay.levels), lay.n_layers, lay.n_heads
    return ContributionData(
        tokens=tokens,
        layout=lay,
        keep_above=keep_above,
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


Site = tuple[str, SparseAutoencoder, SaeSite]


class LayerPass:
    """The hooks of one streamed pass and its steps: each layer is read when its last level fires."""

    def __init__(
        self, blocks: BlockModel, out: ContributionData, saes: Mapping[str, SparseAutoencoder], opt: GraphOptions
    ) -> None:
        self.blocks, self.lay, self.out, self.opt = blocks, blocks.layout, out, opt
        self.dtype = blocks.adapter.model.W_U.dtype
        self.sites: dict[int, list[Site]] = defaultdict(list)
        for name, sae in saes.items():
            site = blocks.sae_site(sae.hook_name, sae.hook_head_index)
            if isinstance(site, str):
                out.unavailable[f"SAE {name}"] = site
            else:
                self.sites[site.layer].append((name, sae, site))
        self.store: dict[str, Tensor] = {}
        self.levels: list[Tensor | None] = [None] * len(self.lay.levels)
        self.edges: list[tuple[int, Tensor, Tensor, Tensor, Tensor]] = []
        self.promote = (
            PromotePass(blocks, saes, opt.promote_k, opt.chunk_elements, opt.promote_neurons, opt.promote_heads)
            if opt.promote
            else None
        )

    def hooks(self) -> list[tuple[str, object]]:
        """Save what each layer reads and writes; read the layer when its last level fires."""
        lay, hooks = self.lay, []
        for layer in range(lay.n_layers):
            names = [sae.hook_name for _name, sae, _site in self.sites.get(layer, [])]
            names += [block_hook(layer, name) for name in ("attn.hook_pattern", "attn.hook_v", "hook_attn_out")]
            if lay.has_mlp:
                names.append(block_hook(layer, "hook_mlp_out"))
                if self.opt.neurons:
                    names.append(self.blocks.neuron_hook(layer))
            names += self.promote.hook_names(layer) if self.promote else []
            hooks += [(name, self._save(name)) for name in dict.fromkeys(names)]
        last_of = {lay.mlp_out[i] if lay.has_mlp else lay.attn_out[i]: i for i in range(lay.n_layers)}
        hooks += [(name, self._level(r, last_of.get(r))) for r, name in enumerate(lay.level_hooks)]
        return hooks + (self.promote.scale_hooks() if self.promote else [])

    def _save(self, name: str) -> object:
        def hook(act: Tensor, hook: object) -> None:  # noqa: ARG001 - TL passes the HookPoint
            self.store[name] = act[0].detach()

        return hook

    def _level(self, r: int, layer: int | None) -> object:
        def hook(act: Tensor, hook: object) -> None:  # noqa: ARG001
            self.levels[r] = act[0].detach().float()
            if layer is not None:
                self.finish(layer)

        return hook

    def level(self, r: int) -> Tensor:
        return _need(self.levels, r)

    def all_levels(self) -> list[Tensor]:
        return [self.level(r) for r in range(len(self.levels))]

    def finish(self, layer: int) -> None:
        """Everything layer ``layer`` read and wrote is saved: compute its shares, then drop it."""
        attn_out = self.store[block_hook(layer, "hook_attn_out")]
        mlp_out = self.store[block_hook(layer, "hook_mlp_out")].float() if self.lay.has_mlp else None
        self.attention(layer, attn_out, mlp_out)
        if mlp_out is not None and not self.lay.parallel:
            self.mlp(layer, mlp_out)
        n_units = len(self.out.units)
        if mlp_out is not None and self.opt.neurons:
            self.neurons(layer, mlp_out)
        self.sae_units(layer, {"attn": attn_out.float(), "mlp": mlp_out})
        if self.promote:  # this layer's heads, blocks and the units just listed
            self.promote.layer(layer, self.store, self.out.units[n_units:])
        self.drop(layer)

    def attention(self, layer: int, attn_out: Tensor, mlp_out: Tensor | None) -> None:
        """The attention block's shares (heads, ``b_O``, the residual; a parallel MLP) and its edges."""
        blocks, lay, out = self.blocks, self.lay, self.out
        pattern, v = self.store[block_hook(layer, "attn.hook_pattern")], self.store[block_hook(layer, "attn.hook_v")]
        writes = blocks.head_writes(layer, v)
        blocks.check_attention(layer, pattern, writes, attn_out, self.dtype)
        a_out = lay.attn_out[layer]
        resid_in, whole = self.level(lay.attn_in[layer]), self.level(a_out)
        parts = [blocks.b_O(layer).expand_as(whole)]
        if lay.parallel and mlp_out is not None:
            parts.append(mlp_out)
        ac = attention_contributions(
            pattern,
            writes,
            whole,
            torch.stack([*parts, resid_in]),
            keep_above=self.opt.keep_above,
            chunk_elements=self.opt.chunk_elements,
        )
        out.heads[layer], out.bias[layer], out.resid[a_out - 1] = (
            ac.heads.cpu(),
            ac.others[0].cpu(),
            ac.others[-1].cpu(),
        )
        if lay.parallel and lay.has_mlp:
            out.mlp[layer] = ac.others[1].cpu()
        self.edges.append((layer, ac.edge_query, ac.edge_key, ac.edge_share, ac.edge_heads))

    def mlp(self, layer: int, mlp_out: Tensor) -> None:
        """A sequential MLP's share and the residual's at the level it writes."""
        m_in, m_out = self.lay.mlp_in[layer], self.lay.mlp_out[layer]
        shares = block_contributions(self.level(m_out), torch.stack([mlp_out, self.level(m_in)]))
        self.out.mlp[layer], self.out.resid[m_out - 1] = shares[0].cpu(), shares[1].cpu()

    def neurons(self, layer: int, mlp_out: Tensor) -> None:
        """The MLP's per-neuron tops, or why its neurons do not add up to its output."""
        blocks, opt = self.blocks, self.opt
        post_act = self.store[blocks.neuron_hook(layer)]
        why = blocks.neurons_exact(layer, post_act, mlp_out, self.dtype)
        if why:
            self.out.unavailable[f"neurons {layer}"] = why
        else:
            whole_m = self.level(self.lay.mlp_out[layer])
            self.out.units.append(
                neuron_group(blocks, layer, post_act, mlp_out, whole_m, opt.top_units, opt.chunk_elements)
            )

    def sae_units(self, layer: int, block_outs: dict[str, Tensor | None]) -> None:
        """The per-latent tops of the SAEs that read this layer."""
        opt = self.opt
        for name, sae, site in self.sites.get(layer, []):
            whole_s = self.level(site.level)
            block_out = None if site.block == "resid" else block_outs[site.block]
            self.out.units.append(
                sae_group(
                    self.blocks,
                    name,
                    sae,
                    site,
                    self.store[sae.hook_name],
                    whole_s,
                    block_out,
                    opt.top_units,
                    opt.chunk_elements,
                )
            )

    def drop(self, layer: int) -> None:
        """Drop this layer's activations, and the levels no later step reads."""
        prefix = block_prefix(layer)
        for key in [k for k in self.store if k.startswith(prefix)]:
            del self.store[key]
        if not self.opt.logit_lens:  # only this layer's top level is read again (by the next layer)
            lay = self.lay
            top = lay.mlp_out[layer] if lay.has_mlp else lay.attn_out[layer]
            for r in range(len(self.levels)):
                if r != top:
                    self.levels[r] = None

    def collect_edges(self) -> None:
        """Concatenate the layers' kept edges onto the CPU."""
        edges, out = self.edges, self.out
        if edges:
            out.edge_layer = torch.cat([torch.full_like(q.cpu(), layer) for layer, q, _, _, _ in edges])
            out.edge_query = torch.cat([q.cpu() for _, q, _, _, _ in edges])
            out.edge_key = torch.cat([k.cpu() for _, _, k, _, _ in edges])
            out.edge_share = torch.cat([s.cpu() for _, _, _, s, _ in edges])
            out.edge_heads = torch.cat([h.cpu() for _, _, _, _, h in edges])


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
