"""The semantic diff: every kind of change, its loosens/tightens label, the formats, sources and exit codes."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from yaml2rego.audit.diff import (
    DEFAULTS,
    LOOSENS,
    TIGHTENS,
    PolicyChange,
    diff_agents,
    diff_boundaries,
    diff_sources,
    format_markdown,
    format_text,
    load_agents,
    load_boundaries,
)
from yaml2rego.bundles.bundle import bundle_policies
from yaml2rego.cli import main

SEED = Path(__file__).resolve().parent.parent / "examples" / "support_agent.yaml"

BASE: dict[str, Any] = {
    "agent_id": "bot",
    "mode": "enforce",
    "allowed_endpoints": [
        {"rule": "allowed_endpoints[0]", "source": "a.yaml:4", "method": "GET", "pattern": "/api/customer/*"},
        {"rule": "allowed_endpoints[1]", "source": "a.yaml:6", "method": "POST", "pattern": "/api/ticket"},
    ],
    "denied_endpoints": [
        {"rule": "denied_endpoints[0]", "source": "a.yaml:9", "method": "*", "pattern": "/api/admin/*"},
        {"rule": "denied_endpoints[1]", "source": "a.yaml:11", "method": "DELETE", "pattern": "/api/*"},
    ],
    "input_validation": [
        {
            "method": "*",
            "pattern": "/api/ticket",
            "fields": [
                {"field": "customer_id", "type": "uuid", "required": True},
                {"field": "priority", "type": "enum", "required": True, "values": ["low", "high"]},
                {"field": "title", "type": "string", "required": True, "min_length": 3, "max_length": 80},
                {"field": "code", "type": "string", "required": False, "pattern": "^[A-Z]+$"},
                {"field": "count", "type": "integer", "required": False, "minimum": 1, "maximum": 10},
            ],
        }
    ],
    "rate_limits": [{"method": "*", "pattern": "/api/customer/*", "requests_per_minute": 30}],
    "max_payload": {"rule": "max_payload_size_kb", "bytes": 1024},
}

Edit = Callable[[dict[str, Any]], object]  # an edit in place; what it returns is ignored


def _field(agent: dict[str, Any], name: str) -> dict[str, Any]:
    fields: list[dict[str, Any]] = agent["input_validation"][0]["fields"]
    return next(rule for rule in fields if rule["field"] == name)


def _drop_field(agent: dict[str, Any], name: str) -> None:
    fields = agent["input_validation"][0]["fields"]
    fields.remove(_field(agent, name))


# (id, edit applied to a copy of BASE, expected [(kind, label)])
CASES: list[tuple[str, Edit, list[tuple[str, str]]]] = [
    ("mode-to-shadow", lambda a: a.update(mode="shadow"), [("mode_changed", LOOSENS)]),
    ("endpoint-added", lambda a: a["allowed_endpoints"].append({"method": "GET", "pattern": "/x"}),
     [("endpoint_added", LOOSENS)]),
    ("endpoint-removed", lambda a: a["allowed_endpoints"].pop(1), [("endpoint_removed", TIGHTENS)]),
    ("methods-widened-to-any", lambda a: a["allowed_endpoints"][0].update(method="*"), [("methods_widened", LOOSENS)]),
    ("method-added", lambda a: a["allowed_endpoints"].append({"method": "PUT", "pattern": "/api/ticket"}),
     [("methods_widened", LOOSENS)]),
    ("method-swapped", lambda a: a["allowed_endpoints"][1].update(method="PUT"),
     [("methods_widened", LOOSENS), ("methods_narrowed", TIGHTENS)]),
    ("deny-rule-removed", lambda a: a["denied_endpoints"].pop(0), [("deny_rule_removed", LOOSENS)]),
    ("deny-rule-added", lambda a: a["denied_endpoints"].append({"method": "*", "pattern": "/internal/*"}),
     [("deny_rule_added", TIGHTENS)]),
    ("deny-methods-narrowed", lambda a: a["denied_endpoints"][0].update(method="POST"),
     [("deny_methods_narrowed", LOOSENS)]),
    ("deny-methods-widened", lambda a: a["denied_endpoints"][1].update(method="*"),
     [("deny_methods_widened", TIGHTENS)]),
    ("validation-removed", lambda a: a.update(input_validation=[]), [("validation_removed", LOOSENS)]),
    ("validation-added", lambda a: a["input_validation"].append({"method": "*", "pattern": "/y", "fields": []}),
     [("validation_added", TIGHTENS)]),
    ("field-rule-removed", lambda a: _drop_field(a, "customer_id"), [("field_rule_removed", LOOSENS)]),
    ("field-rule-added",
     lambda a: a["input_validation"][0]["fields"].append({"field": "new", "type": "boolean", "required": False}),
     [("field_rule_added", TIGHTENS)]),
    ("field-now-optional", lambda a: _field(a, "customer_id").update(required=False),
     [("field_now_optional", LOOSENS)]),
    ("field-now-required", lambda a: _field(a, "code").update(required=True), [("field_now_required", TIGHTENS)]),
    ("type-uuid-to-string", lambda a: _field(a, "customer_id").update(type="string"),
     [("field_type_changed", LOOSENS)]),
    ("type-string-to-email", lambda a: _field(a, "title").update(type="email"), [("field_type_changed", TIGHTENS)]),
    ("type-integer-to-number", lambda a: _field(a, "count").update(type="number"), [("field_type_changed", LOOSENS)]),
    ("enum-value-added", lambda a: _field(a, "priority").update(values=["low", "high", "urgent"]),
     [("enum_values_added", LOOSENS)]),
    ("enum-value-removed", lambda a: _field(a, "priority").update(values=["high"]),
     [("enum_values_removed", TIGHTENS)]),
    ("min-length-raised", lambda a: _field(a, "title").update(min_length=5), [("field_min_length_raised", TIGHTENS)]),
    ("min-length-lowered", lambda a: _field(a, "title").update(min_length=1), [("field_min_length_lowered", LOOSENS)]),
    ("max-length-raised", lambda a: _field(a, "title").update(max_length=500), [("field_max_length_raised", LOOSENS)]),
    ("max-length-lowered", lambda a: _field(a, "title").update(max_length=40),
     [("field_max_length_lowered", TIGHTENS)]),
    ("max-length-removed", lambda a: _field(a, "title").pop("max_length"), [("field_max_length_removed", LOOSENS)]),
    ("minimum-added", lambda a: _field(a, "title").update(minimum=0), [("field_minimum_added", TIGHTENS)]),
    ("minimum-removed", lambda a: _field(a, "count").pop("minimum"), [("field_minimum_removed", LOOSENS)]),
    ("maximum-raised", lambda a: _field(a, "count").update(maximum=100), [("field_maximum_raised", LOOSENS)]),
    ("maximum-added", lambda a: _field(a, "title").update(maximum=5), [("field_maximum_added", TIGHTENS)]),
    ("pattern-removed", lambda a: _field(a, "code").pop("pattern"), [("field_pattern_removed", LOOSENS)]),
    ("pattern-added", lambda a: _field(a, "title").update(pattern="^[a-z]+$"), [("field_pattern_added", TIGHTENS)]),
    ("pattern-changed", lambda a: _field(a, "code").update(pattern="^[A-Z]{2}$"), [("field_pattern_changed", LOOSENS)]),
    ("rate-limit-raised", lambda a: a["rate_limits"][0].update(requests_per_minute=60),
     [("rate_limit_raised", LOOSENS)]),
    ("rate-limit-lowered", lambda a: a["rate_limits"][0].update(requests_per_minute=10),
     [("rate_limit_lowered", TIGHTENS)]),
    ("rate-limit-removed", lambda a: a.update(rate_limits=[]), [("rate_limit_removed", LOOSENS)]),
    ("rate-limit-added",
     lambda a: a["rate_limits"].append({"method": "POST", "pattern": "/z", "requests_per_minute": 5}),
     [("rate_limit_added", TIGHTENS)]),
    ("payload-raised", lambda a: a["max_payload"].update(bytes=4096), [("payload_limit_raised", LOOSENS)]),
    ("payload-lowered", lambda a: a["max_payload"].update(bytes=512), [("payload_limit_lowered", TIGHTENS)]),
    ("payload-removed", lambda a: a.pop("max_payload"), [("payload_limit_removed", LOOSENS)]),
    ("source-lines-moved", lambda a: a["allowed_endpoints"][0].update(source="a.yaml:40", rule="allowed_endpoints[7]"),
     []),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_change_is_labelled(edit: Edit, expected: list[tuple[str, str]]) -> None:
    new = copy.deepcopy(BASE)
    edit(new)
    changes = diff_agents({"bot": BASE}, {"bot": new})
    assert [(change.kind, change.label) for change in changes] == expected
    assert all(change.agent_id == "bot" for change in changes)


@pytest.mark.parametrize(
    ("was", "now", "details"),
    [
        ("GET", "PUT", ["endpoint /api/ticket adds PUT (GET -> PUT)", "endpoint /api/ticket drops GET (GET -> PUT)"]),
        ("GET", "*", ["endpoint /api/ticket adds * (GET -> *)"]),
        ("*", "GET", ["endpoint /api/ticket drops * (* -> GET)"]),
    ],
    ids=["swapped", "to-any", "from-any"],
)
def test_a_method_change_says_what_each_line_adds_or_drops(was: str, now: str, details: list[str]) -> None:
    """A change that widens and narrows at once is two lines, each naming its own methods, never one line twice."""
    old, new = copy.deepcopy(BASE), copy.deepcopy(BASE)
    old["allowed_endpoints"][1].update(method=was)
    new["allowed_endpoints"][1].update(method=now)
    assert [change.detail for change in diff_agents({"bot": old}, {"bot": new})] == details


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({}, {"bot": BASE}, [("agent_added", LOOSENS)]),
        ({"bot": BASE}, {}, [("agent_removed", TIGHTENS)]),
        ({"bot": {**BASE, "mode": "shadow"}}, {"bot": BASE}, [("mode_changed", TIGHTENS)]),
        ({"bot": {**BASE, "max_payload": None}}, {"bot": BASE}, [("payload_limit_added", TIGHTENS)]),
    ],
    ids=["agent-added", "agent-removed", "mode-to-enforce", "payload-added"],
)
def test_agent_level_changes_are_labelled(
    old: dict[str, Any], new: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert [(change.kind, change.label) for change in diff_agents(old, new)] == expected


def test_changes_are_grouped_by_agent_in_id_order() -> None:
    changes = diff_agents({"b": BASE, "a": BASE}, {"b": {**BASE, "mode": "shadow"}, "c": BASE})
    assert [(change.agent_id, change.kind) for change in changes] == [
        ("a", "agent_removed"),
        ("b", "mode_changed"),
        ("c", "agent_added"),
    ]


# -- tools, execution context, conditions, egress, budget, sanitize -------------------------------------------------

RICH: dict[str, Any] = {
    "agent_id": "ops",
    "mode": "enforce",
    "tools": {
        "jira": {
            "name": "jira",
            "actions": ["read", "write"],
            "classification": "internal",
            "requires_approval": False,
            "declares_args": True,
            "args": [
                {"field": "project", "type": "string", "required": True, "max_length": 32},
                {"field": "ticket", "type": "string", "required": False},
            ],
            "scope": [{"arg": "project", "patterns": ["SEC-*", "OPS-1*"], "regexes": ["^SEC-.*$", "^OPS-1.*$"]}],
        },
        "notify": {
            "name": "notify",
            "actions": ["write"],
            "classification": "internal",
            "requires_approval": True,
            "declares_args": False,
            "args": [],
            "scope": [],
        },
        "ledger": {
            "name": "ledger",
            "actions": ["read"],
            "classification": "financial",
            "requires_approval": False,
            "declares_args": False,
            "args": [],
            "scope": [],
        },
    },
    "execution_context": {
        "restricted_classes": ["confidential", "pii", "financial"],
        "clearance": {"auditor": ["financial"], "sre": ["financial", "pii"]},
        "environments": {
            "prod": {"allowed_tools": {"jira": True, "notify": True}, "requires_approval_for": ["write"]},
            "dev": {"requires_approval_for": []},
        },
    },
    "conditions": [
        {"method": "POST", "pattern": "/pay", "field": "body.amount", "op": "gt", "value": 5000,
         "outcome": "approval_needed", "rule": "conditions[0]"},
        {"method": "POST", "pattern": "/pay", "field": "body.amount", "op": "gt", "value": 50000, "outcome": "deny",
         "rule": "conditions[1]"},
        {"method": "*", "pattern": "/**", "field": "context.purpose", "op": "ne", "value": "care", "outcome": "deny"},
        {"method": "*", "pattern": "/**", "field": "args.region", "op": "in", "value": ["cn", "ru"], "outcome": "deny"},
        {"method": "*", "pattern": "/**", "field": "args.amount", "op": "lt", "value": 0, "outcome": "deny"},
        {"method": "*", "pattern": "/**", "field": "args.tier", "op": "not_in", "value": ["a", "b"],
         "outcome": "deny"},
    ],
    "egress": {"rule": "allowed_domains", "domains": ["*.svc.example.com", "api.example.com"]},
    "budget": {"rule": "budget", "daily_usd": 20.0, "requests_per_second": 5, "tool_prices": {"jira": 0.01},
               "default_cost_usd": 0.002},
    "sanitize": [
        {"method": "*", "pattern": "/notes", "detector": "email", "flag_regex": "[a-z]+@[a-z.]+",
         "fields": [["body", "note"]], "apply_to": ["request", "result"], "rule": "sanitize[0]"},
        {"method": "*", "pattern": "/**", "detector": "regex", "flag_regex": "sk-[a-z]+", "fields": [["body"]],
         "apply_to": ["request"], "rule": "sanitize[1]"},
    ],
}  # fmt: skip


def _tool(agent: dict[str, Any], name: str) -> dict[str, Any]:
    tool: dict[str, Any] = agent["tools"][name]
    return tool


def _context(agent: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = agent["execution_context"]
    return context


def _env(agent: dict[str, Any], name: str) -> dict[str, Any]:
    environment: dict[str, Any] = _context(agent)["environments"][name]
    return environment


def _scope(agent: dict[str, Any], patterns: list[str]) -> None:
    _tool(agent, "jira")["scope"][0]["patterns"] = patterns


def _arg(agent: dict[str, Any], name: str) -> dict[str, Any]:
    return next(rule for rule in _tool(agent, "jira")["args"] if rule["field"] == name)


def _drop_arg(agent: dict[str, Any], name: str) -> None:
    _tool(agent, "jira")["args"].remove(_arg(agent, name))


NEW_TOOL = {"name": "search", "actions": ["read"], "classification": "public", "requires_approval": False,
            "declares_args": False, "args": [], "scope": []}  # fmt: skip
SSN_RULE = {"method": "*", "pattern": "/**", "detector": "us_ssn", "flag_regex": "[0-9]{3}-[0-9]{2}-[0-9]{4}",
            "fields": [["body"]], "apply_to": ["request"]}  # fmt: skip
DENY_CONDITION = {"method": "*", "pattern": "/**", "field": "args.export", "op": "eq", "value": True,
                  "outcome": "deny"}  # fmt: skip

# (id, edit applied to a copy of RICH, expected [(kind, label)])
SECTION_CASES: list[tuple[str, Edit, list[tuple[str, str]]]] = [
    # tools
    ("tool-added", lambda a: a["tools"].update(search=NEW_TOOL), [("tool_added", LOOSENS)]),
    ("tool-removed", lambda a: a["tools"].pop("ledger"), [("tool_removed", TIGHTENS)]),
    ("tool-action-added", lambda a: _tool(a, "jira")["actions"].append("execute"), [("tool_actions_added", LOOSENS)]),
    ("tool-action-removed", lambda a: _tool(a, "jira")["actions"].remove("write"),
     [("tool_actions_removed", TIGHTENS)]),
    ("tool-approval-removed", lambda a: _tool(a, "notify").update(requires_approval=False),
     [("tool_approval_removed", LOOSENS)]),
    ("tool-approval-added", lambda a: _tool(a, "jira").update(requires_approval=True),
     [("tool_approval_added", TIGHTENS)]),
    ("classification-to-unrestricted", lambda a: _tool(a, "ledger").update(classification="internal"),
     [("tool_classification_changed", LOOSENS)]),
    ("classification-to-restricted", lambda a: _tool(a, "jira").update(classification="pii"),
     [("tool_classification_changed", TIGHTENS)]),
    ("classification-to-class-fewer-roles-hold", lambda a: _tool(a, "ledger").update(classification="pii"),
     [("tool_classification_changed", TIGHTENS)]),
    ("classification-to-class-more-roles-hold",
     lambda a: (_tool(a, "ledger").update(classification="pii"), _context(a)["clearance"].update(admin=["pii"])),
     [("tool_classification_changed", LOOSENS), ("clearance_granted", LOOSENS)]),
    ("tool-args-undeclared", lambda a: _tool(a, "jira").update(declares_args=False, args=[]),
     [("tool_args_undeclared", LOOSENS)]),
    ("tool-args-declared",
     lambda a: _tool(a, "notify").update(declares_args=True, args=[{"field": "channel", "type": "string",
                                                                    "required": True}]),
     [("tool_args_declared", TIGHTENS)]),
    ("required-arg-added",
     lambda a: _tool(a, "jira")["args"].append({"field": "board", "type": "string", "required": True}),
     [("tool_arg_added", TIGHTENS)]),
    ("optional-arg-added",
     lambda a: _tool(a, "jira")["args"].append({"field": "board", "type": "string", "required": False}),
     [("tool_arg_added", LOOSENS)]),
    ("required-arg-removed", lambda a: _drop_arg(a, "project"), [("tool_arg_removed", LOOSENS)]),
    ("optional-arg-removed", lambda a: _drop_arg(a, "ticket"), [("tool_arg_removed", TIGHTENS)]),
    ("arg-now-optional", lambda a: _arg(a, "project").update(required=False), [("tool_arg_now_optional", LOOSENS)]),
    ("arg-max-length-raised", lambda a: _arg(a, "project").update(max_length=64),
     [("tool_arg_max_length_raised", LOOSENS)]),
    ("arg-pattern-added", lambda a: _arg(a, "ticket").update(pattern="^[A-Z]+-[0-9]+$"),
     [("tool_arg_pattern_added", TIGHTENS)]),
    ("scope-pattern-widened", lambda a: _scope(a, ["SEC-*", "OPS-*"]), [("tool_scope_widened", LOOSENS)]),
    ("scope-pattern-to-any", lambda a: _scope(a, ["*"]), [("tool_scope_widened", LOOSENS)]),
    ("scope-pattern-added", lambda a: _scope(a, ["SEC-*", "OPS-1*", "INF-*"]), [("tool_scope_widened", LOOSENS)]),
    ("scope-pattern-narrowed", lambda a: _scope(a, ["SEC-1*", "OPS-1*"]), [("tool_scope_narrowed", TIGHTENS)]),
    ("scope-pattern-dropped-from-list", lambda a: _scope(a, ["SEC-*"]), [("tool_scope_narrowed", TIGHTENS)]),
    ("scope-pattern-swapped", lambda a: _scope(a, ["SEC-*", "INF-*"]),
     [("tool_scope_widened", LOOSENS), ("tool_scope_narrowed", TIGHTENS)]),
    ("scope-pattern-already-covered", lambda a: _scope(a, ["SEC-*", "OPS-1*", "SEC-9*"]), []),
    ("scope-removed", lambda a: _tool(a, "jira").update(scope=[]), [("tool_scope_removed", LOOSENS)]),
    ("scope-added",
     lambda a: _tool(a, "jira")["scope"].append({"arg": "ticket", "patterns": ["SEC-*"], "regexes": ["^SEC-.*$"]}),
     [("tool_scope_added", TIGHTENS)]),
    # execution context
    ("clearance-granted", lambda a: _context(a)["clearance"]["auditor"].append("pii"),
     [("clearance_granted", LOOSENS)]),
    ("clearance-to-new-role", lambda a: _context(a)["clearance"].update(admin=["confidential"]),
     [("clearance_granted", LOOSENS)]),
    ("clearance-revoked", lambda a: _context(a)["clearance"].update(auditor=[]), [("clearance_revoked", TIGHTENS)]),
    ("restricted-class-removed", lambda a: _context(a)["restricted_classes"].remove("financial"),
     [("restricted_class_removed", LOOSENS)]),
    ("restricted-class-added", lambda a: _context(a)["restricted_classes"].append("internal"),
     [("restricted_class_added", TIGHTENS)]),
    ("environment-allows-tool", lambda a: _env(a, "prod")["allowed_tools"].update(ledger=True),
     [("environment_tool_allowed", LOOSENS)]),
    ("environment-disallows-tool", lambda a: _env(a, "prod")["allowed_tools"].pop("notify"),
     [("environment_tool_disallowed", TIGHTENS)]),
    ("environment-allows-every-tool", lambda a: _env(a, "prod").pop("allowed_tools"),
     [("environment_tools_unrestricted", LOOSENS)]),
    ("environment-restricts-tools", lambda a: _env(a, "dev").update(allowed_tools={"jira": True}),
     [("environment_tools_restricted", TIGHTENS)]),
    ("environment-approval-removed", lambda a: _env(a, "prod").update(requires_approval_for=[]),
     [("environment_approval_removed", LOOSENS)]),
    ("environment-approval-added", lambda a: _env(a, "dev").update(requires_approval_for=["execute"]),
     [("environment_approval_added", TIGHTENS)]),
    ("environment-added", lambda a: _context(a)["environments"].update(staging={"requires_approval_for": []}),
     [("environment_added", LOOSENS)]),
    ("environment-removed", lambda a: _context(a)["environments"].pop("dev"), [("environment_removed", TIGHTENS)]),
    ("environment-gates-removed", lambda a: _context(a).update(environments={}), [("environments_removed", LOOSENS)]),
    # conditions
    ("deny-condition-removed", lambda a: a["conditions"].pop(1), [("condition_removed", LOOSENS)]),
    ("approval-condition-removed", lambda a: a["conditions"].pop(0), [("condition_removed", LOOSENS)]),
    ("deny-condition-added", lambda a: a["conditions"].append(DENY_CONDITION), [("condition_added", TIGHTENS)]),
    ("approval-condition-added", lambda a: a["conditions"].append({**DENY_CONDITION, "outcome": "approval_needed"}),
     [("condition_added", TIGHTENS)]),
    ("approval-to-deny", lambda a: a["conditions"][0].update(outcome="deny"),
     [("condition_outcome_changed", TIGHTENS)]),
    ("deny-to-approval", lambda a: a["conditions"][1].update(outcome="approval_needed"),
     [("condition_outcome_changed", LOOSENS)]),
    ("gt-threshold-raised", lambda a: a["conditions"][0].update(value=10000), [("condition_value_raised", LOOSENS)]),
    ("gt-threshold-lowered", lambda a: a["conditions"][1].update(value=20000),
     [("condition_value_lowered", TIGHTENS)]),
    ("lt-threshold-raised", lambda a: a["conditions"][4].update(value=10), [("condition_value_raised", TIGHTENS)]),
    ("in-values-added", lambda a: a["conditions"][3].update(value=["cn", "ru", "kp"]),
     [("condition_values_added", TIGHTENS)]),
    ("in-values-removed", lambda a: a["conditions"][3].update(value=["cn"]), [("condition_values_removed", LOOSENS)]),
    ("not-in-values-added", lambda a: a["conditions"][5].update(value=["a", "b", "c"]),
     [("condition_values_added", LOOSENS)]),
    ("ne-value-changed", lambda a: a["conditions"][2].update(value="treatment"),
     [("condition_value_changed", LOOSENS)]),
    ("condition-moved-away", lambda a: a["conditions"][1].update(pattern="/payments"),
     [("condition_moved", LOOSENS)]),
    ("condition-moved-to-every-path", lambda a: a["conditions"][1].update(pattern="/**"),
     [("condition_moved", TIGHTENS)]),
    ("condition-moved-to-subtree", lambda a: a["conditions"][1].update(pattern="/pay/*"),
     [("condition_moved", TIGHTENS)]),
    ("condition-moved-below-a-segment", lambda a: a["conditions"][1].update(pattern="/*/pay"),
     [("condition_moved", LOOSENS)]),
    ("condition-moved-to-any-method", lambda a: a["conditions"][1].update(method="*"),
     [("condition_moved", TIGHTENS)]),
    ("condition-moved-to-other-method", lambda a: a["conditions"][1].update(method="PUT"),
     [("condition_moved", LOOSENS)]),
    ("condition-narrowed-to-one-path", lambda a: a["conditions"][2].update(pattern="/api/**"),
     [("condition_moved", LOOSENS)]),
    ("condition-no-longer-on-tool-calls", lambda a: a["conditions"][2].update(pattern="/*"),
     [("condition_moved", LOOSENS)]),
    ("condition-moved-and-edited", lambda a: a["conditions"][1].update(pattern="/payments", value=100),
     [("condition_removed", LOOSENS), ("condition_added", TIGHTENS)]),
    ("conditions-reordered-and-renamed",
     lambda a: a.update(conditions=[{**c, "rule": f"conditions[{i}]", "message": "m"}
                                    for i, c in enumerate(reversed(a["conditions"]))]),
     []),
    # egress
    ("allowed-domain-added", lambda a: a["egress"]["domains"].append("new.example.com"),
     [("allowed_domain_added", LOOSENS)]),
    ("allowed-domain-removed", lambda a: a["egress"]["domains"].remove("api.example.com"),
     [("allowed_domain_removed", TIGHTENS)]),
    ("allowed-domains-removed", lambda a: a.pop("egress"), [("egress_check_removed", LOOSENS)]),
    # budget
    ("daily-budget-raised", lambda a: a["budget"].update(daily_usd=40.0), [("budget_daily_usd_raised", LOOSENS)]),
    ("daily-budget-lowered", lambda a: a["budget"].update(daily_usd=5.0), [("budget_daily_usd_lowered", TIGHTENS)]),
    ("daily-budget-removed", lambda a: a["budget"].pop("daily_usd"), [("budget_daily_usd_removed", LOOSENS)]),
    ("rps-raised", lambda a: a["budget"].update(requests_per_second=50),
     [("budget_requests_per_second_raised", LOOSENS)]),
    ("rps-lowered", lambda a: a["budget"].update(requests_per_second=1),
     [("budget_requests_per_second_lowered", TIGHTENS)]),
    ("budget-removed", lambda a: a.pop("budget"), [("budget_removed", LOOSENS)]),
    ("tool-price-lowered", lambda a: a["budget"]["tool_prices"].update(jira=0.001),
     [("budget_tool_price_lowered", LOOSENS)]),
    ("tool-price-raised", lambda a: a["budget"]["tool_prices"].update(jira=0.5),
     [("budget_tool_price_raised", TIGHTENS)]),
    ("tool-price-dropped-to-cheaper-default", lambda a: a["budget"].update(tool_prices={}),
     [("budget_tool_price_lowered", LOOSENS)]),
    ("default-cost-raised", lambda a: a["budget"].update(default_cost_usd=0.005),
     [("budget_default_cost_raised", TIGHTENS)]),
    # sanitize (DLP)
    ("dlp-rule-removed", lambda a: a["sanitize"].pop(0), [("dlp_rule_removed", LOOSENS)]),
    ("dlp-rule-added", lambda a: a["sanitize"].append(SSN_RULE), [("dlp_rule_added", TIGHTENS)]),
    ("dlp-scans-less", lambda a: a["sanitize"][1].update(fields=[["body", "note"]]), [("dlp_fields_removed", LOOSENS)]),
    ("dlp-scans-more", lambda a: a["sanitize"][0].update(fields=[["body"]]), [("dlp_fields_added", TIGHTENS)]),
    ("dlp-results-no-longer-redacted", lambda a: a["sanitize"][0].update(apply_to=["request"]),
     [("dlp_apply_to_removed", LOOSENS)]),
    ("dlp-results-redacted", lambda a: a["sanitize"][1].update(apply_to=["request", "result"]),
     [("dlp_apply_to_added", TIGHTENS)]),
    ("dlp-pattern-changed", lambda a: a["sanitize"][1].update(flag_regex="sk-[a-z0-9]+"),
     [("dlp_pattern_changed", LOOSENS)]),
    ("dlp-rules-reordered", lambda a: a["sanitize"].reverse(), []),
    ("source-lines-moved",
     lambda a: (_tool(a, "jira").update(source="b.yaml:9"), a["budget"].update(source="b.yaml:30")), []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "expected"), [case[1:] for case in SECTION_CASES], ids=[case[0] for case in SECTION_CASES]
)
def test_each_section_change_is_labelled(edit: Edit, expected: list[tuple[str, str]]) -> None:
    new = copy.deepcopy(RICH)
    edit(new)
    changes = diff_agents({"ops": RICH}, {"ops": new})
    assert [(change.kind, change.label) for change in changes] == expected
    assert all(change.agent_id == "ops" and change.detail for change in changes)


def _without(agent: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in agent.items() if key not in keys}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (_without(RICH, "budget"), RICH, [("budget_added", TIGHTENS)]),
        (_without(RICH, "egress"), RICH, [("egress_check_added", TIGHTENS)]),
        (_without(RICH, "sanitize", "conditions"), RICH, [("condition_added", TIGHTENS)] * 6
         + [("dlp_rule_added", TIGHTENS)] * 2),
        (BASE, {**BASE, "tools": {"search": NEW_TOOL}}, [("tool_added", LOOSENS)]),
        ({**BASE, "tools": {"search": NEW_TOOL}}, BASE, [("tool_removed", TIGHTENS)]),
        (BASE, {**BASE, "execution_context": {"environments": {"dev": {"requires_approval_for": []}}}},
         [("environments_declared", TIGHTENS)]),
        (_without(RICH, "execution_context"), RICH,
         [("clearance_granted", LOOSENS), ("clearance_granted", LOOSENS), ("environments_declared", TIGHTENS)]),
    ],
    ids=["budget-added", "egress-added", "conditions-and-dlp-added", "registry-added", "registry-removed",
         "environment-gates-declared", "execution-context-added"],
)  # fmt: skip
def test_sections_appearing_or_disappearing(
    old: dict[str, Any], new: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert [(change.kind, change.label) for change in diff_agents({"a": old}, {"a": new})] == expected


OWN = {"agent_id": "own", "egress": {"domains": ["a.example"]}}
NONE_OWN = {"agent_id": "plain"}


def _data(agents: dict[str, Any], *global_domains: str) -> dict[str, Any]:
    data: dict[str, Any] = {"agents": agents}
    if global_domains:
        data["defaults"] = {"source": "d.yaml:1", "allowed_domains": list(global_domains)}
    return data


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (_data({"own": OWN}, "g.example"), _data({"own": OWN}, "g.example", "h.example"),
         [(DEFAULTS, "global_domain_added", LOOSENS)]),
        (_data({"own": OWN}, "g.example", "h.example"), _data({"own": OWN}, "g.example"),
         [(DEFAULTS, "global_domain_removed", TIGHTENS)]),
        (_data({"own": OWN}), _data({"own": OWN}, "g.example"), [(DEFAULTS, "global_domain_added", LOOSENS)]),
        (_data({"plain": NONE_OWN}), _data({"plain": NONE_OWN}, "g.example"),
         [(DEFAULTS, "global_domain_added", TIGHTENS), ("plain", "egress_check_added", TIGHTENS)]),
        (_data({"plain": NONE_OWN}, "g.example"), _data({"plain": NONE_OWN}),
         [(DEFAULTS, "global_domain_removed", TIGHTENS), ("plain", "egress_check_removed", LOOSENS)]),
        (_data({"own": OWN}, "g.example"), _data({"own": NONE_OWN}, "g.example"),
         [("own", "allowed_domain_removed", TIGHTENS)]),
        (_data({"own": OWN}), _data({"own": NONE_OWN}), [("own", "egress_check_removed", LOOSENS)]),
    ],
    ids=["global-domain-added", "global-domain-removed", "global-domain-added-beside-own",
         "first-global-domain-starts-the-check", "last-global-domain-ends-the-check",
         "own-domains-dropped-globals-remain", "own-domains-dropped-no-globals"],
)  # fmt: skip
def test_global_domains_are_reported_once_and_their_effect_per_agent(
    old: dict[str, Any], new: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    changes = diff_boundaries(old, new)
    assert [(change.agent_id, change.kind, change.label) for change in changes] == expected


def test_section_details_say_what_changed() -> None:
    new = copy.deepcopy(RICH)
    _scope(new, ["SEC-*", "OPS-*"])
    new["conditions"][0]["value"] = 10000
    _context(new)["clearance"]["auditor"].append("pii")
    new["budget"]["daily_usd"] = 40.0
    assert [change.detail for change in diff_agents({"ops": RICH}, {"ops": new})] == [
        "tool jira argument project scope: SEC-*, OPS-1* -> SEC-*, OPS-*",
        "role auditor cleared for pii",
        "condition POST /pay: body.amount gt 10000 -> approval_needed (value was 5000)",
        "budget: $20 a day -> $40 a day",
    ]


def test_a_moved_condition_is_one_change_naming_both_endpoints() -> None:
    """A condition moved to another endpoint is one change; it loosens unless the new endpoint covers the old one."""
    away, wider = copy.deepcopy(RICH), copy.deepcopy(RICH)
    away["conditions"][1]["pattern"] = "/payments"
    wider["conditions"][1]["method"] = "*"
    changes = diff_agents({"ops": RICH}, {"ops": away}) + diff_agents({"ops": RICH}, {"ops": wider})
    assert [(change.label, change.detail) for change in changes] == [
        (LOOSENS, "condition body.amount gt 50000 -> deny moved from POST /pay to POST /payments"
                  " (review: calls to POST /pay it caught may now pass)"),
        (TIGHTENS, "condition body.amount gt 50000 -> deny moved from POST /pay to * /pay"
                   " (it still covers every call it did)"),
    ]  # fmt: skip


# -- formats ------------------------------------------------------------------------------------------------------

SAMPLE = [
    PolicyChange("bot", "deny_rule_removed", LOOSENS, "deny rule removed: * /api/admin/*"),
    PolicyChange("bot", "rate_limit_lowered", TIGHTENS, "rate limit for * /a|b: 30/min -> 10/min"),
]


def test_text_format() -> None:
    assert format_text(SAMPLE) == (
        "bot:\n"
        "  [loosens] deny rule removed: * /api/admin/*\n"
        "  [tightens] rate limit for * /a|b: 30/min -> 10/min\n"
        "2 change(s): 1 loosen, 1 tighten"
    )
    assert format_text([]) == "no policy changes"


def test_markdown_format_for_a_pull_request_comment() -> None:
    assert format_markdown(SAMPLE) == (
        "## Agent boundary changes\n\n"
        "**1 change(s) loosen a boundary: a reviewer must approve.**\n\n"
        "### `bot`\n\n"
        "| Effect | Change | Detail |\n"
        "|---|---|---|\n"
        "| **loosens** | `deny_rule_removed` | deny rule removed: * /api/admin/* |\n"
        "| tightens | `rate_limit_lowered` | rate limit for * /a\\|b: 30/min -> 10/min |\n\n"
        "2 change(s): 1 loosen, 1 tighten"
    )
    assert format_markdown([]) == "## Agent boundary changes\n\nNo policy changes."


# -- sources and the command line ---------------------------------------------------------------------------------


def _policy(tmp_path: Path, name: str, text: str) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "agent.yaml").write_text(text)
    return directory


LOOSER = SEED.read_text().replace('    - method: "*"\n      path: "/api/admin/*"\n', "")


def test_yaml_bundle_and_data_json_sources_agree(tmp_path: Path) -> None:
    bundle_file = tmp_path / "b.tar.gz"
    bundle_policies([SEED]).write(bundle_file)
    data_file = tmp_path / "data.json"
    data_file.write_bytes(bundle_policies([SEED]).files["boundaries/data.json"])
    from_yaml = load_agents(SEED)
    assert set(from_yaml) == {"support_agent_1"}
    assert load_agents(bundle_file) == from_yaml == load_agents(data_file)


def test_cli_diff_exits_3_when_anything_loosens(tmp_path: Path) -> None:
    assert SEED.read_text() != LOOSER
    new = _policy(tmp_path, "new", LOOSER)
    result = CliRunner().invoke(main, ["diff", str(SEED), str(new)])
    assert result.exit_code == 3, result.output
    assert result.output == (
        "support_agent_1:\n  [loosens] deny rule removed: * /api/admin/*\n1 change(s): 1 loosen, 0 tighten\n"
    )


def test_cli_diff_exits_0_when_only_tightening(tmp_path: Path) -> None:
    old = _policy(tmp_path, "old", LOOSER)
    result = CliRunner().invoke(main, ["diff", str(old), str(SEED), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert "| tightens | `deny_rule_added` | deny rule added: * /api/admin/* |" in result.output


def test_cli_diff_between_bundles_and_as_json(tmp_path: Path) -> None:
    old, new = tmp_path / "old.tar.gz", tmp_path / "new.tar.gz"
    bundle_policies([SEED]).write(old)
    bundle_policies([_policy(tmp_path, "looser", LOOSER)]).write(new)
    result = CliRunner().invoke(main, ["diff", str(old), str(new), "--format", "json"])
    assert result.exit_code == 3
    assert json.loads(result.output) == [
        {
            "agent_id": "support_agent_1",
            "kind": "deny_rule_removed",
            "label": "loosens",
            "detail": "deny rule removed: * /api/admin/*",
        }
    ]


def test_cli_diff_identical_policies(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["diff", str(SEED), str(SEED)])
    assert (result.exit_code, result.output) == (0, "no policy changes\n")


def test_policy_sets_compare_in_their_compiled_form() -> None:
    from yaml2rego.audit.diff import diff_policy_sets
    from yaml2rego.dsl.loader import load_policy_text

    old = load_policy_text(SEED.read_text(), "agent.yaml")
    new = load_policy_text(SEED.read_text().replace("requests_per_minute: 30", "requests_per_minute: 90"), "agent.yaml")
    changes = diff_policy_sets(old, new)
    assert [(change.kind, change.label, change.detail) for change in changes] == [
        ("rate_limit_raised", LOOSENS, "rate limit for * /api/customer/v1/*: 30/min -> 90/min")
    ]


EXAMPLES = SEED.parent


def test_cli_diff_reports_tool_changes_from_yaml(tmp_path: Path) -> None:
    text = (EXAMPLES / "infra_review_agent.yaml").read_text()
    looser = text.replace("      requires_approval: true\n", "", 1).replace('project_key: "SEC-*"', 'project_key: "*"')
    assert looser.count("requires_approval: true") == text.count("requires_approval: true") - 1
    new = _policy(tmp_path, "new", looser)
    result = CliRunner().invoke(main, ["diff", str(EXAMPLES / "infra_review_agent.yaml"), str(new)])
    assert result.exit_code == 3, result.output
    assert result.output == (
        "infra_review_agent:\n"
        "  [loosens] tool jira_ticket_reader argument project_key scope: SEC-* -> *\n"
        "  [loosens] tool slack_risk_notifier: calls no longer need approval\n"
        "2 change(s): 2 loosen, 0 tighten\n"
    )


def test_global_domains_come_from_every_kind_of_source(tmp_path: Path) -> None:
    source = EXAMPLES / "egress_allowlist.yaml"
    bundle_file, data_file = tmp_path / "b.tar.gz", tmp_path / "data.json"
    bundle_policies([source]).write(bundle_file)
    data_file.write_bytes(bundle_policies([source]).files["boundaries/data.json"])
    from_yaml = load_boundaries(source)
    assert from_yaml["defaults"]["allowed_domains"] == ["*.svc.company.local", "internal-api.company.local"]
    assert load_boundaries(bundle_file) == from_yaml == load_boundaries(data_file)
    assert load_agents(source) == from_yaml["agents"]


def test_cli_diff_lists_global_domain_changes_once(tmp_path: Path) -> None:
    text = (EXAMPLES / "egress_allowlist.yaml").read_text()
    wider = text.replace(
        "    - internal-api.company.local\n", "    - internal-api.company.local\n    - cdn.example.com\n", 1
    )
    new = _policy(tmp_path, "new", wider)
    assert diff_sources(EXAMPLES / "egress_allowlist.yaml", new) == [
        PolicyChange(DEFAULTS, "global_domain_added", LOOSENS, "global allowed domain added: cdn.example.com")
    ]
    result = CliRunner().invoke(main, ["diff", str(new), str(EXAMPLES / "egress_allowlist.yaml")])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "(defaults):\n  [tightens] global allowed domain removed: cdn.example.com\n1 change(s): 0 loosen, 1 tighten\n"
    )
