"""The enforcement sections of a boundary (``docs/enforcement.md``) — ``conditions``, ``allowed_domains`` (egress),
``budget`` and ``sanitize`` (DLP) — from validated YAML to the model.

The loader calls :func:`problems` (checks the JSON Schema cannot make) and :func:`build` (model objects); their
compiled data is :func:`yaml2rego.compile.section_data.enforcement_data`. Nothing here reads YAML or writes Rego.

>>> from yaml2rego.dsl.loader import load_policy_text
>>> agent = load_policy_text('''
... agent_boundary:
...   agent_id: pay
...   conditions:
...     - {endpoint: /payments/*, field: body.amount, op: gt, value: 5000, outcome: approval_needed}
... ''').get("pay")
>>> agent.conditions[0].op, agent.conditions[0].method
('gt', '*')
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from yaml2rego.dsl.field_rules import regex_problem
from yaml2rego.dsl.model import Budget, Condition, SanitizeRule, rule_method
from yaml2rego.dsl.yaml_source import mapping_items
from yaml2rego.errors import SourceLocation
from yaml2rego.semantics.hosts import host_problem
from yaml2rego.semantics.paths import PathPattern, parse_pattern

__all__ = ["EVERY_PATH", "build", "problems"]

# The pattern of a condition or sanitize rule that names no endpoint: every path.
EVERY_PATH = "/**"

_ORDERING = frozenset({"lt", "le", "gt", "ge"})
_PRESENCE = frozenset({"exists", "missing"})

Path = tuple[str | int, ...]
Locate = Callable[..., SourceLocation]


def problems(boundary: Mapping[str, Any], root: str = "agent_boundary") -> Iterator[tuple[str, Path, bool]]:
    """``(message, path, at_key)`` for each problem beyond the schema's: values that do not fit their operator,
    detectors and patterns that do not fit together, IP addresses among allowed domains (of a boundary, or of the
    ``defaults`` document with ``root="defaults"``)."""
    where_root: Path = (root,)
    for index, item in mapping_items(boundary.get("conditions")):
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
    for index, item in mapping_items(boundary.get("sanitize")):
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


def build(boundary: Mapping[str, Any], location: Locate) -> dict[str, Any]:
    """Keyword arguments for :class:`~yaml2rego.dsl.model.AgentBoundary` from a validated boundary. ``location(*path,
    key=False)`` gives the source location of a path below ``agent_boundary``."""
    conditions = tuple(
        Condition(
            rule_id=f"conditions[{index}]",
            endpoint=_pattern(item),
            method=rule_method(item),
            field=item["field"],
            op=item["op"],
            value=item.get("value"),
            outcome=item["outcome"],
            source=location("conditions", index),
            message=item.get("message"),
        )
        for index, item in mapping_items(boundary.get("conditions"))
    )
    sanitize = tuple(
        SanitizeRule(
            rule_id=f"sanitize[{index}]",
            endpoint=_pattern(item),
            method=rule_method(item),
            detector=item["detector"],
            source=location("sanitize", index),
            pattern=item.get("pattern"),
            fields=tuple(item.get("fields", ("body",))),
            apply_to=tuple(item.get("apply_to", ("request",))),
        )
        for index, item in mapping_items(boundary.get("sanitize"))
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
