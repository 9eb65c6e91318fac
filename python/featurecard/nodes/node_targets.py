"""A node as the target of a node table: where it is read, what reaches it, and its hooks.

The target scalar of a node spec (:mod:`.node_spec`) is read from the same forward pass that
captures every node (a hook at the node's own site, after the ablations' edits and **before**
any SAE spliced at that hook, so the SAE's own nodes there are not upstream of it); one backward
pass of it gives every node's act × grad, exactly as for a token target.

**Direct effect.** For a token target a node's direct effect is its write · the gradient at the
final residual. For a node target it is its write · the gradient of the target with respect to
the residual stream at the **read point**, where the target reads the residual stream:

* attention targets (a probability, a head's or attention layer's write) and a block's write:
  ``blocks.L.hook_resid_pre``;
* an MLP neuron and an MLP layer's write: ``blocks.L.hook_resid_mid`` (``hook_resid_pre`` in a
  parallel-attention model, which has no ``hook_resid_mid``);
* an SAE latent or error node: the SAE's own hook when it is a residual hook (its value before
  the splice), else the input of the sublayer that computes the hook (``hook_resid_pre`` for
  ``attn.*`` and ``hook_attn_out``, ``hook_resid_mid`` for ``mlp.*`` and ``hook_mlp_out``).

The LayerNorm scale the target reads through is **frozen** (detached in the forward pass, so
both act × grad and the read-point gradient treat it as a constant), the analogue of the final
LayerNorm's frozen scale for token targets: ``blocks.L.ln1.hook_scale`` for attention targets,
``ln2`` for MLP targets, both for a block's write (none for SAEs on residual hooks).
``freeze_target_ln=False`` lets gradients through it; ``freeze_final_ln`` keeps its meaning
for token targets and is moot for node targets (the final LayerNorm is downstream of them).

**Which nodes are rows.** Only nodes whose write reaches the read point: earlier sublayers and
residual-hook SAEs before it (an SAE on the read hook itself is upstream of every target but
its own hook's latents and error), at positions up to the target's. The nodes of the target's
own sublayer (the other neurons of its MLP, the heads of the attention it reads or writes, the
SAEs inside it) never become rows; nor does the target itself.

**Query, key and value sides.** For attention targets the gradient splits into the paths through
layer ``L``'s queries, keys and values: ``side="query"`` runs the forward pass with
``blocks.L.attn.hook_k`` and ``hook_v`` detached, and so on (grouped-query attention detaches its
``n_key_value_heads`` heads alike). The three sides sum to the total (the chain rule through
``q, k, v``, the only inputs of the attention that depend on the residual stream); the value
side of an attention probability is zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import Tensor

from ..core.model import block_hook, parse_hook
from ..core.sae import SparseAutoencoder
from .node_model import NodeModel
from .node_spec import SIDES, AttnNode, ErrorNode, LatentNode, NeuronNode, NodeSpec, Side, WriteNode
from .scalars_sae import splice
from .targets import resolve_position

Store = dict[str, Tensor]
TargetHook = tuple[str, Literal["pre", "post"], Callable[[Tensor], None]]
_RESID = ("hook_resid_pre", "hook_resid_mid", "hook_resid_post")
_QKV = {"query": "attn.hook_q", "key": "attn.hook_k", "value": "attn.hook_v"}


def stage(hook: str, parallel: bool) -> int:
    """Where a hook sits along the residual stream (``6L``: ``resid_pre``, ``+1`` the attention,
    ``+2`` ``resid_mid``, ``+3`` the MLP, ``+4`` ``resid_post``); a parallel-attention model's
    attention sits with its MLP. Hooks outside the blocks: embeddings first, the rest last."""
    site = parse_hook(hook)
    if site.layer is None:
        return -1 if hook in ("hook_embed", "hook_pos_embed") else 1 << 30
    base = 6 * site.layer
    if site.kind in _RESID:
        return base + 2 * _RESID.index(site.kind)
    if site.kind.startswith(("attn.", "ln1.")) or site.kind == "hook_attn_out":
        return base + (3 if parallel else 1)
    return base + 3


@dataclass(frozen=True)
class NodeTargetSpec:
    """A node target resolved against a model and a prompt (``pos``/``src`` non-negative)."""

    node: NodeSpec
    side: Side
    read_hook: str  # the residual hook whose gradient direct effects use
    read_stage: int
    reads_before_splice: bool  # the read point is the target's own (residual) hook, before SAEs
    frozen_ln: tuple[str, ...]  # LayerNorm scales detached for this target
    layer: int  # the target's block
    kind: Literal["node"] = "node"
    token: None = None
    distractor: None = None

    @property
    def position(self) -> int:
        return self.node.pos

    def describe(self, *_texts: object) -> str:
        side = "" if self.side == "total" else f", {self.side} side"
        return f"{self.node.describe()}{side}"

    def reaches(self, hook: str, parallel: bool) -> bool:
        """Whether nodes writing at ``hook`` (or spliced there) reach the read point."""
        s = stage(hook, parallel)
        return s < self.read_stage or (s == self.read_stage and not self.reads_before_splice)


def is_attention(node: NodeSpec) -> bool:
    return isinstance(node, AttnNode) or (isinstance(node, WriteNode) and node.write == "attn")


def _check(name: str, value: int, n: int) -> None:
    if not 0 <= value < n:
        raise IndexError(f"node {name} {value} is out of range: accepted 0 .. {n - 1}")


def _resolve_pos(node: NodeSpec, n_pos: int) -> NodeSpec:
    node = replace(node, pos=resolve_position(node.pos, n_pos))
    if isinstance(node, AttnNode):
        src = resolve_position(node.src, n_pos)
        if src > node.pos:
            raise ValueError(
                f"node src {src} is after its query position {node.pos}: a head attends to 0 .. {node.pos}"
            )
        node = replace(node, src=src)
    return node


def _read_point(node: NodeSpec, nm: NodeModel, saes: dict[str, SparseAutoencoder]) -> tuple[str, int, bool, list[str]]:
    """(read hook, layer, read before the splice, LayerNorm scales read through)."""
    has_mid = NodeModel.resid_mid(0) in nm.adapter.hook_names
    if isinstance(node, LatentNode | ErrorNode):
        hook = saes[node.source].hook_name
        site = parse_hook(hook)
        if site.layer is None:
            raise ValueError(f"SAE {node.source!r} is on {hook}, outside the blocks: a node target needs a block's")
        if site.kind in _RESID:
            return hook, site.layer, True, []
        attn_side = stage(hook, parallel=False) == 6 * site.layer + 1
        mlp_read = NodeModel.resid_mid(site.layer) if has_mid else block_hook(site.layer, "hook_resid_pre")
        read = block_hook(site.layer, "hook_resid_pre") if attn_side else mlp_read
        return read, site.layer, False, [block_hook(site.layer, "ln1.hook_scale" if attn_side else "ln2.hook_scale")]
    layer = int(node.layer)  # type: ignore[attr-defined]
    pre = block_hook(layer, "hook_resid_pre")
    if isinstance(node, NeuronNode) or (isinstance(node, WriteNode) and node.write == "mlp"):
        return (NodeModel.resid_mid(layer) if has_mid else pre), layer, False, [block_hook(layer, "ln2.hook_scale")]
    if isinstance(node, WriteNode) and node.write == "block":
        return pre, layer, False, [block_hook(layer, "ln1.hook_scale"), block_hook(layer, "ln2.hook_scale")]
    return pre, layer, False, [block_hook(layer, "ln1.hook_scale")]


def _validate(node: NodeSpec, nm: NodeModel, saes: dict[str, SparseAutoencoder]) -> None:
    if isinstance(node, LatentNode | ErrorNode):
        if node.source not in saes:
            raise KeyError(f"node source {node.source!r} is not an SAE of this Workspace; it has {sorted(saes)}")
        if isinstance(node, LatentNode):
            _check("unit", node.unit, saes[node.source].d_sae)
        return
    _check("layer", node.layer, nm.n_layers)  # type: ignore[attr-defined]
    if isinstance(node, NeuronNode):
        _check("unit", node.unit, nm.d_mlp())
    if isinstance(node, AttnNode) or (isinstance(node, WriteNode) and node.head is not None):
        _check("head", node.head, nm.n_heads)  # type: ignore[arg-type]
    if isinstance(node, WriteNode) and node.direction is None:
        raise ValueError(
            f"the {node.describe()} needs direction= (a [d_model] vector); a table's trace fills it in with its "
            "target's gradient there (NodeTable.trace, a roll-up row's trace button)"
        )
    if isinstance(node, WriteNode) and len(node.direction or ()) != nm.d_model:
        raise ValueError(
            f"a write node's direction has {len(node.direction or ())} numbers; the model's d_model is {nm.d_model}"
        )


def resolve_node_target(
    node: NodeSpec, side: str, n_pos: int, nm: NodeModel, saes: dict[str, SparseAutoencoder], freeze_ln: bool
) -> NodeTargetSpec:
    """Check the spec against the model and the prompt; find its read point (module docstring)."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {list(SIDES)}; got {side!r}")
    if side != "total" and not is_attention(node):
        raise ValueError(
            f"side={side!r} splits an attention target's gradient; a {node.kind!r} node has only side='total'"
        )
    _validate(node, nm, saes)
    node = _resolve_pos(node, n_pos)
    read, layer, before, lns = _read_point(node, nm, saes)
    hooks = [read, *[h for h, _, _ in target_hooks(node, nm, saes, {})]]
    if side != "total":
        hooks += [block_hook(layer, x) for x in _QKV.values()]
    nm.require(hooks, f"needed by the target {node.describe()}")
    frozen = tuple(n for n in lns if n in nm.adapter.hook_names) if freeze_ln else ()
    parallel = NodeModel.resid_mid(0) not in nm.adapter.hook_names
    return NodeTargetSpec(node, side, read, stage(read, parallel), before, frozen, layer)  # type: ignore[arg-type]


