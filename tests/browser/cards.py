"""A FeatureCard on a tiny real model whose vocabulary contains markup tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import tiny

MARKUP = ("<b>bold</b>", "</script><i>x</i>", "<img src=x onerror=alert(1)>")


def markup_workspace(folder: Path) -> tuple[Any, Any]:
    """A Workspace whose every example window contains the markup tokens."""
    from featurecard.workspace import Workspace

    tok = tiny.make_tokenizer(folder, extra_tokens=MARKUP)
    model = tiny.bridge(tok)
    ids = [tok.convert_tokens_to_ids(m) for m in MARKUP]
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, len(tok) - len(MARKUP), (8, 24), generator=g)
    for j, i in enumerate(ids):
        tokens[:, 1 + j :: 3] = i  # every third position holds one of the markup tokens
    tokens[:, 0] = tok.bos_token_id
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    ws = Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)
    return ws, tok


def live_features(ws: Any, name: str, n: int) -> list[int]:
    idx = ws.index(name)
    return [int(i) for i in torch.argsort(idx.n_active, descending=True)[:n]]


def plain_workspace(folder: Path, seed: int = 0) -> Any:
    """A Workspace on the tiny byte-level vocabulary (short tokens), over 16 rows of 32 tokens."""
    from featurecard.workspace import Workspace

    tok = tiny.make_tokenizer(folder)
    model = tiny.bridge(tok)
    sae = {**tiny.random_sae_weights(64, 48, seed=5), "hook_name": "blocks.0.mlp.hook_post"}
    tokens = tiny.random_tokens(tok, batch=16, pos=32, seed=seed)
    return Workspace(model, saes={"mlp0": sae}, tokens=tokens, progress=False)


def shown_sequences(st: dict[str, Any]) -> list[tuple[str, list[int]]]:
    """Each group's title as sent and the indices of the sequences the card shows in it: an
    interval leaves out a sequence Top activations shows (same dataset row and first position)."""
    from featurecard.core.codecs import decode_array

    ex = st["examples"]
    rows, pos0 = decode_array(ex["seq_batch"]).tolist(), decode_array(ex["seq_pos0"]).tolist()
    out, start, top = [], 0, set()
    for g in ex["groups"]:
        idx = list(range(start, start + g["count"]))
        start += g["count"]
        if g["title"] == "Top activations":
            top = {(rows[i], pos0[i]) for i in idx}
        elif g["title"].startswith("Interval"):
            idx = [i for i in idx if (rows[i], pos0[i]) not in top]
        out.append((g["title"], idx))
    return out


def shown_tokens(st: dict[str, Any]) -> list[int]:
    """The flat indices of the tokens the card draws (those of the sequences it shows), in order."""
    from featurecard.core.codecs import decode_array

    offs = decode_array(st["examples"]["seq_offsets"])
    return [t for _, idx in shown_sequences(st) for i in idx for t in range(int(offs[i]), int(offs[i + 1]))]
