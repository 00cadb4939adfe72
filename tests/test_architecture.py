"""The layers import one way, rule modules never import each other, and nothing imports in a
cycle: every import of the package is read, those inside functions included (not those under
``if TYPE_CHECKING:``, which never run)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "meshlint"

# Lower layers never import higher ones (see docs/architecture.md).
LAYERS: list[tuple[str, ...]] = [
    ("meshlint", "meshlint.diagnostics", "meshlint.suggest", "meshlint.verdicts"),
    ("meshlint.loader", "meshlint.resource", "meshlint.models", "meshlint.schemas"),
    ("meshlint.mesh",),
    ("meshlint.rules", "meshlint.rules.lib"),
    ("meshlint.rules.*",),  # the rule modules
    (
        "meshlint.config",
        "meshlint.engine",
        "meshlint.fix",
        "meshlint.parallel",
        "meshlint.kube",
        "meshlint.watch",
        "meshlint.docs",
    ),
    ("meshlint.translate",),
    ("meshlint.proxy",),
    ("meshlint.report", "meshlint.cli", "meshlint.__main__"),
]
# What a rule module may import of the package.
RULE_MODULE_MAY_IMPORT = (
    "meshlint",
    "meshlint.diagnostics",
    "meshlint.suggest",
    "meshlint.verdicts",
    "meshlint.loader",
    "meshlint.resource",
    "meshlint.models",
    "meshlint.mesh",
    "meshlint.rules",
    "meshlint.rules.lib",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
        todo.extend(ast.iter_child_nodes(node))
    return {m for m in found if m == "meshlint" or m.startswith("meshlint.")}


GRAPH = {name: _imports(name, path) & set(MODULES) for name, path in MODULES.items()}


def _is_rule_module(name: str) -> bool:
    parts = name.split(".")
    return (
        len(parts) >= 4 and parts[:2] == ["meshlint", "rules"] and parts[2] != "lib"
    ) and MODULES[name].name != "__init__.py"


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_of(name: str) -> int:
    if _is_rule_module(name) or (
        name.startswith("meshlint.rules.") and not _within(name, "meshlint.rules.lib")
    ):
        return 4
    best, depth = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if prefix.endswith("*"):
                continue
            if _within(name, prefix) and prefix.count(".") > depth and prefix != "meshlint":
                best, depth = i, prefix.count(".")
    if best < 0 and name == "meshlint":
        return 0
    assert best >= 0, f"{name} is in no layer: add it to LAYERS"
    return best


def test_every_module_is_in_a_layer() -> None:
    for name in MODULES:
        layer_of(name)


def test_layers_import_one_way() -> None:
    wrong = [
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
        for a, targets in GRAPH.items()
        for b in sorted(targets)
        if layer_of(b) > layer_of(a)
    ]
    assert wrong == []


def test_rule_modules_import_only_the_library_and_lower_layers() -> None:
    wrong = [
        f"{a} imports {b}"
        for a, targets in GRAPH.items()
        if _is_rule_module(a)
        for b in sorted(targets)
        if not any(
            _within(b, p) and (p != "meshlint.rules" or b == p) for p in RULE_MODULE_MAY_IMPORT
        )
        or (b != "meshlint" and b not in ("meshlint.rules",) and _is_rule_module(b))
    ]
    assert wrong == []


# The included proxy runs a Plan: it reads the Plan, its config file and the functions that
# judge a request against it (shared with `meshlint route`), nothing of manifests or rules.
PROXY_MAY_IMPORT = (
    "meshlint",
    "meshlint.proxy",
    "meshlint.translate",
    "meshlint.translate.plan",
    "meshlint.translate.proxy",
    "meshlint.translate.simulate",
)


def test_the_proxy_depends_on_the_plan_only() -> None:
    wrong = [
        f"{a} imports {b}"
        for a, targets in GRAPH.items()
        if _within(a, "meshlint.proxy")
        for b in sorted(targets)
        if not (b in PROXY_MAY_IMPORT or _within(b, "meshlint.proxy"))
    ]
    assert wrong == []


def test_the_library_imports_no_rule_module() -> None:
    wrong = [
        f"{a} imports {b}"
        for a, targets in GRAPH.items()
        if _within(a, "meshlint.rules.lib")
        for b in sorted(targets)
        if _is_rule_module(b) or _within(b, "meshlint.engine")
    ]
    assert wrong == []


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on.add(v)
        for w in sorted(GRAPH.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in GRAPH.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle() -> None:
    assert _cycles() == []


def test_the_graph_sees_function_level_imports() -> None:
    # engine imports the placeholder library at module level, and the CLI imports the engine
    # inside its commands: both edges must be in the graph for the tests above to mean much.
    assert "meshlint.rules.lib.placeholders" in GRAPH["meshlint.engine"]
    assert "meshlint.engine" in GRAPH["meshlint.cli.common"]


def test_nothing_outside_the_rules_imports_a_rule_module() -> None:
    # The engine, the CLI, the docs and the translation ask the registry for rules.
    wrong = [
        f"{a} imports {b}"
        for a, targets in GRAPH.items()
        if not a.startswith("meshlint.rules")
        for b in sorted(targets)
        if _is_rule_module(b)
    ]
    assert wrong == []
