"""The card's DFA rows on the wire (:class:`~featurecard.core.schema.ExampleDfa`); torch-free.

:mod:`featurecard.card.dfa` computes them for the top-activation examples of a card whose SAE
reads an attention output; the first ``count`` example sequences have one, aligned token for
token with their shown tokens. Size: one float32 per shown token of those examples and three
per example (about 1 KB for 20 examples of 11 tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.codecs import encode_array
from ..core.schema import ExampleDfa as ExampleDfaPayload


@dataclass(frozen=True)
class ExampleDfa:
    """DFA of the first ``count`` example sequences at their own (focus) token."""

    values: np.ndarray  # float32 [Σ shown tokens of those sequences]: each shown source's DFA (0 after the focus)
    outside: np.ndarray  # float32 [count]: the DFA of the sources before the shown window
    pre: np.ndarray  # float32 [count]: the latent's pre-activation at the focus token
    bias: np.ndarray  # float32 [count]: its bias terms, which no source carries

    @property
    def count(self) -> int:
        return int(self.pre.shape[0])


def dfa_payload(dfa: ExampleDfa | None, lengths: list[int]) -> ExampleDfaPayload | None:
    """The wire form of ``dfa``, checked against the shown sequences' ``lengths`` (all of them, in order)."""
    if dfa is None:
        return None
    n = dfa.count
    want = sum(lengths[:n])
    if n > len(lengths) or dfa.values.shape != (want,) or not dfa.outside.shape == dfa.bias.shape == (n,):
        raise ValueError(
            f"DFA of {n} examples holds {dfa.values.shape} values, {dfa.outside.shape} outside and "
            f"{dfa.bias.shape} bias terms; the first {n} of the {len(lengths)} examples show {want} tokens"
        )
    return {
        "count": n,
        "values": encode_array(np.asarray(dfa.values, np.float32), "float32"),
        "outside": encode_array(np.asarray(dfa.outside, np.float32), "float32"),
        "pre": encode_array(np.asarray(dfa.pre, np.float32), "float32"),
        "bias": encode_array(np.asarray(dfa.bias, np.float32), "float32"),
    }
