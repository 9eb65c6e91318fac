"""The Workspace: one object that owns the model, the named SAEs, the dataset and the index.

Every widget is a view made from a Workspace, so a latent clicked in a graph or a table opens
its card from the same dataset and the same activation index. Inputs are validated here, at
construction, with errors that name the bad value and what is accepted:

* ``model``: a TransformerLens ``HookedTransformer`` or ``TransformerBridge``;
* ``saes``: ``{name: sae}``, each a SAELens ``SAE``, a path to a SAELens folder, or a mapping
  with ``W_enc, b_enc, W_dec, b_dec`` and ``hook_name``; its hook must exist in the model and
  give vectors of the SAE's ``d_in``;
* ``tokens``: an integer tensor ``[batch, pos]`` of ids below the vocabulary size with
  ``pos <= n_ctx``, or a list of strings (tokenized with the model's tokenizer, joined with BOS
  and cut into rows; one string is one document);
* ``sae_b``: optional ``{name: encoder}`` used by later cards (correlated latents of B);
* ``batch_size``, ``seq_len``: ints >= 1 (:mod:`featurecard.core.inputs` holds the checks).

The index is built lazily, in one pass for all SAEs, the first time a card needs it.

**Faults.** State changes only when a step is done (an index is stored after its sums, kept
rows are marked as they advance), so an interrupt (Ctrl-C) at any point leaves a Workspace whose
next call gives what a fresh one gives. Calls that read or change the state hold the
Workspace's lock (two threads' cards are made one after the other); forward calls on the model
hold the model's own lock, one call at a time (:func:`~featurecard.core.model.forward_guard`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from torch import Tensor

from .card.assemble import CardOptions, card_states
from .card.context import CardContext
from .card.correlation import NeuronCorrelationSums
from .card.index import CardIndex
from .card.index_pass import NEURON_SUMS_BUDGET, index_pass
from .card.quick_cards import (
    CAPTURE_BUDGET,
    Capture,
    FinalRows,
    StagedSource,
    capture_bytes,
    capture_pass,
    resid_to_keep,
)
from .card.store_cache import IndexStores, open_for_workspace, verify_store
from .card.store_pass import B_SUFFIX
from .core.inputs import check_count, check_finite, check_mapping, check_tokens, unit_width
from .core.model import HookNameError, ModelAdapter, flatten_hook_activation
from .core.sae import SAEError, SparseAutoencoder, identity_sae
from .core.sae_input import as_sae
from .core.view import register_workspace

if TYPE_CHECKING:
    from .card.widget import FeatureCard
    from .core.schema import FeatureCardState, SearchResult
    from .graph.widget import ContributionGraph
    from .nodes.widget import NodeTable

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _serialised(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``method`` holding its Workspace's lock (reentrant: methods call each other)."""

    @functools.wraps(method)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with args[0]._lock:  # type: ignore[attr-defined]
            return method(*args, **kwargs)

    return run


