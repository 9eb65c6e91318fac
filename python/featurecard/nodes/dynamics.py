"""Token dynamics of the table's rows: the tokens each row's write promotes and suppresses, and
for neurons and latents the input tokens that most raise them (:mod:`featurecard.core.dynamics`).

Computed for the selected rows only, from the table's own forward pass (its captures, with the
ablations in place). A row's **write** is the vector whose norm the table's "write magnitude"
column shows:

* neuron ``post[pos, i] · W_out[L][i]``; head pair and head ``z[pos, h] @ W_O[L][h]``, the head's
  whole write at the query position (a pair's row shows its head's); latent ``s · f_i · d_i``;
  error node ``E`` (the error mapped to the residual stream);
* attention layer ``Σ_h z[pos, h] @ W_O[L][h]`` and MLP layer ``post[pos] @ W_out[L]``, without
  ``b_O`` / ``b_out`` (which belong to no node).

Promote / suppress: the write through the final norm at the scale it applied at the row's position
in this pass (``ln_final.hook_scale``, from the captured final residual) and ``W_U``, top and
bottom ``k``, per prompt. Token read (neurons through ``blocks.L.ln2`` at the first prompt's
scale at the row's position; latents of SAEs on the residual stream; no positional embedding):
the reason instead where it does not apply. Rows without a write (an SAE on ``mlp.hook_pre``)
have ids -1 and NaN values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..core.dynamics import (
    TOP_K,
    DynamicsError,
    FrozenReadout,
    TokenRead,
    head_writes,
    latent_token_read,
    neuron_token_read,
    neuron_writes,
    token_dynamics,
)
from ..core.model import block_hook
from .context import NodeContext
from .groups import Selection


@dataclass(frozen=True)
class RowDynamics:
    """Per row: promote / suppress per prompt, token read (first prompt) or its reason."""

    promote_ids: np.ndarray  # int64 [batch, n, k], model token ids, -1 where the row has no write
    promote_values: np.ndarray  # float32 [batch, n, k], NaN there
    suppress_ids: np.ndarray
    suppress_values: np.ndarray
    read_ids: np.ndarray  # int64 [n, k], -1 where there is no token read
    read_values: np.ndarray  # float32 [n, k]
    read_notes: list[str]  # [n] what the read goes through, or why there is none; "" for other rows


def ln2_hook(layer: int) -> str:
    """The hook of a block's second LayerNorm scale (captured for neurons' token read)."""
    return block_hook(layer, "ln2.hook_scale")


def _row_write(ctx: NodeContext, acts: dict[str, Tensor], kind: str, L: int, u: int, p: int, sae: str) -> Tensor | None:
    """The row's write at every prompt ``[batch, d_model]`` (None: no linear path)."""
    nm = ctx.nm
    if kind == "mlp":
        post = acts[f"mlp:{L}"][:, p, u]
        return neuron_writes(nm.w_out(L).float(), torch.full_like(post, u, dtype=torch.long), post.float())
    if kind in ("attn", "head", "attn_layer"):
        heads = head_writes(nm.w_o(L).float(), acts[f"z:{L}"][:, p].float())
        return heads.sum(1) if kind == "attn_layer" else heads[:, u]
    if kind == "mlp_layer":
        return acts[f"mlp:{L}"][:, p].float() @ nm.w_out(L).float()
    hook = ctx.ws.saes[sae].hook_name
    if kind == "sae":
        row = nm.resid_write(hook, ctx.ws.saes[sae].decoder_rows()[u : u + 1])
        f, s = acts[f"sae:{sae}"][:, p, u].float(), acts[f"scale:{sae}"][:, p].float()
        return None if row is None else (s * f[:, None]) * row.float()
    write = nm.resid_write(hook, acts[f"err:{sae}"][:, p])
    return None if write is None else write.float()


def _read(ctx: NodeContext, acts: dict[str, Tensor], kind: str, L: int, u: int, p: int, sae: str) -> TokenRead | str:
    model = ctx.nm.model
    try:
        if kind == "mlp":
            sc = acts.get(f"ln2:{L}")
            return neuron_token_read(model, L, u, 1.0 if sc is None else sc[0, p].float().reshape(()), k=TOP_K)
        return latent_token_read(model, ctx.ws.saes[sae], u, k=TOP_K)
    except DynamicsError as e:
        return str(e)


@torch.no_grad()
def row_dynamics(ctx: NodeContext, sel: Selection, acts: dict[str, Tensor], k: int = TOP_K) -> RowDynamics:
    """Promote / suppress and token read of every row of ``sel`` (see the module docstring)."""
    batch, n = int(acts["final"].shape[0]), len(sel)
    readout = FrozenReadout.of(ctx.nm.model)
    ids = np.full((2, batch, n, k), -1, np.int64)
    vals = np.full((2, batch, n, k), np.nan, np.float32)
    read_ids, read_vals = np.full((n, k), -1, np.int64), np.full((n, k), np.nan, np.float32)
    notes = [""] * n
    for j in range(n):
        fam, L, u, p = (int(t[j]) for t in (sel.family, sel.layer, sel.unit, sel.pos))
        family = ctx.families[fam]
        write = _row_write(ctx, acts, family.kind, L, u, p, family.sae)
        if write is not None:
            scale = readout.norm.scale_of(acts["final"][:, p].float())
            td = token_dynamics(readout, write, scale, k)
            for i, (a, v) in enumerate(((td.promote_ids, td.promote_values), (td.suppress_ids, td.suppress_values))):
                ids[i, :, j], vals[i, :, j] = a.cpu().numpy(), v.float().cpu().numpy()
        if family.kind in ("mlp", "sae"):
            got = _read(ctx, acts, family.kind, L, u, p, family.sae)
            if isinstance(got, str):
                notes[j] = got
            else:
                m = int(got.ids.shape[0])
                read_ids[j, :m], read_vals[j, :m], notes[j] = (
                    got.ids.cpu().numpy(),
                    got.values.cpu().numpy(),
                    got.through,
                )
    return RowDynamics(ids[0], vals[0], ids[1], vals[1], read_ids, read_vals, notes)
