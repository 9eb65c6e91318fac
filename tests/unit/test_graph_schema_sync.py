"""state/contribution_graph.py and js/src/graph/schema.ts agree key for key, and on the version."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from featurecard.state import contribution_graph

TS = (Path(__file__).resolve().parents[2] / "js" / "src" / "graph" / "schema.ts").read_text()


def ts_interfaces() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for m in re.finditer(r"export interface (\w+)(?:<[^>]*>)?(?: extends [^{]+)?\s*\{(.*?)\n\}", TS, re.S):
        out[m.group(1)] = set(re.findall(r"^\s*(?:readonly\s+)?(\w+)\??\s*:", m.group(2), re.M))
    return out


def py_typeddicts() -> dict[str, set[str]]:
    return {
        name: set(typing.get_type_hints(obj))
        for name, obj in vars(contribution_graph).items()
        if isinstance(obj, type) and typing.is_typeddict(obj) and obj.__module__ == contribution_graph.__name__
    }


def test_every_payload_is_mirrored_key_for_key() -> None:
    ts, py = ts_interfaces(), py_typeddicts()
    assert {"ContributionGraphState", "GraphEdges", "UnitTops", "LogitLens"} <= set(py)
    for name, keys in py.items():
        assert name in ts, f"{name} is missing from graph/schema.ts"
        assert ts[name] == keys, f"{name}: python-only {keys - ts[name]}, ts-only {ts[name] - keys}"


def test_widget_traits_are_mirrored() -> None:
    assert ts_interfaces()["GraphModel"] == set(contribution_graph.GRAPH_TRAITS)


def test_same_schema_version() -> None:
    m = re.search(r"export const GRAPH_SCHEMA_VERSION\s*=\s*(\d+)", TS)
    assert m is not None
    assert int(m.group(1)) == contribution_graph.GRAPH_SCHEMA_VERSION
