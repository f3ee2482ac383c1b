"""Changes to an agent's tenant and data residency (``tenant``, ``regions``, ``host_regions``, endpoint regions).

Moving an agent to another tenant hands it to other callers, so it loosens; so does a region the agent may now send
data to, dropping residency altogether, or a host or endpoint moved into one of the agent's regions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from yaml2rego.audit.diff.changes import Change, Facts

__all__ = ["tenancy_changes"]


def tenancy_changes(old: Facts, new: Facts) -> list[Change]:
    """The tenant, the residency regions, the host regions and the endpoint regions of one agent."""
    changes: list[Change] = []
    was_tenant, now_tenant = old.get("tenant"), new.get("tenant")
    if was_tenant != now_tenant:
        detail = f"tenant {was_tenant or '(none)'} -> {now_tenant or '(none)'}"
        changes.append(Change("tenant_changed", True, detail))
    was, now = _residency(old), _residency(new)
    if was is None and now is None:
        return changes
    if was is None or now is None:
        shown = ", ".join(now["regions"] if now else was["regions"] if was else [])
        kind, loosens = ("residency_added", False) if was is None else ("residency_removed", True)
        return [*changes, Change(kind, loosens, f"data residency to {shown}")]
    for region in sorted(set(now["regions"]) - set(was["regions"])):
        changes.append(Change("region_added", True, f"data may now go to region {region}"))
    for region in sorted(set(was["regions"]) - set(now["regions"])):
        changes.append(Change("region_removed", False, f"data may no longer go to region {region}"))
    allowed = set(now["regions"])
    old_hosts, new_hosts = _host_regions(was), _host_regions(now)
    for pattern in sorted(set(old_hosts) | set(new_hosts)):
        before, after = old_hosts.get(pattern), new_hosts.get(pattern)
        if before != after:
            # A host whose region is now one the agent may reach is a destination it may now send data to.
            loosens = after is not None and after in allowed
            changes.append(Change("host_region_changed", loosens, f"host {pattern}: {before} -> {after}"))
    old_endpoints, new_endpoints = _endpoint_regions(old), _endpoint_regions(new)
    for pattern in sorted(set(old_endpoints) | set(new_endpoints)):
        before, after = old_endpoints.get(pattern), new_endpoints.get(pattern)
        if before != after and pattern in old_endpoints and pattern in new_endpoints:
            loosens = after is None or after in allowed
            changes.append(Change("endpoint_region_changed", loosens, f"endpoint {pattern}: {before} -> {after}"))
    return changes


def _residency(facts: Facts) -> Mapping[str, Any] | None:
    residency = facts.get("residency")
    return residency if isinstance(residency, Mapping) else None


def _host_regions(residency: Mapping[str, Any]) -> dict[str, str]:
    hosts: Sequence[Facts] = residency.get("hosts") or []
    return {str(host.get("pattern")): str(host.get("region")) for host in hosts}


def _endpoint_regions(facts: Facts) -> dict[str, str | None]:
    rules: Sequence[Facts] = facts.get("allowed_endpoints") or []
    return {f"{rule.get('method')} {rule.get('pattern')}": rule.get("region") for rule in rules}
