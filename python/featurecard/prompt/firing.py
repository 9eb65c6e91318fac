"""Which latents of one SAE fire at each token of a prompt, and how high that is for each of them.

The prompt (token ids ``[pos]``, BOS first as the model's tokenizer adds it) runs once through
the model; the SAE's hook value ``x`` at every position (``attn.hook_z`` flattened to
``[n_heads · d_head]``) is encoded by the SAE as the dataset pass encodes it
(:meth:`~featurecard.core.sae.SparseAutoencoder.encode`). A latent **fires** at a token where its
activation is nonzero. Positions the Workspace leaves out of its dataset counts (BOS, by default)
list no latents, as they have no examples or statistics either.

The **quantile** of an activation ``a`` of latent ``f`` is the fraction of the dataset's counted
tokens where ``f``'s activation is below ``a`` (strictly): the latent's nonzero values from its
activation index column, sorted, counted by binary search, plus the tokens where it is zero when
``a > 0``. 0.99 means only 1% of the dataset's tokens reach this value. The index is given as an
object with :class:`LatentColumns`' shape (this view does not import ``card/``).

The SAE's write of a latent at a token, in the hook's space, is ``s(x) · a · d_f`` with ``d_f``
its decoder row (:meth:`~featurecard.core.sae.SparseAutoencoder.decoder_rows`) and ``s(x)`` the
per-token output scale of SAEs that normalise their input (1 otherwise;
:meth:`~featurecard.core.sae.SparseAutoencoder.output_scale`): :mod:`.effects` removes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..core.dataset import keep_mask
from ..core.model import ModelAdapter, flatten_hook_activation
from ..core.sae import SparseAutoencoder


class LatentColumns(Protocol):
    """What the quantiles read of an SAE's complete activation index (``card.index.CardIndex``)."""

    @property
    def n_tokens(self) -> int: ...
    def column(self, unit: int) -> tuple[Int[Tensor, " k"], Float[Tensor, " k"]]: ...


@dataclass(frozen=True)
class PromptFiring:
    """Every (position, latent) pair where a latent fires, by position, largest activation first."""

    ids: np.ndarray  # int64 [n_pos], the prompt's token ids
    counted: np.ndarray  # bool [n_pos], positions the dataset counts (False: BOS when excluded)
    pos: np.ndarray  # int64 [m]
    latent: np.ndarray  # int64 [m]
    act: np.ndarray  # float32 [m]
    scale: np.ndarray  # float32 [n_pos], s(x): the SAE's output scale at each position (1 for most SAEs)
    acts: Tensor  # float32 [n_pos, d_sae], every latent's activation (kept for the card's prompt row)

    @property
    def n_pairs(self) -> int:
        return int(self.pos.shape[0])


def check_max_per_token(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max_per_token must be None (every firing latent) or an int >= 1; got {value!r}")
    return value


@torch.no_grad()
def hook_values(adapter: ModelAdapter, sae: SparseAutoencoder, ids: Int[Tensor, " pos"]) -> Float[Tensor, "pos d_in"]:
    """The SAE's hook value at every position of the prompt (one forward, stopped at the hook)."""
    act = adapter.capture(ids[None], [sae.hook_name])[sae.hook_name]
    return flatten_hook_activation(act, sae.d_in, sae.hook_name)[0]


@torch.no_grad()
def prompt_firing(
    adapter: ModelAdapter,
    sae: SparseAutoencoder,
    ids: Int[Tensor, " pos"],
    *,
    exclude_bos: bool = True,
    max_per_token: int | None = None,
) -> PromptFiring:
    """The latents firing at each counted token (at most ``max_per_token`` of the largest each)."""
    x = hook_values(adapter, sae, ids)
    acts = sae.encode(x).float()  # [pos, d_sae]
    counted = keep_mask(ids[None], adapter.bos_token_id, exclude_bos)[0].to(acts.device)
    acts = torch.where(counted[:, None], acts, torch.zeros_like(acts))
    scale, _ = sae.output_scale(x)
    order = torch.argsort(acts.abs(), dim=-1, descending=True, stable=True)
    n_fire = (acts != 0).sum(-1)
    if max_per_token is not None:
        n_fire = n_fire.clamp(max=max_per_token)
    ranks = torch.arange(acts.shape[-1], device=acts.device)
    take = ranks[None, :] < n_fire[:, None]  # [pos, d_sae] over the sorted order
    pos = torch.nonzero(take, as_tuple=True)[0]
    latent = order[take]
    return PromptFiring(
        ids=ids.cpu().numpy().astype(np.int64),
        counted=counted.cpu().numpy(),
        pos=pos.cpu().numpy().astype(np.int64),
        latent=latent.cpu().numpy().astype(np.int64),
        act=acts[pos, latent].cpu().numpy().astype(np.float32),
        scale=scale[:, 0].float().cpu().numpy(),
        acts=acts.cpu(),
    )


def quantiles(index: LatentColumns, latent: np.ndarray, act: np.ndarray) -> np.ndarray:
    """The fraction of the dataset's counted tokens where each ``latent`` is below its ``act``
    (float64 [m]; NaN when the dataset counts no token). Each distinct latent's column is read
    and sorted once."""
    n = int(index.n_tokens)
    out = np.full(latent.shape[0], np.nan)
    if n == 0:
        return out
    for f in np.unique(latent):
        _, values = index.column(int(f))
        v = np.sort(values.float().cpu().numpy())
        at = latent == f
        a = act[at].astype(np.float32)
        below = np.searchsorted(v, a, side="left") + np.where(a > 0, n - v.shape[0], 0)
        out[at] = below / n
    return out


@torch.no_grad()
def unit_acts(
    adapter: ModelAdapter, sae: SparseAutoencoder, ids: Int[Tensor, " pos"], unit: int, *, exclude_bos: bool = True
) -> np.ndarray:
    """Unit ``unit``'s activation at each token of the prompt (float32 [pos]; 0 where the dataset
    leaves a token out), for a card's prompt row: any source (an SAE, its encoder B, a hook's neurons)."""
    acts = sae.encode(hook_values(adapter, sae, ids)).float()[:, unit]
    counted = keep_mask(ids[None], adapter.bos_token_id, exclude_bos)[0].to(acts.device)
    return torch.where(counted, acts, torch.zeros_like(acts)).cpu().numpy().astype(np.float32)
