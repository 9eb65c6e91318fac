"""What a contribution pass computes: :class:`GraphOptions` (``Workspace.graph``'s keyword options)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .contributions import DEFAULT_CHUNK_ELEMENTS


@dataclass(frozen=True)
class GraphOptions:
    """What a contribution pass computes (see :func:`featurecard.graph.build.contributions`)."""

    keep_above: float = 0.01  # edges at or below this share are dropped during the pass
    neurons: bool = True  # per-neuron tops of every MLP
    top_units: int = 10  # neurons / latents kept per (block, position)
    logit_lens: bool = True
    lens_k: int = 10
    promote: bool = True  # the tokens each head, block and listed unit promotes and suppresses
    promote_k: int = 10  # ... how many of each
    promote_neurons: bool = False  # ... also for each listed neuron (triples the payload)
    promote_heads: bool = False  # ... each head's in the pass; False: a node's heads on request (promote.py)
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS

    @classmethod
    def from_kwargs(cls, **kw: Any) -> GraphOptions:
        """The options from ``Workspace.graph``'s keyword arguments; unknown names are refused."""
        unknown = set(kw) - set(cls.__dataclass_fields__)
        if unknown:
            accepted = sorted(cls.__dataclass_fields__)
            raise TypeError(f"Workspace.graph got unexpected options {sorted(unknown)}; accepted: {accepted}")
        return cls(**kw)

    def __post_init__(self) -> None:
        if not 0.0 <= self.keep_above < 1.0:
            raise ValueError(f"keep_above must be in [0, 1); got {self.keep_above}")
        for name in ("top_units", "lens_k", "promote_k", "chunk_elements"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
