"""The tool registry and the execution context (``tools``, ``execution_context``; see yaml2rego/dsl/tools.py).

Tools, their declared arguments and scopes, roles and environments are keyed by name. A tool the registry gains is a
tool the agent may now call (without a registry every tool call is denied), so a tool added loosens.

>>> tool = {"actions": ["read"], "classification": "internal"}
>>> old, new = {"tools": {"jira": tool}}, {"tools": {"jira": {**tool, "actions": ["read", "write"]}}}
>>> [(change.kind, change.loosens) for change in tool_changes(old, new)]
[('tool_actions_added', True)]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from yaml2rego.audit.diff.changes import Change, Facts, compare_keyed, listed
from yaml2rego.audit.diff.endpoints import field_rule_changes
from yaml2rego.dsl.model import DEFAULT_RESTRICTED_CLASSES

__all__ = ["clearance_changes", "environment_changes", "execution_context", "tool_changes"]

_DEFAULT_RESTRICTED = tuple(data_class.value for data_class in DEFAULT_RESTRICTED_CLASSES)


def execution_context(agent: Facts) -> dict[str, Any]:
    """The execution context as the library reads it, with the compiler's defaults where a side has none."""
    context = agent.get("execution_context") or {}
    return {
        "restricted_classes": list(context.get("restricted_classes", _DEFAULT_RESTRICTED)),
        "clearance": dict(context.get("clearance") or {}),
        "environments": dict(context.get("environments") or {}),
    }


def _tool_summary(tool: Facts) -> str:
    approval = ", approval required" if tool.get("requires_approval") else ""
    return f"actions {listed(tool.get('actions', []))} on {tool.get('classification')} data{approval}"


def tool_changes(old: Facts, new: Facts) -> list[Change]:
    """The registry of two agent versions; a classification is judged under the new execution context."""
    context = execution_context(new)
    return compare_keyed(
        old.get("tools") or {},
        new.get("tools") or {},
        removed=lambda name, _: Change("tool_removed", False, f"tool {name} removed"),
        added=lambda name, now: Change("tool_added", True, f"tool {name} added: {_tool_summary(now)}"),
        changed=lambda name, was, now: _one_tool(f"tool {name}", was, now, context),
    )


def _one_tool(label: str, was: Facts, now: Facts, context: Facts) -> list[Change]:
    changes = []
    old_actions, new_actions = set(was.get("actions", [])), set(now.get("actions", []))
    if new_actions - old_actions:
        detail = f"{label}: actions added {listed(new_actions - old_actions)}"
        changes.append(Change("tool_actions_added", True, detail))
    if old_actions - new_actions:
        detail = f"{label}: actions removed {listed(old_actions - new_actions)}"
        changes.append(Change("tool_actions_removed", False, detail))
    if was.get("classification") != now.get("classification"):
        changes.append(_classification_change(label, was.get("classification"), now.get("classification"), context))
    if bool(was.get("requires_approval")) != bool(now.get("requires_approval")):
        if now.get("requires_approval"):
            changes.append(Change("tool_approval_added", False, f"{label}: every call needs approval now"))
        else:
            changes.append(Change("tool_approval_removed", True, f"{label}: calls no longer need approval"))
    changes += _tool_arg_changes(label, was, now)
    changes += _scope_changes(label, was.get("scope") or [], now.get("scope") or [])
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


def _classification_change(label: str, was: Any, now: Any, context: Facts) -> Change:
    """Judged under the new execution context: does the new class let a role (or a call naming none) in?"""
    before, after = _cleared_roles(context, was), _cleared_roles(context, now)
    detail = f"{label}: classification {was} -> {now}"
    if after is None and before is not None:
        detail += f" ({now} is not a restricted class: any role may use it)"
    elif _admits_more(before, after):
        detail += f" (roles cleared for it now: {listed(after or ())})"
    return Change("tool_classification_changed", _admits_more(before, after), detail)


def _declares_args(tool: Facts) -> bool:
    return bool(tool.get("declares_args", bool(tool.get("args"))))


def _tool_arg_changes(label: str, was: Facts, now: Facts) -> list[Change]:
    """Declared arguments are a closed list: a call passing any other argument is denied. So an optional argument
    added loosens (calls may now pass it) and an optional one removed tightens, the reverse of body field rules."""
    if _declares_args(was) != _declares_args(now):
        if _declares_args(now):
            detail = f"{label}: arguments declared, a call passing any other argument is denied"
            return [Change("tool_args_declared", False, detail)]
        return [Change("tool_args_undeclared", True, f"{label}: arguments no longer declared or checked")]
    return compare_keyed(
        {str(rule.get("field")): rule for rule in was.get("args") or []},
        {str(rule.get("field")): rule for rule in now.get("args") or []},
        removed=lambda arg, rule: _arg_removed(f"{label} argument {arg}", rule),
        added=lambda arg, rule: _arg_added(f"{label} argument {arg}", rule),
        changed=lambda arg, old_rule, new_rule: [
            _as_arg_change(change) for change in field_rule_changes(f"{label} argument {arg}", old_rule, new_rule)
        ],
    )


def _arg_removed(where: str, rule: Facts) -> Change:
    if rule.get("required"):
        detail = f"{where} removed: calls without it now pass (review: calls passing it are now denied)"
        return Change("tool_arg_removed", True, detail)
    return Change("tool_arg_removed", False, f"{where} removed: calls passing it are now denied")


def _arg_added(where: str, rule: Facts) -> Change:
    required = bool(rule.get("required"))
    effect = "calls must pass it" if required else "calls may now pass it"
    return Change("tool_arg_added", not required, f"{where} added ({rule.get('type')}): {effect}")


