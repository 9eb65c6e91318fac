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
:mod:`.scalars_attn`, :mod:`.scalars_sae`, the roll-ups of :mod:`.rollups`; :mod:`.blocks`)
and :mod:`.groups` picks the rows. Only positions up to the target position are nodes (later
ones cannot affect it).

The target may also be a node of the model (:mod:`.node_spec`, ``fc.node(...)``): its value is
read from the same forward pass, its direct effects at the residual stream where it reads, and
only the nodes that reach it are rows; attention targets split into query / key / value sides
(:mod:`.node_targets`). The hooks themselves are built by :mod:`.forward`.
With ablations, one more forward pass without them gives the clean target, so the table
reports the true ablation effect next to the first-order estimates.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..core.inputs import prompt_tokens
from .ablation import Ablation, parse_ablation
from .blocks import node_blocks, profiles
from .context import NODE_TYPES as NODE_TYPES
from .context import Family as Family
from .context import NodeContext
from .context import NodeOptions as NodeOptions
from .dynamics import RowDynamics, row_dynamics
from .forward import build_hooks
from .groups import SIGNED, Block, Selection, select_nodes
from .node_spec import NodeSpec
from .node_targets import NodeTargetSpec, resolve_node_target
from .rollups import concat
from .targets import TargetSpec, make_target, target_values, top_predictions

Target = str | int | NodeSpec | None


@dataclass
class NodeTableResult:
    """Everything a table state is made of (tensors on the CPU)."""

    tokens: Tensor  # [batch, pos]
    spec: TargetSpec | NodeTargetSpec
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
    blocks: list[Block] = field(default_factory=list)  # every node's value in every group (units, then roll-ups)
    dynamics: RowDynamics | None = None  # the rows' promote / suppress and token read (:mod:`.dynamics`)


