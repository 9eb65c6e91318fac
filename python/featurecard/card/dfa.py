"""Direct feature attribution (DFA) of a card's top examples, for an SAE on an attention output.

As sae_vis and SAEDashboard show it: for each top-activation example, the latent's
pre-activation at the example's own token (the max of its window) split over the source
tokens it attends to, each head's share summed (the method and its exactness are
:mod:`featurecard.core.dfa`, which the prompt view uses too). The model runs again only on the
examples' dataset rows, cut after the last example token each row holds (attention is
causal: no later token changes a DFA), a few rows per forward (:data:`DFA_ELEMENTS`), and stops
at the SAE's layer. A card shows the DFA of the sources inside each example's window; the sources before
it carry ``outside``, so ``Σ values + outside == pre − bias`` for every example.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..core.dfa import DfaInputs, dfa_at, dfa_inputs_rows, dfa_unavailable
from ..core.sae import SparseAutoencoder
from .context import CardContext
from .dfa_payload import ExampleDfa
from .payload import ExampleSeq

#: The most attention-pattern entries (rows × heads × pos²) one forward of the DFA keeps.
DFA_ELEMENTS = 2**24


def _one(
    sae: SparseAutoencoder, feature: int, seq: ExampleSeq, inputs: DfaInputs
) -> tuple[np.ndarray, float, float, float]:
    """One example's DFA at its focus: (values over its window, outside it, pre, bias)."""
    dfa, pre, bias = dfa_at(sae, inputs, seq.focus, torch.tensor([feature]))
    d = dfa[0].double().cpu().numpy()  # sources 0 .. focus
    n = len(seq.token_ids)
    values = np.zeros(n, np.float64)
    shown = d[seq.start : seq.start + n]
    values[: shown.shape[0]] = shown
    return values, float(d[: seq.start].sum()), float(pre[0]), float(bias[0])


@torch.no_grad()
def examples_dfa(ctx: CardContext, wanted: Sequence[tuple[int, Sequence[ExampleSeq]]]) -> list[ExampleDfa | None]:
    """The DFA of each ``(feature, examples)`` of ``wanted`` (None for all where the SAE is not on
    an attention output: :func:`~featurecard.core.dfa.dfa_unavailable` says why)."""
    sae = ctx.sae
    if dfa_unavailable(sae):
        return [None] * len(wanted)
    need: dict[int, int] = {}  # row -> positions its examples read (sources 0 .. focus: causal)
    for _, seqs in wanted:
        for s in seqs:
            need[s.row] = max(need.get(s.row, 0), s.focus + 1)
    rows = sorted(need, key=lambda r: (-need[r], r))  # longest first: a chunk is as long as its first row
    out = [
        ([np.zeros(0)] * len(seqs), np.zeros(len(seqs)), np.zeros(len(seqs)), np.zeros(len(seqs))) for _, seqs in wanted
    ]
    n_heads, lo = int(ctx.adapter.model.cfg.n_heads), 0
    while lo < len(rows):
        per = max(1, DFA_ELEMENTS // (n_heads * need[rows[lo]] ** 2))
        chunk = rows[lo : lo + per]
        cut = max(need[r] for r in chunk)
        ids = ctx.tokens[torch.tensor(chunk), :cut]
        inputs = dict(zip(chunk, dfa_inputs_rows(ctx.adapter, sae, ids), strict=True))
        for (feature, seqs), (values, outside, pre, bias) in zip(wanted, out, strict=True):
            for i, seq in enumerate(seqs):
                if seq.row in inputs:
                    values[i], outside[i], pre[i], bias[i] = _one(sae, feature, seq, inputs[seq.row])
        lo += len(chunk)
    return [
        ExampleDfa(
            values=np.concatenate(v).astype(np.float32) if v else np.zeros(0, np.float32),
            outside=o.astype(np.float32),
            pre=p.astype(np.float32),
            bias=b.astype(np.float32),
        )
        for v, o, p, b in out
    ]
