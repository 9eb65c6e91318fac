"""A HookedTransformer's last block at chosen positions only: exact hover effects for less.

The hover effects of a card need the final residual (``blocks.{L-1}.hook_resid_post``) at
each shown token where the unit fires, a few thousand scattered positions. Everything before
the last block must still run at every position of those rows (later positions read earlier
ones through attention), but the last block itself writes its output position by position:
its output at position ``p`` needs the keys and values of positions ``0..p`` and nothing
else at other positions. So we compute the last block's keys and values once per row (kept
across cards) and its query, attention, output projection and MLP only at the positions a
card shows: on the 256×128-token benchmark, 32 cards show ~3,500 of 32,768 positions.

We call the model's own pieces (``ln1``, ``calculate_qkv_matrices``,
``calculate_attention_scores``, ``calculate_z_scores``, ``apply_rotary``, ``ln2``,
``apply_mlp``) and write only the glue that TransformerLens writes for contiguous queries:
the causal (and local-window) mask and the rotary angles at scattered query positions, the
output projection and the residual sums of ``TransformerBlock.forward``.

**Refused, and why.** :func:`unsupported` names the configurations whose attention our glue
does not reproduce (OLMo's QK-norm and post-norm blocks, clipped or log-n scaled queries,
attention sinks, ALiBi and relative positions, dynamic NTK rotary, bidirectional attention,
split or per-head attention inputs, 4-bit weights); the caller then runs whole rows through
the model's forward. And since a future TransformerLens may change its forward in a way no
list foresees, the caller checks one row against the model's own forward before trusting
this path (:class:`~featurecard.card.final_rows.FinalRows`).
"""

from __future__ import annotations

from typing import Any, cast

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor

from ..core.forward_guard import forward_guard

# Architectures whose attention or block order our glue does not follow.
_OWN_ORDER = {"OlmoeForCausalLM", "Olmo2ForCausalLM", "Olmo3ForCausalLM"}


def unsupported(model: Any, layer: int) -> str | None:
    """Why block ``layer`` of ``model`` cannot be run at scattered positions (None: it can)."""
    cfg = model.cfg
    blocks = getattr(model, "blocks", None)
    if blocks is None or not 0 <= layer < len(blocks):
        return f"the model has no block {layer}"
    attn = getattr(blocks[layer], "attn", None)
    if attn is None:
        return f"block {layer} has no attention module"
    checks = {
        "its architecture orders the block differently": getattr(cfg, "original_architecture", "") in _OWN_ORDER,
        "positions other than standard or rotary": getattr(cfg, "positional_embedding_type", "standard")
        not in ("standard", "rotary"),
        "dynamic NTK rotary": bool(getattr(cfg, "use_dynamic_ntk_rope", False)),
        "clipped q/k/v": getattr(cfg, "clip_qkv", None) is not None,
        "log-n attention scaling": bool(getattr(cfg, "use_logn_attn", False)),
        "attention sinks": bool(getattr(cfg, "use_attention_sinks", False)),
        "bidirectional attention": (getattr(attn, "_attention_dir_override", None) or cfg.attention_dir) != "causal",
        "per-head attention inputs": bool(
            getattr(cfg, "use_attn_in", False) or getattr(cfg, "use_split_qkv_input", False)
        ),
        "4-bit weights": bool(getattr(cfg, "load_in_4bit", False)),
    }
    why = [k for k, v in checks.items() if v]
    return f"block {layer}: " + ", ".join(why) if why else None


