"""The SAE overview's session: what its widget asks of the Workspace (the numbers, cards, labels).

The per-latent numbers come from the SAE's complete activation index over the whole dataset
(:mod:`.stats`); explained variance and CE loss recovered from a few forward passes on the first
rows (:mod:`.recon`); labels from the Workspace's :class:`~.labels.LabelBook`. Everything is
computed once, when the overview is made; a card opens through the Workspace, from the same index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.dataset import TokenRows
from ..core.schema import FeatureCardState
from ..core.token_bytes import token_bytes_of
from ..core.view import CardWorkspace
from .labels import LabelBook, check_label
from .payload import OverviewNumbers, OverviewState, build_overview_state
from .recon import RECON_ROWS, ReconMetrics, check_rows, reconstruction_metrics
from .stats import DENSE_THRESHOLD, LatentIndex, LatentStats, check_threshold, density_histogram, latent_stats


@dataclass(frozen=True)
class OverviewOptions:
    """``dense_threshold``: density above which a latent counts as dense (0.1 = 10% of tokens);
    ``recon_rows``: dataset rows for explained variance and CE loss recovered (64);
    ``batch_size``: rows per forward pass of those."""

    dense_threshold: float = DENSE_THRESHOLD
    recon_rows: int = RECON_ROWS
    batch_size: int = 8

    def __post_init__(self) -> None:
        check_threshold(self.dense_threshold)
        check_rows(self.recon_rows)
        check_rows(self.batch_size)


class OverviewSession:
    """One SAE's overview over a Workspace's dataset (see the module docstring)."""

    def __init__(
        self,
        ws: CardWorkspace,
        name: str,
        index: LatentIndex,
        tokens: TokenRows,
        *,
        exclude_bos: bool,
        labels: LabelBook,
        options: OverviewOptions,
    ) -> None:
        self.ws, self.name, self.index, self.tokens = ws, name, index, tokens
        self.exclude_bos = exclude_bos
        self.book = labels
        self.options = options
        self.stats: LatentStats | None = None
        self.recon: ReconMetrics | None = None

    def compute(self) -> OverviewState:
        """The overview's state (the index must be complete; the forward passes run here)."""
        sae = self.ws.saes[self.name]
        stats = latent_stats(self.index, self.tokens, self.options.dense_threshold)
        recon = reconstruction_metrics(
            self.ws.adapter,
            sae,
            self.tokens,
            exclude_bos=self.exclude_bos,
            max_rows=self.options.recon_rows,
            batch_size=self.options.batch_size,
        )
        self.stats, self.recon = stats, recon
        hist = density_histogram(stats.density)
        numbers = OverviewNumbers(
            density=stats.density,
            max_act=stats.max_act,
            top_token=stats.top_token,
            n_tokens=stats.n_tokens,
            n_dead=stats.n_dead,
            n_dense=stats.n_dense,
            dense_threshold=stats.dense_threshold,
            mean_l0=stats.mean_l0,
            edges=hist.edges,
            counts=hist.counts,
            ticks=hist.ticks,
            recon={
                "explained_variance": recon.explained_variance,
                "ce_clean": recon.ce_clean,
                "ce_sae": recon.ce_sae,
                "ce_zero": recon.ce_zero,
                "ce_recovered": recon.ce_recovered,
            },
            recon_rows=recon.n_rows,
            recon_tokens=recon.n_tokens,
        )
        token_bytes = token_bytes_of(self.ws.adapter.model.tokenizer)
        return build_overview_state(self.name, sae.hook_name, numbers, token_bytes, self.notes(recon))

    def notes(self, recon: ReconMetrics) -> list[str]:
        bos = "BOS excluded" if self.exclude_bos else "BOS included"
        return [
            f"Density, dead / dense counts, mean L0, max activation and top token: every counted token of "
            f"the dataset ({self.index.n_tokens} tokens, {bos}). Dense: density > "
            f"{self.options.dense_threshold:g}.",
            f"Explained variance and CE loss recovered: the first {recon.n_rows} dataset rows "
            f"({recon.n_tokens} counted positions), the SAE's reconstruction (or zeros) spliced in at "
            f"those positions of {self.ws.saes[self.name].hook_name}; CE recovered = "
            "(L_zero − L_sae) / (L_zero − L_clean), next-token loss over every predicted position.",
        ]

    def labels(self) -> dict[str, str]:
        """The SAE's labels as the widget's ``labels`` trait holds them (keys are str)."""
        return {str(k): v for k, v in sorted(self.book.labels(self.name).items())}

    def set_label(self, feature: object, text: object) -> int:
        unit = self.ws.check_feature(self.name, feature)
        self.book.set(self.name, unit, check_label(text))
        return unit

    def card_unit(self, selected: Mapping[str, Any]) -> tuple[str, int]:
        """The (source, unit) of a selection: a row's ``{unit}`` (a latent of this SAE), or the
        open card's own ``{source, unit}`` (its index box, or a link to a correlated neuron or
        latent: any source of the Workspace)."""
        unknown = sorted(set(selected) - {"source", "unit"})
        if unknown:
            raise TypeError(f"a selected latent is {{unit}} or {{source, unit}}; got unknown keys {unknown}")
        source = selected.get("source", self.name)
        if not isinstance(source, str):
            raise TypeError(f"source must be a str (an SAE's name or a hook's); got {source!r}")
        return source, self.ws.check_feature(source, selected.get("unit"))

    def card_state(self, selected: Mapping[str, Any]) -> FeatureCardState:
        source, unit = self.card_unit(selected)
        return self.ws.card_state(source, unit)