class NodeTableRunner(NodeContext):
    """Computes node tables for one Workspace (model, SAEs, dataset for mean ablations)."""

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

    def _spec(self, n_pos: int, target: Target, distractor: Any, position: int, side: str) -> Any:
        if isinstance(target, NodeSpec):
            if distractor is not None:
                raise ValueError(f"a node target takes no distractor; got distractor={distractor!r}")
            saes = {n: self.ws.saes[n] for n in self.ws.saes}
            return resolve_node_target(target, side, n_pos, self.nm, saes, self.opts.freeze_target_ln)
        if side != "total":
            raise ValueError(f"side={side!r} splits an attention node target; a token target has only side='total'")
        ids = (self.token_id(target, "target"), self.token_id(distractor, "distractor"))
        return make_target(n_pos, position, *ids, self.ws.adapter.d_vocab)

    # -- the table -------------------------------------------------------------------------
    def run(
        self,
        prompts: Sequence[str | Tensor],
        target: Target,
        distractor: str | int | None = None,
        position: int = -1,
        ablations: Sequence[Any] = (),
        side: str = "total",
    ) -> NodeTableResult:
        """The table, with gradients on whatever the caller's grad mode or inference mode.

        ``target`` is a token (str / id / None, see :mod:`.targets`) at ``position``, or a node
        spec (its own ``pos``; ``position`` is not used); ``side`` splits an attention node target."""
        with torch.inference_mode(False), torch.enable_grad():
            return self._run(prompts, target, distractor, position, ablations, side)

    def _run(
        self,
        prompts: Sequence[str | Tensor],
        target: Target,
        distractor: str | int | None,
        position: int,
        ablations: Sequence[Any],
        side: str,
    ) -> NodeTableResult:
        rows = [self.prompt_tokens(p) for p in prompts]
        if len({len(r) for r in rows}) != 1:
            raise ValueError(f"both prompts must have the same number of tokens; got {[len(r) for r in rows]}")
        tokens = torch.stack(rows).clone()  # a normal tensor even if the prompt was made in inference mode
        n_pos = tokens.shape[1]
        spec = self._spec(n_pos, target, distractor, position, side)
        nm, sizes = self.nm, {n: self.ws.saes[n].d_sae for n in self.ws.saes}
        abls = [
            parse_ablation(a, n_layers=nm.n_layers, n_heads=nm.n_heads, d_mlp=nm.d_mlp(), saes=sizes, n_pos=n_pos)
            for a in ablations
        ]
        node = spec if isinstance(spec, NodeTargetSpec) else None
        store: dict[str, Tensor] = {}
        logits = self.nm.run(tokens, build_hooks(self, store, abls, node))
        values = self._values(logits, tokens, spec, store)
        grad = self._gradients(values, store)
        acts = {k: v.detach() for k, v in store.items() if k != "target"}
        clean = self._clean_target(tokens, spec) if abls else values.detach()
        g = grad["read"] if node is not None else grad["final"]
        units, rollups = node_blocks(self, acts, grad, g, node, spec.position, abls)
        selection = select_nodes(units, self.opts.k, self.opts.groups, SIGNED, n_batch=len(rows))
        if rollups:
            picked = select_nodes(rollups, self.opts.k, self.opts.groups, SIGNED)
            selection = concat(selection, picked) if units else picked
        pred_ids, pred_probs = top_predictions(logits.detach(), spec.position, self.opts.n_predictions)
        return NodeTableResult(
            tokens=tokens,
            spec=spec,
            families=self.families,
            selection=selection,
            profiles=profiles(self, selection, acts),
            target=values.detach().float().cpu(),
            clean_target=clean.detach().float().cpu(),
            pred_ids=pred_ids.cpu(),
            pred_probs=pred_probs.cpu(),
            ablations=abls,
            notes=self._convention_notes(spec),
            captures={**acts, **{f"grad:{k}": g for k, g in grad.items()}},
            blocks=[*units, *rollups],
            dynamics=row_dynamics(self, selection, acts),
        )

    @staticmethod
    def _values(logits: Tensor, tokens: Tensor, spec: TargetSpec | NodeTargetSpec, store: dict[str, Tensor]) -> Tensor:
        """The target of every batch row (differentiable)."""
        if isinstance(spec, NodeTargetSpec):
            return store["target"].float()
        return target_values(logits, tokens.to(logits.device), spec)

    @staticmethod
    def _gradients(values: Tensor, store: dict[str, Tensor]) -> dict[str, Tensor]:
        """The gradient of the targets' sum at each captured node input (zeros where unused), detached."""
        keys = [k for k in store if k.startswith(("mlp:", "z:", "sae:", "err:", "out:")) or k in ("final", "read")]
        if not values.requires_grad:  # nothing upstream reaches it (the value side of a probability)
            return {k: torch.zeros_like(store[k]).detach() for k in keys}
        grads = torch.autograd.grad(values.sum(), [store[k] for k in keys], allow_unused=True)
        return {
            k: (g if g is not None else torch.zeros_like(store[k])).detach() for k, g in zip(keys, grads, strict=True)
        }

    @torch.no_grad()
    def _clean_target(self, tokens: Tensor, spec: TargetSpec | NodeTargetSpec) -> Tensor:
        """The target without the ablations: a second forward pass, without gradients."""
        store: dict[str, Tensor] = {}
        node = spec if isinstance(spec, NodeTargetSpec) else None
        logits = self.nm.run(tokens, build_hooks(self, store, [], node), grad=False)
        return self._values(logits, tokens, spec, store)

    def _convention_notes(self, spec: TargetSpec | NodeTargetSpec) -> list[str]:
        notes = []
        if not self.opts.freeze_final_ln and not isinstance(spec, NodeTargetSpec):
            notes.append("the final LayerNorm scale is not frozen: gradients also flow through it")
        if self.opts.detach_ln_scale:
            notes.append("every block's LayerNorm scale is detached: gradients treat it as a constant")
        if isinstance(spec, NodeTargetSpec):
            return notes + _node_notes(spec, self.opts.freeze_target_ln)
        if spec.kind != "logit_diff":
            notes.append(
                f"the target ({spec.kind}) is not linear in the final residual: direct effects are "
                "first-order estimates"
            )
        return notes


def _node_notes(spec: NodeTargetSpec, freeze: bool) -> list[str]:
    """How a node target's numbers are made (read point, LayerNorm scale, side)."""
    ln = ", ".join(spec.frozen_ln)
    notes = [
        f"direct effects: each node's write · the target's gradient at {spec.read_hook}, where it reads the "
        "residual stream; only nodes that write before it, at positions up to the target's, are rows"
    ]
    if ln:
        notes.append(f"the LayerNorm scale the target reads through ({ln}) is frozen: a constant for gradients")
    elif not freeze:
        notes.append("the LayerNorm scale the target reads through is not frozen: gradients also flow through it")
    if spec.side != "total":
        kept = {"query": "hook_q", "key": "hook_k", "value": "hook_v"}[spec.side]
        notes.append(
            f"{spec.side} side: gradients pass through layer {spec.layer}'s attention by {kept} only "
            "(the other inputs detached); activations and write norms are the whole model's"
        )
    return notes


__all__ = ["NODE_TYPES", "Family", "NodeOptions", "NodeTableResult", "NodeTableRunner", "Target"]
