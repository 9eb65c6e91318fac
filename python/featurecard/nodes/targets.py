"""The target of a node table: the one scalar whose gradient says which nodes matter.

Transformer Debugger's default is the **logit difference** ``logit[target] − logit[distractor]``
at one position (``= log p(target) − log p(distractor)``). Without a distractor we use the
target's **log-probability**, and with no target token at all the **loss** at the position:
``−log p(next prompt token)``. Each is computed per batch row (one row per prompt), so one
backward pass of their sum gives every prompt's gradients at once (rows do not interact).

With the final LayerNorm's scale frozen (the caller detaches ``ln_final.hook_scale``, as
Transformer Debugger does), the logits are an affine function of the final residual, so the
logit difference is exactly linear in it and a node's direct effect ``write · grad`` equals the
change from removing the write (tested to 1e-5). Log-probability and loss are not linear in the
logits; for them the direct effect is the first-order estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

TargetKind = Literal["logit_diff", "logprob", "loss"]
TARGET_KINDS: tuple[str, ...] = ("logit_diff", "logprob", "loss")


@dataclass(frozen=True)
class TargetSpec:
    """What to differentiate: ``kind`` at ``position`` (resolved, ``>= 0``)."""

    kind: TargetKind
    position: int
    token: int | None = None
    distractor: int | None = None

    def describe(self, token_text: str | None = None, distractor_text: str | None = None) -> str:
        t = repr(token_text) if token_text is not None else str(self.token)
        d = repr(distractor_text) if distractor_text is not None else str(self.distractor)
        if self.kind == "logit_diff":
            return f"logit {t} − logit {d} at position {self.position}"
        if self.kind == "logprob":
            return f"log p({t}) at position {self.position}"
        return f"loss of the next token at position {self.position}"


def resolve_position(position: int, n_pos: int) -> int:
    """A Python-style position (``-1`` = last) as an index in ``[0, n_pos)``."""
    if isinstance(position, bool) or not isinstance(position, int):
        raise TypeError(f"position must be an int in [{-n_pos}, {n_pos - 1}]; got {position!r}")
    if not -n_pos <= position < n_pos:
        raise IndexError(
            f"position {position} is out of range for a prompt of {n_pos} tokens: accepted {-n_pos} .. {n_pos - 1}"
        )
    return position % n_pos


def make_target(n_pos: int, position: int, token: int | None, distractor: int | None, d_vocab: int) -> TargetSpec:
    """Check the ids and the position, and pick the kind (logit_diff / logprob / loss)."""
    p = resolve_position(position, n_pos)
    for name, t in (("target", token), ("distractor", distractor)):
        if t is not None and not 0 <= t < d_vocab:
            raise ValueError(f"{name} token id {t} is out of range: the vocabulary accepts 0 .. {d_vocab - 1}")
    if token is None:
        if distractor is not None:
            raise ValueError("a distractor needs a target token too (target=...)")
        if p >= n_pos - 1:
            raise ValueError(
                f"with no target token the target is the loss of the next prompt token, which position {p} "
                f"(the last of {n_pos}) does not have: pass target=... or a position in 0 .. {n_pos - 2}"
            )
        return TargetSpec("loss", p)
    if distractor is None:
        return TargetSpec("logprob", p, token)
    if distractor == token:
        raise ValueError(f"the distractor must differ from the target (both are token {token})")
    return TargetSpec("logit_diff", p, token, distractor)


def target_values(
    logits: Float[Tensor, "batch pos d_vocab"], tokens: Int[Tensor, "batch pos"], spec: TargetSpec
) -> Float[Tensor, " batch"]:
    """The target of every batch row (differentiable)."""
    at = logits[:, spec.position].float()
    if spec.kind == "logit_diff":
        assert spec.token is not None and spec.distractor is not None
        return at[:, spec.token] - at[:, spec.distractor]
    logp = torch.log_softmax(at, dim=-1)
    if spec.kind == "logprob":
        assert spec.token is not None
        return logp[:, spec.token]
    nxt = tokens[:, spec.position + 1].to(logp.device)
    return -logp.gather(-1, nxt[:, None])[:, 0]


@torch.no_grad()
def top_predictions(
    logits: Float[Tensor, "batch pos d_vocab"], position: int, k: int = 5
) -> tuple[Int[Tensor, "batch k"], Float[Tensor, "batch k"]]:
    """The ``k`` most likely next tokens at ``position`` and their probabilities."""
    probs = torch.softmax(logits[:, position].float(), dim=-1)
    top = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return top.indices, top.values
