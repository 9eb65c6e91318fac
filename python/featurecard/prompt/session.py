"""The prompt view's session: what its widget asks of the Workspace (the numbers, cards).

Everything is computed once, when the view is made: the firing latents (:mod:`.firing`), their
quantiles over the dataset (from the SAE's complete activation index, given as
:class:`~.firing.LatentColumns`), the loss effects (:mod:`.effects`) and, for an SAE on an
attention output, DFA (:mod:`.dfa`). A card opens through the Workspace from the same index,
with the prompt on top: the Workspace gives this session a ``prompt_card`` callable that makes
a card's state with the prompt block (this view does not import ``card/``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor

from ..core.dfa import dfa_unavailable
from ..core.schema import FeatureCardState
from ..core.token_bytes import token_bytes_of
from ..core.view import CardWorkspace
from .dfa import prompt_dfa
from .effects import check_batch, loss_effects
from .firing import LatentColumns, PromptFiring, check_max_per_token, prompt_firing, quantiles
from .payload import PromptNumbers, PromptState, build_prompt_state

#: (source, unit, focus position) -> that unit's card with the prompt above its examples.
PromptCard = Callable[[str, int, int], FeatureCardState]


@dataclass(frozen=True)
class PromptOptions:
    """``max_per_token``: the most latents kept at a token, largest first (None: every firing one);
    ``loss_effects``: compute the loss effects (one forward per batch of pairs);
    ``batch_size``: pairs per forward (None: as many as keep the logits under 64 MB)."""

    max_per_token: int | None = None
    loss_effects: bool = True
    batch_size: int | None = None

    def __post_init__(self) -> None:
        check_max_per_token(self.max_per_token)
        check_batch(self.batch_size)
        if not isinstance(self.loss_effects, bool):
            raise TypeError(f"loss_effects must be True or False; got {self.loss_effects!r}")


class PromptSession:
    """One prompt seen through one SAE of a Workspace (see the module docstring)."""

    def __init__(
        self,
        ws: CardWorkspace,
        name: str,
        ids: Tensor,
        text: str,
        index: LatentColumns,
        *,
        exclude_bos: bool,
        options: PromptOptions,
        prompt_card: PromptCard,
    ) -> None:
        self.ws, self.name, self.ids, self.text, self.index = ws, name, ids, text, index
        self.exclude_bos, self.options, self.prompt_card = exclude_bos, options, prompt_card
        self.firing: PromptFiring | None = None

    def compute(self) -> PromptState:
        """The view's state (the forward passes run here)."""
        sae = self.ws.saes[self.name]
        adapter = self.ws.adapter
        f = prompt_firing(
            adapter, sae, self.ids, exclude_bos=self.exclude_bos, max_per_token=self.options.max_per_token
        )
        self.firing = f
        q = quantiles(self.index, f.latent, f.act)
        unavailable: dict[str, str] = {}
        if self.options.loss_effects:
            eff = loss_effects(
                adapter, sae, self.ids, f.pos, f.latent, f.act, f.scale, batch_size=self.options.batch_size
            )
            nxt, mean, clean = eff.next, eff.prompt, eff.clean
        else:
            unavailable["loss"] = "loss effects were not computed (loss_effects=False)"
            nxt = mean = np.full(f.n_pairs, np.nan, np.float32)
            clean = np.full(max(0, len(f.ids) - 1), np.nan, np.float32)
        why = dfa_unavailable(sae)
        dfa = None
        if why:
            unavailable["dfa"] = why
        else:
            d = prompt_dfa(adapter, sae, self.ids, f.pos, f.latent)
            dfa = (d.offsets, d.values, d.pre, d.bias)
        numbers = PromptNumbers(
            ids=f.ids, counted=f.counted, pos=f.pos, latent=f.latent, act=f.act, quantile=q,
            loss_next=nxt, loss_prompt=mean, clean_loss=clean, n_tokens=int(self.index.n_tokens), dfa=dfa,
        )  # fmt: skip
        token_bytes = token_bytes_of(adapter.model.tokenizer)
        return build_prompt_state(
            self.name, sae.hook_name, sae.d_sae, self.text, numbers, token_bytes, unavailable, self.notes()
        )

    def notes(self) -> list[str]:
        bos = "BOS excluded, as in the dataset" if self.exclude_bos else "BOS included"
        return [
            f"Latents: every latent of {self.name} with a nonzero activation at the token ({bos}).",
            f"Quantile: the fraction of the dataset's {int(self.index.n_tokens)} counted tokens where the "
            "latent's activation is lower than here.",
            "Loss effect: the next-token loss (and the prompt's mean loss) with the latent's write at this "
            "token removed from the hook's value (the SAE's error term and the other latents kept), minus "
            "the clean loss; positive: the latent helps predict the next token. Exact: the model runs again.",
            "DFA (attention-output SAEs): each source token's share of the latent's pre-activation through "
            "every head's pattern and values; the shares sum to the pre-activation minus its bias terms.",
        ]

    def card_unit(self, selected: Mapping[str, Any]) -> tuple[str, int, int]:
        """The (source, unit, focus position) of a selection: a latent's ``{unit, pos}`` (this SAE's),
        or the open card's own ``{source, unit}`` (its index box or links: any source)."""
        unknown = sorted(set(selected) - {"source", "unit", "pos"})
        if unknown:
            raise TypeError(f"a selected latent is {{unit, pos}} or {{source, unit}}; got unknown keys {unknown}")
        source = selected.get("source", self.name)
        if not isinstance(source, str):
            raise TypeError(f"source must be a str (an SAE's name or a hook's); got {source!r}")
        pos = selected.get("pos", -1)
        n = int(self.ids.shape[0])
        if isinstance(pos, bool) or not isinstance(pos, int) or not -1 <= pos < n:
            raise ValueError(f"pos must be a token position in [0, {n - 1}] (or -1: none); got {pos!r}")
        return source, self.ws.check_feature(source, selected.get("unit")), pos

    def card_state(self, selected: Mapping[str, Any]) -> FeatureCardState:
        return self.prompt_card(*self.card_unit(selected))
