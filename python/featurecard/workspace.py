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

The index is built lazily, in one pass for all SAEs, the first time a card needs it; first
cards come before it (card/first_cards.py), and past the budget it is built in the background.

**Faults.** State changes only when a step is done (an index is stored after its sums, kept
rows are marked as they advance; a background build's result is taken whole), so an interrupt
(Ctrl-C) at any point leaves a Workspace whose next call gives what a fresh one gives. Calls
that read or change the state hold the Workspace's lock; forward calls on the model hold the
model's own lock, one call at a time (:func:`~featurecard.core.forward_guard.forward_guard`).
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from torch import Tensor

from .card import first_cards
from .card.assemble import CardOptions, card_states
from .card.context import CardContext
from .card.correlation import NeuronCorrelationSums
from .card.expand import example_window
from .card.final_rows import FinalRows
from .card.first_cards import Builds, KeptColumns, QuickColumns, StreamedSource, kept_capture, stage_plan, sums_fit
from .card.index import CardIndex
from .card.index_pass import PassResult, index_pass
from .card.quick_cards import Capture, PassGroup, StagedSource, with_neighbours
from .card.store_cache import IndexStores, open_for_workspace, verify_store
from .card.store_pass import B_SUFFIX
from .core.inputs import check_count, check_mapping, check_tokens
from .core.model import ModelAdapter
from .core.sae import SparseAutoencoder
from .core.sources import check_sae, neuron_source
from .core.view import register_workspace
from .views import WorkspaceViews

if TYPE_CHECKING:
    from .core.schema import ExampleWindow, FeatureCardState, SearchResult

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _serialised(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``method`` holding its Workspace's lock (reentrant: methods call each other)."""

    @functools.wraps(method)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with args[0]._lock:  # type: ignore[attr-defined]
            return method(*args, **kwargs)

    return run


class Workspace(WorkspaceViews):
    """Model + named SAEs + token dataset + activation index; the factory of every view."""

    def __init__(self, model: Any, saes: Mapping[str, Any] | None = None, tokens: Tensor | Sequence[str] | None = None,
                 sae_b: Mapping[str, Any] | None = None, *, exclude_bos: bool = True, batch_size: int = 32,
                 seq_len: int = 128, progress: bool = True, card_options: CardOptions | None = None,
                 cache_dir: str | Path | None = None, memory_budget: int | str | None = None) -> None:  # fmt: skip
        self.adapter = ModelAdapter(model)
        self.model = model
        self.exclude_bos = exclude_bos
        self.batch_size = check_count("batch_size", batch_size)
        self.progress = progress
        self.card_options = card_options or CardOptions()
        self._lock = threading.RLock()
        self._stores = IndexStores(cache_dir, memory_budget, exclude_bos)  # indexes on disk (card/store_cache.py)
        self.cache_dir = self._stores.cache_dir
        self.tokens = check_tokens(self.adapter, tokens, check_count("seq_len", seq_len))
        self.saes: dict[str, SparseAutoencoder] = {}
        for name, obj in check_mapping("saes", saes).items():
            self.saes[name] = check_sae(self.adapter, self.tokens, name, obj)
        self.sae_b: dict[str, SparseAutoencoder] = {}
        for name, obj in check_mapping("sae_b", sae_b).items():
            if name not in self.saes:
                raise KeyError(f"sae_b has {name!r}, which is not one of the SAEs {sorted(self.saes)}")
            self.sae_b[name] = check_sae(self.adapter, self.tokens, f"{name} (encoder B)", obj)
        self._neurons: dict[str, SparseAutoencoder] = {}
        self._indexes: dict[str, CardIndex] = {}
        self._neuron_sums: dict[str, NeuronCorrelationSums | None] = {}
        self._final_resid: Tensor | None = None
        # Before the complete index: the kept SAE inputs and the blocks encoded so far (card/quick_cards.py).
        self._capture: Capture | None = None
        self._staged: dict[str, StagedSource] = {}
        self._final_rows: FinalRows | None = None
        self._streamed: dict[str, StreamedSource] = {}  # else streamed passes (card/first_cards.py)
        self._stores.streamed = self._streamed  # they size the complete index (card/store_cache.py)
        self._builds = Builds()
        first_cards.cancel_builds(model)  # a Workspace made again: the last one's builds stop
        weakref.finalize(self, self._builds.cancel)

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

    @_serialised
    def source(self, name: str) -> SparseAutoencoder:
        """An SAE by name, or a hook's neurons (as an identity SAE) by hook name."""
        if name in self.saes:
            return self.saes[name]
        if name.endswith(B_SUFFIX) and name[: -len(B_SUFFIX)] in self.sae_b:  # "mlp0::B": encoder B of mlp0
            return self.sae_b[name[: -len(B_SUFFIX)]]
        if name not in self._neurons:
            self._neurons[name] = neuron_source(self.adapter, self.tokens, name, list(self.saes))
        return self._neurons[name]

    def check_feature(self, name: str, feature: object) -> int:
        n = self.source(name).d_sae
        if isinstance(feature, bool) or not isinstance(feature, int):
            raise TypeError(f"feature must be an int in [0, {n - 1}]; got {feature!r}")
        if not 0 <= feature < n:
            raise IndexError(f"feature {feature} is out of range for {name!r}: accepted 0 .. {n - 1}")
        return feature

    # -- the index -----------------------------------------------------------------------
    def index(self, name: str) -> CardIndex:
        """The activation index of one source, building it (for all SAEs at once) if needed.

        One pass indexes every SAE not indexed yet and its encoder B (as ``"name::B"``); a
        hook's neurons are indexed on their first card. Sources staged for quick cards
        (:meth:`card_state` with ``complete=False``) complete from their kept inputs, without
        a second forward pass; a build under way in the background is waited for (without the
        Workspace's lock: cards of other threads go on meanwhile).
        """
        self._builds.wait(name, self._lock)
        return self._index(name)

    @_serialised
    def _index(self, name: str) -> CardIndex:
        if name.endswith(B_SUFFIX) and name[: -len(B_SUFFIX)] in self.sae_b:
            self._index(name[: -len(B_SUFFIX)])  # encoder B is indexed in its SAE's pass
        self._collect()
        if name not in self._indexes:
            todo = self._group(name)
            for n in [n for n in todo if n in self._staged]:
                self._complete_staged(n)
            rest = {n: s for n, s in todo.items() if n not in self._indexes}
            if rest:
                self._install(self._run_pass(rest, self._final_resid is None, self.adapter, self.progress))
        return self._indexes[name]

    def _run_pass(self, todo: dict[str, SparseAutoencoder], keep_final: bool, adapter: ModelAdapter,
                  progress: bool) -> PassResult:  # fmt: skip
        opts = {**self._pass_options(), "progress": progress}
        result = self._stores.pass_result(adapter, todo, self.tokens, **opts)
        return result or index_pass(adapter, todo, self.tokens, keep_final_resid=keep_final, **opts)

    def _install(self, result: PassResult) -> None:
        if result.final_resid is not None:
            self._final_resid = result.final_resid
        self._neuron_sums.update(result.neuron_sums)
        self._indexes.update(result.indexes)  # last: an index stored means its pass is done
        for n in [n for n in self._streamed if n in result.indexes]:  # in place: the stores read it too
            del self._streamed[n]
        self._builds.forget(result.indexes)

    def _collect(self) -> None:  # the results of the background builds that finished
        for result in self._builds.finished():
            self._install(result)

    def close(self) -> None:
        """Stop the background builds of complete indexes (a later card builds what it needs)."""
        self._builds.cancel()

    def build_progress(self, name: str) -> first_cards.BuildProgress | None:
        """How far the background build of ``name``'s complete index is (None: none is running)."""
        return self._builds.progress(name)

    def building(self, name: str) -> bool:  # the complete index of ``name`` is being built in the background
        return name in self._builds

    def is_complete(self, name: str) -> bool:  # every card panel is ready
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
        fits = sums_fit(staged.sae)
        self._neuron_sums[name] = staged.neuron_sums(index) if fits else None
        self._indexes[name] = index
        if fits:  # else correlated neurons keep reading the kept inputs
            del self._staged[name]
        staged.release_quick()
        assert self._capture is not None
        still = {s.sae.hook_name for s in self._staged.values()}
        for hook in [h for h in self._capture.inputs if h not in still]:
            del self._capture.inputs[hook]  # nothing reads these inputs any more

    def _stage(self, name: str, features: Sequence[int] = ()) -> StagedSource | None:
        """The staged source ``name`` (capturing its inputs if needed, ``features`` encoded on the
        way), or None: a TopK SAE, inputs over the budget (:func:`~featurecard.card.first_cards.stage_plan`),
        or a store."""
        if name in self._staged:
            return self._staged[name]
        if self._stores.active:
            return None
        todo = {n: s for n, s in self._group(name).items() if n not in self._staged}
        missing = stage_plan(todo, self._capture, self.tokens.numel())
        if missing is None:
            return None
        group = None
        if missing or self._capture is None:
            hooks = {s.hook_name: s.d_in for s in missing.values()}
            has_final = self._final_resid is not None or self._final_rows is not None
            if features and name in missing:
                group = PassGroup(missing[name], with_neighbours(features, missing[name].d_sae),
                                  int(self.tokens.shape[1]), self.adapter.device)  # fmt: skip
            opts = self._pass_options()
            cap, resid, rows = kept_capture(self.adapter, hooks, self.tokens, has_final, opts, [group] if group else [])
            if not has_final:
                self._final_resid, self._final_rows = resid, rows
            self._capture = cap if self._capture is None else self._capture.merge(cap)
        for n, s in todo.items():
            self._staged[n] = StagedSource(s, self._capture)
        if group is not None:
            self._staged[name].adopt(group.units, group.builder.finish(by_position=False))
        return self._staged[name]

    def _pass_options(self) -> dict[str, Any]:
        return {"exclude_bos": self.exclude_bos, "batch_size": self.batch_size, "progress": self.progress}

    def card_state(self, name: str, feature: int, complete: bool = True) -> FeatureCardState:
        """The data of one card (what the widget's ``state`` holds).

        With ``complete=False`` and no complete index yet, the card comes from the unit's block
        alone (:mod:`featurecard.card.first_cards`): every panel is final but the correlated latents
        of the same SAE and of encoder B, ``pending`` until the complete index exists."""
        return self.card_states(name, [feature], complete)[0]

    def card_states(self, name: str, features: Sequence[int], complete: bool = True) -> list[FeatureCardState]:
        """Several cards as :meth:`card_state` gives each, made together (an export of N cards uses it)."""
        if complete:
            self._builds.wait(name, self._lock)  # without the lock: other threads' cards go on
        states = self._card_states(name, features, complete)
        if name in self.saes:  # every host's card shows its latent's label ('' none yet)
            labels = self.labels(name)
            for state in states:
                state["label"] = labels.get(int(state["feature"]), "")
        return states

    @_serialised
    def _card_states(self, name: str, features: Sequence[int], complete: bool) -> list[FeatureCardState]:
        features = [self.check_feature(name, f) for f in features]
        self._collect()
        index = self._indexes.get(name)
        quick = None if index is not None or complete else self._quick(name, features)
        if index is None and quick is None:
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
            staged=quick or (KeptColumns(self._staged[name]) if name in self._staged else None),
            final_rows=self._final_rows,
            has_b=name in self.sae_b,
            quick=not complete,
        )
        states = card_states(ctx, features, self.card_options)
        if isinstance(quick, StreamedSource):  # the complete index of its group, in the background
            todo = {n: s for n, s in self._group(name).items() if n not in self._staged}
            keep = self._final_resid is None
            run = lambda a: self._run_pass(todo, keep, a, False)  # noqa: E731
            self._builds.start(self.adapter, todo, run, self.tokens.numel())
        return states

    def _quick(self, name: str, features: Sequence[int] = ()) -> QuickColumns | None:
        """``name``'s first cards: kept inputs, streamed passes, or None (a store has the index)."""
        if name in self._streamed:
            return self._streamed[name]
        staged = self._stage(name, features)
        if staged is not None:
            return KeptColumns(staged)
        if name not in self._builds and self._stores.holds(self.adapter, self._group(name), self.tokens):
            return None
        streamed = StreamedSource(self.adapter, self.source(name), self.tokens, **self._pass_options())
        return self._streamed.setdefault(name, streamed)

    def search(self, name: str, text: str, k: int = 10) -> SearchResult:
        """The ``k`` units of source ``name`` most active on ``text`` (one tiny forward pass)."""
        from .card.search import search_units

        return search_units(self.adapter, self.source(name), self.index(name), text, source=name, k=k)

    def window(self, name: object, feature: object, row: object, position: object) -> ExampleWindow:
        """±20 tokens of dataset row ``row`` around ``position``, with unit ``feature``'s activations."""
        return example_window(self, name, feature, row, position)

    def __repr__(self) -> str:
        saes = ", ".join(f"{n}: {s.hook_name} ({s.d_sae})" for n, s in self.saes.items())
        return (
            f"Workspace({self.adapter.kind}, saes={{{saes}}}, tokens={tuple(self.tokens.shape)}, "
            f"indexed={sorted(self._indexes)})"
        )


def _one_sae_workspace(model: object, saes: Mapping[str, object], tokens: object) -> Workspace:
    """The Workspace behind ``FeatureCard(model, sae, tokens)``, registered (card/ cannot import this module)."""
    return Workspace(model, saes=saes, tokens=cast("Tensor", tokens))


register_workspace(_one_sae_workspace)
