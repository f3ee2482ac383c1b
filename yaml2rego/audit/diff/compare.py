"""Two versions of the boundaries compared agent by agent, section by section.

>>> old = {"agents": {"bot": {"mode": "enforce"}}}
>>> [(change.agent_id, change.kind, change.label) for change in diff_boundaries(old, {"agents": {}})]
[('bot', 'agent_removed', 'tightens')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from yaml2rego.audit.diff.changes import DEFAULTS, Change, Facts, PolicyChange, compare_keyed
from yaml2rego.audit.diff.endpoints import (
    endpoint_changes,
    mode_changes,
    payload_changes,
    rate_limit_changes,
    validation_changes,
)
from yaml2rego.audit.diff.enforcement import (
    budget_changes,
    condition_changes,
    defaults_changes,
    egress_changes,
    global_domains,
    sanitize_changes,
)
from yaml2rego.audit.diff.tenancy import tenancy_changes
from yaml2rego.audit.diff.tools import clearance_changes, environment_changes, execution_context, tool_changes
from yaml2rego.errors import BundleError

__all__ = ["agents_of", "diff_agents", "diff_boundaries"]


def _agent_changes(old: Facts, new: Facts, globals_: tuple[Sequence[str], Sequence[str]]) -> list[Change]:
    """Every section of one agent, in the order a reader of the boundary meets them."""
    old_context, new_context = execution_context(old), execution_context(new)
    return [
        *mode_changes(old, new),
        *endpoint_changes(old.get("allowed_endpoints", []), new.get("allowed_endpoints", []), deny=False),
        *endpoint_changes(old.get("denied_endpoints", []), new.get("denied_endpoints", []), deny=True),
        *validation_changes(old.get("input_validation", []), new.get("input_validation", [])),
        *rate_limit_changes(old.get("rate_limits", []), new.get("rate_limits", [])),
        *payload_changes(old.get("max_payload"), new.get("max_payload")),
        *tool_changes(old, new),
        *clearance_changes(old_context, new_context),
        *environment_changes(old_context, new_context),
        *condition_changes(old.get("conditions") or [], new.get("conditions") or []),
        *egress_changes(old, new, globals_),
        *budget_changes(old.get("budget"), new.get("budget")),
        *sanitize_changes(old.get("sanitize") or [], new.get("sanitize") or []),
        *tenancy_changes(old, new),
    ]


def diff_agents(
    old: Mapping[str, Facts],
    new: Mapping[str, Facts],
    *,
    old_defaults: Facts | None = None,
    new_defaults: Facts | None = None,
) -> list[PolicyChange]:
    """Every change from ``old`` to ``new`` (agent id -> compiled facts), grouped by agent in id order.

    ``old_defaults``/``new_defaults`` are ``data.boundaries.defaults`` (global allowed domains) of each side; their
    changes come first, under the agent id :data:`~yaml2rego.audit.diff.changes.DEFAULTS`.

    >>> [change.kind for change in diff_agents({}, {"bot": {"mode": "enforce"}})]
    ['agent_added']
    """
    globals_ = (global_domains(old_defaults), global_domains(new_defaults))

    def changed(agent: str, was: Facts, now: Facts) -> list[PolicyChange]:
        # Equal facts are no change (the common case at thousands of agents), unless the global domains came or went:
        # that starts or ends the egress check of an agent without domains of its own.
        if was == now and bool(globals_[0]) == bool(globals_[1]):
            return []
        return [change.of(agent) for change in _agent_changes(was, now, globals_)]

    changes = [change.of(DEFAULTS) for change in defaults_changes(old_defaults, new_defaults, old)]
    return changes + compare_keyed(
        old,
        new,
        removed=lambda agent, _: Change("agent_removed", False, f"agent {agent} removed").of(agent),
        added=lambda agent, facts: Change("agent_added", True, f"agent {agent} added ({facts.get('mode')})").of(agent),
        changed=changed,
    )


def agents_of(data: Any, origin: str) -> dict[str, Facts]:
    """The ``agents`` object of a ``data.boundaries`` document; :class:`BundleError` naming ``origin`` without one."""
    agents = data.get("agents") if isinstance(data, dict) else None
    if not isinstance(agents, dict):
        raise BundleError(f"{origin}: no 'agents' object in the boundary data")
    return agents


def diff_boundaries(old: Facts, new: Facts) -> list[PolicyChange]:
    """:func:`diff_agents` between two ``data.boundaries`` documents (``{"agents": …, "defaults"?: …}``).

    >>> agents = {"bot": {"egress": {"domains": ["a.example"]}}}
    >>> old, new = {"agents": agents}, {"agents": agents, "defaults": {"allowed_domains": ["b.example"]}}
    >>> [(change.agent_id, change.kind, change.label) for change in diff_boundaries(old, new)]
    [('(defaults)', 'global_domain_added', 'loosens')]
    """
    old_agents, new_agents = agents_of(old, "old side"), agents_of(new, "new side")
    return diff_agents(old_agents, new_agents, old_defaults=old.get("defaults"), new_defaults=new.get("defaults"))
