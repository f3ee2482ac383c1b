"""Where the two sides of a diff come from: a bundle, a ``data.json``, a compiled output directory, boundary YAML or a
loaded :class:`~yaml2rego.model.PolicySet`. Every source yields the compiled ``data.boundaries`` document.

    changes = diff_sources("main-policies/", "policies/")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yaml2rego.bundle import DATA_FILE, read_bundle
from yaml2rego.diff.changes import Facts, PolicyChange
from yaml2rego.diff.compare import agents_of, diff_boundaries
from yaml2rego.errors import BundleError, Yaml2RegoError

if TYPE_CHECKING:
    from yaml2rego.model import PolicySet

__all__ = ["diff_policy_sets", "diff_sources", "load_agents", "load_boundaries"]


def load_boundaries(source: str | Path) -> dict[str, Any]:
    """The ``data.boundaries`` document (``agents``, and ``defaults`` when there are global domains) of a bundle, a
    ``data.json``, a compiled output directory, or boundary YAML."""
    path = Path(source)
    if path.is_file() and path.read_bytes()[:2] == b"\x1f\x8b":
        data = read_bundle(path).data()
    elif path.is_file() and path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise BundleError(f"{path}: not valid JSON ({exc})") from exc
    elif path.is_dir() and (path / DATA_FILE).is_file():
        return load_boundaries(path / DATA_FILE)
    elif not path.exists():
        raise Yaml2RegoError(f"{path}: no such file or directory")
    else:
        # Imported here: the compiler and loader are needed only for YAML sides.
        from yaml2rego.compiler import compile_policy_set
        from yaml2rego.loader import load_policies

        data = json.loads(compile_policy_set(load_policies([str(path)])).files[DATA_FILE])
    agents_of(data, str(path))
    return dict(data)


def load_agents(source: str | Path) -> dict[str, Facts]:
    """Compiled facts per agent from a bundle, a ``data.json``, a compiled output directory, or boundary YAML."""
    return agents_of(load_boundaries(source), str(source))


def diff_policy_sets(old: PolicySet, new: PolicySet) -> list[PolicyChange]:
    """:func:`~yaml2rego.diff.compare.diff_boundaries` between two loaded policy sets, in their compiled form."""
    from yaml2rego.compiler import compile_policy_set

    def boundaries(policy_set: PolicySet) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(compile_policy_set(policy_set).files[DATA_FILE])
        return data

    return diff_boundaries(boundaries(old), boundaries(new))


def diff_sources(old: str | Path, new: str | Path) -> list[PolicyChange]:
    """:func:`~yaml2rego.diff.compare.diff_boundaries` between two sources accepted by :func:`load_boundaries`."""
    return diff_boundaries(load_boundaries(old), load_boundaries(new))
