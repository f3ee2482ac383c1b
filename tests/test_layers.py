"""Imports point one way, down the layers: the DSL layer never reaches up into the compiler (or anything above it),
and the semantics layer holds only leaves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "yaml2rego"

# For each layer, the yaml2rego packages its modules may not import (anywhere in a module, functions included).
FORBIDDEN = {
    "semantics": ("dsl", "compile", "bundles", "engines", "runtime", "audit", "cli"),
    "dsl": ("compile", "bundles", "engines", "runtime", "audit", "cli"),
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_never_imports_the_layers_above_it(layer: str) -> None:
    offending = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in sorted((PACKAGE / layer).glob("*.py"))
        for name in _imports(path)
        for above in FORBIDDEN[layer]
        if name == f"yaml2rego.{above}" or name.startswith(f"yaml2rego.{above}.")
    }
    assert not offending
