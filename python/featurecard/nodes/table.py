"""Running the model for a node table: one forward and one backward pass per target, batched.

For a prompt (or two prompts of the same length, as one batch) and a target
(:mod:`.targets`), one forward pass with hooks:

* captures every MLP layer's ``hook_post`` and every attention layer's ``hook_pattern``,
  ``hook_v`` and ``hook_z``, and the final residual;
* detaches the final LayerNorm's scale (``ln_final.hook_scale``, Transformer Debugger's
  convention; ``freeze_final_ln=False`` lets gradients through it), so gradients treat it as a constant;
* splices every SAE in at its hook with its error term kept in the graph, as Transformer
  Debugger does (:func:`.scalars_sae.splice`): the model's function and every gradient
  upstream of the SAE are those of the bare model, and each SAE adds its latents and one
  **error node** per position (the hook's value minus the reconstruction);
* applies the ablations (:mod:`.ablation`).

It runs with gradients on whatever the caller's grad mode (``torch.no_grad()``,
``torch.set_grad_enabled(False)``, ``torch.inference_mode()``); the prompt is cloned out of
inference mode, and so are any SAE weights that were made in it.

Then **one** backward pass of the sum of the rows' targets (rows do not interact) gives the
gradient at every captured activation and at the final residual for every prompt at once;
each family's derived scalars follow in closed form (:mod:`.scalars_mlp`,
:mod:`.scalars_attn`, :mod:`.scalars_sae`) and :mod:`.groups` picks
the rows. Only positions up to the target position are nodes (later ones cannot affect it).
With ablations, one more forward pass without them gives the clean target, so the table
reports the true ablation effect next to the first-order estimates.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, cast

import torch
from torch import Tensor

from ..core.inputs import prompt_tokens
from ..core.model import block_hook, block_hook_template, parse_hook
from ..core.sae import SparseAutoencoder
from .ablation import Ablation, edit_units, parse_ablation, replacement
from .groups import GROUPS, SIGNED, Block, Selection, select_nodes
from .node_model import HookFn, NodeModel
from .scalars_attn import attn_scalars
from .scalars_mlp import mlp_scalars
from .scalars_sae import error_scalars, sae_scalars, splice
from .targets import TargetSpec, make_target, target_values, top_predictions

NODE_TYPES: tuple[str, ...] = ("mlp", "attn", "sae", "error")


@dataclass(frozen=True)
class NodeOptions:
    """How a table is computed (``Workspace.nodes(..., **options)``)."""

    k: int = 10
    groups: tuple[str, ...] = GROUPS
    node_types: tuple[str, ...] = NODE_TYPES
    layers: tuple[int, ...] | None = None  # None: every layer
    saes: tuple[str, ...] | None = None  # None: every SAE of the Workspace
    freeze_final_ln: bool = True
    detach_ln_scale: bool = False  # every block's LayerNorm scale is a constant for gradients
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
    """A node type as the table shows it: ``kind`` mlp/attn/sae/error, ``name`` "mlp", "attn", the
    SAE's name, or the SAE's name + " error" for its error nodes (one unit per position)."""

    code: int
    kind: Literal["mlp", "attn", "sae", "error"]
    name: str
    hook: str  # the SAE's hook; for mlp/attn a template with {layer}
    n_units: int
    sae: str = ""  # the SAE's name in the Workspace (sae and error families)


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
        bad = [L for L in layers if isinstance(L, bool) or not isinstance(L, int) or not 0 <= L < n_layers]
        if bad:
            raise IndexError(f"layers {bad} are out of range: accepted ints 0 .. {n_layers - 1}")
        self.layers = tuple(sorted(set(layers)))
        names = self.opts.saes if self.opts.saes is not None else tuple(ws.saes)
        missing = [n for n in names if n not in ws.saes]
        if missing:
            raise KeyError(f"SAEs {missing} are not in this Workspace; it has {sorted(ws.saes)}")
        types = self.opts.node_types
        self.sae_names = names if "sae" in types or "error" in types else ()
        # A model without a final LayerNorm (normalization_type None) has no scale to freeze.
        self.freeze = self.opts.freeze_final_ln and NodeModel.FINAL_LN_SCALE in self.nm.adapter.hook_names
        self.ln_scales = (
            [block_hook(L, kind) for L in range(n_layers) for kind in ("ln1.hook_scale", "ln2.hook_scale")]
            if self.opts.detach_ln_scale
            else []
        )
        self.ln_scales = [n for n in self.ln_scales if n in self.nm.adapter.hook_names]
        if self.opts.detach_ln_scale and not self.ln_scales:
            raise ValueError("detach_ln_scale=True needs blocks.L.ln1/ln2.hook_scale hooks; this model has none")
        need = [self.nm.final_resid]
        for L in self.layers:
            if "mlp" in types:
                need.append(self.nm.mlp_post(L))
            if "attn" in types:
                need += [self.nm.attn_pattern(L), self.nm.attn_v(L), self.nm.attn_z(L)]
        self.nm.require(need, "needed by the node table")
        self.families = self._families()
        self.codes = {(f.kind, f.sae): f.code for f in self.families}

    def _families(self) -> list[Family]:
        out = [
            Family(0, "mlp", "mlp", block_hook_template("mlp.hook_post"), self.nm.d_mlp()),
            Family(1, "attn", "attn", block_hook_template("attn.hook_z"), self.nm.n_heads),
        ]
        n = len(self.ws.saes)
        for i, name in enumerate(self.ws.saes):
            sae = self.ws.saes[name]
            out.append(Family(2 + i, "sae", name, sae.hook_name, sae.d_sae, name))
        for i, name in enumerate(self.ws.saes):
            out.append(Family(2 + n + i, "error", f"{name} error", self.ws.saes[name].hook_name, 1, name))
        return out

    def family(self, name: str) -> Family:
        return next(f for f in self.families if f.name == name)

    # -- inputs ----------------------------------------------------------------------------
    def prompt_tokens(self, prompt: str | Tensor | Sequence[int]) -> Tensor:
        """One prompt's ids ``[pos]`` (text gets BOS; a text longer than ``n_ctx`` is refused)."""
        return prompt_tokens(self.ws.adapter, prompt)

    def token_id(self, token: str | int | None, what: str) -> int | None:
        if token is None:
            return None
        if not isinstance(token, str):
            try:  # an int, a numpy int, a 0-d int tensor; never a bool, a float or a list
                if isinstance(token, bool):
                    raise TypeError
                return operator.index(token)
            except TypeError:
                raise TypeError(f"{what} must be a string (one token) or an int token id; got {token!r}") from None
        ids = self.ws.adapter.to_tokens(token, prepend_bos=False)[0].tolist()
        if len(ids) != 1:
            pieces = self.ws.adapter.token_strings(ids)
            raise ValueError(f"{what} {token!r} is {len(ids)} tokens {pieces}; it must be exactly one token")
        return int(ids[0])

    def _sae(self, name: str) -> SparseAutoencoder:
        """The SAE, its weights cloned if they are inference tensors (they cannot be saved for backward)."""
        sae = self.ws.saes[name]
        if not any(isinstance(t, Tensor) and t.is_inference() for t in vars(sae).values()):
            return cast("SparseAutoencoder", sae)
        changes = {k: t.clone() for k, t in vars(sae).items() if isinstance(t, Tensor)}
        return cast("SparseAutoencoder", replace(sae, **changes))

    # -- the table -------------------------------------------------------------------------
    def run(
        self,
        prompts: Sequence[str | Tensor],
        target: str | int | None,
        distractor: str | int | None = None,
        position: int = -1,
        ablations: Sequence[Any] = (),
    ) -> NodeTableResult:
        """The table, with gradients on whatever the caller's grad mode or inference mode."""
        with torch.inference_mode(False), torch.enable_grad():
            return self._run(prompts, target, distractor, position, ablations)

    def _run(
        self,
        prompts: Sequence[str | Tensor],
        target: str | int | None,
        distractor: str | int | None,
        position: int,
        ablations: Sequence[Any],
    ) -> NodeTableResult:
        rows = [self.prompt_tokens(p) for p in prompts]
        if len({len(r) for r in rows}) != 1:
            raise ValueError(f"both prompts must have the same number of tokens; got {[len(r) for r in rows]}")
        tokens = torch.stack(rows).clone()  # a normal tensor even if the prompt was made in inference mode
        n_pos, ids = tokens.shape[1], (self.token_id(target, "target"), self.token_id(distractor, "distractor"))
        spec = make_target(n_pos, position, *ids, self.ws.adapter.d_vocab)
        nm, sizes = self.nm, {n: self.ws.saes[n].d_sae for n in self.ws.saes}
        abls = [
            parse_ablation(a, n_layers=nm.n_layers, n_heads=nm.n_heads, d_mlp=nm.d_mlp(), saes=sizes, n_pos=n_pos)
            for a in ablations
        ]
        notes = self._convention_notes(spec)
        store: dict[str, Tensor] = {}
        logits = self.nm.run(tokens, self._hooks(store, abls))
        values = target_values(logits, tokens.to(logits.device), spec)
        grad = self._gradients(values, store)
        acts = {k: v.detach() for k, v in store.items()}
        clean = self._clean_target(tokens, spec, logits.device) if abls else values.detach()
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

    @staticmethod
    def _gradients(values: Tensor, store: dict[str, Tensor]) -> dict[str, Tensor]:
        """The gradient of the targets' sum at each captured node input (zeros where unused), detached."""
        keys = [k for k in store if k.startswith(("mlp:", "z:", "sae:", "err:")) or k == "final"]
        grads = torch.autograd.grad(values.sum(), [store[k] for k in keys], allow_unused=True)
        return {
            k: (g if g is not None else torch.zeros_like(store[k])).detach() for k, g in zip(keys, grads, strict=True)
        }

    @torch.no_grad()
    def _clean_target(self, tokens: Tensor, spec: TargetSpec, device: torch.device) -> Tensor:
        """The target without the ablations: a second forward pass, without hooks or gradients."""
        return target_values(self.nm.run(tokens, self._hooks({}, []), grad=False), tokens.to(device), spec)

    def _convention_notes(self, spec: TargetSpec) -> list[str]:
        notes = []
        if not self.opts.freeze_final_ln:
            notes.append("the final LayerNorm scale is not frozen: gradients also flow through it")
        if self.opts.detach_ln_scale:
            notes.append("every block's LayerNorm scale is detached: gradients treat it as a constant")
        if spec.kind != "logit_diff":
            notes.append(
                f"the target ({spec.kind}) is not linear in the final residual: direct effects are "
                "first-order estimates"
            )
        return notes

    # -- the forward pass's hooks ----------------------------------------------------------
    def _hooks(self, store: dict[str, Tensor], abls: Sequence[Ablation]) -> dict[str, list[HookFn]]:
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
        for name in self.ln_scales:
            hooks[name].append(NodeModel.detach_hook)
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
            hooks[hook_name].append(self._site_fn(site, store, latent_edits))
        hooks[nm.final_resid].append(capture("final"))
        return hooks

    def _site_fn(
        self, site: dict[str, Any], store: dict[str, Tensor], latent_edits: dict[str, dict[tuple[int, int], float]]
    ) -> Callable[[Tensor], Tensor]:
        def fn(act: Tensor) -> Tensor:
            act = edit_units(act, site["edits"])
            for key in site["keys"]:
                store[key] = act
            for name in site["saes"]:
                shape = act.shape
                sp = splice(self._sae(name), act.flatten(2), latent_edits.get(name))
                store[f"sae:{name}"], store[f"err:{name}"], store[f"scale:{name}"] = sp.latents, sp.error, sp.scale
                act = sp.out.reshape(shape)
            return act

        return fn

    # -- scalars, rows, profiles -----------------------------------------------------------
    @torch.no_grad()
    def blocks(self, acts: dict[str, Tensor], grad: dict[str, Tensor], p: int, abls: Sequence[Ablation]) -> list[Block]:
        g = grad["final"]
        blocks: list[Block] = []

        def add(code: int, layer: int | None, sc: dict[str, Tensor]) -> None:
            blocks.append(Block(code, -1 if layer is None else layer, {k: v[:, : p + 1] for k, v in sc.items()}))

        for L in self.layers:
            if f"mlp:{L}" in acts:
                add(0, L, mlp_scalars(acts[f"mlp:{L}"], grad[f"mlp:{L}"], self.nm.w_out(L), g))
            if f"z:{L}" in acts:
                pattern = acts[f"pattern:{L}"].clone()
                for ab in abls:  # an ablated head at a query position moves nothing any more
                    if ab.family == "attn" and ab.layer == L:
                        pattern[:, ab.unit, ab.pos] = 0
                v = self.nm.expand_kv(acts[f"v:{L}"])
                add(1, L, attn_scalars(pattern, v, grad[f"z:{L}"], self.nm.w_o(L), g))
        types = self.opts.node_types
        for name in self.sae_names:
            sae, layer = self.ws.saes[name], parse_hook(self.ws.saes[name].hook_name).layer
            if "sae" in types:
                rows = self.nm.resid_write(sae.hook_name, sae.decoder_rows())
                sc = sae_scalars(acts[f"sae:{name}"], grad[f"sae:{name}"], rows, g, acts[f"scale:{name}"])
                add(self.codes["sae", name], layer, sc)
            if "error" in types:
                e = acts[f"err:{name}"]
                write = self.nm.resid_write(sae.hook_name, e.reshape(-1, e.shape[-1]))
                write = None if write is None else write.reshape(*e.shape[:2], -1)
                add(self.codes["error", name], layer, error_scalars(e, grad[f"err:{name}"], write, g))
        return blocks

    def _profiles(self, sel: Selection, acts: dict[str, Tensor]) -> Tensor:
        batch, n_pos = acts["final"].shape[:2]
        out = torch.zeros(batch, len(sel), n_pos)
        for j in range(len(sel)):
            fam, L, u, q = (int(t[j]) for t in (sel.family, sel.layer, sel.unit, sel.pos))
            family = self.families[fam]
            if family.kind == "mlp":
                out[:, j] = acts[f"mlp:{L}"][:, :, u].float().cpu()
            elif family.kind == "attn":
                out[:, j] = acts[f"pattern:{L}"][:, u, q].float().cpu()
            elif family.kind == "sae":
                out[:, j] = acts[f"sae:{family.sae}"][:, :, u].float().cpu()
            else:
                out[:, j] = acts[f"err:{family.sae}"].float().norm(dim=-1).cpu()
        return out
