"""What every part of a node-table computation shares: its options, its node families, and the
checked view of the Workspace (layers, SAEs, LayerNorm scales) that the runner
(:mod:`.table`), its hooks (:mod:`.forward`) and its scalars (:mod:`.blocks`) read."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal, cast

from torch import Tensor

from ..core.model import block_hook, block_hook_template
from ..core.sae import SparseAutoencoder
from .groups import GROUPS
from .node_model import NodeModel

# Unit nodes (neurons, head pairs, latents, error nodes) and the roll-ups (heads summed over
# their sources, whole attention and MLP layers: :mod:`.rollups`).
NODE_TYPES: tuple[str, ...] = ("mlp", "attn", "sae", "error", "head", "layer")
FamilyKind = Literal["mlp", "attn", "sae", "error", "head", "attn_layer", "mlp_layer"]
ROLLUP_KINDS: tuple[str, ...] = ("head", "attn_layer", "mlp_layer")


@dataclass(frozen=True)
class NodeOptions:
    """How a table is computed (``Workspace.nodes(..., **options)``)."""

    k: int = 10
    groups: tuple[str, ...] = GROUPS
    node_types: tuple[str, ...] = NODE_TYPES
    layers: tuple[int, ...] | None = None  # None: every layer
    saes: tuple[str, ...] | None = None  # None: every SAE of the Workspace
    freeze_final_ln: bool = True  # token targets: the final LayerNorm's scale is a constant
    freeze_target_ln: bool = True  # node targets: the LayerNorm scale the target reads through is
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
    """A node type as the table shows it: ``kind`` mlp/attn/sae/error or a roll-up
    (head/attn_layer/mlp_layer); ``name`` "mlp", "attn", the SAE's name, the SAE's name +
    " error" for its error nodes (one unit per position), "heads", "attn layer", "mlp layer"."""

    code: int
    kind: FamilyKind
    name: str
    hook: str  # the SAE's hook; for the others a template with {layer}
    n_units: int
    sae: str = ""  # the SAE's name in the Workspace (sae and error families)


class NodeContext:
    """A Workspace checked for node tables: the layers, SAEs and hooks a table uses."""

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
        self.parallel = NodeModel.resid_mid(0) not in self.nm.adapter.hook_names
        self.capture_mlp = bool({"mlp", "layer"} & set(types))
        self.capture_attn = bool({"attn", "head", "layer"} & set(types))
        # The gradient at each layer's attention and MLP write (its hook_attn_out / hook_mlp_out):
        # the direction a roll-up row's trace projects that write on (:meth:`NodeTableSession.retarget`).
        rollups = bool({"head", "layer"} & set(types))
        outs = {"attn": "hook_attn_out", "mlp": "hook_mlp_out"}
        self.write_grads = {
            f"out:{w}:{L}": block_hook(L, kind)
            for L in (self.layers if rollups else ())
            for w, kind in outs.items()
            if block_hook(L, kind) in self.nm.adapter.hook_names
        }
        need = [self.nm.final_resid]
        for L in self.layers:
            if self.capture_mlp:
                need.append(self.nm.mlp_post(L))
            if self.capture_attn:
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
        c = 2 + 2 * n
        out.append(Family(c, "head", "heads", block_hook_template("attn.hook_z"), self.nm.n_heads))
        out.append(Family(c + 1, "attn_layer", "attn layer", block_hook_template("hook_attn_out"), 1))
        out.append(Family(c + 2, "mlp_layer", "mlp layer", block_hook_template("hook_mlp_out"), 1))
        return out

    def family(self, name: str) -> Family:
        return next(f for f in self.families if f.name == name)

    def family_hook(self, family: Family, layer: int) -> str:
        """The hook where a family's nodes of ``layer`` write (or are spliced in)."""
        if family.kind in ("sae", "error"):
            return family.hook
        if family.kind in ("mlp", "mlp_layer"):
            return self.nm.mlp_post(layer)
        return self.nm.attn_z(layer)

    def sae(self, name: str) -> SparseAutoencoder:
        """The SAE, its weights cloned if they are inference tensors (they cannot be saved for backward)."""
        sae = self.ws.saes[name]
        if not any(isinstance(t, Tensor) and t.is_inference() for t in vars(sae).values()):
            return cast("SparseAutoencoder", sae)
        changes = {k: t.clone() for k, t in vars(sae).items() if isinstance(t, Tensor)}
        return cast("SparseAutoencoder", replace(sae, **changes))
