"""What changed between two versions of the boundaries, per agent, in policy terms, each change labelled.

Both sides are compared in the compiled data form (``data.boundaries.agents``, see docs/architecture.md), which YAML
(through the compiler), a compiled output directory, a ``data.json`` and a bundle all yield. Comparing the compiled
facts rather than YAML text means formatting, comments, key order and moved lines are not changes.

Every section is compared: endpoints, input validation, rate limits, payload size, the tool registry and execution
context (``tools``, ``execution_context``), ``conditions``, allowed domains (the agent's ``egress`` and the global
``defaults``, whose changes are listed once under the agent id :data:`DEFAULTS`), ``budget`` and ``sanitize``.

Every change is either ``loosens`` (the agent may now do something it could not) or ``tightens``. Where the effect
cannot be decided mechanically (a regex pattern replaced by another, a field type swapped for an unrelated one, a
condition's ``eq`` value changed) the change is labelled ``loosens`` so that a reviewer has to look, and its detail
says why.

>>> old = {"bot": {"mode": "enforce", "allowed_endpoints": [{"method": "GET", "pattern": "/a"}]}}
>>> new = {"bot": {"mode": "shadow", "allowed_endpoints": [{"method": "*", "pattern": "/a"}]}}
>>> [(change.kind, change.label) for change in diff_agents(old, new)]
[('mode_changed', 'loosens'), ('methods_widened', 'loosens')]
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yaml2rego.bundle import DATA_FILE, read_bundle
from yaml2rego.errors import BundleError, Yaml2RegoError
from yaml2rego.model import DEFAULT_RESTRICTED_CLASSES

if TYPE_CHECKING:
    from yaml2rego.model import PolicySet

__all__ = [
    "DEFAULTS",
    "LOOSENS",
    "TIGHTENS",
    "PolicyChange",
    "diff_agents",
    "diff_boundaries",
    "diff_policy_sets",
    "diff_sources",
    "format_markdown",
    "format_text",
    "load_agents",
    "load_boundaries",
]

LOOSENS = "loosens"
TIGHTENS = "tightens"
ANY = "*"
# The agent id under which changes to the `defaults:` document (global allowed domains) are listed. It cannot be an
# agent's id: those start with a letter or digit.
DEFAULTS = "(defaults)"
Facts = Mapping[str, Any]

# (old type, new type) pairs where every value the new type accepts the old one accepted too.
_NARROWER_TYPES = {("string", "uuid"), ("string", "email"), ("string", "enum"), ("number", "integer")}
# Field-rule bounds: a higher lower bound, or a lower upper bound, tightens.
_LOWER_BOUNDS = ("min_length", "minimum")
_UPPER_BOUNDS = ("max_length", "maximum")
_DEFAULT_RESTRICTED = tuple(data_class.value for data_class in DEFAULT_RESTRICTED_CLASSES)


@dataclass(frozen=True)
class PolicyChange:
    """One change to one agent. ``kind`` is stable (for tooling), ``detail`` is for people."""

    agent_id: str
    kind: str
    label: str
    detail: str

    @property
    def loosens(self) -> bool:
        return self.label == LOOSENS


def _change(agent: str, kind: str, loosens: bool, detail: str) -> PolicyChange:
    return PolicyChange(agent, kind, LOOSENS if loosens else TIGHTENS, detail)


def _methods_by_pattern(rules: Sequence[Facts]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for rule in rules:
        grouped.setdefault(str(rule.get("pattern")), set()).add(str(rule.get("method", ANY)).upper())
    return grouped


def _method_text(methods: set[str]) -> str:
    return ", ".join(sorted(methods))


def _endpoint_changes(agent: str, old: Sequence[Facts], new: Sequence[Facts], *, deny: bool) -> list[PolicyChange]:
    """Allow rules loosen when they grow; deny rules loosen when they shrink."""
    before, after = _methods_by_pattern(old), _methods_by_pattern(new)
    noun = "deny rule" if deny else "endpoint"
    prefix = "deny_rule" if deny else "endpoint"
    changes = []
    for pattern in sorted(set(before) | set(after)):
        was, now = before.get(pattern, set()), after.get(pattern, set())
        if not was:
            changes.append(_change(agent, f"{prefix}_added", not deny, f"{noun} added: {_method_text(now)} {pattern}"))
        elif not now:
            changes.append(_change(agent, f"{prefix}_removed", deny, f"{noun} removed: {_method_text(was)} {pattern}"))
        elif was != now:
            changes.extend(_method_changes(agent, pattern, was, now, deny=deny))
    return changes


def _method_changes(agent: str, pattern: str, was: set[str], now: set[str], *, deny: bool) -> list[PolicyChange]:
    noun = "deny rule" if deny else "endpoint"
    prefix = "deny_methods" if deny else "methods"
    detail = f"{noun} {pattern} methods {_method_text(was)} -> {_method_text(now)}"
    widened = (ANY in now and ANY not in was) or (ANY not in was and bool(now - was))
    narrowed = (ANY in was and ANY not in now) or (ANY not in now and bool(was - now))
    changes = []
    if widened:
        changes.append(_change(agent, f"{prefix}_widened", not deny, detail))
    if narrowed:
        changes.append(_change(agent, f"{prefix}_narrowed", deny, detail))
    return changes


def _keyed(rules: Sequence[Facts]) -> dict[tuple[str, str], Facts]:
    return {(str(rule.get("method", ANY)).upper(), str(rule.get("pattern"))): rule for rule in rules}


def _validation_changes(agent: str, old: Sequence[Facts], new: Sequence[Facts]) -> list[PolicyChange]:
    before, after = _keyed(old), _keyed(new)
    changes = []
    for key in sorted(set(before) | set(after)):
        where = f"{key[0]} {key[1]}"
        if key not in after:
            changes.append(_change(agent, "validation_removed", True, f"input validation removed for {where}"))
        elif key not in before:
            changes.append(_change(agent, "validation_added", False, f"input validation added for {where}"))
        else:
            changes.extend(_field_changes(agent, where, before[key].get("fields", []), after[key].get("fields", [])))
    return changes


def _field_changes(agent: str, where: str, old: Sequence[Facts], new: Sequence[Facts]) -> list[PolicyChange]:
    before = {str(rule.get("field")): rule for rule in old}
    after = {str(rule.get("field")): rule for rule in new}
    changes = []
    for name in sorted(set(before) | set(after)):
        label = f"{where} field {name}"
        if name not in after:
            changes.append(_change(agent, "field_rule_removed", True, f"{label}: rule removed"))
        elif name not in before:
            changes.append(
                _change(agent, "field_rule_added", False, f"{label}: rule added ({after[name].get('type')})")
            )
        else:
            changes.extend(_one_field(agent, label, before[name], after[name]))
    return changes


def _one_field(agent: str, label: str, was: Facts, now: Facts) -> list[PolicyChange]:
    changes = []
    if bool(was.get("required")) != bool(now.get("required")):
        loosened = bool(was.get("required"))
        kind = "field_now_optional" if loosened else "field_now_required"
        changes.append(_change(agent, kind, loosened, f"{label}: {'optional' if loosened else 'required'} now"))
    if was.get("type") != now.get("type"):
        narrower = (was.get("type"), now.get("type")) in _NARROWER_TYPES
        detail = f"{label}: type {was.get('type')} -> {now.get('type')}"
        changes.append(_change(agent, "field_type_changed", not narrower, detail))
    elif was.get("values") != now.get("values"):
        changes.extend(_enum_changes(agent, label, was.get("values") or [], now.get("values") or []))
    for bound in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
        change = _bound_change(agent, label, bound, was.get(bound), now.get(bound))
        if change:
            changes.append(change)
    if was.get("pattern") != now.get("pattern"):
        if now.get("pattern") is None:
            changes.append(_change(agent, "field_pattern_removed", True, f"{label}: pattern removed"))
        elif was.get("pattern") is None:
            changes.append(_change(agent, "field_pattern_added", False, f"{label}: pattern {now['pattern']} added"))
        else:
            detail = f"{label}: pattern {was['pattern']} -> {now['pattern']} (review: effect not decidable)"
            changes.append(_change(agent, "field_pattern_changed", True, detail))
    return changes


def _enum_changes(agent: str, label: str, was: Sequence[Any], now: Sequence[Any]) -> list[PolicyChange]:
    old_values = {json.dumps(value, sort_keys=True) for value in was}
    new_values = {json.dumps(value, sort_keys=True) for value in now}
    changes = []
    if new_values - old_values:
        added = ", ".join(sorted(new_values - old_values))
        changes.append(_change(agent, "enum_values_added", True, f"{label}: values added {added}"))
    if old_values - new_values:
        removed = ", ".join(sorted(old_values - new_values))
        changes.append(_change(agent, "enum_values_removed", False, f"{label}: values removed {removed}"))
    return changes


def _bound_change(agent: str, label: str, bound: str, was: Any, now: Any) -> PolicyChange | None:
    if was == now:
        return None
    lower = bound in _LOWER_BOUNDS
    if now is None:
        return _change(agent, f"field_{bound}_removed", True, f"{label}: {bound} {was} removed")
    if was is None:
        return _change(agent, f"field_{bound}_added", False, f"{label}: {bound} {now} added")
    raised = now > was
    kind = f"field_{bound}_{'raised' if raised else 'lowered'}"
    return _change(agent, kind, raised != lower, f"{label}: {bound} {was} -> {now}")


def _rate_limit_changes(agent: str, old: Sequence[Facts], new: Sequence[Facts]) -> list[PolicyChange]:
    before, after = _keyed(old), _keyed(new)
    changes = []
    for key in sorted(set(before) | set(after)):
        where = f"{key[0]} {key[1]}"
        if key not in after:
            changes.append(_change(agent, "rate_limit_removed", True, f"rate limit removed for {where}"))
        elif key not in before:
            rpm = after[key].get("requests_per_minute")
            changes.append(_change(agent, "rate_limit_added", False, f"rate limit added for {where}: {rpm}/min"))
        else:
            was, now = before[key].get("requests_per_minute"), after[key].get("requests_per_minute")
            if was != now:
                raised = (now or 0) > (was or 0)
                kind = "rate_limit_raised" if raised else "rate_limit_lowered"
                changes.append(_change(agent, kind, raised, f"rate limit for {where}: {was}/min -> {now}/min"))
    return changes


def _payload_change(agent: str, old: Facts | None, new: Facts | None) -> list[PolicyChange]:
    was = old.get("bytes") if old else None
    now = new.get("bytes") if new else None
    if was == now:
        return []
    if now is None:
        return [_change(agent, "payload_limit_removed", True, f"payload limit {was} bytes removed")]
    if was is None:
        return [_change(agent, "payload_limit_added", False, f"payload limit {now} bytes added")]
    raised = now > was
    kind = "payload_limit_raised" if raised else "payload_limit_lowered"
    return [_change(agent, kind, raised, f"payload limit {was} -> {now} bytes")]


# -- tools and the execution context (yaml2rego/tool_registry.py) ----------------------------------------------------


def _context(agent: Facts) -> dict[str, Any]:
    """The execution context as the library reads it, with the compiler's defaults where a side has none."""
    context = agent.get("execution_context") or {}
    return {
        "restricted_classes": list(context.get("restricted_classes", _DEFAULT_RESTRICTED)),
        "clearance": dict(context.get("clearance") or {}),
        "environments": dict(context.get("environments") or {}),
    }


