"""state/node_table.py and js/src/nodes/schema.ts agree key for key, and on the schema version."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from featurecard.state import node_table

TS = (Path(__file__).resolve().parents[2] / "js" / "src" / "nodes" / "schema.ts").read_text()


def ts_interfaces() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for m in re.finditer(r"export interface (\w+)(?:<[^>]*>)?(?: extends [^{]+)?\s*\{(.*?)\n\}", TS, re.S):
        out[m.group(1)] = set(re.findall(r"^\s*(?:readonly\s+)?(\w+)\??\s*:", m.group(2), re.M))
    return out


def py_typeddicts() -> dict[str, set[str]]:
    return {
        name: set(typing.get_type_hints(obj))
        for name, obj in vars(node_table).items()
        if isinstance(obj, type) and typing.is_typeddict(obj) and obj.__module__ == node_table.__name__
    }


def test_every_payload_is_mirrored_key_for_key() -> None:
    ts, py = ts_interfaces(), py_typeddicts()
    assert {"NodeTableState", "NodeRows", "NodePrompt", "NodeFamily"} <= set(py)
    for name, keys in py.items():
        assert name in ts, f"{name} is missing from nodes/schema.ts"
        assert ts[name] == keys, f"{name}: python-only {keys - ts[name]}, ts-only {ts[name] - keys}"


def test_widget_traits_are_mirrored() -> None:
    assert ts_interfaces()["NodesModel"] == set(node_table.NODE_TABLE_TRAITS)


def test_same_schema_version() -> None:
    m = re.search(r"export const NODE_SCHEMA_VERSION\s*=\s*(\d+)", TS)
    assert m is not None
    assert int(m.group(1)) == node_table.NODE_SCHEMA_VERSION