def detached_hooks(target: NodeTargetSpec) -> list[str]:
    """The hooks whose values the target's forward pass detaches: its LayerNorm scales and, for
    one side of an attention target, the other sides' inputs."""
    others = [kind for side, kind in _QKV.items() if target.side not in ("total", side)]
    return [*target.frozen_ln, *(block_hook(target.layer, kind) for kind in others)]


def _add(store: Store, value: Tensor) -> None:
    store["target"] = store["target"] + value if "target" in store else value


def target_hooks(node: NodeSpec, nm: NodeModel, saes: dict[str, SparseAutoencoder], store: Store) -> list[TargetHook]:
    """Where the target's value is read and how (each function adds its part to ``store["target"]``,
    a ``[batch]`` tensor)."""
    p = node.pos
    if isinstance(node, NeuronNode):
        u = node.unit
        return [(nm.mlp_post(node.layer), "pre", lambda a: _add(store, a[:, p, u]))]
    if isinstance(node, AttnNode):
        h, s = node.head, node.src
        return [(nm.attn_pattern(node.layer), "pre", lambda a: _add(store, a[:, h, p, s]))]
    if isinstance(node, LatentNode | ErrorNode):
        sae = saes[node.source]

        def read_sae(a: Tensor) -> None:
            sp = splice(sae, a.flatten(2))
            _add(store, sp.latents[:, p, node.unit] if isinstance(node, LatentNode) else sp.error[:, p].norm(dim=-1))

        return [(sae.hook_name, "pre", read_sae)]
    assert isinstance(node, WriteNode)
    L, d = node.layer, torch.tensor(node.direction or ())
    # The write without b_O / b_out (they belong to no node): read from hook_z / hook_post, before any
    # SAE spliced there, as the roll-up rows' writes are (:mod:`.rollups`).
    w_o = nm.w_o(L) @ d.to(nm.w_o(L))  # [head_index, d_head]
    heads = [node.head] if node.head is not None else list(range(nm.n_heads))
    out: list[TargetHook] = []
    if node.write in ("attn", "block"):
        out.append((nm.attn_z(L), "pre", lambda a: _add(store, (a[:, p, heads] * w_o[heads].to(a)).sum((-1, -2)))))
    if node.write in ("mlp", "block"):
        w_out = nm.w_out(L) @ d.to(nm.w_out(L))  # [d_mlp]
        out.append((nm.mlp_post(L), "pre", lambda a: _add(store, a[:, p] @ w_out.to(a))))
    return out
