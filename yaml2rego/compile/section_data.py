"""Each boundary section's facts as the Rego library reads them: the per-section halves of an agent's entry in
``data.boundaries.agents`` (layout: ``docs/architecture.md``).

The dsl layer checks each section and builds its model (:mod:`yaml2rego.dsl.tools`,
:mod:`yaml2rego.dsl.enforcement_sections`, :mod:`yaml2rego.dsl.alerts`, :mod:`yaml2rego.dsl.tenancy`); this module
turns the model into data, and :func:`yaml2rego.compile.compiler.agent_data` merges the sections. A section the
boundary does not declare adds nothing, so boundaries without it compile to the same data as before.

>>> from yaml2rego.dsl.loader import load_policy_text
>>> agent = load_policy_text('''
... agent_boundary:
...   agent_id: infra
...   tools:
...     jira_reader: {actions: [read], classification: internal, args: {project: {type: string}},
...                   scope: {project: "SEC-*"}}
...   conditions:
...     - {endpoint: /payments/*, field: body.amount, op: gt, value: 5000, outcome: approval_needed}
...   alerts:
...     - {name: admin-probe, severity: critical, codes: [endpoint_denied], path: "/api/admin/*"}
... ''').get("infra")
>>> tools_data(agent)["tools"]["jira_reader"]["scope"][0]["regexes"]
['^SEC-.*$']
>>> enforcement_data(agent)["conditions"][0]["op"]
'gt'
>>> alerts_data(agent)["alerts"][0]["severity"]
'critical'
"""

from __future__ import annotations

from typing import Any

from yaml2rego.dsl.model import (
    AgentBoundary,
    Budget,
    Condition,
    Defaults,
    EnvironmentGate,
    ExecutionContext,
    FieldRule,
    SanitizeRule,
    Tool,
)
from yaml2rego.errors import SourceLocation, source_line
from yaml2rego.semantics.detectors import BUILTIN_DETECTORS
from yaml2rego.semantics.hosts import canonical_domain
from yaml2rego.semantics.paths import PathPattern

__all__ = [
    "alerts_data",
    "defaults_data",
    "enforcement_data",
    "field_data",
    "matcher_data",
    "tenancy_data",
    "tools_data",
]

# Operators that test only whether a field is there: their conditions carry no value.
_PRESENCE = frozenset({"exists", "missing"})


# -- shared by several sections ------------------------------------------------------------------------------------


def matcher_data(rule_id: str, source: SourceLocation | None, method: str, pattern: PathPattern) -> dict[str, Any]:
    """How the policy data names a rule that applies to an endpoint: id, source line, method and the pattern's
    matcher (:meth:`~yaml2rego.semantics.paths.PathPattern.matcher`). Endpoint rules, conditions and sanitize rules
    alike."""
    return {
        "rule": rule_id,
        "source": source_line(source),
        "method": method,
        **pattern.matcher(),
    }


def field_data(rule: FieldRule) -> dict[str, Any]:
    """A field rule (of a body's input validation or of a tool's arguments) as the validation library reads it."""
    data: dict[str, Any] = {
        "rule": rule.rule_id,
        "source": source_line(rule.source),
        "field": rule.field,
        "path": list(rule.path),
        "type": rule.type.value,
        "required": rule.required,
    }
    for key in ("values", "min_length", "max_length", "pattern", "minimum", "maximum"):
        value = getattr(rule, key)
        if value is not None:
            data[key] = list(value) if isinstance(value, tuple) else value
    return data


# -- tools and execution_context (rego/agent_boundary/tools/tools.rego) --------------------------------------------


def tools_data(agent: AgentBoundary) -> dict[str, Any]:
    """The agent's ``tools`` and ``execution_context`` as the Rego library reads them; empty when it declares no
    tools and no execution context, so boundaries without tools compile exactly as before."""
    if not agent.tools and agent.execution_context is None:
        return {}
    context = agent.execution_context or ExecutionContext()
    return {
        "tools": {tool.name: _tool(tool) for tool in agent.tools},
        "execution_context": {
            "source": source_line(context.source),
            "restricted_classes": [c.value for c in context.restricted_classes],
            "clearance": {role: [c.value for c in classes] for role, classes in context.clearance.items()},
            "environments": {gate.name: _gate(gate) for gate in context.environments},
        },
    }


def _tool(tool: Tool) -> dict[str, Any]:
    args = tool.args or ()
    return {
        "name": tool.name,
        "rule": tool.rule_id,
        "source": source_line(tool.source),
        "actions": [action.value for action in tool.actions],
        "classification": tool.classification.value,
        "requires_approval": tool.requires_approval,
        # Keyed by name: "does the tool have this argument?" is one lookup.
        "declares_args": tool.args is not None,
        "arg_names": {rule.field: True for rule in args},
        "args": [field_data(rule) for rule in args],
        "scope": [
            {
                "rule": s.rule_id,
                "source": source_line(s.source),
                "arg": s.arg,
                "patterns": list(s.patterns),
                "regexes": list(s.regexes),
            }
            for s in tool.scope
        ],
    }


