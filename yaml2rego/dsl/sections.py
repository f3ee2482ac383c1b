"""The enforcement sections of a boundary — ``conditions``, ``allowed_domains``, ``budget`` and ``sanitize`` — from
validated YAML to the model, and from the model to the data the Rego library reads (``docs/enforcement.md``).

The loader calls :func:`problems` (checks the JSON Schema cannot make) and :func:`build` (model objects); the
compiler calls :func:`agent_data`. Nothing here reads YAML or writes Rego.

>>> from yaml2rego.dsl.loader import load_policy_text
>>> agent = load_policy_text('''
... agent_boundary:
...   agent_id: pay
...   conditions:
...     - {endpoint: /payments/*, field: body.amount, op: gt, value: 5000, outcome: approval_needed}
... ''').get("pay")
>>> agent_data(agent)["conditions"][0]["op"]
'gt'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from yaml2rego.dsl.model import ANY_METHOD, AgentBoundary, Budget, Condition, Defaults, SanitizeRule
from yaml2rego.errors import SourceLocation, source_line
from yaml2rego.semantics.detectors import BUILTIN_DETECTORS
from yaml2rego.semantics.hosts import host_problem
from yaml2rego.semantics.paths import PathPattern, parse_pattern

__all__ = [
    "EVERY_PATH",
    "agent_data",
    "build",
    "condition_holds",
    "defaults_data",
    "matcher_data",
    "problems",
    "put_at",
    "settled_call",
]

# The pattern of a condition or sanitize rule that names no endpoint: every path.
EVERY_PATH = "/**"

_ORDERING = frozenset({"lt", "le", "gt", "ge"})
_PRESENCE = frozenset({"exists", "missing"})

Path = tuple[str | int, ...]
Locate = Callable[..., SourceLocation]


def _items(boundary: Mapping[str, Any], section: str) -> Iterator[tuple[int, dict[str, Any]]]:
    value = boundary.get(section)
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item


def problems(
    boundary: Mapping[str, Any], regex_problem: Callable[[str], str | None], root: str = "agent_boundary"
) -> Iterator[tuple[str, Path, bool]]:
    """``(message, path, at_key)`` for each problem beyond the schema's: values that do not fit their operator,
    detectors and patterns that do not fit together, IP addresses among allowed domains (of a boundary, or of the
    ``defaults`` document with ``root="defaults"``)."""
    where_root: Path = (root,)
    for index, item in _items(boundary, "conditions"):
        where: Path = (*where_root, "conditions", index)
        op, has_value, value = item.get("op"), "value" in item, item.get("value")
        if op in _PRESENCE and has_value:
            yield (
                f"value does not apply to op {op!r} (it tests only whether the field is there)",
                (*where, "value"),
                True,
            )
        elif op not in _PRESENCE and not has_value and isinstance(op, str):
            yield f"missing required key 'value' (op {op!r} compares the field with a value)", where, True
        elif op in _ORDERING and (isinstance(value, bool) or not isinstance(value, (int, float))):
            yield f"op {op!r} compares numbers; value must be a number", (*where, "value"), False
        elif op in ("in", "not_in") and not isinstance(value, list):
            yield f"op {op!r} needs a list of values", (*where, "value"), False
    for index, item in _items(boundary, "sanitize"):
        where = (*where_root, "sanitize", index)
        detector, pattern = item.get("detector"), item.get("pattern")
        if detector == "regex" and pattern is None:
            yield "missing required key 'pattern' (a regex detector redacts what its pattern matches)", where, True
        elif detector != "regex" and pattern is not None:
            yield (
                f"pattern applies only to detector 'regex' (detector {detector!r} is built in)",
                (*where, "pattern"),
                True,
            )
        elif isinstance(pattern, str) and (problem := regex_problem(pattern)):
            yield f"pattern '{pattern}' {problem}", (*where, "pattern"), False
    domains = boundary.get("allowed_domains")
    for index, domain in enumerate(domains if isinstance(domains, list) else []):
        if isinstance(domain, str):
            problem = host_problem(domain.removeprefix("*."))
            if problem and "IP address" in problem:
                yield f"allowed domain {domain!r}: {problem}", (*where_root, "allowed_domains", index), False


def _pattern(item: Mapping[str, Any]) -> PathPattern:
    return parse_pattern(item.get("endpoint", EVERY_PATH))


def _method(item: Mapping[str, Any]) -> str:
    method = str(item.get("method", ANY_METHOD))
    return method if method == ANY_METHOD else method.upper()


def build(boundary: Mapping[str, Any], location: Locate) -> dict[str, Any]:
    """Keyword arguments for :class:`~yaml2rego.dsl.model.AgentBoundary` from a validated boundary. ``location(*path,
    key=False)`` gives the source location of a path below ``agent_boundary``."""
    conditions = tuple(
        Condition(
            rule_id=f"conditions[{index}]",
            endpoint=_pattern(item),
            method=_method(item),
            field=item["field"],
            op=item["op"],
            value=item.get("value"),
            outcome=item["outcome"],
            source=location("conditions", index),
            message=item.get("message"),
        )
        for index, item in _items(boundary, "conditions")
    )
    sanitize = tuple(
        SanitizeRule(
            rule_id=f"sanitize[{index}]",
            endpoint=_pattern(item),
            method=_method(item),
            detector=item["detector"],
            source=location("sanitize", index),
            pattern=item.get("pattern"),
            fields=tuple(item.get("fields", ("body",))),
            apply_to=tuple(item.get("apply_to", ("request",))),
        )
        for index, item in _items(boundary, "sanitize")
    )
    built: dict[str, Any] = {"conditions": conditions, "sanitize": sanitize}
    if "allowed_domains" in boundary:
        built["allowed_domains"] = tuple(boundary["allowed_domains"])
        built["allowed_domains_source"] = location("allowed_domains", key=True)
    budget = boundary.get("budget")
    if isinstance(budget, dict):
        built["budget"] = Budget(
            source=location("budget", key=True),
            daily_usd=float(budget["daily_usd"]) if "daily_usd" in budget else None,
            requests_per_second=int(budget["requests_per_second"]) if "requests_per_second" in budget else None,
            tool_prices={str(k): float(v) for k, v in sorted(budget.get("tool_prices", {}).items())},
            default_cost_usd=float(budget.get("default_cost_usd", 0.0)),
        )
    return built


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


def canonical_domain(pattern: str) -> str:
    """A domain pattern as the policy matches it: lower case, no trailing dot."""
    pattern = pattern.lower()
    return pattern[:-1] if pattern.endswith(".") else pattern


def agent_data(agent: AgentBoundary) -> dict[str, Any]:
    """The enforcement facts of one agent, merged into its entry of ``data.boundaries.agents`` (only the sections
    the boundary has, so boundaries without them compile to the same data as before)."""
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
    equal = present and _same_json(value, condition.value)
    member = present and isinstance(condition.value, list) and any(_same_json(value, v) for v in condition.value)
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


def _same_json(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    return bool(left == right)


def _applies(method_rule: str, pattern: PathPattern, method: str, path: str) -> bool:
    target = path.split("?", 1)[0].rstrip("/")
    return method_rule in (ANY_METHOD, method) and re.fullmatch(pattern.regex, target) is not None


def settled_call(agent: AgentBoundary, call: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """A generated call adjusted so that none of the agent's conditions holds for it (``ne care`` gets ``care``),
    and whether the policy's answer is then certain to be a plain allow (``False`` when a condition could not be
    avoided, or when a sanitize rule may redact something)."""
    settled = dict(call)
    method, path = str(call.get("method", "")), str(call.get("path", ""))
    applying = [c for c in agent.conditions if _applies(c.method, c.endpoint, method, path)]
    for condition in applying:
        if condition.op == "ne":
            put_at(settled, condition.path, condition.value)
        elif condition.op == "not_in" and isinstance(condition.value, list) and condition.value:
            put_at(settled, condition.path, condition.value[0])
        elif condition.op == "missing":
            put_at(settled, condition.path, True)
    certain = not any(condition_holds(c, settled) for c in applying)
    flagged = any(
        _flags(rule, settled) for rule in agent.sanitize if _applies(rule.method, rule.endpoint, method, path)
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
