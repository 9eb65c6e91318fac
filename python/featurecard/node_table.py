"""Running the model for a node table: one forward and one backward pass per target, batched.

For a prompt (or two prompts of the same length, as one batch) and a target
(:mod:`.compute.targets`), one forward pass with hooks:

* captures every MLP layer's ``hook_post`` and every attention layer's ``hook_pattern``,
  ``hook_v`` and ``hook_z``, and the final residual;
* detaches the final LayerNorm's scale (``ln_final.hook_scale``, Transformer Debugger's
  convention; ``freeze_final_ln=False`` lets gradients through it), so gradients treat it as a constant;
* splices every SAE in at its hook, its input reconstituted from the residual stream
  (:mod:`.adapters.nodes`, :func:`.compute.nodes_sae.splice`);
* applies the ablations (:mod:`.node_ablation`).

Then **one** backward pass of the sum of the rows' targets (rows do not interact) gives the
gradient at every captured activation and at the final residual for every prompt at once;
each family's derived scalars follow in closed form (:mod:`.compute.nodes_mlp`,
:mod:`.compute.nodes_attn`, :mod:`.compute.nodes_sae`) and :mod:`.compute.node_groups` picks
the rows. Only positions up to the target position are nodes (later ones cannot affect it).
With ablations, one more forward pass without them gives the clean target, so the table
reports the true ablation effect next to the first-order estimates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, cast

import torch
from torch import Tensor

from .adapters.model import parse_hook
from .adapters.nodes import HookFn, NodeModel
from .compute.node_groups import GROUPS, SIGNED, Block, Selection, select_nodes
from .compute.nodes_attn import attn_scalars
from .compute.nodes_mlp import mlp_scalars
from .compute.nodes_sae import sae_scalars, splice
from .compute.targets import TargetSpec, make_target, target_values, top_predictions
from .node_ablation import Ablation, edit_units, parse_ablation, replacement

NODE_TYPES: tuple[str, ...] = ("mlp", "attn", "sae")
RECON_TOL = 1e-3  # relative: a reconstitution further than this from the model is not used


@dataclass(frozen=True)
class NodeOptions:
    """How a table is computed (``Workspace.nodes(..., **options)``)."""

    k: int = 10
    groups: tuple[str, ...] = GROUPS
    node_types: tuple[str, ...] = NODE_TYPES
    layers: tuple[int, ...] | None = None  # None: every layer
    saes: tuple[str, ...] | None = None  # None: every SAE of the Workspace
    freeze_final_ln: bool = True
    detach_ln_scale: bool = False  # in the SAE inputs' reconstitution
    reconstitute: bool = True
    n_predictions: int = 5

    @classmethod
    def from_kwargs(cls, **kw: Any) -> NodeOptions:
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(kw) - set(names))
        if unknown:
            raise TypeError(f"unknown node-table options {unknown}; accepted: {names}")
        for key in ("groups", "node_types", "layers", "saes"):
            if kw.get(key) is not None:
                kw[key] = (kw[key],) if isinstance(kw[key], str | int) else tuple(kw[key])
        opts = cls(**kw)
        if isinstance(opts.k, bool) or not isinstance(opts.k, int) or not 1 <= opts.k <= 1000:
            raise ValueError(f"k must be an int in 1 .. 1000; got {opts.k!r}")
        bad = [g for g in opts.groups if g not in GROUPS]
        if bad or not opts.groups:
            raise ValueError(f"groups {list(opts.groups)} must be a non-empty subset of {list(GROUPS)}")
        bad = [t for t in opts.node_types if t not in NODE_TYPES]
        if bad or not opts.node_types:
            raise ValueError(f"node_types {list(opts.node_types)} must be a non-empty subset of {list(NODE_TYPES)}")
        return opts


@dataclass(frozen=True)
class Family:
    """A node type as the table shows it: ``kind`` mlp/attn/sae, ``name`` "mlp", "attn" or the SAE's."""

    code: int
    kind: Literal["mlp", "attn", "sae"]
    name: str
    hook: str  # the SAE's hook; for mlp/attn a template with {layer}
    n_units: int


