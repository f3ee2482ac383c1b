"""Packaging: every Python package of the source tree is installed, and nothing is installed as `adapters`."""

from __future__ import annotations

import importlib.util
import tomllib

from .conftest import REPO_ROOT


def _declared_packages() -> set[str]:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return set(config["tool"]["setuptools"]["packages"])


def test_every_python_package_folder_is_declared() -> None:
    """A new subpackage under yaml2rego/ or adapters/ must be listed in pyproject.toml, or wheels would miss it."""
    found = set()
    for root, installed_as in (("yaml2rego", "yaml2rego"), ("adapters", "yaml2rego.adapters")):
        for init in (REPO_ROOT / root).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO_ROOT / root).parts
            found.add(".".join((installed_as, *relative)))
    assert found <= _declared_packages()


def test_adapters_are_importable_only_under_yaml2rego() -> None:
    assert "adapters" not in _declared_packages()
    spec = importlib.util.find_spec("yaml2rego.adapters")
    assert spec is not None and spec.origin is not None
    assert spec.origin.endswith("adapters/__init__.py")


def test_rego_library_is_package_data() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["package-dir"]["yaml2rego.rego"] == "rego"
    assert "**/*.rego" in config["tool"]["setuptools"]["package-data"]["yaml2rego.rego"]
