"""The ContributionGraph as pandas DataFrames (``ContributionGraph.to_dataframe``): the kept
edges of a :class:`~featurecard.graph.build.Graph`, or its nodes, with the prompt's tokens
from the graph's payload. No torch here."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from ..core.codecs import decode_array
from ..core.frames import pandas
from .payload import ContributionGraphState

if TYPE_CHECKING:
    from pandas import DataFrame

    from .build import Graph, GraphEdge, NodeKey

EDGE_COLUMNS = (
    "kind", "src_node", "src_layer", "src_label", "src_pos", "src_token",
    "dst_node", "dst_layer", "dst_label", "dst_pos", "dst_token", "share", "weight", "heads", "on_route",
)  # fmt: skip
NODE_COLUMNS = ("node", "layer", "label", "pos", "token", "weight_in", "weight_out", "on_route")


def node_label(node: NodeKey, levels: list[str]) -> str:
    """``"0.attn"``-style names: a residual state's level name, else ``"attn 0"`` / ``"mlp 0"``."""
    kind, layer, _ = node
    return levels[layer] if kind == "resid" else f"{kind} {layer}"


def _tokens(state: ContributionGraphState) -> list[str]:
    return [state["vocab"][int(i)] for i in decode_array(state["tokens"])]


def edge_frame(graph: Graph, state: ContributionGraphState, route: tuple[GraphEdge, ...]) -> DataFrame:
    """One row per kept edge of ``graph``; ``on_route`` marks the edges of ``route``."""
    pd = pandas("ContributionGraph.to_dataframe")
    tokens, levels = _tokens(state), state["levels"]
    on = {id(e) for e in route}
    rows = [
        (
            e.kind,
            *(e.src[0], e.src[1], node_label(e.src, levels), e.src[2], tokens[e.src[2]]),
            *(e.dst[0], e.dst[1], node_label(e.dst, levels), e.dst[2], tokens[e.dst[2]]),
            e.share,
            e.weight,
            e.heads,
            id(e) in on,
        )
        for e in graph.edges
    ]
    return pd.DataFrame(rows, columns=list(EDGE_COLUMNS))


def node_frame(graph: Graph, state: ContributionGraphState, route: tuple[GraphEdge, ...]) -> DataFrame:
    """One row per node that a kept edge touches (residual states, then attention and MLP blocks,
    each by layer and position); ``weight_in`` / ``weight_out`` sum
    the weights of its kept edges; ``on_route`` marks the nodes of ``route`` and the target."""
    pd = pandas("ContributionGraph.to_dataframe")
    tokens, levels = _tokens(state), state["levels"]
    w_in: dict[NodeKey, float] = defaultdict(float)
    w_out: dict[NodeKey, float] = defaultdict(float)
    for e in graph.edges:
        w_out[e.src] += e.weight
        w_in[e.dst] += e.weight
    on = {n for e in route for n in (e.src, e.dst)}
    order = {"resid": 0, "attn": 1, "mlp": 2}
    nodes = sorted(set(w_in) | set(w_out), key=lambda n: (order.get(n[0], 3), n[1], n[2]))
    rows = [
        (n[0], n[1], node_label(n, levels), n[2], tokens[n[2]], w_in.get(n, 0.0), w_out.get(n, 0.0), n in on)
        for n in nodes
    ]
    return pd.DataFrame(rows, columns=list(NODE_COLUMNS))