def _gate(gate: EnvironmentGate) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rule": gate.rule_id,
        "source": source_line(gate.source),
        "requires_approval_for": [action.value for action in gate.requires_approval_for],
    }
    if gate.allowed_tools is not None:
        data["allowed_tools"] = {name: True for name in gate.allowed_tools}
    return data


# -- conditions, allowed_domains, budget and sanitize (docs/enforcement.md) ----------------------------------------


def enforcement_data(agent: AgentBoundary) -> dict[str, Any]:
    """The agent's conditions, egress, budget and sanitize facts (only the sections the boundary has)."""
    data: dict[str, Any] = {}
    if agent.conditions:
        data["conditions"] = [_condition(condition) for condition in agent.conditions]
    if agent.allowed_domains_source is not None:
        data["egress"] = {
            "rule": "allowed_domains",
            "source": source_line(agent.allowed_domains_source),
            "domains": sorted({canonical_domain(domain) for domain in agent.allowed_domains}),
        }
    if agent.budget is not None:
        data["budget"] = _budget(agent.budget)
    if agent.sanitize:
        data["sanitize"] = [_sanitize(rule) for rule in agent.sanitize]
    return data


def defaults_data(defaults: Defaults | None) -> dict[str, Any] | None:
    """``data.boundaries.defaults`` for a ``defaults:`` document, or ``None`` without one."""
    if defaults is None:
        return None
    domains = sorted({canonical_domain(domain) for domain in defaults.allowed_domains})
    return {"source": source_line(defaults.source), "allowed_domains": domains}


def _condition(condition: Condition) -> dict[str, Any]:
    data = matcher_data(condition.rule_id, condition.source, condition.method, condition.endpoint)
    data.update(field=condition.field, path=list(condition.path), op=condition.op, outcome=condition.outcome)
    if condition.op not in _PRESENCE:
        data["value"] = condition.value
    if condition.message is not None:
        data["message"] = condition.message
    return data


def _budget(budget: Budget) -> dict[str, Any]:
    data: dict[str, Any] = {"rule": "budget", "source": source_line(budget.source)}
    if budget.daily_usd is not None:
        data["daily_usd"] = budget.daily_usd
    if budget.requests_per_second is not None:
        data["requests_per_second"] = budget.requests_per_second
    data["tool_prices"] = dict(budget.tool_prices)
    data["default_cost_usd"] = budget.default_cost_usd
    return data


def _sanitize(rule: SanitizeRule) -> dict[str, Any]:
    data = matcher_data(rule.rule_id, rule.source, rule.method, rule.endpoint)
    regex = rule.pattern if rule.detector == "regex" else BUILTIN_DETECTORS[rule.detector].flag_regex
    data.update(
        detector=rule.detector,
        flag_regex=regex,
        fields=[field.split(".") for field in rule.fields],
        apply_to=list(rule.apply_to),
    )
    return data


# -- alerts (read by the runtime's alert sink, never by the Rego: docs/runtime.md, "Alerts") -----------------------


def alerts_data(agent: AgentBoundary) -> dict[str, Any]:
    """``{"alerts": [...]}`` for an agent that declares alert rules, else nothing (no existing data changes)."""
    if not agent.alerts:
        return {}
    rules = []
    for rule in agent.alerts:
        data: dict[str, Any] = {"name": rule.name, "severity": rule.severity, "source": source_line(rule.source)}
        for key in ("path", "decision", "event", "enforced"):
            if getattr(rule, key) is not None:
                data[key] = getattr(rule, key)
        if rule.codes:
            data["codes"] = list(rule.codes)
        data.update(count=rule.count, window_s=rule.window_s, quiet_s=rule.quiet_s)
        rules.append(data)
    return {"alerts": rules}


# -- tenant and data residency (docs/dsl.md, "Tenants and data residency") -----------------------------------------


def tenancy_data(agent: AgentBoundary) -> dict[str, Any]:
    """The tenancy facts of one agent, merged into its entry of the agents' data (only those the boundary has).

    ``residency`` holds everything the region check reads; it is there only when the agent declares ``regions``, so
    an endpoint or host region on an agent without regions changes nothing.
    """
    data: dict[str, Any] = {}
    if agent.tenant is not None:
        data["tenant"] = agent.tenant
    if agent.regions:
        data["residency"] = {
            "rule": "regions",
            "source": source_line(agent.regions_source),
            "regions": sorted(agent.regions),
            "hosts": [
                {
                    "rule": host.rule_id,
                    "source": source_line(host.source),
                    "pattern": host.pattern,
                    "region": host.region,
                }
                for host in agent.host_regions
            ],
        }
    return data