@dataclass
class NodeTableResult:
    """Everything a table state is made of (tensors on the CPU)."""

    tokens: Tensor  # [batch, pos]
    spec: TargetSpec
    families: list[Family]
    selection: Selection
    profiles: Tensor  # [batch, n, pos]: the node's activation per position (attention: per source)
    target: Tensor  # [batch], with the ablations in place
    clean_target: Tensor  # [batch], without them
    pred_ids: Tensor  # [batch, n_predictions]
    pred_probs: Tensor
    ablations: list[Ablation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    captures: dict[str, Tensor] = field(default_factory=dict)  # detached activations and gradients
    blocks: list[Block] = field(default_factory=list)  # every node's value in every group


class NodeTableRunner:
    """Computes node tables for one Workspace (model, SAEs, dataset for mean ablations)."""

    def __init__(self, ws: Any, options: NodeOptions | None = None) -> None:
        self.ws = ws
        self.opts = options or NodeOptions()
        self.nm = NodeModel(ws.adapter)
        n_layers = self.nm.n_layers
        layers = self.opts.layers if self.opts.layers is not None else tuple(range(n_layers))
        bad = [L for L in layers if not 0 <= L < n_layers]
        if bad:
            raise IndexError(f"layers {bad} are out of range: accepted 0 .. {n_layers - 1}")
        self.layers = tuple(sorted(set(layers)))
        names = self.opts.saes if self.opts.saes is not None else tuple(ws.saes)
        missing = [n for n in names if n not in ws.saes]
        if missing:
            raise KeyError(f"SAEs {missing} are not in this Workspace; it has {sorted(ws.saes)}")
        self.sae_names = names if "sae" in self.opts.node_types else ()
        # A model without a final LayerNorm (normalization_type None) has no scale to freeze.
        self.freeze = self.opts.freeze_final_ln and NodeModel.FINAL_LN_SCALE in self.nm.adapter.hook_names
        need = [self.nm.final_resid]
        for L in self.layers:
            if "mlp" in self.opts.node_types:
                need.append(self.nm.mlp_post(L))
            if "attn" in self.opts.node_types:
                need += [self.nm.attn_pattern(L), self.nm.attn_v(L), self.nm.attn_z(L)]
        self.nm.require(need, "needed by the node table")
        self.families = self._families()

    def _families(self) -> list[Family]:
        out = [
            Family(0, "mlp", "mlp", "blocks.{layer}.mlp.hook_post", self.nm.d_mlp()),
            Family(1, "attn", "attn", "blocks.{layer}.attn.hook_z", self.nm.n_heads),
        ]
        for i, name in enumerate(self.ws.saes):
            sae = self.ws.saes[name]
            out.append(Family(2 + i, "sae", name, sae.hook_name, sae.d_sae))
        return out

    def family(self, name: str) -> Family:
        return next(f for f in self.families if f.name == name)

    # -- inputs ----------------------------------------------------------------------------
    def prompt_tokens(self, prompt: str | Tensor) -> Tensor:
        if isinstance(prompt, str):
            return cast("Tensor", self.ws.adapter.to_tokens(prompt)[0])
        if isinstance(prompt, Tensor) and prompt.ndim in (1, 2) and not prompt.dtype.is_floating_point:
            t = prompt.reshape(-1).to("cpu", torch.int64)
            d_vocab = self.ws.adapter.d_vocab
            if t.numel() == 0 or int(t.min()) < 0 or int(t.max()) >= d_vocab:
                raise ValueError(f"prompt token ids must be in 0 .. {d_vocab - 1} (and at least one)")
            return t
        raise TypeError(f"a prompt is a string or an int tensor of token ids; got {type(prompt).__name__}")

    def token_id(self, token: str | int | None, what: str) -> int | None:
        if token is None or (isinstance(token, int) and not isinstance(token, bool)):
            return token
        if not isinstance(token, str):
            raise TypeError(f"{what} must be a string (one token) or a token id; got {token!r}")
        ids = self.ws.adapter.to_tokens(token, prepend_bos=False)[0].tolist()
        if len(ids) != 1:
            pieces = self.ws.adapter.token_strings(ids)
            raise ValueError(f"{what} {token!r} is {len(ids)} tokens {pieces}; it must be exactly one token")
        return int(ids[0])

    # -- the table -------------------------------------------------------------------------
    def run(
        self,
        prompts: Sequence[str | Tensor],
        target: str | int | None,
        distractor: str | int | None = None,
        position: int = -1,
        ablations: Sequence[Any] = (),
    ) -> NodeTableResult:
        rows = [self.prompt_tokens(p) for p in prompts]
        if len({len(r) for r in rows}) != 1:
            raise ValueError(f"both prompts must have the same number of tokens; got {[len(r) for r in rows]}")
        tokens = torch.stack(rows)
        n_pos = tokens.shape[1]
        if n_pos > self.ws.adapter.n_ctx:
            raise ValueError(f"the prompt has {n_pos} tokens; the model's context is n_ctx={self.ws.adapter.n_ctx}")
        spec = make_target(
            n_pos,
            position,
            self.token_id(target, "target"),
            self.token_id(distractor, "distractor"),
            self.ws.adapter.d_vocab,
        )
        sizes = {n: self.ws.saes[n].d_sae for n in self.ws.saes}
        abls = [
            parse_ablation(
                a, n_layers=self.nm.n_layers, n_heads=self.nm.n_heads, d_mlp=self.nm.d_mlp(), saes=sizes, n_pos=n_pos
            )
            for a in ablations
        ]
        notes = self._convention_notes(spec)
        store: dict[str, Tensor] = {}
        logits = self.nm.run(tokens, self._hooks(store, abls, notes))
        values = target_values(logits, tokens.to(logits.device), spec)
        keys = [k for k in store if k.startswith(("mlp:", "z:", "sae:")) or k == "final"]
        grads = torch.autograd.grad(values.sum(), [store[k] for k in keys], allow_unused=True)
        grad = {
            k: (g if g is not None else torch.zeros_like(store[k])).detach() for k, g in zip(keys, grads, strict=True)
        }
        acts = {k: v.detach() for k, v in store.items()}
        clean = values.detach()
        if abls:
            with torch.no_grad():
                clean_logits = self.nm.run(tokens, self._hooks({}, [], []), grad=False)
                clean = target_values(clean_logits, tokens.to(logits.device), spec)
        blocks = self.blocks(acts, grad, spec.position, abls)
        selection = select_nodes(blocks, self.opts.k, self.opts.groups, SIGNED)
        pred_ids, pred_probs = top_predictions(logits.detach(), spec.position, self.opts.n_predictions)
        captures = {**acts, **{f"grad:{k}": g for k, g in grad.items()}}
        return NodeTableResult(
            tokens=tokens,
            spec=spec,
            families=self.families,
            selection=selection,
            profiles=self._profiles(selection, acts),
            target=values.detach().float().cpu(),
            clean_target=clean.detach().float().cpu(),
            pred_ids=pred_ids.cpu(),
            pred_probs=pred_probs.cpu(),
            ablations=abls,
            notes=notes,
            captures=captures,
            blocks=blocks,
        )

    def _convention_notes(self, spec: TargetSpec) -> list[str]:
        notes = []
        if not self.opts.freeze_final_ln:
            notes.append("the final LayerNorm scale is not frozen: gradients also flow through it")
        if self.opts.detach_ln_scale and self.sae_names:
            notes.append("the LayerNorm scale is detached in the SAE inputs' reconstitution")
        if spec.kind != "logit_diff":
            notes.append(
                f"the target ({spec.kind}) is not linear in the final residual: direct effects are "
                "first-order estimates"
            )
        return notes

    # -- the forward pass's hooks ----------------------------------------------------------
    def _hooks(self, store: dict[str, Tensor], abls: Sequence[Ablation], notes: list[str]) -> dict[str, list[HookFn]]:
        nm, opts = self.nm, self.opts
        hooks: dict[str, list[HookFn]] = defaultdict(list)

        def capture(key: str) -> HookFn:
            def fn(act: Tensor) -> Tensor:
                store[key] = act
                return act

            return fn

        for name in ("hook_embed", "hook_pos_embed"):  # gradients even when the weights are frozen
            if name in nm.adapter.hook_names:
                hooks[name].append(lambda a: a if a.requires_grad else a.detach().requires_grad_(True))
        if self.freeze:
            hooks[NodeModel.FINAL_LN_SCALE].append(NodeModel.detach_hook)
        for L in self.layers:
            if "attn" in opts.node_types:
                hooks[nm.attn_pattern(L)].append(capture(f"pattern:{L}"))
                hooks[nm.attn_v(L)].append(capture(f"v:{L}"))
        sites: dict[str, dict[str, Any]] = defaultdict(lambda: {"keys": [], "saes": [], "edits": []})
        for L in self.layers:
            if "mlp" in opts.node_types:
                sites[nm.mlp_post(L)]["keys"].append(f"mlp:{L}")
            if "attn" in opts.node_types:
                sites[nm.attn_z(L)]["keys"].append(f"z:{L}")
        for name in self.sae_names:
            sites[self.ws.saes[name].hook_name]["saes"].append(name)
        latent_edits: dict[str, dict[tuple[int, int], float]] = defaultdict(dict)
        for ab in abls:
            if ab.family in ("mlp", "attn"):
                hook = nm.mlp_post(ab.layer) if ab.family == "mlp" else nm.attn_z(ab.layer)
                sites[hook]["edits"].append((ab.pos, ab.unit, replacement(self.ws, ab, hook)))
            else:
                if ab.family not in sites[self.ws.saes[ab.family].hook_name]["saes"]:
                    sites[self.ws.saes[ab.family].hook_name]["saes"].append(ab.family)
                latent_edits[ab.family][(ab.pos, ab.unit)] = float(replacement(self.ws, ab, ""))
        for hook_name, site in sites.items():
            src = nm.reconstitution_source(hook_name) if site["saes"] and opts.reconstitute else None
            if src is not None:
                hooks[src].append(capture(f"resid:{src}"))
            hooks[hook_name].append(self._site_fn(hook_name, site, src, store, latent_edits, notes))
        hooks[nm.final_resid].append(capture("final"))
        return hooks

    def _site_fn(
        self,
        hook_name: str,
        site: dict[str, Any],
        src: str | None,
        store: dict[str, Tensor],
        latent_edits: dict[str, dict[tuple[int, int], float]],
        notes: list[str],
    ) -> Callable[[Tensor], Tensor]:
        def fn(act: Tensor) -> Tensor:
            x = act
            if src is not None:
                r = self.nm.reconstitute(hook_name, store[f"resid:{src}"], self.opts.detach_ln_scale).to(act.dtype)
                gap = float((r.detach() - act.detach()).abs().max())
                if gap <= RECON_TOL * (1.0 + float(act.detach().abs().max())):
                    x = r
                else:
                    notes.append(
                        f"{hook_name}: the reconstitution differs from the model by {gap:.3g}; "
                        "the hook's own value was used instead"
                    )
            x, act = edit_units(x, site["edits"]), edit_units(act, site["edits"])
            for key in site["keys"]:
                store[key] = x
            for name in site["saes"]:
                shape = act.shape
                f, out = splice(self.ws.saes[name], x.flatten(2), act.flatten(2), latent_edits.get(name))
                store[f"sae:{name}"] = f
                x = act = out.reshape(shape)
            return x

        return fn

    # -- scalars, rows, profiles -----------------------------------------------------------
    def blocks(self, acts: dict[str, Tensor], grad: dict[str, Tensor], p: int, abls: Sequence[Ablation]) -> list[Block]:
        g = grad["final"]
        blocks: list[Block] = []
        for L in self.layers:
            if f"mlp:{L}" in acts:
                sc = mlp_scalars(acts[f"mlp:{L}"], grad[f"mlp:{L}"], self.nm.w_out(L), g)
                blocks.append(Block(0, L, {k: v[:, : p + 1] for k, v in sc.items()}))
            if f"z:{L}" in acts:
                pattern = acts[f"pattern:{L}"].clone()
                for ab in abls:  # an ablated head at a query position moves nothing any more
                    if ab.family == "attn" and ab.layer == L:
                        pattern[:, ab.unit, ab.pos] = 0
                v = self.nm.expand_kv(acts[f"v:{L}"])
                sc = attn_scalars(pattern, v, grad[f"z:{L}"], self.nm.w_o(L), g)
                blocks.append(Block(1, L, {k: v[:, : p + 1] for k, v in sc.items()}))
        for name in self.sae_names:
            fam, sae = self.family(name), self.ws.saes[name]
            rows = self.nm.resid_write(sae.hook_name, sae.decoder_rows())
            sc = sae_scalars(acts[f"sae:{name}"], grad[f"sae:{name}"], rows, g)
            layer = parse_hook(sae.hook_name).layer
            blocks.append(Block(fam.code, -1 if layer is None else layer, {k: v[:, : p + 1] for k, v in sc.items()}))
        return blocks

    def _profiles(self, sel: Selection, acts: dict[str, Tensor]) -> Tensor:
        batch, n_pos = acts["final"].shape[:2]
        out = torch.zeros(batch, len(sel), n_pos)
        for j in range(len(sel)):
            fam, L, u, q = (int(t[j]) for t in (sel.family, sel.layer, sel.unit, sel.pos))
            if fam == 0:
                out[:, j] = acts[f"mlp:{L}"][:, :, u].float().cpu()
            elif fam == 1:
                out[:, j] = acts[f"pattern:{L}"][:, u, q].float().cpu()
            else:
                out[:, j] = acts[f"sae:{self.families[fam].name}"][:, :, u].float().cpu()
        return out