class LastBlockAtSpots:
    """One block run at chosen positions of each row, from keys and values computed per row."""

    def __init__(self, model: Any, layer: int) -> None:
        why = unsupported(model, layer)
        if why is not None:
            raise ValueError(f"cannot run {why} at chosen positions only")
        self.model, self.block, self.cfg = model, model.blocks[layer], model.cfg

    @torch.no_grad()
    def keys_values(
        self, resid_pre: Float[Tensor, "rows pos d_model"]
    ) -> tuple[Float[Tensor, "rows pos kv_head d_head"], Float[Tensor, "rows pos kv_head d_head"]]:
        """The block's keys (rotated, for rotary models) and values at every position of the rows."""
        attn = self.block.attn
        with forward_guard(self.model):  # the block's modules and hooks: one caller at a time, eval mode
            x = self.block.ln1(resid_pre)
            _, k, v = attn.calculate_qkv_matrices(x[:, :1], x, x)
            if self.cfg.positional_embedding_type == "rotary":
                k = attn.apply_rotary(k, 0, None)
        return k, v

    def _rotate(self, q: Float[Tensor, "rows m head d_head"], pos: Int[Tensor, "rows m"]) -> Tensor:
        """``apply_rotary`` at scattered positions (TransformerLens rotates contiguous ones)."""
        attn, rd = self.block.attn, int(self.cfg.rotary_dim)
        q_rot, q_pass = q[..., :rd], q[..., rd:]
        cos = cast("Tensor", attn.rotary_cos)[pos][:, :, None, :]
        sin = cast("Tensor", attn.rotary_sin)[pos][:, :, None, :]
        rotated = q_rot * cos + attn.rotate_every_two(q_rot) * sin
        return torch.cat([rotated, q_pass], dim=-1)

    @torch.no_grad()
    def __call__(
        self,
        x: Float[Tensor, "n d_model"],
        keys: Float[Tensor, "rows pos kv_head d_head"],
        values: Float[Tensor, "rows pos kv_head d_head"],
        row: Int[Tensor, " n"],
        pos: Int[Tensor, " n"],
    ) -> Float[Tensor, "n d_model"]:
        """The block's output (``hook_resid_post``) at ``n`` positions: ``x`` is its input there
        (``hook_resid_pre``), ``row`` indexes ``keys``/``values`` (ascending), ``pos`` the position.

        Per-position work runs on the ``n`` positions; attention runs per row, the row's
        positions padded to the longest list (keep rows with similar counts together)."""
        with forward_guard(self.model):  # the block's modules and hooks: one caller at a time, eval mode
            return self._at(x, keys, values, row, pos)

    def _at(self, x: Tensor, keys: Tensor, values: Tensor, row: Tensor, pos: Tensor) -> Tensor:
        block, attn, cfg = self.block, self.block.attn, self.cfg
        xn = block.ln1(x[None])
        q, _, _ = attn.calculate_qkv_matrices(xn, xn[:, :1], xn[:, :1])
        n_rows = keys.shape[0]
        counts = torch.bincount(row, minlength=n_rows)
        slot = torch.arange(row.numel(), device=row.device) - (counts.cumsum(0) - counts)[row]
        m = int(counts.max())
        padded_q = q.new_zeros(n_rows, m, *q.shape[2:])
        padded_q[row, slot] = q[0]
        padded_pos = pos.new_zeros(n_rows, m)
        padded_pos[row, slot] = pos
        if cfg.positional_embedding_type == "rotary":
            padded_q = self._rotate(padded_q, padded_pos)
        scores = attn.calculate_attention_scores(padded_q, keys)  # [rows, head, m, pos]
        key_pos = torch.arange(keys.shape[1], device=pos.device)
        seen: Bool[Tensor, "rows m pos"] = key_pos[None, None, :] <= padded_pos[:, :, None]
        if getattr(attn, "attn_type", "global") == "local":
            seen = seen & (key_pos[None, None, :] > padded_pos[:, :, None] - int(cfg.window_size))
        scores = torch.where(seen[:, None], scores, cast("Tensor", attn.IGNORE).to(scores.device))
        # Every query sees at least its own key, so no row of the pattern is all-masked (NaN).
        pattern = F.softmax(scores, dim=-1).to(values.dtype)
        z = attn.calculate_z_scores(values, pattern)[row, slot]  # [n, head, d_head]
        w_o = einops.rearrange(attn.W_O, "head d_head d_model -> d_model (head d_head)")
        out = F.linear(z.reshape(1, z.shape[0], -1).to(w_o.dtype), w_o, attn.b_O)
        if cfg.use_normalization_before_and_after:
            out = block.ln1_post(out)
        x = x[None]
        if cfg.attn_only:
            post = x + out
        elif cfg.parallel_attn_mlp:
            post = x + out + block.apply_mlp(block.ln2(x))
        else:
            mid = x + out
            post = mid + block.apply_mlp(block.ln2(mid))
        return post[0]
