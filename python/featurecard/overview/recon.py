"""How well an SAE stands in for its hook: explained variance and CE loss recovered.

On the first ``max_rows`` rows of the Workspace's dataset (64 by default: three forward passes
per row, so the overview stays quick while the index covers the whole dataset), each batch of
rows is run three times through the model:

* **clean**: the model as it is; the hook's activation ``x`` is kept;
* **SAE**: the hook's activation replaced by the SAE's reconstruction in model space,
  ``x̂ = s · decode(encode(x)) + o`` (:meth:`~featurecard.core.sae.SparseAutoencoder.output_scale`
  undoes run-time input normalisation, as SAELens's ``decode`` does), cast back to the model's dtype;
* **zero**: the hook's activation replaced by zeros.

Only the positions the Workspace counts are replaced (BOS stays as it is by default: SAEs are
trained without it and its activation is an outlier), as the embedded default's evaluation does.
Then, with ``L`` the mean next-token cross-entropy over every predicted position of the rows
(what TransformerLens's ``return_type="loss"`` gives), in float32:

* ``ce_recovered = (L_zero − L_sae) / (L_zero − L_clean)`` (the SAELens / sae_vis definition;
  1: the SAE loses nothing, 0: as bad as removing the hook; NaN when ``L_zero == L_clean``);
* ``explained_variance = 1 − Σ‖x − x̂‖² / Σ‖x − mean(x)‖²`` over the counted positions, the mean
  taken over them too (pooled over tokens and dimensions, as SAELens's ``explained_variance``).

Each forward holds the model's forward lock (:func:`~featurecard.core.forward_guard.forward_guard`)
and runs without gradients, whatever the notebook's grad mode; a forward of another thread (the
user's own, during this one) is left alone by our hooks.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor

from ..core.dataset import TokenRows, keep_mask, read_rows
from ..core.forward_guard import forward_guard
from ..core.model import ModelAdapter, flatten_hook_activation
from ..core.sae import SparseAutoencoder

RECON_ROWS = 64  # dataset rows the reconstruction metrics are measured on


@dataclass(frozen=True)
class ReconMetrics:
    """The reconstruction metrics of one SAE (see the module docstring)."""

    explained_variance: float
    ce_clean: float
    ce_sae: float
    ce_zero: float
    n_rows: int  # dataset rows used
    n_tokens: int  # counted positions the SAE was spliced at

    @property
    def ce_recovered(self) -> float:
        gap = self.ce_zero - self.ce_clean
        return (self.ce_zero - self.ce_sae) / gap if gap != 0 else math.nan


def check_rows(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"recon_rows must be an int >= 1; got {value!r}")
    return value


def reconstruct(sae: SparseAutoencoder, x: Float[Tensor, "n d_in"]) -> Float[Tensor, "n d_in"]:
    """The SAE's reconstruction of ``x`` in the hook's (model) space, in the SAE's dtype."""
    scale, offset = sae.output_scale(x)
    return scale * sae.decode(sae.encode(x)) + offset


class _Splice:
    """A hook that swaps the hook's counted positions for the SAE's reconstruction (or zeros),
    or, in mode ``clean``, keeps the activation it saw (flattened to ``[batch, pos, d_in]``)."""

    def __init__(self, sae: SparseAutoencoder, keep: Bool[Tensor, "batch pos"], mode: str) -> None:
        self.sae, self.keep, self.mode = sae, keep, mode
        self.owner = threading.get_ident()
        self.seen: Tensor | None = None

    def _view(self, act: Tensor) -> Tensor:
        head = self.sae.hook_head_index
        if head is not None and act.ndim == 4:
            return act[:, :, head, :]
        return flatten_hook_activation(act, self.sae.d_in, self.sae.hook_name)

    def __call__(self, act: Tensor, hook: object = None) -> Tensor:  # noqa: ARG002 - TL passes the HookPoint
        if threading.get_ident() != self.owner:
            return act
        x = self._view(act)
        if self.mode == "clean":
            self.seen = x.detach().clone()
            return act
        # Contiguous whatever ``act``'s strides (TransformerLens's hook_z is a permuted view): the
        # flatten below must be a view into ``out``, or the splice is written into a copy and lost.
        out = act.clone(memory_format=torch.contiguous_format)
        view = self._view(out)
        kept = x[self.keep]
        new = torch.zeros_like(kept) if self.mode == "zero" else reconstruct(self.sae, kept).to(act.dtype)
        view[self.keep] = new
        return out


def _token_losses(model: Any, tokens: Int[Tensor, "batch pos"], splice: _Splice) -> Float[Tensor, "batch pos_1"]:
    """Next-token cross-entropy at every predicted position, with ``splice`` at the SAE's hook."""
    with forward_guard(model):
        logits = cast("Tensor", model.run_with_hooks(tokens, fwd_hooks=[(splice.sae.hook_name, splice)]))
    logp = F.log_softmax(logits[:, :-1].float(), dim=-1)
    return -logp.gather(-1, tokens[:, 1:, None].long()).squeeze(-1)


@torch.no_grad()
def reconstruction_metrics(
    adapter: ModelAdapter,
    sae: SparseAutoencoder,
    tokens: TokenRows,
    *,
    exclude_bos: bool = True,
    max_rows: int = RECON_ROWS,
    batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
) -> ReconMetrics:
    """Explained variance and CE loss recovered on the first ``max_rows`` rows (see the module docstring)."""
    n_rows = min(check_rows(max_rows), int(tokens.shape[0]))
    if int(tokens.shape[1]) < 2:
        raise ValueError(f"rows of {int(tokens.shape[1])} token(s) have no next token to predict; need >= 2")
    loss = {"clean": 0.0, "sae": 0.0, "zero": 0.0}
    n_pred, rss, sum_x, sum_xx, n_kept = 0, 0.0, None, 0.0, 0
    for start in range(0, n_rows, batch_size):
        batch = read_rows(tokens, start, min(start + batch_size, n_rows), adapter.device)
        keep = keep_mask(batch, adapter.bos_token_id, exclude_bos)
        splices = {mode: _Splice(sae, keep, mode) for mode in loss}
        for mode, splice in splices.items():
            loss[mode] += float(_token_losses(adapter.model, batch, splice).double().sum())
        n_pred += int(batch[:, 1:].numel())
        seen = splices["clean"].seen
        assert seen is not None, f"the hook {sae.hook_name} did not fire"
        x = seen[keep].double()
        x_hat = reconstruct(sae, seen[keep]).double()
        rss += float((x - x_hat).pow(2).sum())
        sum_x = x.sum(0) if sum_x is None else sum_x + x.sum(0)
        sum_xx += float(x.pow(2).sum())
        n_kept += int(x.shape[0])
        if progress is not None:
            progress(int(batch.shape[0]))
    # Σ‖x − mean‖² = Σ‖x‖² − ‖Σx‖² / n, in float64
    tss = sum_xx - (float(sum_x.pow(2).sum()) / n_kept if sum_x is not None and n_kept else 0.0)
    ev = 1.0 - rss / tss if tss > 0 else math.nan
    return ReconMetrics(ev, loss["clean"] / n_pred, loss["sae"] / n_pred, loss["zero"] / n_pred, n_rows, n_kept)
