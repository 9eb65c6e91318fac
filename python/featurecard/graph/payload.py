"""The contribution graph's payload: versioned TypedDicts and the builder (numpy; no torch here).

Mirrored key for key by ``js/src/graph/schema.ts`` (``tests/unit/test_schema_sync.py``),
with the one ``SCHEMA_VERSION`` of ``core/schema.py`` and ``kind: "contribution_graph"``. What travels:

* per residual state, the shares of its whole-vector parts (residual, ``b_O``, MLP) as float32,
  and per attention block the share of each head as float16;
* the attention edges (source token -> query) whose share, summed over heads, exceeds the
  state's ``threshold``: only those, each with its per-head split (float16);
* per block and position the top units (neurons, SAE latents) with their shares;
* the logit lens of every residual state;
* per attention head, attention block, MLP block and listed unit at each position, the tokens its
  write promotes and suppresses (``core/dynamics.py``): local token indices and float32 logit
  contributions, ``promote_k`` of each;
* the tokens of the prompt, the lens and promote / suppress, as a small local ``vocab`` (``core/vocab.py``).

The front end applies the threshold rule itself (keep parts above it, renormalise per state,
walk back from the target), so a higher threshold or another target needs no kernel; a lower
threshold needs a new state with more edges.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypedDict

import numpy as np

from ..core.codecs import encode_array, encode_indices
from ..core.schema import SCHEMA_VERSION, ArrayPayload, TokenBytes
from ..core.vocab import BytesOf, LocalVocab, local_vocab


class GraphEdges(TypedDict):
    """Attention edges ``resid(attn_in[layer], key) -> attn(layer, query)`` above the threshold."""

    layer: ArrayPayload  # uint8 | uint16 [n_edge]
    query: ArrayPayload  # uint8 | uint16 | int32 [n_edge]
    key: ArrayPayload  # uint8 | uint16 | int32 [n_edge]
    share: ArrayPayload  # float32 [n_edge], of the query's state, summed over heads, before renormalising
    heads: ArrayPayload  # float16 [n_edge, n_heads], the same share split by head


class PromoteSuppress(TypedDict):
    """The tokens a node's write promotes and suppresses most: its logit contribution through the
    final LayerNorm at the frozen scale of its position and ``W_U`` (``core/dynamics.py``)."""

    promote_tokens: ArrayPayload  # uint8 | uint16 | int32 [..., k], indices into vocab, largest first
    promote_values: ArrayPayload  # float32 [..., k], logit contribution
    suppress_tokens: ArrayPayload  # [..., k], most negative first
    suppress_values: ArrayPayload  # float32 [..., k]


class NodePromote(TypedDict):
    """Promote / suppress of every attention head and block at every position."""

    heads: PromoteSuppress  # [n_layers, n_pos, n_heads, k], each head's OV output at the query
    heads_done: ArrayPayload  # uint8 [n_layers, n_pos]: 1 where heads holds the node's heads (others: 'promote_heads')
    attn: PromoteSuppress  # [n_layers, n_pos, k], the attention block's output (b_O included)
    mlp: PromoteSuppress | None  # [n_layers, n_pos, k], the MLP's output; None without MLPs


class UnitTops(TypedDict):
    """The top units (neurons or SAE latents) of one block, or residual state, at each position."""

    source: str  # the hook name for neurons, the SAE's Workspace name for latents
    unit: Literal["neuron", "latent"]
    hook_name: str
    block: Literal["attn", "mlp", "resid"]
    layer: int
    level: int  # the residual level whose state these shares are of
    n_units: int
    ids: ArrayPayload  # uint16 | int32 [n_pos, k], unit indices, largest share first
    shares: ArrayPayload  # float16 [n_pos, k]
    acts: ArrayPayload  # float32 [n_pos, k], the unit's activation
    units: ArrayPayload  # float16 [n_pos], all units together
    part_names: list[str]  # the other parts: "bias", "error" (SAEs), "rest"
    parts: ArrayPayload  # float16 [n_parts, n_pos]
    promote: PromoteSuppress | None  # [n_pos, k, k_tokens], each listed unit's; None when not computed


class LogitLens(TypedDict):
    """Top tokens of every residual state, and the rises and falls from the state before."""

    top_tokens: ArrayPayload  # uint16 | int32 [n_levels, n_pos, k], indices into vocab
    top_values: ArrayPayload  # float16 [n_levels, n_pos, k], log-probabilities
    up_tokens: ArrayPayload  # [n_levels - 1, n_pos, k], state r + 1 against state r
    up_values: ArrayPayload  # float16, change of log-probability, largest first
    down_tokens: ArrayPayload  # [n_levels - 1, n_pos, k]
    down_values: ArrayPayload  # float16, most negative first


class ContributionGraphState(TypedDict):
    """Everything the graph needs to redraw without a kernel."""

    schema_version: int
    kind: Literal["contribution_graph"]
    n_layers: int
    n_heads: int
    n_pos: int
    levels: list[str]  # residual levels, bottom up: "embed", "0.attn", "0.mlp", ...
    attn_in: list[int]  # per layer, the level the attention block reads
    attn_out: list[int]  # ... and the level it writes
    mlp_in: list[int]  # [] without MLPs
    mlp_out: list[int]
    tokens: ArrayPayload  # uint8 | uint16 | int32 [n_pos], indices into vocab
    vocab: list[str]  # the texts of the tokens shown (prompt and logit lens), see core/vocab.py
    vocab_ids: ArrayPayload  # uint [n_vocab], the model's token id of each vocab entry
    vocab_bytes: TokenBytes  # raw bytes of the vocab entries that are not whole UTF-8 text
    threshold: float  # `edges` holds every edge whose share exceeds this
    resid: ArrayPayload  # float32 [n_levels - 1, n_pos], share of state r in state r + 1
    bias: ArrayPayload  # float32 [n_layers, n_pos], share of b_O in the attention block's state
    mlp: ArrayPayload  # float32 [n_layers, n_pos], share of the MLP (zeros without MLPs)
    heads: ArrayPayload  # float16 [n_layers, n_pos, n_heads], each head's share over all sources
    edges: GraphEdges
    units: list[UnitTops]
    lens: LogitLens | None
    promote: NodePromote | None  # None when the graph was made with promote=False
    unavailable: dict[str, str]  # part name -> why it is not shown


# The synced traitlets of the ContributionGraph widget, mirrored by `GraphModel` in js/src/graph/schema.ts.
GRAPH_TRAITS: dict[str, str] = {
    "state": "ContributionGraphState | {}: the last good graph",
    "target": "int: the token position whose routes are drawn; the kernel sets it ('target' request)",
    "threshold": "float: keep parts whose share exceeds it; the kernel sets it ('threshold' request)",
    "error": "str: why the last request failed ('' when it did not); the last good state stays",
    "busy": "bool: a computation is running",
    "selected": "{source, unit} | {}: the neuron or latent whose card is open; the kernel sets it ('select' request)",
    "card": "FeatureCardState | {}: the open unit's card",
    "nodes": "the traced NodeTable's traits | {}: the table below the graph ('trace' request; its own via 'nodes')",
}


def build_graph_state(data: Any, threshold: float, token_bytes: BytesOf) -> ContributionGraphState:
    """The payload of a :class:`featurecard.graph.build.ContributionData` (its arrays on the CPU).

    Only the attention edges whose share exceeds ``threshold`` are included. ``token_bytes``:
    token ids -> raw bytes (:class:`featurecard.core.token_bytes.TokenBytes`).
    """
    lay = data.layout
    lv = data.lens
    lens_ids = [lv.top_ids, lv.up_ids, lv.down_ids] if lv is not None else []
    dyns = _dynamics(data)  # then each one's promoted and suppressed ids:
    vocab = local_vocab([data.tokens, *lens_ids, *_ids(dyns)], token_bytes)  # the prompt's tokens first
    part = {id(d): 1 + len(lens_ids) + 2 * i for i, d in enumerate(dyns)}  # where each one's ids sit

    def promote_of(d: Any) -> PromoteSuppress:
        return _promote(d, vocab, part[id(d)])

    lens: LogitLens | None = None
    if lv is not None:
        lens = {
            "top_tokens": vocab.indices(1),
            "top_values": encode_array(lv.top_values, "float16"),
            "up_tokens": vocab.indices(2),
            "up_values": encode_array(lv.up_values, "float16"),
            "down_tokens": vocab.indices(3),
            "down_values": encode_array(lv.down_values, "float16"),
        }
    keep = np.asarray(data.edge_share) > threshold
    edges: GraphEdges = {
        "layer": encode_indices(np.asarray(data.edge_layer)[keep]),
        "query": encode_indices(np.asarray(data.edge_query)[keep]),
        "key": encode_indices(np.asarray(data.edge_key)[keep]),
        "share": encode_array(np.asarray(data.edge_share)[keep], "float32"),
        "heads": encode_array(np.asarray(data.edge_heads)[keep], "float16"),
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "contribution_graph",
        "n_layers": int(lay.n_layers),
        "n_heads": int(lay.n_heads),
        "n_pos": int(vocab.local[0].shape[0]),
        "levels": list(lay.levels),
        "attn_in": list(lay.attn_in),
        "attn_out": list(lay.attn_out),
        "mlp_in": list(lay.mlp_in),
        "mlp_out": list(lay.mlp_out),
        "tokens": vocab.indices(0),
        "vocab": vocab.texts,
        "vocab_ids": vocab.ids_payload,
        "vocab_bytes": vocab.partial,
        "threshold": float(threshold),
        "resid": encode_array(data.resid, "float32"),
        "bias": encode_array(data.bias, "float32"),
        "mlp": encode_array(data.mlp, "float32"),
        "heads": encode_array(data.heads, "float16"),
        "edges": edges,
        "units": [_unit_tops(u, promote_of(u.promote) if getattr(u, "promote", None) else None) for u in data.units],
        "lens": lens,
        "promote": _node_promote(data, promote_of),
        "unavailable": dict(data.unavailable),
    }


def _dynamics(data: Any) -> list[Any]:
    """Every ``TokenDynamics`` of the data: the blocks' (heads, attention, MLP), then the units'."""
    pr = getattr(data, "promote", None)
    blocks = [pr.heads, pr.attn, *([pr.mlp] if pr.mlp is not None else [])] if pr is not None else []
    return blocks + [u.promote for u in data.units if getattr(u, "promote", None) is not None]


def _ids(dyns: list[Any]) -> list[Any]:
    return [ids for d in dyns for ids in (d.promote_ids, d.suppress_ids)]


def _node_promote(data: Any, promote_of: Callable[[Any], PromoteSuppress]) -> NodePromote | None:
    pr = getattr(data, "promote", None)
    if pr is None:
        return None
    mlp = promote_of(pr.mlp) if pr.mlp is not None else None
    done = encode_array(np.asarray(pr.heads_done).astype(np.uint8), "uint8")
    return {"heads": promote_of(pr.heads), "heads_done": done, "attn": promote_of(pr.attn), "mlp": mlp}


def _promote(d: Any, vocab: LocalVocab, part: int) -> PromoteSuppress:
    """A ``core.dynamics.TokenDynamics`` whose ids are the vocab's parts ``part`` and ``part + 1``."""
    return {
        "promote_tokens": vocab.indices(part),
        "promote_values": encode_array(np.asarray(d.promote_values), "float32"),
        "suppress_tokens": vocab.indices(part + 1),
        "suppress_values": encode_array(np.asarray(d.suppress_values), "float32"),
    }


def _unit_tops(u: Any, promote: PromoteSuppress | None) -> UnitTops:
    names: Sequence[str] = list(u.parts)
    parts = np.stack([np.asarray(u.parts[n]) for n in names]) if names else np.zeros((0, len(u.units)))
    return {
        "source": str(u.source),
        "unit": u.unit,
        "hook_name": str(u.hook_name),
        "block": u.block,
        "layer": int(u.layer),
        "level": int(u.level),
        "n_units": int(u.n_units),
        "ids": encode_indices(u.ids),
        "shares": encode_array(u.shares, "float16"),
        "acts": encode_array(u.acts, "float32"),
        "units": encode_array(u.units, "float16"),
        "part_names": list(names),
        "parts": encode_array(parts, "float16"),
        "promote": promote,
    }
