"""The hooks of a node table's forward pass (see :mod:`.table` for what they capture and why).

Every hooked place with something to do is a **site**: at it, in order, the ablations' edits,
the target's readers (``pre``: the value after the edits, before any SAE is spliced), the
captures of the node families, the SAE splices, and the readers that want the spliced value
(``post``: the read point of a target that reads after the SAEs at its hook).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from torch import Tensor

from .ablation import Ablation, edit_units, replacement
from .context import NodeContext
from .dynamics import ln2_hook
from .node_model import HookFn, NodeModel
from .node_targets import NodeTargetSpec, detached_hooks, target_hooks
from .scalars_sae import splice


@dataclass
class Site:
    """What happens at one hook."""

    keys: list[str] = field(default_factory=list)  # store keys of the hook's value (a family's nodes)
    saes: list[str] = field(default_factory=list)
    edits: list[tuple[int, int, Tensor | float]] = field(default_factory=list)
    pre: list[Callable[[Tensor], None]] = field(default_factory=list)
    post: list[Callable[[Tensor], None]] = field(default_factory=list)


def _capture(store: dict[str, Tensor], key: str) -> HookFn:
    def fn(act: Tensor) -> Tensor:
        store[key] = act
        return act

    return fn


def _saver(store: dict[str, Tensor], key: str) -> Callable[[Tensor], None]:
    def fn(act: Tensor) -> None:
        store[key] = act

    return fn


def _site_fn(
    ctx: NodeContext, site: Site, store: dict[str, Tensor], latent_edits: dict[str, dict[tuple[int, int], float]]
) -> HookFn:
    def fn(act: Tensor) -> Tensor:
        act = edit_units(act, site.edits)
        for read in site.pre:
            read(act)
        for key in site.keys:
            store[key] = act
        for name in site.saes:
            shape = act.shape
            sp = splice(ctx.sae(name), act.flatten(2), latent_edits.get(name))
            store[f"sae:{name}"], store[f"err:{name}"], store[f"scale:{name}"] = sp.latents, sp.error, sp.scale
            act = sp.out.reshape(shape)
        for read in site.post:
            read(act)
        return act

    return fn


def _sites(
    ctx: NodeContext, abls: Sequence[Ablation], latent_edits: dict[str, dict[tuple[int, int], float]]
) -> dict[str, Site]:
    nm = ctx.nm
    sites: dict[str, Site] = defaultdict(Site)
    for L in ctx.layers:
        if ctx.capture_mlp:
            sites[nm.mlp_post(L)].keys.append(f"mlp:{L}")
        if ctx.capture_attn:
            sites[nm.attn_z(L)].keys.append(f"z:{L}")
    for key, hook in ctx.write_grads.items():  # a roll-up's write: its gradient is a trace's direction
        sites[hook].keys.append(key)
    for name in ctx.sae_names:
        sites[ctx.ws.saes[name].hook_name].saes.append(name)
    for ab in abls:
        if ab.family in ("mlp", "attn"):
            hook = nm.mlp_post(ab.layer) if ab.family == "mlp" else nm.attn_z(ab.layer)
            sites[hook].edits.append((ab.pos, ab.unit, replacement(ctx.ws, ab, hook)))
        else:
            if ab.family not in sites[ctx.ws.saes[ab.family].hook_name].saes:
                sites[ctx.ws.saes[ab.family].hook_name].saes.append(ab.family)
            latent_edits[ab.family][(ab.pos, ab.unit)] = float(replacement(ctx.ws, ab, ""))
    return sites


def build_hooks(
    ctx: NodeContext, store: dict[str, Tensor], abls: Sequence[Ablation], target: NodeTargetSpec | None
) -> dict[str, list[HookFn]]:
    """Every hook function of one forward pass; captures land in ``store`` (a node target's
    value in ``store["target"]``, its read point in ``store["read"]``)."""
    nm = ctx.nm
    hooks: dict[str, list[HookFn]] = defaultdict(list)
    for name in ("hook_embed", "hook_pos_embed"):  # gradients even when the weights are frozen
        if name in nm.adapter.hook_names:
            hooks[name].append(lambda a: a if a.requires_grad else a.detach().requires_grad_(True))
    detach = [*ctx.ln_scales, *(detached_hooks(target) if target is not None else [])]
    if ctx.freeze:
        detach.append(NodeModel.FINAL_LN_SCALE)
    for name in dict.fromkeys(detach):
        hooks[name].append(NodeModel.detach_hook)
    if ctx.capture_attn:
        for L in ctx.layers:
            hooks[nm.attn_pattern(L)].append(_capture(store, f"pattern:{L}"))
            hooks[nm.attn_v(L)].append(_capture(store, f"v:{L}"))
    latent_edits: dict[str, dict[tuple[int, int], float]] = defaultdict(dict)
    sites = _sites(ctx, abls, latent_edits)
    if target is not None:
        source = getattr(target.node, "source", None)  # a latent's or error node's SAE
        saes = {n: ctx.sae(n) for n in ctx.ws.saes if n == source}
        for hook, when, fn in target_hooks(target.node, nm, saes, store):
            (sites[hook].pre if when == "pre" else sites[hook].post).append(fn)
        read = sites[target.read_hook]
        (read.pre if target.reads_before_splice else read.post).append(_saver(store, "read"))
    for hook_name, site in sites.items():
        hooks[hook_name].append(_site_fn(ctx, site, store, latent_edits))
    if ctx.capture_mlp:  # the scale neurons read through (their token read)
        for L in ctx.layers:
            if ln2_hook(L) in nm.adapter.hook_names:
                hooks[ln2_hook(L)].append(_capture(store, f"ln2:{L}"))
    hooks[nm.final_resid].append(_capture(store, "final"))
    return hooks
