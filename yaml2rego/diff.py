"""What changed between two versions of the boundaries, per agent, in policy terms, each change labelled.

Both sides are compared in the compiled data form (``data.boundaries.agents``, see docs/architecture.md), which YAML
(through the compiler), a compiled output directory, a ``data.json`` and a bundle all yield. Comparing the compiled
facts rather than YAML text means formatting, comments, key order and moved lines are not changes.

Every change is either ``loosens`` (the agent may now do something it could not) or ``tightens``. Where the effect
cannot be decided mechanically (a regex pattern replaced by another, a field type swapped for an unrelated one) the
change is labelled ``loosens`` so that a reviewer has to look.

>>> old = {"bot": {"mode": "enforce", "allowed_endpoints": [{"method": "GET", "pattern": "/a"}]}}
>>> new = {"bot": {"mode": "shadow", "allowed_endpoints": [{"method": "*", "pattern": "/a"}]}}
>>> [(change.kind, change.label) for change in diff_agents(old, new)]
[('mode_changed', 'loosens'), ('methods_widened', 'loosens')]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yaml2rego.bundle import DATA_FILE, read_bundle
from yaml2rego.errors import BundleError, Yaml2RegoError

if TYPE_CHECKING:
    from yaml2rego.model import PolicySet

__all__ = [
    "LOOSENS",
    "TIGHTENS",
    "PolicyChange",
    "diff_agents",
    "diff_policy_sets",
    "diff_sources",
    "format_markdown",
    "format_text",
    "load_agents",
]

LOOSENS = "loosens"
TIGHTENS = "tightens"
ANY = "*"
Facts = Mapping[str, Any]

# (old type, new type) pairs where every value the new type accepts the old one accepted too.
_NARROWER_TYPES = {("string", "uuid"), ("string", "email"), ("string", "enum"), ("number", "integer")}
# Field-rule bounds: a higher lower bound, or a lower upper bound, tightens.
_LOWER_BOUNDS = ("min_length", "minimum")
_UPPER_BOUNDS = ("max_length", "maximum")


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


def _agent_changes(agent: str, old: Facts, new: Facts) -> list[PolicyChange]:
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
    return changes


def diff_agents(old: Mapping[str, Facts], new: Mapping[str, Facts]) -> list[PolicyChange]:
    """Every change from ``old`` to ``new`` (agent id -> compiled facts), grouped by agent in id order."""
    changes: list[PolicyChange] = []
    for agent in sorted(set(old) | set(new)):
        if agent not in old:
            changes.append(_change(agent, "agent_added", True, f"agent {agent} added ({new[agent].get('mode')})"))
        elif agent not in new:
            changes.append(_change(agent, "agent_removed", False, f"agent {agent} removed"))
        else:
            changes.extend(_agent_changes(agent, old[agent], new[agent]))
    return changes


def _agents_of(data: Any, origin: str) -> dict[str, Facts]:
    agents = data.get("agents") if isinstance(data, dict) else None
    if not isinstance(agents, dict):
        raise BundleError(f"{origin}: no 'agents' object in the boundary data")
    return agents


def load_agents(source: str | Path) -> dict[str, Facts]:
    """Compiled facts per agent from a bundle, a ``data.json``, a compiled output directory, or boundary YAML."""
    path = Path(source)
    if path.is_file() and path.read_bytes()[:2] == b"\x1f\x8b":
        return _agents_of(read_bundle(path).data(), str(path))
    if path.is_file() and path.suffix == ".json":
        try:
            return _agents_of(json.loads(path.read_text(encoding="utf-8")), str(path))
        except ValueError as exc:
            raise BundleError(f"{path}: not valid JSON ({exc})") from exc
    if path.is_dir() and (path / DATA_FILE).is_file():
        return load_agents(path / DATA_FILE)
    if not path.exists():
        raise Yaml2RegoError(f"{path}: no such file or directory")
    from yaml2rego.compiler import compile_policy_set
    from yaml2rego.loader import load_policies

    compiled = compile_policy_set(load_policies([str(path)]))
    return _agents_of(json.loads(compiled.files[DATA_FILE]), str(path))


def diff_policy_sets(old: PolicySet, new: PolicySet) -> list[PolicyChange]:
    """:func:`diff_agents` between two loaded policy sets, compared in their compiled form."""
    from yaml2rego.compiler import compile_policy_set

    def agents(policy_set: PolicySet) -> dict[str, Facts]:
        return _agents_of(json.loads(compile_policy_set(policy_set).files[DATA_FILE]), "policy set")

    return diff_agents(agents(old), agents(new))


def diff_sources(old: str | Path, new: str | Path) -> list[PolicyChange]:
    """:func:`diff_agents` between two sources accepted by :func:`load_agents`."""
    return diff_agents(load_agents(old), load_agents(new))


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
