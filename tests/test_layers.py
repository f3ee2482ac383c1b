"""The layers of docs/architecture.md, as the imports draw them: each folder imports only the layers below it.

Every ``import`` of every product module counts, including those inside functions (a lazy import is still a
dependency), except those under ``if TYPE_CHECKING:`` (types only, never executed). ``adapters/`` is installed as
``yaml2rego.adapters``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The leaves every layer may use: errors, small text and JSON helpers, the version.
LEAVES = {"errors", "text", "escaping", "canonical_json", "_version", "_batch"}

# What each layer may import, besides itself and the leaves. Read it downwards: the call semantics are shared by
# all; the DSL builds the typed model; the compiler turns the model into Rego, data and native programs; bundles
# package compiled output; engines decide; the runtime guards calls with an engine; audit reads what the runtime
# wrote; adapters put the runtime into frameworks; the CLI and the package's public face sit on top.
ALLOWED: dict[str, set[str]] = {
    "leaves": set(),
    "semantics": set(),
    "dsl": {"semantics"},
    "compile": {"semantics", "dsl"},
    "bundles": {"semantics", "dsl", "compile"},
    "engines": {"semantics", "dsl", "compile"},
    "runtime": {"semantics", "dsl", "compile", "engines"},
    "audit": {"semantics", "dsl", "compile", "bundles", "engines", "runtime"},
    "adapters": {"semantics", "runtime", "engines"},
    "cli": {"semantics", "dsl", "compile", "bundles", "engines", "runtime", "audit", "adapters"},
    "api": {"semantics", "dsl", "compile", "bundles", "engines", "runtime", "audit", "adapters"},
}


def product_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for folder, package in (("yaml2rego", ["yaml2rego"]), ("adapters", ["yaml2rego", "adapters"])):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT / folder)
            if relative.parts[0] in {"adapters", "rego"}:  # development symlinks inside yaml2rego/, not modules
                continue
            parts = [*package, *relative.with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = product_modules()


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "api"
    if parts[1] in LEAVES:
        return "leaves"
    if parts[1] in ALLOWED:
        return parts[1]
    raise AssertionError(f"{module} lies in no layer: add its folder to ALLOWED (and to docs/architecture.md)")


def _executed_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except what sits under ``if TYPE_CHECKING:``."""
    found: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        found.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                pending.extend(child.orelse)
                continue
            pending.append(child)
    return found


def imports_of(module: str) -> set[str]:
    """The product modules ``module`` imports (``from pkg import sub`` counts as importing ``pkg.sub``)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in _executed_nodes(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name if name in MODULES else node.module for name in names]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] == "yaml2rego" and name != module)
    return {name for name in found if name in MODULES}


GRAPH = {module: imports_of(module) for module in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_the_layers_below_its_own(module: str) -> None:
    own = layer_of(module)
    wrong = sorted(
        f"{name} ({layer_of(name)})" for name in GRAPH[module] if layer_of(name) not in {own, "leaves", *ALLOWED[own]}
    )
    assert not wrong, f"{module} ({own}) imports upwards: {', '.join(wrong)}"


def test_no_two_modules_import_each_other_even_indirectly() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for name in sorted(GRAPH[module]):
            if name not in index:
                visit(name)
                low[module] = min(low[module], low[name])
            elif name in stack:
                low[module] = min(low[module], index[name])
        if low[module] == index[module]:
            component = []
            while True:
                name = stack.pop()
                component.append(name)
                if name == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_a_lazy_import_counts_and_a_type_checking_import_does_not() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from yaml2rego.cli import main\n"
        "def f():\n    from yaml2rego.runtime.guard import Guard\n"
    )
    nodes = _executed_nodes(ast.parse(source))
    names = {node.module for node in nodes if isinstance(node, ast.ImportFrom)}
    assert names == {"typing", "yaml2rego.runtime.guard"}
