"""The exact loss effect of removing one latent's write at one token of a prompt, batched.

For a pair (position ``p``, latent ``f``) with activation ``a`` there, the model runs again with
the SAE's hook value at ``p`` replaced by

    x_p − s(x_p) · a · d_f

(``d_f`` the latent's decoder row, ``s`` the output scale of an SAE that normalises its input, 1
otherwise: :mod:`.firing`). Nothing else changes: the SAE is not spliced in, so its error term and
every other latent's write stay in the hook value as they were, and the write's effect travels
through every later block (not only the direct path to the logits that a card's hover shows).
With ``L_t`` the next-token cross-entropy at position ``t`` (predicting token ``t + 1``):

* **next-token loss effect** ``Δ_next = L_p(ablated) − L_p(clean)``: positive when the latent
  helps predict the token after it (removing it raises the loss); NaN at the prompt's last
  position, which predicts nothing;
* **prompt loss effect** ``Δ_prompt = mean_t L_t(ablated) − mean_t L_t(clean)`` over every
  predicted position ``t = 0 .. n − 2`` (positions before ``p`` are unchanged, by causality).

Pairs run in batches: each row of a batch is the prompt with one pair's write removed, so a batch
of ``B`` pairs costs one forward pass of ``B`` rows (the clean prompt runs once). The batch size
keeps the logits under :data:`LOGIT_BUDGET` floats. Every forward holds the model's forward lock
and runs without gradients; a forward of another thread is left alone by the hook.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from ..core.forward_guard import forward_guard
from ..core.model import ModelAdapter, flatten_hook_activation
from ..core.sae import SparseAutoencoder

LOGIT_BUDGET = 1 << 24  # floats of logits per batch (64 MB in float32)


@dataclass(frozen=True)
class LossEffects:
    """Per pair: ``next`` (Δ next-token loss) and ``prompt`` (Δ mean prompt loss); the clean losses."""

    next: np.ndarray  # float32 [m]
    prompt: np.ndarray  # float32 [m]
    clean: np.ndarray  # float32 [n_pos - 1], L_t of the clean prompt


def auto_batch(n_pos: int, d_vocab: int) -> int:
    """Rows per forward so that a batch's logits hold at most :data:`LOGIT_BUDGET` floats."""
    return max(1, min(256, LOGIT_BUDGET // max(1, n_pos * d_vocab)))


class _Remove:
    """A hook that subtracts row ``i``'s write ``w_i`` at position ``pos_i`` of batch row ``i``."""

    def __init__(self, sae: SparseAutoencoder, pos: Tensor, writes: Tensor) -> None:
        self.sae, self.pos, self.writes = sae, pos, writes
        self.owner = threading.get_ident()

    def __call__(self, act: Tensor, hook: object = None) -> Tensor:  # noqa: ARG002 - TL passes the HookPoint
        if threading.get_ident() != self.owner:
            return act
        # A contiguous copy: ``clone`` keeps the strides, and TransformerLens's ``hook_z`` is not
        # contiguous, where flattening would copy and the subtraction below would be lost.
        out = act.clone(memory_format=torch.contiguous_format)
        view = flatten_hook_activation(out, self.sae.d_in, self.sae.hook_name)  # a view into ``out``
        assert view.data_ptr() == out.data_ptr()
        rows = torch.arange(self.pos.shape[0], device=out.device)
        view[rows, self.pos] -= self.writes.to(out.dtype)
        return out


def token_losses(logits: Float[Tensor, "b pos v"], ids: Int[Tensor, " pos"]) -> Float[Tensor, "b pos_1"]:
    """Next-token cross-entropy at every predicted position (float32)."""
    logp = F.log_softmax(logits[:, :-1].float(), dim=-1)
    target = ids[1:].to(logits.device).long()[None, :, None].expand(logits.shape[0], -1, 1)
    return -logp.gather(-1, target).squeeze(-1)


def _forward(model: Any, tokens: Tensor, hooks: list[tuple[str, Any]]) -> Tensor:
    with forward_guard(model):
        return cast("Tensor", model.run_with_hooks(tokens, fwd_hooks=hooks))


@torch.no_grad()
def loss_effects(
    adapter: ModelAdapter,
    sae: SparseAutoencoder,
    ids: Int[Tensor, " pos"],
    pos: np.ndarray,
    latent: np.ndarray,
    act: np.ndarray,
    scale: np.ndarray,
    *,
    batch_size: int | None = None,
) -> LossEffects:
    """The loss effects of removing each pair's write (see the module docstring)."""
    n_pos, m = int(ids.shape[0]), int(pos.shape[0])
    dev = adapter.device
    tokens = ids.to(dev)
    clean = token_losses(_forward(adapter.model, tokens[None], []), tokens)[0]  # [n_pos - 1]
    nxt, mean = np.full(m, np.nan, np.float32), np.full(m, np.nan, np.float32)
    if m == 0 or n_pos < 2:
        return LossEffects(nxt, mean, clean.cpu().numpy())
    rows = sae.decoder_rows()
    step = batch_size or auto_batch(n_pos, adapter.d_vocab)
    for s in range(0, m, step):
        p = torch.as_tensor(pos[s : s + step], device=dev)
        f = torch.as_tensor(latent[s : s + step], device=rows.device)
        coef = torch.as_tensor(act[s : s + step] * scale[pos[s : s + step]], device=rows.device, dtype=rows.dtype)
        writes = (coef[:, None] * rows[f]).to(dev)
        hook = _Remove(sae, p, writes)
        batch = tokens[None].expand(p.shape[0], -1)
        delta = token_losses(_forward(adapter.model, batch, [(sae.hook_name, hook)]), tokens) - clean
        has_next = p < n_pos - 1
        got = delta.gather(1, p.clamp(max=n_pos - 2)[:, None])[:, 0]
        nxt[s : s + step] = torch.where(has_next, got, torch.full_like(got, float("nan"))).cpu().numpy()
        mean[s : s + step] = delta.mean(-1).cpu().numpy()
    return LossEffects(nxt, mean, clean.cpu().numpy())


def check_batch(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"batch_size must be None (automatic) or an int >= 1; got {value!r}")
    return value