def _as_arg_change(change: Change) -> Change:
    """A field-rule change of a tool argument: the same judgement, named as an argument's (``tool_arg_…``)."""
    return change._replace(kind="tool_arg_" + change.kind.removeprefix("field_"))


def _glob_covers(wide: str, narrow: str) -> bool:
    """Whether every value glob ``narrow`` admits is admitted by glob ``wide`` (``*`` = any run of characters).

    ``*`` is never literal in a glob, so ``wide`` covers ``narrow`` exactly when it matches the text of ``narrow``
    with each of its ``*`` standing for itself: only a ``*`` of ``wide`` can absorb it.
    """
    regex = ".*".join(re.escape(part) for part in wide.split("*"))
    return re.fullmatch(regex, narrow, re.DOTALL) is not None


def _scope_changes(label: str, old: Sequence[Facts], new: Sequence[Facts]) -> list[Change]:
    def where(arg: str) -> str:
        return f"{label} argument {arg} scope"

    def changed(arg: str, was: list[str], now: list[str]) -> list[Change]:
        if set(was) == set(now):
            return []
        detail = f"{where(arg)}: {', '.join(was)} -> {', '.join(now)}"
        changes = []
        # One pattern covering another is decided exactly; a pattern covered only by several together is not, so it
        # counts as a widening, for a reviewer to look at.
        if any(not any(_glob_covers(p, q) for p in was) for q in now):
            changes.append(Change("tool_scope_widened", True, detail))
        if any(not any(_glob_covers(q, p) for q in now) for p in was):
            changes.append(Change("tool_scope_narrowed", False, detail))
        return changes

    return compare_keyed(
        {str(scope.get("arg")): list(scope.get("patterns", [])) for scope in old},
        {str(scope.get("arg")): list(scope.get("patterns", [])) for scope in new},
        removed=lambda arg, was: Change("tool_scope_removed", True, f"{where(arg)} removed (was {', '.join(was)})"),
        added=lambda arg, now: Change("tool_scope_added", False, f"{where(arg)} added: {', '.join(now)}"),
        changed=changed,
    )


def clearance_changes(old: Facts, new: Facts) -> list[Change]:
    """Restricted classes and role clearances of two execution contexts (as :func:`execution_context` gives them)."""
    changes = []
    was_restricted, now_restricted = set(old["restricted_classes"]), set(new["restricted_classes"])
    for data_class in sorted(now_restricted - was_restricted):
        detail = f"data class {data_class} restricted now: only roles cleared for it may use its tools"
        changes.append(Change("restricted_class_added", False, detail))
    for data_class in sorted(was_restricted - now_restricted):
        detail = f"data class {data_class} no longer restricted: any role may use its tools"
        changes.append(Change("restricted_class_removed", True, detail))
    # A role without clearance is a role cleared for nothing: roles are compared as sets of classes, not keyed.
    for role in sorted(set(old["clearance"]) | set(new["clearance"])):
        was, now = set(old["clearance"].get(role, [])), set(new["clearance"].get(role, []))
        if now - was:
            changes.append(Change("clearance_granted", True, f"role {role} cleared for {listed(now - was)}"))
        if was - now:
            changes.append(Change("clearance_revoked", False, f"role {role} no longer cleared for {listed(was - now)}"))
    return changes


def environment_changes(old: Facts, new: Facts) -> list[Change]:
    """With no environments declared there is no environment check; once declared, a call must name one."""
    before, after = old["environments"], new["environments"]
    if bool(before) != bool(after):
        if after:
            detail = f"environment gates declared ({listed(after)}): a tool call must name one of them"
            return [Change("environments_declared", False, detail)]
        detail = f"environment gates removed (were {listed(before)}): tool calls name no environment"
        return [Change("environments_removed", True, detail)]
    return compare_keyed(
        before,
        after,
        removed=lambda name, _: Change("environment_removed", False, f"environment {name} removed"),
        added=_environment_added,
        changed=lambda name, was, now: _one_environment(f"environment {name}", was, now),
    )


def _environment_added(name: str, environment: Facts) -> Change:
    allowed = environment.get("allowed_tools")
    tools = "every tool" if allowed is None else f"tools {listed(allowed)}"
    return Change("environment_added", True, f"environment {name} added: tool calls may target it ({tools})")


def _one_environment(label: str, was: Facts, now: Facts) -> list[Change]:
    changes = []
    old_tools, new_tools = was.get("allowed_tools"), now.get("allowed_tools")
    if old_tools is not None and new_tools is None:
        changes.append(Change("environment_tools_unrestricted", True, f"{label}: every tool allowed now"))
    elif old_tools is None and new_tools is not None:
        detail = f"{label}: only tools {listed(new_tools)} allowed now (was every tool)"
        changes.append(Change("environment_tools_restricted", False, detail))
    elif old_tools is not None and new_tools is not None:
        for tool in sorted(set(new_tools) - set(old_tools)):
            changes.append(Change("environment_tool_allowed", True, f"{label}: tool {tool} allowed"))
        for tool in sorted(set(old_tools) - set(new_tools)):
            changes.append(Change("environment_tool_disallowed", False, f"{label}: tool {tool} not allowed"))
    was_gated, now_gated = set(was.get("requires_approval_for", [])), set(now.get("requires_approval_for", []))
    if was_gated - now_gated:
        detail = f"{label}: actions {listed(was_gated - now_gated)} no longer need approval"
        changes.append(Change("environment_approval_removed", True, detail))
    if now_gated - was_gated:
        detail = f"{label}: actions {listed(now_gated - was_gated)} need approval now"
        changes.append(Change("environment_approval_added", False, detail))
    return changes