def _listed(values: Any) -> str:
    return ", ".join(sorted(str(value) for value in values)) or "none"


def _tool_summary(tool: Facts) -> str:
    approval = ", approval required" if tool.get("requires_approval") else ""
    return f"actions {_listed(tool.get('actions', []))} on {tool.get('classification')} data{approval}"


def _tool_changes(agent: str, old: Facts, new: Facts) -> list[PolicyChange]:
    """A tool the registry gains is a tool the agent may now call: without a registry every tool call is denied."""
    before, after = old.get("tools") or {}, new.get("tools") or {}
    changes = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            detail = f"tool {name} added: {_tool_summary(after[name])}"
            changes.append(_change(agent, "tool_added", True, detail))
        elif name not in after:
            changes.append(_change(agent, "tool_removed", False, f"tool {name} removed"))
        else:
            changes.extend(_one_tool(agent, name, before[name], after[name], _context(new)))
    return changes


def _one_tool(agent: str, name: str, was: Facts, now: Facts, context: Facts) -> list[PolicyChange]:
    label = f"tool {name}"
    changes = []
    old_actions, new_actions = set(was.get("actions", [])), set(now.get("actions", []))
    if new_actions - old_actions:
        detail = f"{label}: actions added {_listed(new_actions - old_actions)}"
        changes.append(_change(agent, "tool_actions_added", True, detail))
    if old_actions - new_actions:
        detail = f"{label}: actions removed {_listed(old_actions - new_actions)}"
        changes.append(_change(agent, "tool_actions_removed", False, detail))
    if was.get("classification") != now.get("classification"):
        changes.append(
            _classification_change(agent, label, was.get("classification"), now.get("classification"), context)
        )
    if bool(was.get("requires_approval")) != bool(now.get("requires_approval")):
        if now.get("requires_approval"):
            changes.append(_change(agent, "tool_approval_added", False, f"{label}: every call needs approval now"))
        else:
            changes.append(_change(agent, "tool_approval_removed", True, f"{label}: calls no longer need approval"))
    changes += _tool_arg_changes(agent, label, was, now)
    changes += _scope_changes(agent, label, was.get("scope") or [], now.get("scope") or [])
    return changes


