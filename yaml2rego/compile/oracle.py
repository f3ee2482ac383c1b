"""The expected answers of the generated Rego tests: a Python statement of what parameter conditions and sanitize
rules mean, written from the DSL's documented semantics (``docs/enforcement.md``).

It exists so that :mod:`yaml2rego.compile.testgen` can predict a decision without running the policy: a generated
test then checks the Rego against the documented meaning, not the Rego against itself. It is independent of the Rego
on purpose and must stay so (never derive it from ``rego/``); at run time the policy is the only judge, and nothing
here decides a call.

>>> from yaml2rego.dsl.loader import load_policy_text
>>> ehr = load_policy_text("agent_boundary: {agent_id: ehr, conditions: [{field: context.purpose, op: ne, "
...                        "value: care, outcome: deny}]}").get("ehr")
>>> condition_holds(ehr.conditions[0], {"context": {"purpose": "billing"}})
True
>>> settled_call(ehr, {"method": "GET", "path": "/ehr/1"})
({'method': 'GET', 'path': '/ehr/1', 'context': {'purpose': 'care'}}, True)
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from yaml2rego.dsl.field_rules import same_json
from yaml2rego.dsl.model import ANY_METHOD, AgentBoundary, Condition, SanitizeRule
from yaml2rego.semantics.detectors import BUILTIN_DETECTORS

__all__ = ["applies", "condition_holds", "put_at", "settled_call"]


def _lookup(document: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = document
    for step in path:
        if not isinstance(node, Mapping) or step not in node:
            return False, None
        node = node[step]
    return True, node


def put_at(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``value`` at a dotted ``path`` of ``document``, copying (never sharing) the objects on the way."""
    node = document
    for step in path[:-1]:
        child = node.get(step)
        node[step] = child = dict(child) if isinstance(child, Mapping) else {}
        node = child
    node[path[-1]] = value


def condition_holds(condition: Condition, call: Mapping[str, Any]) -> bool:
    """Whether ``condition`` holds for ``call`` (the Python twin of ``conditions.holds`` in Rego, for generated
    tests; the policy itself is the only judge at run time)."""
    present, value = _lookup(call, condition.path)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    equal = present and same_json(value, condition.value)
    member = present and isinstance(condition.value, list) and any(same_json(value, v) for v in condition.value)
    ordered = number and isinstance(condition.value, (int, float)) and not isinstance(condition.value, bool)
    checks = {
        "exists": present,
        "missing": not present,
        "eq": equal,
        "ne": not equal,
        "in": member,
        "not_in": not member,
        "lt": ordered and value < condition.value,
        "le": ordered and value <= condition.value,
        "gt": ordered and value > condition.value,
        "ge": ordered and value >= condition.value,
    }
    return bool(checks.get(condition.op, False))


def applies(rule_method: str, regex: str, method: str, path: str) -> bool:
    """Whether a rule with ``rule_method`` and the anchored path ``regex`` applies to a call of ``method`` on
    ``path`` (its query left out, trailing slashes ignored), as the library's matcher decides."""
    if rule_method != ANY_METHOD and rule_method.upper() != method.upper():
        return False
    target = path.split("?")[0].rstrip("/")
    return _unanchored(regex).fullmatch(target) is not None


@lru_cache(maxsize=4096)
def _unanchored(regex: str) -> re.Pattern[str]:
    # Agents share most patterns; compiling each once keeps planning 10,000 agents off `re`'s small cache.
    return re.compile(regex[1:-1])


def settled_call(agent: AgentBoundary, call: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """A generated call adjusted so that none of the agent's conditions holds for it (``ne care`` gets ``care``),
    and whether the policy's answer is then certain to be a plain allow (``False`` when a condition could not be
    avoided, or when a sanitize rule may redact something)."""
    settled = dict(call)
    method, path = str(call.get("method", "")), str(call.get("path", ""))
    applying = [c for c in agent.conditions if applies(c.method, c.endpoint.regex, method, path)]
    for condition in applying:
        if condition.op == "ne":
            put_at(settled, condition.path, condition.value)
        elif condition.op == "not_in" and isinstance(condition.value, list) and condition.value:
            put_at(settled, condition.path, condition.value[0])
        elif condition.op == "missing":
            put_at(settled, condition.path, True)
    certain = not any(condition_holds(c, settled) for c in applying)
    flagged = any(
        _flags(rule, settled) for rule in agent.sanitize if applies(rule.method, rule.endpoint.regex, method, path)
    )
    return settled, certain and not flagged


def _flags(rule: SanitizeRule, call: Mapping[str, Any]) -> bool:
    """Whether the policy would flag a string of ``call`` for ``rule`` (the same regex, searched unanchored)."""
    if "request" not in rule.apply_to:
        return False
    regex = rule.pattern if rule.detector == "regex" else BUILTIN_DETECTORS[rule.detector].flag_regex
    for field in rule.fields:
        present, value = _lookup(call, tuple(field.split(".")))
        if present and any(re.search(str(regex), text) for text in _strings(value)):
            return True
    return False


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