class Workspace:
    """Model + named SAEs + token dataset + activation index; the factory of every view."""

    def __init__(
        self,
        model: Any,
        saes: Mapping[str, Any] | None = None,
        tokens: Tensor | Sequence[str] | None = None,
        sae_b: Mapping[str, Any] | None = None,
        *,
        exclude_bos: bool = True,
        batch_size: int = 32,
        seq_len: int = 128,
        progress: bool = True,
        card_options: CardOptions | None = None,
        cache_dir: str | Path | None = None,
        memory_budget: int | str | None = None,
    ) -> None:
        self.adapter = ModelAdapter(model)
        self.model = model
        self.exclude_bos = exclude_bos
        self.batch_size = check_count("batch_size", batch_size)
        self.progress = progress
        self.card_options = card_options or CardOptions()
        self._lock = threading.RLock()
        self._stores = IndexStores(cache_dir, memory_budget)  # complete indexes on disk (card/store_cache.py)
        self.cache_dir = self._stores.cache_dir
        self.tokens = check_tokens(self.adapter, tokens, check_count("seq_len", seq_len))
        self.saes: dict[str, SparseAutoencoder] = {}
        for name, obj in check_mapping("saes", saes).items():
            self.saes[name] = self._check_sae(name, obj)
        self.sae_b: dict[str, SparseAutoencoder] = {}
        for name, obj in check_mapping("sae_b", sae_b).items():
            if name not in self.saes:
                raise KeyError(f"sae_b has {name!r}, which is not one of the SAEs {sorted(self.saes)}")
            self.sae_b[name] = self._check_sae(f"{name} (encoder B)", obj)
        self._neurons: dict[str, SparseAutoencoder] = {}
        self._indexes: dict[str, CardIndex] = {}
        self._neuron_sums: dict[str, NeuronCorrelationSums | None] = {}
        self._final_resid: Tensor | None = None
        # Before the complete index: the kept SAE inputs and the blocks encoded so far (card/quick_cards.py).
        self._capture: Capture | None = None
        self._staged: dict[str, StagedSource] = {}
        self._final_rows: FinalRows | None = None

    @classmethod
    def open(cls, store_dir: str | Path, model: Any, saes: Mapping[str, Any] | None = None,
             sae_b: Mapping[str, Any] | None = None, verify: bool = True, **options: Any) -> Workspace:  # fmt: skip
        """The Workspace of the store at ``store_dir`` (``fc.build_index``'s, a ``cache_dir``'s): its tokens and
        SAEs (the folders it records, unless given), the index read lazily. ``verify``: recompute its content
        key from the model, SAEs and tokens, and refuse a mismatch naming what differs."""
        opened = open_for_workspace(store_dir, saes, sae_b)
        ws = cls(model, opened.saes, opened.tokens, opened.sae_b, exclude_bos=opened.exclude_bos, **options)
        if verify:
            verify_store(opened.store, ws.model, ws._group(next(iter(ws.saes))), ws.tokens)
        ws._stores.pinned = opened.store
        return ws

    # -- validation ----------------------------------------------------------------------
    def _check_sae(self, name: str, obj: Any) -> SparseAutoencoder:
        try:
            sae = as_sae(obj)
        except SAEError as e:
            raise SAEError(f"SAE {name!r}: {e}") from e
        check_finite(name, sae)
        self.adapter.validate_hook(sae.hook_name, what=f"the hook of SAE {name!r}")
        probe = self.tokens[:1, : min(4, self.tokens.shape[1])]
        act = self.adapter.capture(probe, [sae.hook_name])[sae.hook_name]
        try:
            flatten_hook_activation(act, sae.d_in, sae.hook_name)
        except ValueError as e:
            raise SAEError(f"SAE {name!r}: {e}") from e
        return sae.to(device=self.adapter.device)

    @_serialised
    def source(self, name: str) -> SparseAutoencoder:
        """An SAE by name, or a hook's neurons (as an identity SAE) by hook name."""
        if name in self.saes:
            return self.saes[name]
        if name.endswith(B_SUFFIX) and name[: -len(B_SUFFIX)] in self.sae_b:  # "mlp0::B": encoder B of mlp0
            return self.sae_b[name[: -len(B_SUFFIX)]]
        if name in self._neurons:
            return self._neurons[name]
        try:
            self.adapter.validate_hook(name)
        except HookNameError as e:
            raise KeyError(f"{name!r} is neither an SAE of this Workspace {sorted(self.saes)} nor a hook: {e}") from e
        probe = self.tokens[:1, : min(4, self.tokens.shape[1])]
        act = self.adapter.capture(probe, [name])[name]
        d = unit_width(name, act, probe.shape[1])
        self._neurons[name] = identity_sae(name, d, device=self.adapter.device, dtype=act.dtype)
        return self._neurons[name]

    def check_feature(self, name: str, feature: object) -> int:
        n = self.source(name).d_sae
        if isinstance(feature, bool) or not isinstance(feature, int):
            raise TypeError(f"feature must be an int in [0, {n - 1}]; got {feature!r}")
        if not 0 <= feature < n:
            raise IndexError(f"feature {feature} is out of range for {name!r}: accepted 0 .. {n - 1}")
        return feature

    # -- the index -----------------------------------------------------------------------
    @_serialised
    def index(self, name: str) -> CardIndex:
        """The activation index of one source, building it (for all SAEs at once) if needed.

        One pass indexes every SAE not indexed yet and its encoder B (as ``"name::B"``); a
        hook's neurons are indexed on their first card. Sources staged for quick cards
        (:meth:`card_state` with ``complete=False``) complete from their kept inputs, without
        a second forward pass.
        """
        if name.endswith(B_SUFFIX) and name[: -len(B_SUFFIX)] in self.sae_b:
            self.index(name[: -len(B_SUFFIX)])  # encoder B is indexed in its SAE's pass
        if name not in self._indexes:
            todo = self._group(name)
            for n in [n for n in todo if n in self._staged]:
                self._complete_staged(n)
            rest = {n: s for n, s in todo.items() if n not in self._indexes}
            if rest:
                opts = self._pass_options()  # the indexes from a store where there is one, else one pass
                result = self._stores.pass_result(self.adapter, rest, self.tokens, **opts) or index_pass(
                    self.adapter, rest, self.tokens, keep_final_resid=self._final_resid is None, **opts
                )
                if result.final_resid is not None:
                    self._final_resid = result.final_resid
                self._neuron_sums.update(result.neuron_sums)
                self._indexes.update(result.indexes)  # last: an index stored means its pass is done
        return self._indexes[name]

    def is_complete(self, name: str) -> bool:
        """Whether the complete index of source ``name`` exists (every card panel is ready)."""
        return name in self._indexes

    def _group(self, name: str) -> dict[str, SparseAutoencoder]:
        """The sources indexed together with ``name``: all SAEs not indexed yet and their encoders B."""
        if name in self.saes:
            todo = {n: s for n, s in self.saes.items() if n not in self._indexes}
            todo.update({f"{n}{B_SUFFIX}": self.sae_b[n] for n in todo if n in self.sae_b})
            return todo
        return {name: self.source(name)}

    def _complete_staged(self, name: str) -> None:
        staged = self._staged[name]  # dropped once the index is stored: an interrupt loses nothing
        index = staged.complete_index(progress=self.progress)
        fits = staged.sae.d_sae * staged.sae.d_in * 8 <= NEURON_SUMS_BUDGET
        self._neuron_sums[name] = staged.neuron_sums(index) if fits else None
        self._indexes[name] = index
        if fits:  # else correlated neurons keep reading the kept inputs
            del self._staged[name]
        staged.release_quick()
        assert self._capture is not None
        still = {s.sae.hook_name for s in self._staged.values()}
        for hook in [h for h in self._capture.inputs if h not in still]:
            del self._capture.inputs[hook]  # nothing reads these inputs any more

    def _stage(self, name: str) -> StagedSource | None:
        """The staged source ``name`` (capturing its inputs if needed), or None where it cannot
        be staged: a TopK SAE, inputs over :data:`CAPTURE_BUDGET`, or a store (whose complete
        index is what gets built and reopened)."""
        if name in self._staged:
            return self._staged[name]
        if self._stores.active:
            return None
        todo = {n: s for n, s in self._group(name).items() if n not in self._staged}
        if not all(s.columnwise for s in todo.values()):
            return None
        have = self._capture.inputs if self._capture is not None else {}
        missing = {n: s for n, s in todo.items() if s.hook_name not in have}
        n_pos = self.tokens.numel()
        held = sum(x.numel() * x.element_size() for x in have.values())
        if held + capture_bytes(missing, n_pos) > CAPTURE_BUDGET:
            return None
        if missing or self._capture is None:
            hooks = {s.hook_name: s.d_in for s in missing.values()}
            has_final = self._final_resid is not None or self._final_rows is not None
            keep_resid = None if has_final else resid_to_keep(self.adapter, hooks, n_pos)
            cap = capture_pass(self.adapter, hooks, self.tokens, keep_resid=keep_resid, **self._pass_options())
            if keep_resid == self.adapter.final_resid_hook:
                self._final_resid = cap.resid
            elif keep_resid is not None and cap.resid is not None:
                self._final_rows = FinalRows(self.adapter, cap.resid, keep_resid, self.batch_size)
            cap.resid = None  # handed over (FinalRows rewrites its rows in place)
            self._capture = cap if self._capture is None else self._capture.merge(cap)
        for n, s in todo.items():
            self._staged[n] = StagedSource(s, self._capture)
        return self._staged[name]

    def _pass_options(self) -> dict[str, Any]:
        return {"exclude_bos": self.exclude_bos, "batch_size": self.batch_size, "progress": self.progress}

    def card_state(self, name: str, feature: int, complete: bool = True) -> FeatureCardState:
        """The data of one card (what the widget's ``state`` holds).

        With ``complete=False`` and no complete index yet, the card comes from the unit's block
        alone (see :mod:`featurecard.card.quick_cards`): every panel is exact and final except the
        correlated latents of the same SAE and of encoder B, listed in the state's ``pending``
        until the complete index exists (the widget then asks for it and redraws).
        """
        return self.card_states(name, [feature], complete)[0]

    @_serialised
    def card_states(self, name: str, features: Sequence[int], complete: bool = True) -> list[FeatureCardState]:
        """The data of several cards, as :meth:`card_state` gives each, made together: the
        later blocks run once for the tokens all of them show (what an export of N cards uses)."""
        features = [self.check_feature(name, f) for f in features]
        index = self._indexes.get(name)
        if index is None and (complete or self._stage(name) is None):
            index = self.index(name)
        ctx = CardContext(
            adapter=self.adapter,
            source=name,
            sae=self.source(name),
            index=index,
            tokens=self.tokens,
            neuron_sums=self._neuron_sums.get(name),
            final_resid=self._final_resid,
            index_b=self._indexes.get(f"{name}{B_SUFFIX}"),
            staged=self._staged.get(name),
            final_rows=self._final_rows,
            has_b=name in self.sae_b,
        )
        return card_states(ctx, features, self.card_options)

    def search(self, name: str, text: str, k: int = 10) -> SearchResult:
        """The ``k`` units of source ``name`` most active on ``text`` (one tiny forward pass)."""
        from .card.search import search_units

        return search_units(self.adapter, self.source(name), self.index(name), text, source=name, k=k)

    # -- views ---------------------------------------------------------------------------
    def card(self, name: str, feature: int = 0) -> FeatureCard:
        """The FeatureCard widget of latent ``feature`` of the SAE called ``name``."""
        from .card.widget import FeatureCard

        if name not in self.saes:
            raise KeyError(f"no SAE called {name!r}; this Workspace has {sorted(self.saes)}")
        return FeatureCard(workspace=self, source=name, feature=feature)

    def neuron_card(self, hook_name: str, index: int = 0) -> FeatureCard:
        """The same card for unit ``index`` of a hook (e.g. ``blocks.0.mlp.hook_post``)."""
        from .card.widget import FeatureCard

        self.adapter.validate_hook(hook_name)
        self.source(hook_name)  # a hook without units at each position (attention patterns) is refused here
        return FeatureCard(workspace=self, source=hook_name, feature=index)

    def graph(
        self,
        prompt: str | Tensor | Sequence[int],
        *,
        target: int = -1,
        threshold: float = 0.04,
        **options: Any,
    ) -> ContributionGraph:
        """The ContributionGraph widget: how information flows through the model for ``prompt``
        (text, or token ids ``[pos]``), with the routes to the token at ``target`` drawn.

        ``threshold`` keeps the parts whose share of a residual state exceeds it. Options are
        those of :class:`featurecard.graph.build.GraphOptions` (``keep_above``, ``neurons``,
        ``top_units``, ``logit_lens``, ``lens_k``, ``chunk_elements``). Every SAE of this
        Workspace on a hook of a block is split into its latents; their cards, and the
        neurons', open from the graph.
        """
        from .graph.build import GraphOptions
        from .graph.session import GraphSession
        from .graph.widget import ContributionGraph

        unknown = set(options) - set(GraphOptions.__dataclass_fields__)
        if unknown:
            raise TypeError(
                f"Workspace.graph got unexpected options {sorted(unknown)}; accepted: "
                f"{sorted(GraphOptions.__dataclass_fields__)}"
            )
        session = GraphSession(self, prompt, GraphOptions(**options), threshold)
        return ContributionGraph(session, target=target, threshold=threshold)

    def nodes(
        self,
        prompt: str | Tensor,
        target: str | int | None = None,
        distractor: str | int | None = None,
        position: int = -1,
        **kwargs: Any,
    ) -> NodeTable:
        """The NodeTable widget: derived scalars of every MLP neuron, attention head (per token
        pair) and SAE latent for ``prompt`` and a target at ``position``.

        The target is ``logit[target] − logit[distractor]``, or ``log p(target)`` without a
        distractor, or the loss of the next prompt token without a target. Options:
        ``compare=`` a second prompt of the same length (Left / Right / Diff columns),
        ``ablations=[{family, layer, unit, pos, mode}]``, and those of
        :class:`featurecard.nodes.table.NodeOptions` (``k``, ``groups``, ``node_types``,
        ``layers``, ``saes``, ``freeze_final_ln``, ``detach_ln_scale``, ...).
        """
        from .nodes.session import NodeTableSession
        from .nodes.table import NodeOptions
        from .nodes.widget import NodeTable

        compare = kwargs.pop("compare", None)
        ablations = kwargs.pop("ablations", ())
        prompts = [prompt] if compare is None else [prompt, compare]
        session = NodeTableSession(self, prompts, target, distractor, NodeOptions.from_kwargs(**kwargs))
        return NodeTable(session, position=position, ablations=ablations)

    def __repr__(self) -> str:
        saes = ", ".join(f"{n}: {s.hook_name} ({s.d_sae})" for n, s in self.saes.items())
        return (
            f"Workspace({self.adapter.kind}, saes={{{saes}}}, tokens={tuple(self.tokens.shape)}, "
            f"indexed={sorted(self._indexes)})"
        )


def _one_sae_workspace(model: object, saes: Mapping[str, object], tokens: object) -> Workspace:
    """The Workspace behind ``FeatureCard(model, sae, tokens)``: the card's module cannot import
    this one (it would be a cycle), so this module registers how to build it."""
    return Workspace(model, saes=saes, tokens=cast("Tensor", tokens))


register_workspace(_one_sae_workspace)