def _cleared_roles(context: Facts, classification: Any) -> frozenset[str] | None:
    """The roles that may use a tool of ``classification``; ``None`` when no clearance is needed (everyone may)."""
    if classification not in context["restricted_classes"]:
        return None
    return frozenset(role for role, classes in context["clearance"].items() if classification in classes)


def _admits_more(was: frozenset[str] | None, now: frozenset[str] | None) -> bool:
    if now is None:
        return was is not None
    return was is not None and bool(now - was)


def _classification_change(agent: str, label: str, was: Any, now: Any, context: Facts) -> PolicyChange:
    """Judged under the new execution context: does the new class let a role (or a call naming none) in?"""
    before, after = _cleared_roles(context, was), _cleared_roles(context, now)
    detail = f"{label}: classification {was} -> {now}"
    if after is None and before is not None:
        detail += f" ({now} is not a restricted class: any role may use it)"
    elif _admits_more(before, after):
        detail += f" (roles cleared for it now: {_listed(after or ())})"
    return _change(agent, "tool_classification_changed", _admits_more(before, after), detail)


def _declares_args(tool: Facts) -> bool:
    return bool(tool.get("declares_args", bool(tool.get("args"))))


def _tool_arg_changes(agent: str, label: str, was: Facts, now: Facts) -> list[PolicyChange]:
    """Declared arguments are a closed list: a call passing any other argument is denied. So an optional argument
    added loosens (calls may now pass it) and an optional one removed tightens, the reverse of body field rules."""
    if _declares_args(was) != _declares_args(now):
        if _declares_args(now):
            detail = f"{label}: arguments declared, a call passing any other argument is denied"
            return [_change(agent, "tool_args_declared", False, detail)]
        return [_change(agent, "tool_args_undeclared", True, f"{label}: arguments no longer declared or checked")]
    before = {str(rule.get("field")): rule for rule in was.get("args") or []}
    after = {str(rule.get("field")): rule for rule in now.get("args") or []}
    changes = []
    for arg in sorted(set(before) | set(after)):
        where = f"{label} argument {arg}"
        if arg not in after:
            if before[arg].get("required"):
                detail = f"{where} removed: calls without it now pass (review: calls passing it are now denied)"
            else:
                detail = f"{where} removed: calls passing it are now denied"
            changes.append(_change(agent, "tool_arg_removed", bool(before[arg].get("required")), detail))
        elif arg not in before:
            required = bool(after[arg].get("required"))
            detail = f"{where} added ({after[arg].get('type')}): " + (
                "calls must pass it" if required else "calls may now pass it"
            )
            changes.append(_change(agent, "tool_arg_added", not required, detail))
        else:
            changes += [_as_arg_change(change) for change in _one_field(agent, where, before[arg], after[arg])]
    return changes


