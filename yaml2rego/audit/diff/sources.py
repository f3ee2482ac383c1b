"""Where the two sides of a diff come from: a bundle, a ``data.json``, a compiled output directory, boundary YAML or a
loaded :class:`~yaml2rego.dsl.model.PolicySet`. Every source yields the compiled ``data.boundaries`` document, with the
agents of every tenant (``data.tenants``) beside those of no tenant, or with ``tenant=`` only that tenant's agents.

    changes = diff_sources("main-policies/", "policies/")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yaml2rego.audit.diff.changes import Facts, PolicyChange
from yaml2rego.audit.diff.compare import agents_of, diff_boundaries
from yaml2rego.bundles.bundle import DATA_FILE, read_bundle
from yaml2rego.dsl.tenancy import TENANTS_ROOT, tenant_of_data_file
from yaml2rego.errors import BundleError, Yaml2RegoError

if TYPE_CHECKING:
    from yaml2rego.compile.compiler import CompiledPolicy
    from yaml2rego.dsl.model import PolicySet

__all__ = ["diff_policy_sets", "diff_sources", "load_agents", "load_boundaries"]


def load_boundaries(source: str | Path, *, tenant: str | None = None) -> dict[str, Any]:
    """The ``data.boundaries`` document (``agents``, and ``defaults`` when there are global domains) of a bundle, a
    ``data.json``, a compiled output directory, or boundary YAML. Tenants' agents are merged into ``agents`` (agent
    ids are unique across tenants); ``tenant`` keeps only that tenant's agents."""
    path = Path(source)
    data, tenants = _documents(path)
    agents_of(data, str(path))
    for name, document in tenants.items():
        agents_of(document, f"{path} (tenant {name})")
    if tenant is not None:
        # A side without that tenant has none of its agents: on the other side they are all new (or gone).
        return dict(tenants.get(tenant) or {"agents": {}})
    return _merged(data, tenants)


def _merged(data: dict[str, Any], tenants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged = dict(data)
    merged["agents"] = {**data["agents"]}
    for document in tenants.values():
        merged["agents"].update(document["agents"])
    return merged


def _documents(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``data.boundaries`` and each tenant's ``data.tenants.<tenant>`` of one source."""
    if path.is_file() and path.read_bytes()[:2] == b"\x1f\x8b":
        bundle = read_bundle(path)
        if bundle.tenant is not None:
            return {"agents": {}}, {bundle.tenant: bundle.data()}
        tenants = {
            tenant: _json(content, name)
            for name, content in bundle.files.items()
            if (tenant := tenant_of_data_file(name)) is not None
        }
        return bundle.data(), tenants
    if path.is_file() and path.suffix == ".json":
        return _json(path.read_bytes(), str(path)), {}
    if path.is_dir() and (path / DATA_FILE).is_file():
        tenants = {
            folder.name: _json((folder / "data.json").read_bytes(), str(folder / "data.json"))
            for folder in sorted((path / TENANTS_ROOT).glob("*"))
            if (folder / "data.json").is_file()
        }
        return _json((path / DATA_FILE).read_bytes(), str(path / DATA_FILE)), tenants
    if not path.exists():
        raise Yaml2RegoError(f"{path}: no such file or directory")
    # Imported here: the compiler and loader are needed only for YAML sides.
    from yaml2rego.compile.compiler import compile_policy_set
    from yaml2rego.dsl.loader import load_policies

    return _compiled_documents(compile_policy_set(load_policies([str(path)]), include_tests=False))


def _compiled_documents(compiled: CompiledPolicy) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    return json.loads(compiled.files[DATA_FILE]), {name: dict(document) for name, document in compiled.tenants.items()}


def _json(content: bytes, origin: str) -> Any:
    try:
        return json.loads(content)
    except ValueError as exc:
        raise BundleError(f"{origin}: not valid JSON ({exc})") from exc


def load_agents(source: str | Path, *, tenant: str | None = None) -> dict[str, Facts]:
    """Compiled facts per agent from a bundle, a ``data.json``, a compiled output directory, or boundary YAML."""
    return agents_of(load_boundaries(source, tenant=tenant), str(source))


def diff_policy_sets(old: PolicySet, new: PolicySet) -> list[PolicyChange]:
    """:func:`~yaml2rego.audit.diff.compare.diff_boundaries` between two loaded policy sets, in their compiled form."""
    from yaml2rego.compile.compiler import compile_policy_set

    def boundaries(policy_set: PolicySet) -> dict[str, Any]:
        return _merged(*_compiled_documents(compile_policy_set(policy_set, include_tests=False)))

    return diff_boundaries(boundaries(old), boundaries(new))


def diff_sources(old: str | Path, new: str | Path, *, tenant: str | None = None) -> list[PolicyChange]:
    """:func:`~yaml2rego.audit.diff.compare.diff_boundaries` between two sources accepted by :func:`load_boundaries`
    (``tenant``: that tenant's agents only)."""
    before, after = load_boundaries(old, tenant=tenant), load_boundaries(new, tenant=tenant)
    if tenant is not None and not before["agents"] and not after["agents"]:
        raise Yaml2RegoError(f"no agent of tenant {tenant!r} on either side")
    return diff_boundaries(before, after)
