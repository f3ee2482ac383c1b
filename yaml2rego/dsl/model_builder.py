"""Build the typed model (:class:`~yaml2rego.dsl.model.AgentBoundary`) from a document that passed every check.

By the time a document gets here, :mod:`yaml2rego.dsl.checks` has found nothing wrong with it, so building only
converts: upper-case methods, parsed path patterns, model enums, and the ``file:line`` source of every rule (kept so
the compiled policy and every decision can point back to the YAML line that caused it). The tool, enforcement, alert
and tenancy sections are built by their own modules (:func:`yaml2rego.dsl.tools.build`, …).
Kept apart from the checks: they ask whether a document is right, this only says what it means.
"""

from __future__ import annotations

from typing import Any

from yaml2rego.dsl import alerts, enforcement_sections, tenancy, tools
from yaml2rego.dsl.checks import Checker, parse_pattern
from yaml2rego.dsl.model import (
    AgentBoundary,
    EndpointRule,
    FieldRule,
    FieldType,
    InputValidation,
    Mode,
    PolicyTest,
    RateLimit,
    rule_method,
)
from yaml2rego.dsl.tenant_directory import TenantScope
from yaml2rego.dsl.yaml_source import JSONPath
from yaml2rego.errors import SourceLocation

__all__ = ["build_agent"]


def _integer(value: Any) -> int:
    # JSON Schema counts 30.0 as an integer; the model holds a real int.
    return int(value)


def build_agent(checker: Checker, boundary: dict[str, Any], scope: TenantScope | None = None) -> AgentBoundary:
    """The model of an ``agent_boundary`` mapping that passed every check; ``checker`` supplies the source marks.

    ``scope`` is the ``_tenant.yaml`` above the file (:mod:`yaml2rego.dsl.tenant_directory`): its tenant and regions are
    the boundary's unless it declares its own (already checked to agree).
    """
    source = checker.source
    root: JSONPath = ("agent_boundary",)

    def location(*path: str | int, key: bool = False) -> SourceLocation:
        return source.location(checker.mark((*root, *path), key=key))

    def endpoints(section: str) -> tuple[EndpointRule, ...]:
        return tuple(
            EndpointRule(
                f"{section}[{index}]",
                rule_method(item),
                parse_pattern(item["path"]),
                location(section, index),
                region=item.get("region"),
            )
            for index, item in enumerate(boundary.get(section, []))
        )

    validations = []
    for index, item in enumerate(boundary.get("input_validation", [])):
        rules = []
        for number, rule in enumerate(item["rules"]):
            values = rule.get("values")
            rules.append(
                FieldRule(
                    rule_id=f"input_validation[{index}].rules[{number}]",
                    field=rule["field"],
                    type=FieldType(rule["type"]),
                    source=location("input_validation", index, "rules", number),
                    required=rule.get("required", True),
                    values=tuple(values) if values is not None else None,
                    min_length=_optional_int(rule.get("min_length")),
                    max_length=_optional_int(rule.get("max_length")),
                    pattern=rule.get("pattern"),
                    minimum=rule.get("minimum"),
                    maximum=rule.get("maximum"),
                    example=rule.get("example"),
                )
            )
        validations.append(
            InputValidation(
                f"input_validation[{index}]",
                parse_pattern(item["endpoint"]),
                rule_method(item),
                tuple(rules),
                location("input_validation", index),
            )
        )
    limits = tuple(
        RateLimit(
            f"rate_limits[{index}]",
            parse_pattern(item["endpoint"]),
            rule_method(item),
            _integer(item["requests_per_minute"]),
            location("rate_limits", index),
        )
        for index, item in enumerate(boundary.get("rate_limits", []))
    )
    agent_id = boundary["agent_id"]
    tests = tuple(
        PolicyTest(
            name=test["name"],
            input={"agent_id": agent_id, **test["input"]},
            expect_decision=test["expect"],
            expect_reasons=tuple(test.get("reasons", ())),
            source=location("tests", index),
        )
        for index, test in enumerate(boundary.get("tests", []))
    )
    has_payload_limit = boundary.get("max_payload_size_kb") is not None
    return AgentBoundary(
        agent_id=agent_id,
        source=source.location(checker.mark(root, key=True)),
        mode=Mode(boundary.get("mode", Mode.ENFORCE.value)),
        description=boundary.get("description"),
        owner=boundary.get("owner"),
        allowed_endpoints=endpoints("allowed_endpoints"),
        denied_endpoints=endpoints("denied_endpoints"),
        input_validation=tuple(validations),
        rate_limits=limits,
        max_payload_size_kb=_integer(boundary["max_payload_size_kb"]) if has_payload_limit else None,
        max_payload_source=location("max_payload_size_kb", key=True) if has_payload_limit else None,
        tests=tests,
        **tools.build(boundary, location),
        **enforcement_sections.build(boundary, location),
        **alerts.build(boundary, location),
        **tenancy.build(boundary, location, scope),
    )


def _optional_int(value: Any) -> int | None:
    return None if value is None else _integer(value)