def _as_arg_change(change: PolicyChange) -> PolicyChange:
    """A field-rule change of a tool argument: the same judgement, named as an argument's (``tool_arg_…``)."""
    return replace(change, kind="tool_arg_" + change.kind.removeprefix("field_"))


def _glob_covers(wide: str, narrow: str) -> bool:
    """Whether every value glob ``narrow`` admits is admitted by glob ``wide`` (``*`` = any run of characters).

    ``*`` is never literal in a glob, so ``wide`` covers ``narrow`` exactly when it matches the text of ``narrow``
    with each of its ``*`` standing for itself: only a ``*`` of ``wide`` can absorb it.
    """
    regex = ".*".join(re.escape(part) for part in wide.split("*"))
    return re.fullmatch(regex, narrow, re.DOTALL) is not None


def _scope_changes(agent: str, label: str, old: Sequence[Facts], new: Sequence[Facts]) -> list[PolicyChange]:
    before = {str(scope.get("arg")): list(scope.get("patterns", [])) for scope in old}
    after = {str(scope.get("arg")): list(scope.get("patterns", [])) for scope in new}
    changes = []
    for arg in sorted(set(before) | set(after)):
        where = f"{label} argument {arg} scope"
        if arg not in after:
            detail = f"{where} removed (was {', '.join(before[arg])})"
            changes.append(_change(agent, "tool_scope_removed", True, detail))
        elif arg not in before:
            changes.append(_change(agent, "tool_scope_added", False, f"{where} added: {', '.join(after[arg])}"))
        elif set(before[arg]) != set(after[arg]):
            detail = f"{where}: {', '.join(before[arg])} -> {', '.join(after[arg])}"
            # One pattern covering another is decided exactly; a pattern covered only by several together is not,
            # so it counts as a widening, for a reviewer to look at.
            if any(not any(_glob_covers(p, q) for p in before[arg]) for q in after[arg]):
                changes.append(_change(agent, "tool_scope_widened", True, detail))
            if any(not any(_glob_covers(q, p) for q in after[arg]) for p in before[arg]):
                changes.append(_change(agent, "tool_scope_narrowed", False, detail))
    return changes


def _clearance_changes(agent: str, old: Facts, new: Facts) -> list[PolicyChange]:
    changes = []
    was_restricted, now_restricted = set(old["restricted_classes"]), set(new["restricted_classes"])
    for data_class in sorted(now_restricted - was_restricted):
        detail = f"data class {data_class} restricted now: only roles cleared for it may use its tools"
        changes.append(_change(agent, "restricted_class_added", False, detail))
    for data_class in sorted(was_restricted - now_restricted):
        detail = f"data class {data_class} no longer restricted: any role may use its tools"
        changes.append(_change(agent, "restricted_class_removed", True, detail))
    for role in sorted(set(old["clearance"]) | set(new["clearance"])):
        was, now = set(old["clearance"].get(role, [])), set(new["clearance"].get(role, []))
        if now - was:
            detail = f"role {role} cleared for {_listed(now - was)}"
            changes.append(_change(agent, "clearance_granted", True, detail))
        if was - now:
            detail = f"role {role} no longer cleared for {_listed(was - now)}"
            changes.append(_change(agent, "clearance_revoked", False, detail))
    return changes


def _environment_changes(agent: str, old: Facts, new: Facts) -> list[PolicyChange]:
    """With no environments declared there is no environment check; once declared, a call must name one."""
    before, after = old["environments"], new["environments"]
    if bool(before) != bool(after):
        if after:
            detail = f"environment gates declared ({_listed(after)}): a tool call must name one of them"
            return [_change(agent, "environments_declared", False, detail)]
        detail = f"environment gates removed (were {_listed(before)}): tool calls name no environment"
        return [_change(agent, "environments_removed", True, detail)]
    changes = []
    for name in sorted(set(before) | set(after)):
        if name not in after:
            changes.append(_change(agent, "environment_removed", False, f"environment {name} removed"))
        elif name not in before:
            allowed = after[name].get("allowed_tools")
            tools = "every tool" if allowed is None else f"tools {_listed(allowed)}"
            detail = f"environment {name} added: tool calls may target it ({tools})"
            changes.append(_change(agent, "environment_added", True, detail))
        else:
            changes += _one_environment(agent, f"environment {name}", before[name], after[name])
    return changes


