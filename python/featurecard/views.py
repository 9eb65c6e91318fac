"""The views a Workspace makes (a mixin of :class:`featurecard.workspace.Workspace`).

Each view's code loads only when that view is asked for; views meet only through the
Workspace, so a card opened from a graph or a table reads the same dataset and index.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from torch import Tensor

from .core.inputs import prompt_tokens
from .core.model import ModelAdapter
from .core.sae import SparseAutoencoder
from .core.schema import FeatureCardState
from .core.token_bytes import token_bytes_of
from .overview.labels import FILE_NAME, LabelBook

if TYPE_CHECKING:
    from .card.widget import FeatureCard
    from .core.view import CardWorkspace
    from .graph.widget import ContributionGraph
    from .nodes.node_spec import NodeSpec
    from .nodes.widget import NodeTable
    from .overview.widget import SaeOverview
    from .prompt.widget import PromptView

_LABEL_BOOK = threading.Lock()  # one LabelBook per Workspace, made once


class WorkspaceViews:
    """The view factories; the Workspace supplies the model, the SAEs and their sources."""

    adapter: ModelAdapter
    saes: dict[str, SparseAutoencoder]
    tokens: Tensor
    exclude_bos: bool
    cache_dir: Path | None
    _labels: LabelBook

    def source(self, name: str) -> SparseAutoencoder:  # the Workspace's (serialised) lookup
        raise NotImplementedError

    def index(self, name: str) -> Any:  # the Workspace's complete activation index of ``name``
        raise NotImplementedError

    @property
    def _host(self) -> CardWorkspace:
        """This Workspace as the views see it (a :class:`~featurecard.core.view.CardWorkspace`)."""
        return cast("CardWorkspace", self)

    def card(self, name: str, feature: int = 0) -> FeatureCard:
        """The FeatureCard widget of latent ``feature`` of the SAE called ``name``."""
        from .card.widget import FeatureCard

        if name not in self.saes:
            raise KeyError(f"no SAE called {name!r}; this Workspace has {sorted(self.saes)}")
        return FeatureCard(workspace=self._host, source=name, feature=feature)

    def neuron_card(self, hook_name: str, index: int = 0) -> FeatureCard:
        """The same card for unit ``index`` of a hook (e.g. ``blocks.0.mlp.hook_post``)."""
        from .card.widget import FeatureCard

        self.adapter.validate_hook(hook_name)
        self.source(hook_name)  # a hook without units at each position (attention patterns) is refused here
        return FeatureCard(workspace=self._host, source=hook_name, feature=index)

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
        neurons', open from the graph, and "trace from here" opens a NodeTable (:meth:`nodes`)
        with a graph node as its target below it (``graph.trace(...)``).
        """
        from .graph.build import GraphOptions
        from .graph.session import GraphSession
        from .graph.widget import ContributionGraph

        opts = GraphOptions.from_kwargs(**options)
        session = GraphSession(self._host, prompt, opts, threshold, trace=self._trace_table)
        return ContributionGraph(session, target=target, threshold=threshold)

    def _trace_table(self, tokens: Tensor, spec: Mapping[str, Any], side: str) -> NodeTable:
        """The NodeTable of ``tokens`` with the node ``spec`` (``NodeSpec.as_dict`` form) as its
        target: what a graph's "trace from here" opens (the graph imports no other view)."""
        from .nodes.node_spec import node_from_dict

        return self.nodes(tokens, target=node_from_dict(dict(spec)), side=side)

    def nodes(
        self,
        prompt: str | Tensor,
        target: str | int | NodeSpec | None = None,
        distractor: str | int | None = None,
        position: int | None = None,
        side: str = "total",
        **kwargs: Any,
    ) -> NodeTable:
        """The NodeTable widget: derived scalars of every MLP neuron, attention head (per token
        pair), SAE latent and error node, and of the roll-ups (heads summed over sources, whole
        attention and MLP layers) for ``prompt`` and a target at ``position`` (default: the last
        token).

        The target is ``logit[target] − logit[distractor]``, or ``log p(target)`` without a
        distractor, or the loss of the next prompt token without a target; or a node of the model,
        ``fc.node("neuron" | "latent" | "error" | "attn" | "write", ...)`` at its own ``pos``
        (trace upstream: only nodes that reach it are rows, see
        :mod:`featurecard.nodes.node_targets`), with ``side="query" | "key" | "value"`` for an
        attention target's gradient through one side. Options: ``compare=`` a second prompt of
        the same length (Left / Right / Diff columns), ``ablations=[{family, layer, unit, pos,
        mode}]``, and those of :class:`featurecard.nodes.table.NodeOptions` (``k``, ``groups``,
        ``node_types``, ``layers``, ``saes``, ``freeze_final_ln``, ``freeze_target_ln``,
        ``detach_ln_scale``, ...).
        """
        from .nodes.session import NodeTableSession
        from .nodes.table import NodeOptions
        from .nodes.widget import NodeTable

        compare = kwargs.pop("compare", None)
        ablations = kwargs.pop("ablations", ())
        prompts = [prompt] if compare is None else [prompt, compare]
        options = NodeOptions.from_kwargs(**kwargs)
        session = NodeTableSession(self, prompts, target, distractor, options, side=side)
        return NodeTable(session, position=position, ablations=ablations)

    def overview(
        self, name: str, *, dense_threshold: float = 0.1, recon_rows: int = 64, batch_size: int = 8, **kwargs: Any
    ) -> SaeOverview:
        """The SaeOverview widget of the SAE called ``name``: on the Workspace's dataset, its latent
        density histogram (log10 density), dead latents (never firing) and dense ones (density >
        ``dense_threshold``), mean L0, and every latent in a sortable, searchable table (density,
        max activation, top token, label) whose rows open cards; and, on the first ``recon_rows``
        dataset rows, the explained variance and CE loss recovered of the SAE spliced in at its hook
        (:mod:`featurecard.overview.recon`). Builds the complete index if needed."""
        from .overview.session import OverviewOptions, OverviewSession
        from .overview.widget import SaeOverview

        if name not in self.saes:
            raise KeyError(f"no SAE called {name!r}; this Workspace has {sorted(self.saes)}")
        options = OverviewOptions(dense_threshold=dense_threshold, recon_rows=recon_rows, batch_size=batch_size)
        book = self._label_book()
        session = OverviewSession(
            self._host, name, self.index(name), self.tokens, exclude_bos=self.exclude_bos, labels=book, options=options
        )
        return SaeOverview(session, **kwargs)

    def prompt(
        self,
        name: str,
        text: str | Tensor | Sequence[int],
        *,
        max_per_token: int | None = None,
        loss_effects: bool = True,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> PromptView:
        """The PromptView widget of ``text`` (or token ids ``[pos]``) through the SAE called ``name``:
        at every token, the latents that fire there (at most ``max_per_token``, largest first),
        ranked by activation, by activation quantile over the Workspace's dataset, or by the exact
        loss effect of removing the latent's write at that token (``loss_effects=False`` skips
        those forward passes; ``batch_size`` pairs per forward); and for an SAE on an attention
        output (``attn.hook_z``), each latent's DFA to its source tokens
        (:mod:`featurecard.prompt`). A latent's card opens below with the prompt on top. Builds
        the complete index if needed (the quantiles read it)."""
        from .prompt.session import PromptOptions, PromptSession
        from .prompt.widget import PromptView

        if name not in self.saes:
            raise KeyError(f"no SAE called {name!r}; this Workspace has {sorted(self.saes)}")
        ids = prompt_tokens(self.adapter, text)
        shown = text if isinstance(text, str) else ""
        options = PromptOptions(max_per_token=max_per_token, loss_effects=loss_effects, batch_size=batch_size)

        def card(source: str, unit: int, focus: int) -> FeatureCardState:
            return self._prompt_card(source, unit, ids, shown, focus)

        session = PromptSession(
            self._host,
            name,
            ids,
            shown,
            self.index(name),
            exclude_bos=self.exclude_bos,
            options=options,
            prompt_card=card,
        )
        return PromptView(session, **kwargs)

    def _prompt_card(self, source: str, unit: int, ids: Tensor, text: str, focus: int) -> FeatureCardState:
        """Unit ``unit``'s card of ``source`` with the prompt ``ids`` above its examples (its
        activation at each token; ``focus`` the token it was opened from, and for an SAE on an
        attention output the unit's DFA there)."""
        from .card.prompt_block import prompt_block, with_prompt
        from .prompt.dfa import unit_dfa
        from .prompt.firing import unit_acts

        state = self._host.card_state(source, unit)
        sae = self.source(source)
        acts = unit_acts(self.adapter, sae, ids, unit, exclude_bos=self.exclude_bos)
        dfa = unit_dfa(self.adapter, sae, ids, focus, unit)
        bytes_of = token_bytes_of(self.adapter.model.tokenizer)
        return with_prompt(state, prompt_block(text, ids.numpy(), acts, focus, bytes_of, dfa))

    def label(self, name: str, feature: int, text: str) -> None:
        """Set the label (a note) of latent ``feature`` of the SAE called ``name``; ``""`` removes it.

        Labels show and are searchable in the SAE's overview, go into its exports, and are saved
        in ``labels.json`` beside the index when the Workspace has a ``cache_dir`` (or was opened
        from a store); otherwise they live as long as the Workspace (:mod:`featurecard.overview.labels`)."""
        if name not in self.saes:
            raise KeyError(f"no SAE called {name!r}; this Workspace has {sorted(self.saes)}")
        self._label_book().set(name, self._host.check_feature(name, feature), text)

    def labels(self, name: str) -> dict[int, str]:
        """The labels of the SAE called ``name``: {latent: text}."""
        if name not in self.saes:
            raise KeyError(f"no SAE called {name!r}; this Workspace has {sorted(self.saes)}")
        return self._label_book().labels(name)

    def watch_labels(self, callback: Callable[[str], None]) -> None:
        """Call the bound method ``callback(name)`` after a label of the SAE called ``name`` changes
        (held weakly: a closed card's method is dropped)."""
        self._label_book().watch(callback)

    def _label_book(self) -> LabelBook:
        with _LABEL_BOOK:
            if getattr(self, "_labels", None) is None:
                pinned = getattr(getattr(self, "_stores", None), "pinned", None)
                folder = Path(pinned.root) if pinned is not None else self.cache_dir
                saes = {n: (s.hook_name, s.d_sae) for n, s in self.saes.items()}
                self._labels = LabelBook(None if folder is None else folder / FILE_NAME, saes)
            return self._labels
