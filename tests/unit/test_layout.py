"""The package's layout rules, read from the source with :mod:`ast` (nothing is imported).

- ``core/`` imports no view, and no module above it (``workspace``, ``cli``, ``embedded``);
- a view (``card/``, ``graph/``, ``nodes/``) imports only itself and ``core/``: views meet
  through the Workspace, never through each other;
- a view's payload and widget modules, and the core's wire and view modules, import no torch;
- no import cycles among the package's modules, counting imports inside functions and those
  under ``if TYPE_CHECKING:`` (a cycle there is still two modules that cannot be read apart);
- every Python file has at most :data:`MAX_LINES` lines;
- imports inside functions only for optional libraries, and functions of at most
  :data:`MAX_FUNCTION_LINES` lines, except the exceptions listed below with their reasons.
  The lists can only shrink: an entry that no longer needs its exception fails, so it is
  removed when its code is fixed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "featurecard"
VIEWS = ("card", "graph", "nodes", "overview", "prompt")
MAX_LINES = 400
MAX_FUNCTION_LINES = 60
# Libraries a user may lack (extras) or that only some hosts have: imported where they are used.
OPTIONAL = ("sae_lens", "transformers", "IPython", "google.colab", "marimo", "pandas")
# Modules that carry data to the front end or draw it: no torch, so they stay light and
# cannot hold a tensor by mistake.
TORCH_FREE = (
    "core.schema",
    "core.codecs",
    "core.view",
    "core.static",
    "core.export",
    "core.files",
    "core.frames",
    "core.provenance",
    "core.vocab",
    "card.payload",
    "card.dfa_payload",
    "card.widget",
    "graph.payload",
    "graph.frame",
    "graph.widget",
    "nodes.payload",
    "nodes.frame",
    "nodes.widget",
    "overview.labels",
    "overview.payload",
    "overview.widget",
    "card.prompt_block",
    "prompt.payload",
    "prompt.widget",
)

# (importing module, imported module) -> why the import sits inside a function.
_LIGHT_CLI = "the CLI starts fast: torch and the model load only for a command that needs them"
_WIDGETS = "widget modules check the built bundle when imported; a Workspace works without a front end"
_BUILD = "`import featurecard.embedded` stays light: the build's tools load only when it builds"
FUNCTION_IMPORTS: dict[tuple[str, str], str] = {
    ("views", "card.widget"): _WIDGETS,
    ("views", "graph.widget"): _WIDGETS,
    ("views", "nodes.widget"): _WIDGETS,
    ("views", "graph.build"): "the graph's code loads only when a graph is asked for",
    ("views", "graph.session"): "the graph's code loads only when a graph is asked for",
    ("views", "nodes.table"): "the node table's code loads only when a table is asked for",
    ("views", "nodes.session"): "the node table's code loads only when a table is asked for",
    ("views", "nodes.node_spec"): "a graph's traced table: the node table's code loads only when it is asked for",
    ("views", "overview.widget"): _WIDGETS,
    ("views", "overview.session"): "the overview's code loads only when an overview is asked for",
    ("overview.widget", "core.export"): "the export loads only when a file is written",
    ("views", "prompt.widget"): _WIDGETS,
    ("views", "prompt.session"): "the prompt view's code loads only when a prompt view is asked for",
    ("views", "prompt.firing"): "the prompt view's code loads only when a prompt view is asked for",
    ("views", "prompt.dfa"): "the prompt view's code loads only when a prompt view is asked for",
    ("views", "card.prompt_block"): "the card's prompt block loads only when a prompt view opens a card",
    ("prompt.widget", "core.export"): "the export loads only when a file is written",
    ("workspace", "card.search"): "search loads only when it is used",
    ("card.widget", "core.export"): "the export loads only when a file is written",
    ("graph.widget", "core.export"): "the export loads only when a file is written",
    ("nodes.widget", "core.export"): "the export loads only when a file is written",
    ("graph.blocks", "transformer_lens.utilities.architectures"): "absent from some TransformerLens versions",
    ("core.saelens_folder", "safetensors.torch"): "safetensors loads only when a folder is read",
    ("cli", "card.store"): _LIGHT_CLI,
    ("cli", "card.store_pass"): _LIGHT_CLI,
    ("cli", "card.store_ray"): _LIGHT_CLI,
    ("card.store_ray", "ray"): "Ray is the optional extra featurecard[ray], loaded only by a build with workers",
    ("cli", "core.inputs"): _LIGHT_CLI,
    ("cli", "core.model"): _LIGHT_CLI,
    ("cli", "embedded"): _LIGHT_CLI,
    ("cli", "numpy"): _LIGHT_CLI,
    ("cli", "torch"): _LIGHT_CLI,
    ("cli", "transformer_lens.model_bridge"): _LIGHT_CLI,
    ("cli", "workspace"): _LIGHT_CLI,
    ("embedded", "embedded.train"): _BUILD,
    ("embedded.build", "core.saelens_folder"): _BUILD,
    ("embedded.build", "embedded.corpus"): _BUILD,
    ("embedded.build", "embedded.evaluate"): _BUILD,
    ("embedded.build", "embedded.sae_train"): _BUILD,
    ("embedded.build", "embedded.tokenizer"): _BUILD,
    ("embedded.build", "embedded.train"): _BUILD,
    ("embedded.build", "filelock"): _BUILD,
    ("embedded.build", "numpy"): _BUILD,
    ("embedded.build", "platformdirs"): _BUILD,
    ("embedded.build", "torch"): _BUILD,
    ("embedded.corpus", "pydoc_data.topics"): "some Python builds ship without pydoc_data; only the corpus needs it",
    ("embedded.sae_train", "tqdm.auto"): _BUILD,
    ("embedded.tokenizer", "tokenizers"): _BUILD,
    ("embedded.train", "embedded.tokenizer"): _BUILD,
    ("embedded.train", "safetensors.torch"): _BUILD,
    ("embedded.train", "tqdm.auto"): _BUILD,
    ("embedded.train", "transformer_lens.config"): _BUILD,
    ("embedded.train", "transformer_lens.model_bridge"): _BUILD,
}

# (view module, imported module outside its view and the core) -> why.
CROSS_IMPORTS: dict[tuple[str, str], str] = {}

# Import cycles (as sorted tuples of their modules) -> why they are still there.
CYCLES: dict[tuple[str, ...], str] = {}

# "module.function" (methods as "module.Class.method") -> why it is longer than MAX_FUNCTION_LINES.
LONG_FUNCTIONS: dict[str, str] = {}


@dataclass(frozen=True)
class Import:
    module: str  # the imported module, relative to the package ("" for the package itself)
    line: int
    in_function: bool
    type_only: bool


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts) if parts != ["__init__"] else "__init__"


def _modules() -> dict[str, Path]:
    return {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _is_module(name: str) -> bool:
    return name in MODULES or f"{name}.__init__" in MODULES


def _key(name: str) -> str:
    """The module key of a package-relative dotted name (a package is its ``__init__``)."""
    if name in ("", "__init__"):
        return "__init__"
    return f"{name}.__init__" if f"{name}.__init__" in MODULES else name


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """Package-relative names of what a ``from`` import reads (its module, or its submodules)."""
    if node.level == 0:
        if not (node.module or "").startswith("featurecard"):
            return [node.module or ""]
        base = (node.module or "").removeprefix("featurecard").lstrip(".")
    else:
        parts = module.split(".")[:-1]  # the package this module sits in (a package's __init__ too)
        parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
        base = ".".join([*parts, *([node.module] if node.module else [])])
    subs = [f"{base}.{a.name}".lstrip(".") for a in node.names]
    if subs and all(_is_module(s) for s in subs):
        return [f"featurecard:{_key(s)}" for s in subs]
    return [f"featurecard:{_key(base)}"]


def _imports(module: str) -> Iterator[Import]:
    tree = ast.parse(MODULES[module].read_text())

    def walk(node: ast.AST, in_function: bool, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            fn = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from walk(child, fn, True)
                continue
            if isinstance(child, ast.Import):
                for a in child.names:
                    name = a.name
                    if name == "featurecard" or name.startswith("featurecard."):
                        name = "featurecard:" + _key(name.removeprefix("featurecard").lstrip("."))
                    yield Import(name, child.lineno, in_function, type_only)
            elif isinstance(child, ast.ImportFrom):
                for name in _resolve(module, child):
                    yield Import(name, child.lineno, in_function, type_only)
            yield from walk(child, fn, type_only)

    yield from walk(tree, False, False)


IMPORTS = {m: list(_imports(m)) for m in MODULES}


def _internal(module: str) -> list[tuple[str, Import]]:
    return [(i.module.removeprefix("featurecard:"), i) for i in IMPORTS[module] if i.module.startswith("featurecard:")]


def _short(name: str) -> str:
    return name.removesuffix(".__init__")


def _top(name: str) -> str:
    return name.split(".")[0]


def test_the_layout_is_read() -> None:
    """The rules below read real modules: the views and the core exist and import each other."""
    for folder in ("core", *VIEWS):
        assert f"{folder}.__init__" in MODULES
    assert any(t == "core.model" for t, _ in _internal("card.assemble"))


def test_core_imports_no_view() -> None:
    bad = [
        f"{_short(m)}:{i.line} imports {_short(t)}"
        for m in MODULES
        if _top(m) == "core"
        for t, i in _internal(m)
        if _top(t) != "core"
    ]
    assert not bad, "the core imports nothing above it:\n" + "\n".join(bad)


def test_views_import_only_themselves_and_the_core() -> None:
    found = {
        (_short(m), _short(t)): i.line
        for m in MODULES
        if _top(m) in VIEWS
        for t, i in _internal(m)
        if _top(t) not in (_top(m), "core")
    }
    new = sorted(f"{m}:{line} imports {t}" for (m, t), line in found.items() if (m, t) not in CROSS_IMPORTS)
    assert not new, "views meet through the Workspace, never through each other:\n" + "\n".join(new)
    gone = sorted(set(CROSS_IMPORTS) - set(found))
    assert not gone, f"these imports are gone: remove them from CROSS_IMPORTS: {gone}"


def test_payloads_and_widgets_import_no_torch() -> None:
    bad = [
        f"{m}:{i.line} imports {i.module}"
        for m in TORCH_FREE
        for i in IMPORTS[m]
        if not i.type_only and (i.module == "torch" or i.module.startswith(("torch.", "jaxtyping")))
    ]
    assert not bad, "\n".join(bad)
    for m in TORCH_FREE:  # and nothing that does, directly or through the package
        for t, i in _internal(m):
            assert i.type_only or i.in_function or t in TORCH_FREE or t.endswith("__init__"), (m, t)


def _cycles() -> set[tuple[str, ...]]:
    """Every strongly connected group of modules (Tarjan), as sorted tuples of their names."""
    graph = {m: sorted({_short(t) for t, _ in _internal(m)} - {_short(m)}) for m in MODULES}
    graph = {_short(m): [t for t in ts if t in {_short(x) for x in MODULES}] for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: set[tuple[str, ...]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.add(tuple(sorted(group)))

    for v in graph:
        if v not in index:
            visit(v)
    return groups


def test_no_import_cycles() -> None:
    found = _cycles()
    new = sorted(found - set(CYCLES))
    assert not new, f"import cycles (imports inside functions and under TYPE_CHECKING count): {new}"
    gone = sorted(set(CYCLES) - found)
    assert not gone, f"these cycles are gone: remove them from CYCLES: {gone}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_files_are_short(path: Path) -> None:
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {n} lines; at most {MAX_LINES}: split it"


def test_imports_inside_functions_are_for_optional_libraries() -> None:
    found = set()
    for m in MODULES:
        for i in IMPORTS[m]:
            if not i.in_function or i.module.startswith(OPTIONAL):
                continue
            found.add((_short(m), _short(i.module.removeprefix("featurecard:"))))
    new = sorted(found - set(FUNCTION_IMPORTS))
    assert not new, f"imports inside functions (move them to the top, or say why in FUNCTION_IMPORTS): {new}"
    gone = sorted(set(FUNCTION_IMPORTS) - found)
    assert not gone, f"these imports are no longer inside functions: remove them from FUNCTION_IMPORTS: {gone}"


def _functions() -> dict[str, int]:
    """Every function's and method's length in lines (decorators excluded), by qualified name."""
    out: dict[str, int] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}.{child.name}"
                out[name] = max(out.get(name, 0), (child.end_lineno or child.lineno) - child.lineno + 1)
                walk(child, name)
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}.{child.name}")

    for m, path in MODULES.items():
        walk(ast.parse(path.read_text()), _short(m))
    return out


def test_functions_are_short() -> None:
    lengths = _functions()
    long = {name for name, n in lengths.items() if n > MAX_FUNCTION_LINES}
    new = sorted(f"{name} ({lengths[name]} lines)" for name in long - set(LONG_FUNCTIONS))
    assert not new, f"functions over {MAX_FUNCTION_LINES} lines (split them into named steps): {new}"
    gone = sorted(set(LONG_FUNCTIONS) - long)
    assert not gone, f"these functions are short now: remove them from LONG_FUNCTIONS: {gone}"


def _hook_name_builders(source: str) -> list[int]:
    """Lines of ``source`` that build a TransformerLens hook name: an f-string, a ``+`` of strings,
    a ``%`` or ``.format`` template whose literal text has ``blocks.`` or ``hook_`` and no
    whitespace (a message that names a hook is words; a hook name is one)."""

    def names_a_hook(parts: list[str]) -> bool:
        text = "".join(parts)
        return ("blocks." in text or "hook_" in text) and not any(c.isspace() for c in text)

    def literals(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.JoinedStr):
            return [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return literals(node.left) + literals(node.right)
        return []

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)):
            template: ast.AST = node
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            template = node.left
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            template = node.func.value
        else:
            continue
        if names_a_hook(literals(template)):
            lines.append(node.lineno)
    return sorted(set(lines))


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ('name = f"blocks.{layer}.mlp.hook_post"', [1]),
        ('name = "blocks." + str(layer) + ".attn.hook_z"', [1]),
        ('name = "blocks.%d.hook_resid_post" % layer', [1]),
        ('name = "blocks.{}.hook_resid_pre".format(layer)', [1]),
        ('name = f"{prefix}hook_scale"', [1]),
        ('msg = f"{hook_name} is outside the transformer blocks"', []),
        ('msg = f"mlp.hook_post has {n} units but W_out has {m} rows"', []),
        ('kind = "hook_resid_post"', []),
        ('name = block_hook(layer, "mlp.hook_post")', []),
    ],
)
def test_the_hook_name_rule_finds_built_names(source: str, found: list[int]) -> None:
    assert _hook_name_builders(source) == found


def test_hook_names_are_built_only_in_the_core_model_adapter() -> None:
    """Only ``core/`` spells a hook name from its parts (``core.model.block_hook`` and its kin)."""
    bad = [
        f"{_short(m)}:{line}"
        for m, path in MODULES.items()
        if _top(m) != "core"
        for line in _hook_name_builders(path.read_text())
    ]
    assert not bad, "build hook names with core.model.block_hook (or its kin), not by hand:\n" + "\n".join(bad)
    assert _hook_name_builders(MODULES["core.model"].read_text()), "the rule reads the core's own builders"