def _one_environment(agent: str, label: str, was: Facts, now: Facts) -> list[PolicyChange]:
    changes = []
    old_tools, new_tools = was.get("allowed_tools"), now.get("allowed_tools")
    if old_tools is not None and new_tools is None:
        changes.append(_change(agent, "environment_tools_unrestricted", True, f"{label}: every tool allowed now"))
    elif old_tools is None and new_tools is not None:
        detail = f"{label}: only tools {_listed(new_tools)} allowed now (was every tool)"
        changes.append(_change(agent, "environment_tools_restricted", False, detail))
    elif old_tools is not None and new_tools is not None:
        for tool in sorted(set(new_tools) - set(old_tools)):
            changes.append(_change(agent, "environment_tool_allowed", True, f"{label}: tool {tool} allowed"))
        for tool in sorted(set(old_tools) - set(new_tools)):
            changes.append(_change(agent, "environment_tool_disallowed", False, f"{label}: tool {tool} not allowed"))
    was_gated = set(was.get("requires_approval_for", []))
    now_gated = set(now.get("requires_approval_for", []))
    if was_gated - now_gated:
        detail = f"{label}: actions {_listed(was_gated - now_gated)} no longer need approval"
        changes.append(_change(agent, "environment_approval_removed", True, detail))
    if now_gated - was_gated:
        detail = f"{label}: actions {_listed(now_gated - was_gated)} need approval now"
        changes.append(_change(agent, "environment_approval_added", False, detail))
    return changes


# -- enforcement: conditions, egress, budget, sanitize (yaml2rego/enforcement.py) --------------------------------------

_Key = Callable[[Facts], tuple[Any, ...]]


def _pair(old: list[Facts], new: list[Facts], key: _Key) -> tuple[list[tuple[Facts, Facts]], list[Facts], list[Facts]]:
    """Pairs of equal keys (one to one, in order), and what is left of each side."""
    waiting: dict[tuple[Any, ...], list[int]] = {}
    for index, item in enumerate(new):
        waiting.setdefault(key(item), []).append(index)
    pairs, left, taken = [], [], set()
    for item in old:
        indices = waiting.get(key(item))
        if indices:
            taken.add(indices[0])
            pairs.append((item, new[indices.pop(0)]))
        else:
            left.append(item)
    return pairs, left, [item for index, item in enumerate(new) if index not in taken]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _condition_at(rule: Facts) -> tuple[Any, ...]:
    return (rule.get("method", ANY), rule.get("pattern"), rule.get("field"), rule.get("op"))


def _condition_text(rule: Facts) -> str:
    value = f" {_json(rule['value'])}" if "value" in rule else ""
    where = f"{rule.get('method', ANY)} {rule.get('pattern')}"
    return f"{where}: {rule.get('field')} {rule.get('op')}{value} -> {rule.get('outcome')}"


def _condition_changes(agent: str, old: Sequence[Facts], new: Sequence[Facts]) -> list[PolicyChange]:
    """Conditions are matched by what they test, so a reordered list is no change and an edited one is one change.

    Both outcomes restrict (deny, or wait for a human), so a condition added tightens and one removed loosens.
    """
    _, old_left, new_left = _pair(
        list(old), list(new), lambda r: (*_condition_at(r), _json(r.get("value")), r.get("outcome"))
    )
    changes = []
    same_test, old_left, new_left = _pair(old_left, new_left, lambda r: (*_condition_at(r), _json(r.get("value"))))
    for was, now in same_test:
        loosened = now.get("outcome") != "deny"
        detail = f"condition {_condition_text(now)} (was {was.get('outcome')})"
        changes.append(_change(agent, "condition_outcome_changed", loosened, detail))
    same_field, old_left, new_left = _pair(old_left, new_left, lambda r: (*_condition_at(r), r.get("outcome")))
    for was, now in same_field:
        changes += _condition_value_changes(agent, was, now)
    changes += [
        _change(agent, "condition_removed", True, f"condition removed: {_condition_text(rule)}") for rule in old_left
    ]
    changes += [
        _change(agent, "condition_added", False, f"condition added: {_condition_text(rule)}") for rule in new_left
    ]
    return changes


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _condition_value_changes(agent: str, was: Facts, now: Facts) -> list[PolicyChange]:
    op, old_value, new_value = was.get("op"), was.get("value"), now.get("value")
    detail = f"condition {_condition_text(now)} (value was {_json(old_value)})"
    if op in ("gt", "ge", "lt", "le") and _number(old_value) and _number(new_value):
        raised = float(now["value"]) > float(was["value"])
        # Above a threshold (gt, ge) holds for fewer calls when the threshold rises; below it (lt, le) for more.
        loosened = raised == (op in ("gt", "ge"))
        kind = "condition_value_raised" if raised else "condition_value_lowered"
        return [_change(agent, kind, loosened, detail)]
    if op in ("in", "not_in") and isinstance(old_value, list) and isinstance(new_value, list):
        before, after = {_json(v) for v in old_value}, {_json(v) for v in new_value}
        changes = []
        # More values: `in` holds for more calls (tightens), `not_in` for fewer (loosens).
        if after - before:
            detail_added = f"condition {_condition_text(now)} (values added {', '.join(sorted(after - before))})"
            changes.append(_change(agent, "condition_values_added", op == "not_in", detail_added))
        if before - after:
            detail_removed = f"condition {_condition_text(now)} (values removed {', '.join(sorted(before - after))})"
            changes.append(_change(agent, "condition_values_removed", op == "in", detail_removed))
        return changes
    detail += " (review: calls it caught may now pass)"
    return [_change(agent, "condition_value_changed", True, detail)]


