"""Multi-tenancy and data residency: a boundary's ``tenant``, ``regions`` and ``host_regions``.

A tenant's agents are compiled under ``data.tenants.<tenant>`` instead of ``data.boundaries``, so a call reaches them
only when it is made for that tenant (``input.tenant``, set by the guard from its own identity), and
``yaml2rego bundle --tenant`` can ship each tenant in a bundle whose root no other tenant's bundle overlaps. An agent
with ``regions`` may send data only to endpoints and hosts whose declared region is one of them (docs/dsl.md,
"Tenants and data residency"). Boundaries without these keys compile to exactly the data they always did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from yaml2rego.dsl.model import HostRegion
from yaml2rego.errors import SourceLocation
from yaml2rego.semantics.hosts import canonical_domain, host_problem

if TYPE_CHECKING:
    from yaml2rego.dsl.tenant_directory import TenantScope

__all__ = ["TENANTS_ROOT", "build", "problems", "tenant_data_file", "tenant_of_data_file"]

# Where tenants' facts live in the compiled output and in bundles: `data.tenants.<tenant>`.
TENANTS_ROOT = "tenants"

Locate = Callable[..., SourceLocation]
Problem = tuple[str, tuple[str | int, ...], bool]


def tenant_data_file(tenant: str) -> str:
    """The data file of one tenant (``tenants/<tenant>/data.json``), read by OPA as ``data.tenants.<tenant>``."""
    return f"{TENANTS_ROOT}/{tenant}/data.json"


def tenant_of_data_file(name: str) -> str | None:
    """The tenant whose data file ``name`` is (the inverse of :func:`tenant_data_file`), else ``None``.

    >>> tenant_of_data_file("tenants/acme/data.json"), tenant_of_data_file("boundaries/data.json")
    ('acme', None)
    """
    parts = name.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == TENANTS_ROOT and parts[2] == "data.json" else None


def problems(boundary: Mapping[str, Any]) -> Iterator[Problem]:
    """What the schema cannot say: a region only means something on an endpoint the agent may call, and a host
    region names a host, never an IP address (as allowed_domains)."""
    denied = boundary.get("denied_endpoints")
    for index, item in enumerate(denied if isinstance(denied, list) else []):
        if isinstance(item, Mapping) and "region" in item:
            message = "region applies only to allowed_endpoints (a denied endpoint sends nothing anywhere)"
            yield message, ("agent_boundary", "denied_endpoints", index, "region"), True
    hosts = boundary.get("host_regions")
    for pattern in hosts if isinstance(hosts, Mapping) else {}:
        problem = host_problem(pattern.removeprefix("*.")) if isinstance(pattern, str) else None
        if problem and "IP address" in problem:
            yield f"host region {pattern!r}: {problem}", ("agent_boundary", "host_regions", pattern), True


def build(boundary: Mapping[str, Any], location: Locate, scope: TenantScope | None = None) -> dict[str, Any]:
    """Keyword arguments for :class:`~yaml2rego.dsl.model.AgentBoundary` from a validated boundary.

    What the boundary leaves out, its directory's ``_tenant.yaml`` (``scope``) gives: the tenant, and the regions
    with the tenant file's line as their source.
    """
    built: dict[str, Any] = {}
    if "tenant" in boundary:
        built["tenant"] = boundary["tenant"]
    elif scope is not None:
        built["tenant"] = scope.tenant
    if "regions" in boundary:
        built["regions"] = tuple(boundary["regions"])
        built["regions_source"] = location("regions", key=True)
    elif scope is not None and scope.regions is not None:
        built["regions"] = scope.regions
        built["regions_source"] = scope.regions_source
    hosts = boundary.get("host_regions") or {}
    built["host_regions"] = tuple(
        HostRegion(canonical_domain(pattern), region, location("host_regions", pattern, key=True))
        for pattern, region in sorted(hosts.items())
    )
    return built
