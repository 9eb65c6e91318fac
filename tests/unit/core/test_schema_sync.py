"""Each view's Python payload module and its TypeScript schema agree key for key, on one version.

One case per view: the FeatureCard (core/schema.py, js/src/core/schema.ts), the ContributionGraph
(graph/payload.py, js/src/graph/schema.ts), the NodeTable (nodes/payload.py,
js/src/nodes/schema.ts), the SAE overview (overview/payload.py, js/src/overview/schema.ts) and the
prompt view (prompt/payload.py, js/src/prompt/schema.ts).
The TypeScript side is read as text, so a key renamed on one side only
fails here.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from featurecard.core import schema
from featurecard.graph import payload as graph_payload
from featurecard.nodes import payload as nodes_payload
from featurecard.overview import payload as overview_payload
from featurecard.prompt import payload as prompt_payload

JS_SRC = Path(__file__).resolve().parents[3] / "js" / "src"


@dataclass(frozen=True)
class View:
    module: ModuleType  # the Python payloads (TypedDicts), and the traits
    ts_file: str  # under js/src
    payloads: frozenset[str]  # TypedDicts that must be there
    model: str  # the TypeScript interface of the widget's traits
    traits: str  # the module's dict of trait names (name -> TypeScript type)


VIEWS = {
    "card": View(schema, "core/schema.ts", frozenset({"FeatureCardState"}), "CardModel", "FEATURE_CARD_TRAITS"),
    "graph": View(
        graph_payload,
        "graph/schema.ts",
        frozenset({"ContributionGraphState", "GraphEdges", "UnitTops", "LogitLens"}),
        "GraphModel",
        "GRAPH_TRAITS",
    ),
    "nodes": View(
        nodes_payload,
        "nodes/schema.ts",
        frozenset({"NodeTableState", "NodeRows", "NodePrompt", "NodeFamily"}),
        "NodesModel",
        "NODE_TABLE_TRAITS",
    ),
    "overview": View(
        overview_payload,
        "overview/schema.ts",
        frozenset({"OverviewState", "OverviewSummary", "OverviewLatents", "DensityBins"}),
        "OverviewModel",
        "OVERVIEW_TRAITS",
    ),
    "prompt": View(
        prompt_payload,
        "prompt/schema.ts",
        frozenset({"PromptState", "PromptPairs", "PromptDfa"}),
        "PromptModel",
        "PROMPT_TRAITS",
    ),
}


@pytest.fixture(params=sorted(VIEWS))
def view(request: pytest.FixtureRequest) -> View:
    return VIEWS[request.param]


def ts_text(view: View) -> str:
    return (JS_SRC / view.ts_file).read_text()


def ts_interfaces(ts: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for m in re.finditer(r"export interface (\w+)(?:<[^>]*>)?(?: extends [^{]+)?\s*\{(.*?)\n\}", ts, re.S):
        out[m.group(1)] = set(re.findall(r"^\s*(?:readonly\s+)?(\w+)\??\s*:", m.group(2), re.M))
    return out


def py_typeddicts(module: ModuleType) -> dict[str, set[str]]:
    """The TypedDicts defined in ``module`` (not those it imports) and their keys."""
    return {
        name: set(typing.get_type_hints(obj))
        for name, obj in vars(module).items()
        if isinstance(obj, type) and typing.is_typeddict(obj) and obj.__module__ == module.__name__
    }


def test_every_payload_is_mirrored_key_for_key(view: View) -> None:
    ts, py = ts_interfaces(ts_text(view)), py_typeddicts(view.module)
    assert view.payloads <= set(py), f"missing TypedDicts {view.payloads - set(py)}"
    for name, keys in py.items():
        assert name in ts, f"{name} is missing from {view.ts_file}"
        assert ts[name] == keys, f"{name}: python-only {keys - ts[name]}, ts-only {ts[name] - keys}"


def test_widget_traits_are_mirrored(view: View) -> None:
    assert ts_interfaces(ts_text(view))[view.model] == set(getattr(view.module, view.traits))


def test_one_schema_version() -> None:
    """Every view's payload carries the one version of core/schema.py; TypeScript declares it once."""
    declared = {
        str(p.relative_to(JS_SRC)): int(m.group(1))
        for p in JS_SRC.rglob("*.ts")
        for m in re.finditer(r"export const (?:\w+_)?SCHEMA_VERSION\s*=\s*(\d+)", p.read_text())
    }
    assert declared == {"core/schema.ts": schema.SCHEMA_VERSION}
    python_versions = {
        name: value
        for module in (schema, graph_payload, nodes_payload, overview_payload, prompt_payload)
        for name, value in vars(module).items()
        if name.endswith("SCHEMA_VERSION")
    }
    assert python_versions == {"SCHEMA_VERSION": schema.SCHEMA_VERSION}