def _effective_domains(agent: Facts, global_domains: Sequence[str]) -> set[str] | None:
    """The hosts an agent may reach (``None``: any, as there is no allowed domain for it anywhere)."""
    egress = agent.get("egress")
    if egress is None and not global_domains:
        return None
    return set((egress or {}).get("domains", []))


def _egress_changes(
    agent: str, old: Facts, new: Facts, globals_: tuple[Sequence[str], Sequence[str]]
) -> list[PolicyChange]:
    """The agent's own domains; the global ones (``defaults``) are reported once, under :data:`DEFAULTS`. Global
    domains appearing or disappearing switch the check on or off for an agent, which is reported here."""
    before, after = _effective_domains(old, globals_[0]), _effective_domains(new, globals_[1])
    if before is not None and after is None:
        return [_change(agent, "egress_check_removed", True, "no allowed domains any more: calls may reach any host")]
    if before is None and after is not None:
        domains = _listed(set(after) | set(globals_[1]))
        return [_change(agent, "egress_check_added", False, f"egress allowlist added: only {domains} may be reached")]
    if before is None or after is None:
        return []
    changes = [
        _change(agent, "allowed_domain_added", True, f"allowed domain added: {d}") for d in sorted(after - before)
    ]
    changes += [
        _change(agent, "allowed_domain_removed", False, f"allowed domain removed: {d}") for d in sorted(before - after)
    ]
    return changes


def _defaults_changes(old: Facts | None, new: Facts | None, old_agents: Mapping[str, Facts]) -> list[PolicyChange]:
    before = set((old or {}).get("allowed_domains", []))
    after = set((new or {}).get("allowed_domains", []))
    # A global domain widens what agents may reach only if some agent's egress was checked before; otherwise the
    # first global domains start the check for every agent (each such agent reports `egress_check_added`).
    restricted = bool(before) or any(agent.get("egress") is not None for agent in old_agents.values())
    changes = []
    for domain in sorted(after - before):
        detail = f"global allowed domain added: {domain}" + ("" if restricted else " (starts the egress check)")
        changes.append(_change(DEFAULTS, "global_domain_added", restricted, detail))
    for domain in sorted(before - after):
        changes.append(_change(DEFAULTS, "global_domain_removed", False, f"global allowed domain removed: {domain}"))
    return changes


def _money(value: Any) -> str:
    return f"${value:g}" if _number(value) else str(value)


def _budget_changes(agent: str, old: Facts | None, new: Facts | None) -> list[PolicyChange]:
    if old is None and new is None:
        return []
    if new is None:
        return [_change(agent, "budget_removed", True, "budget removed: calls are no longer counted against one")]
    if old is None:
        return [_change(agent, "budget_added", False, f"budget added: {_budget_text(new)}")]
    changes = []
    for key in ("daily_usd", "requests_per_second"):
        was, now = old.get(key), new.get(key)
        if was == now:
            continue
        if now is None:
            detail = f"budget: limit of {_limit_text(key, was)} removed"
            changes.append(_change(agent, f"budget_{key}_removed", True, detail))
        elif was is None:
            changes.append(_change(agent, f"budget_{key}_added", False, f"budget: {_limit_text(key, now)} limit added"))
        else:
            raised = float(now) > float(was)
            kind = f"budget_{key}_{'raised' if raised else 'lowered'}"
            detail = f"budget: {_limit_text(key, was)} -> {_limit_text(key, now)}"
            changes.append(_change(agent, kind, raised, detail))
    return changes + _price_changes(agent, old, new)


def _limit_text(key: str, value: Any) -> str:
    return f"{_money(value)} a day" if key == "daily_usd" else f"{value} requests per second"


def _budget_text(budget: Facts) -> str:
    parts = [_limit_text(key, budget[key]) for key in ("daily_usd", "requests_per_second") if key in budget]
    return ", ".join(parts) or "costs counted, no limit"


def _price_changes(agent: str, old: Facts, new: Facts) -> list[PolicyChange]:
    """A call that costs less leaves more of the day's budget: a price lowered loosens."""
    changes = []
    old_default, new_default = float(old.get("default_cost_usd", 0)), float(new.get("default_cost_usd", 0))
    if old_default != new_default:
        lowered = new_default < old_default
        detail = f"budget: default cost per call {_money(old_default)} -> {_money(new_default)}"
        changes.append(_change(agent, f"budget_default_cost_{'lowered' if lowered else 'raised'}", lowered, detail))
    old_prices, new_prices = old.get("tool_prices") or {}, new.get("tool_prices") or {}
    for tool in sorted(set(old_prices) | set(new_prices)):
        was, now = float(old_prices.get(tool, old_default)), float(new_prices.get(tool, new_default))
        if was != now:
            lowered = now < was
            detail = f"budget: price of tool {tool} {_money(was)} -> {_money(now)} a call"
            changes.append(_change(agent, f"budget_tool_price_{'lowered' if lowered else 'raised'}", lowered, detail))
    return changes


