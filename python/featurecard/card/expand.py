"""A wider window of one example: ±20 tokens of its dataset row, and the unit's activation at each.

A card's example rows show ``CardOptions.buffer`` tokens around the token each was chosen for
(±5). In the live widget a click on a row asks the kernel for ±:data:`WINDOW_RADIUS` tokens of
the same dataset row around the same token (the ``window`` request of the FeatureCard and of the
views that open cards inline). The activations are computed again, not read from the index, so
the window does not wait for the complete index and holds what the index never stored (the
zeros between the nonzeros): the model runs once on the row up to the window's last token (a
causal model gives every earlier position the activations it has in the whole row), the
source's hook input at the window's positions is encoded (``encode``, as the index pass does,
TopK included), and the unit's column is kept; for a neuron card (an identity source) that is
the neuron's own value. A token the index leaves out (BOS, with ``exclude_bos``) shows 0, as in
the card's rows.

The row and the position are checked first: an error names the value and the accepted range.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from jaxtyping import Int
from torch import Tensor

from ..core.dataset import TokenRows, keep_mask, read_rows
from ..core.model import ModelAdapter, flatten_hook_activation
from ..core.sae import SparseAutoencoder
from ..core.schema import ExampleWindow
from ..core.token_bytes import token_bytes_of
from .payload import window_payload

WINDOW_RADIUS = 20  # tokens shown on each side of the example's token when a row is expanded


def check_index(what: str, value: object, n: int) -> int:
    """``value`` as an index in ``[0, n - 1]``; a TypeError or IndexError naming it and the range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int in [0, {n - 1}]; got {value!r}")
    if not 0 <= value < n:
        raise IndexError(f"{what} {value} is out of range: accepted 0 .. {n - 1}")
    return value


def window_bounds(position: int, seq_len: int, radius: int = WINDOW_RADIUS) -> tuple[int, int]:
    """``[start, stop)``: ``radius`` tokens each side of ``position``, clipped to the row."""
    return max(0, position - radius), min(seq_len, position + radius + 1)


@torch.no_grad()
def unit_acts(
    adapter: ModelAdapter, sae: SparseAutoencoder, row: Int[Tensor, " pos"], unit: int, start: int
) -> np.ndarray:
    """Unit ``unit``'s activation at positions ``start ..`` of ``row`` (the model run on ``row``)."""
    act = adapter.capture(row[None], [sae.hook_name])[sae.hook_name]
    x = flatten_hook_activation(act, sae.d_in, sae.hook_name)[0, start:]  # [n, d_in]
    return np.asarray(sae.encode(x)[:, unit].float().cpu(), dtype=np.float32)


class WindowSource(Protocol):
    """What a window reads of the Workspace (which is one)."""

    @property
    def adapter(self) -> ModelAdapter: ...
    @property
    def tokens(self) -> TokenRows: ...
    @property
    def exclude_bos(self) -> bool: ...
    def source(self, name: str) -> SparseAutoencoder: ...
    def check_feature(self, name: str, feature: object) -> int: ...


def example_window(
    ws: WindowSource, source: object, feature: object, row: object, position: object, radius: int = WINDOW_RADIUS
) -> ExampleWindow:
    """The window of dataset row ``row`` around ``position`` for unit ``feature`` of ``source``
    (an SAE's name or a hook's), checked first: an error names the bad value and the range."""
    if not isinstance(source, str):
        raise TypeError(f"source must be an SAE name or a hook name (a str); got {source!r}")
    unit = ws.check_feature(source, feature)
    n_rows, seq_len = ws.tokens.shape
    r = check_index("row", row, n_rows)
    p = check_index("position", position, seq_len)
    start, stop = window_bounds(p, seq_len, radius)
    ids = read_rows(ws.tokens, r, r + 1, torch.device("cpu"))[0, :stop]
    acts = unit_acts(ws.adapter, ws.source(source), ids, unit, start)
    keep = keep_mask(ids[None, start:], ws.adapter.bos_token_id, ws.exclude_bos)[0]
    acts[~keep.numpy()] = 0.0
    return window_payload(
        source=source,
        feature=unit,
        row=r,
        start=start,
        focus=p - start,
        token_ids=ids[start:].numpy(),
        acts=acts,
        token_bytes=token_bytes_of(ws.adapter.model.tokenizer),
    )
