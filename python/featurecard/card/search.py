"""Find the units most active on a typed string, and pick a random live unit.

**Search** runs one tiny forward pass: the text is tokenized (with BOS when the model
prepends one; BOS is then left out, as in the index), the model runs once with a hook on the
source's input, the source encodes it, and each unit's largest activation over the text's
tokens ranks it. Each hit also carries that activation as a fraction of the unit's maximum
over the dataset (from the activation index, no extra pass), which tells a latent that is
merely large from one that is at its peak, and the token where it peaks. The cost is one
forward over a few tokens, whatever the SAE's width.

**Random live unit**: uniform over the units the index saw fire (``n_active > 0``), never
the one shown, so the button always moves.
"""

from __future__ import annotations

import torch
from jaxtyping import Float

from ..core.model import ModelAdapter, flatten_hook_activation
from ..core.sae import SparseAutoencoder
from ..core.schema import SearchHit, SearchResult
from ..core.token_bytes import token_bytes_of
from .index import CardIndex

MAX_QUERY_CHARS = 2000


@torch.no_grad()
def unit_peaks(
    adapter: ModelAdapter, sae: SparseAutoencoder, text: str
) -> tuple[Float[torch.Tensor, " d_sae"], torch.Tensor, list[int]]:
    """Each unit's max activation over ``text``'s tokens, where it peaks, and the token ids."""
    tokens = adapter.to_tokens(text, prepend_bos=True)[:, : adapter.n_ctx]
    ids = tokens[0].tolist()
    keep = [i for i, t in enumerate(ids) if not (i == 0 and t == adapter.bos_token_id)]
    if not keep:
        raise ValueError(f"the text {text!r} gives no tokens besides BOS")
    act = adapter.capture(tokens, [sae.hook_name])[sae.hook_name]
    x = flatten_hook_activation(act, sae.d_in, sae.hook_name)[0, keep]  # [pos, d_in]
    f = sae.encode(x).float()  # [pos, d_sae]
    peak, where = f.max(dim=0)
    return peak, torch.tensor(keep)[where.cpu()], ids


def search_units(
    adapter: ModelAdapter,
    sae: SparseAutoencoder,
    index: CardIndex,
    text: str,
    *,
    source: str,
    k: int = 10,
) -> SearchResult:
    """The ``k`` units with the largest activation anywhere in ``text`` (those > 0 only)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("type some text to search for (an empty query matches nothing)")
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(f"the query has {len(text)} characters; at most {MAX_QUERY_CHARS} are searched")
    if not 1 <= k <= 100:
        raise ValueError(f"k must be in [1, 100]; got {k}")
    peak, where, ids = unit_peaks(adapter, sae, text)
    raw = token_bytes_of(adapter.model.tokenizer)
    top = peak.topk(min(k, peak.numel()))
    max_act = index.max_act.to(peak.device).float()
    hits: list[SearchHit] = []
    for v, u in zip(top.values.tolist(), top.indices.tolist(), strict=True):
        if v <= 0:
            break
        pos = int(where[u])
        m = float(max_act[u])
        hits.append(
            {
                "feature": int(u),
                "act": float(v),
                "frac": v / m if m > 0 else 0.0,
                "pos": pos,
                "token": raw.one(ids[pos]).decode("utf-8", errors="backslashreplace"),
            }
        )
    n_text = sum(1 for i, t in enumerate(ids) if not (i == 0 and t == adapter.bos_token_id))
    return {"query": text, "source": source, "n_tokens": n_text, "hits": hits}