def _dlp_at(rule: Facts) -> tuple[Any, ...]:
    return (rule.get("method", ANY), rule.get("pattern"), rule.get("detector"))


def _dlp_text(rule: Facts) -> str:
    fields = ", ".join(".".join(str(step) for step in field) for field in rule.get("fields", []))
    return f"{rule.get('method', ANY)} {rule.get('pattern')} {rule.get('detector')} on {fields}"


def _sanitize_changes(agent: str, old: Sequence[Facts], new: Sequence[Facts]) -> list[PolicyChange]:
    """Rules are matched by what they scan for: same rule first, then the same detector on the same endpoint."""
    _, old_left, new_left = _pair(
        list(old),
        list(new),
        lambda r: (*_dlp_at(r), r.get("flag_regex"), _json(r.get("fields")), _json(r.get("apply_to"))),
    )
    same_detector: list[tuple[Facts, Facts]] = []
    for key in (lambda r: (*_dlp_at(r), r.get("flag_regex")), _dlp_at):
        pairs, old_left, new_left = _pair(old_left, new_left, key)
        same_detector += pairs
    changes = []
    for was, now in same_detector:
        changes += _one_dlp_rule(agent, was, now)
    changes += [_change(agent, "dlp_rule_removed", True, f"DLP rule removed: {_dlp_text(rule)}") for rule in old_left]
    changes += [_change(agent, "dlp_rule_added", False, f"DLP rule added: {_dlp_text(rule)}") for rule in new_left]
    return changes


def _covered(field: Sequence[Any], fields: Sequence[Sequence[Any]]) -> bool:
    # Every string below a field is scanned: `body` covers `body.note`.
    return any(list(field[: len(other)]) == list(other) for other in fields)


def _one_dlp_rule(agent: str, was: Facts, now: Facts) -> list[PolicyChange]:
    label = f"DLP rule {_dlp_text(now)}"
    changes = []
    if was.get("flag_regex") != now.get("flag_regex"):
        detail = f"{label}: pattern {was.get('flag_regex')} -> {now.get('flag_regex')} (review: effect not decidable)"
        changes.append(_change(agent, "dlp_pattern_changed", True, detail))
    old_fields, new_fields = was.get("fields") or [], now.get("fields") or []
    unscanned = [field for field in old_fields if not _covered(field, new_fields)]
    if unscanned:
        shown = ", ".join(".".join(str(step) for step in field) for field in unscanned)
        changes.append(_change(agent, "dlp_fields_removed", True, f"{label}: no longer scans {shown}"))
    if any(not _covered(field, old_fields) for field in new_fields):
        old_shown = ", ".join(".".join(str(step) for step in field) for field in old_fields)
        changes.append(_change(agent, "dlp_fields_added", False, f"{label}: scans more fields (was {old_shown})"))
    old_apply, new_apply = set(was.get("apply_to", [])), set(now.get("apply_to", []))
    if old_apply - new_apply:
        detail = f"{label}: no longer applied to {_listed(old_apply - new_apply)}"
        changes.append(_change(agent, "dlp_apply_to_removed", True, detail))
    if new_apply - old_apply:
        detail = f"{label}: applied to {_listed(new_apply - old_apply)} now"
        changes.append(_change(agent, "dlp_apply_to_added", False, detail))
    return changes


def _agent_changes(
    agent: str, old: Facts, new: Facts, global_domains: tuple[Sequence[str], Sequence[str]]
) -> list[PolicyChange]:
    changes = []
    if old.get("mode", "enforce") != new.get("mode", "enforce"):
        loosened = new.get("mode") == "shadow"
        detail = f"mode {old.get('mode', 'enforce')} -> {new.get('mode', 'enforce')}"
        changes.append(_change(agent, "mode_changed", loosened, detail))
    changes += _endpoint_changes(agent, old.get("allowed_endpoints", []), new.get("allowed_endpoints", []), deny=False)
    changes += _endpoint_changes(agent, old.get("denied_endpoints", []), new.get("denied_endpoints", []), deny=True)
    changes += _validation_changes(agent, old.get("input_validation", []), new.get("input_validation", []))
    changes += _rate_limit_changes(agent, old.get("rate_limits", []), new.get("rate_limits", []))
    changes += _payload_change(agent, old.get("max_payload"), new.get("max_payload"))
    changes += _tool_changes(agent, old, new)
    changes += _clearance_changes(agent, _context(old), _context(new))
    changes += _environment_changes(agent, _context(old), _context(new))
    changes += _condition_changes(agent, old.get("conditions") or [], new.get("conditions") or [])
    changes += _egress_changes(agent, old, new, global_domains)
    changes += _budget_changes(agent, old.get("budget"), new.get("budget"))
    changes += _sanitize_changes(agent, old.get("sanitize") or [], new.get("sanitize") or [])
    return changes


def diff_agents(
    old: Mapping[str, Facts],
    new: Mapping[str, Facts],
    *,
    old_defaults: Facts | None = None,
    new_defaults: Facts | None = None,
) -> list[PolicyChange]:
    """Every change from ``old`` to ``new`` (agent id -> compiled facts), grouped by agent in id order.

    ``old_defaults``/``new_defaults`` are ``data.boundaries.defaults`` (global allowed domains) of each side; their
    changes come first, under the agent id :data:`DEFAULTS`.
    """
    globals_ = (_global_domains(old_defaults), _global_domains(new_defaults))
    changes = _defaults_changes(old_defaults, new_defaults, old)
    for agent in sorted(set(old) | set(new)):
        if agent not in old:
            changes.append(_change(agent, "agent_added", True, f"agent {agent} added ({new[agent].get('mode')})"))
        elif agent not in new:
            changes.append(_change(agent, "agent_removed", False, f"agent {agent} removed"))
        elif old[agent] != new[agent] or bool(globals_[0]) != bool(globals_[1]):
            # Equal facts are no change (the common case at thousands of agents), unless the global domains came or
            # went: that starts or ends the egress check of an agent without domains of its own.
            changes.extend(_agent_changes(agent, old[agent], new[agent], globals_))
    return changes


def diff_boundaries(old: Facts, new: Facts) -> list[PolicyChange]:
    """:func:`diff_agents` between two ``data.boundaries`` documents (``{"agents": …, "defaults"?: …}``).

    >>> agents = {"bot": {"egress": {"domains": ["a.example"]}}}
    >>> old, new = {"agents": agents}, {"agents": agents, "defaults": {"allowed_domains": ["b.example"]}}
    >>> [(change.agent_id, change.kind, change.label) for change in diff_boundaries(old, new)]
    [('(defaults)', 'global_domain_added', 'loosens')]
    """
    old_agents, new_agents = _agents_of(old, "old side"), _agents_of(new, "new side")
    return diff_agents(old_agents, new_agents, old_defaults=old.get("defaults"), new_defaults=new.get("defaults"))


def _global_domains(defaults: Facts | None) -> list[str]:
    return list((defaults or {}).get("allowed_domains", []))


def _agents_of(data: Any, origin: str) -> dict[str, Facts]:
    agents = data.get("agents") if isinstance(data, dict) else None
    if not isinstance(agents, dict):
        raise BundleError(f"{origin}: no 'agents' object in the boundary data")
    return agents


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
        from yaml2rego.compiler import compile_policy_set
        from yaml2rego.loader import load_policies

        data = json.loads(compile_policy_set(load_policies([str(path)])).files[DATA_FILE])
    _agents_of(data, str(path))
    return dict(data)


def load_agents(source: str | Path) -> dict[str, Facts]:
    """Compiled facts per agent from a bundle, a ``data.json``, a compiled output directory, or boundary YAML."""
    return _agents_of(load_boundaries(source), str(source))


def diff_policy_sets(old: PolicySet, new: PolicySet) -> list[PolicyChange]:
    """:func:`diff_boundaries` between two loaded policy sets, compared in their compiled form."""
    from yaml2rego.compiler import compile_policy_set

    def boundaries(policy_set: PolicySet) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(compile_policy_set(policy_set).files[DATA_FILE])
        return data

    return diff_boundaries(boundaries(old), boundaries(new))


def diff_sources(old: str | Path, new: str | Path) -> list[PolicyChange]:
    """:func:`diff_boundaries` between two sources accepted by :func:`load_boundaries`."""
    return diff_boundaries(load_boundaries(old), load_boundaries(new))


def _summary(changes: Sequence[PolicyChange]) -> str:
    loosening = sum(change.loosens for change in changes)
    return f"{len(changes)} change(s): {loosening} loosen, {len(changes) - loosening} tighten"


def format_text(changes: Sequence[PolicyChange]) -> str:
    """Plain text, one block per agent."""
    if not changes:
        return "no policy changes"
    lines: list[str] = []
    agent = None
    for change in changes:
        if change.agent_id != agent:
            agent = change.agent_id
            lines.append(f"{agent}:")
        lines.append(f"  [{change.label}] {change.detail}")
    lines.append(_summary(changes))
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_markdown(changes: Sequence[PolicyChange]) -> str:
    """A Markdown comment for a pull request: one table per agent, loosening changes in bold."""
    lines = ["## Agent boundary changes", ""]
    if not changes:
        return "\n".join([*lines, "No policy changes."])
    loosening = [change for change in changes if change.loosens]
    if loosening:
        lines += [f"**{len(loosening)} change(s) loosen a boundary: a reviewer must approve.**", ""]
    agent = None
    for change in changes:
        if change.agent_id != agent:
            agent = change.agent_id
            lines += ["", f"### `{_cell(agent)}`", "", "| Effect | Change | Detail |", "|---|---|---|"]
        effect = "**loosens**" if change.loosens else "tightens"
        lines.append(f"| {effect} | `{change.kind}` | {_cell(change.detail)} |")
    lines += ["", _summary(changes)]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text
