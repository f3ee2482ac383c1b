"""Test cases derived from an agent's rules, rendered into its ``policy_test.rego``.

For every rule the planner writes the call that should pass and the call that should fail, and states the decision
the policy must give. The expectations come from the model, not from running the policy, so the generated tests
check the Rego against the DSL's documented semantics. Where a rule's outcome cannot be predicted from the model
alone (a string ``pattern`` with no ``example``), the case is left out and the test file says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from yaml2rego.compile.oracle import applies, put_at, settled_call
from yaml2rego.dsl.model import (
    ANY_METHOD,
    AgentBoundary,
    EndpointRule,
    ExecutionContext,
    FieldRule,
    FieldType,
    InputValidation,
    Tool,
    ToolAction,
)
from yaml2rego.semantics.hosts import canonical_domain, domain_matches

__all__ = ["TestCase", "cases_for"]

_SAMPLE_UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
_UNLISTED_PATH = "/yaml2rego-unlisted/resource"


@dataclass(frozen=True)
class TestCase:
    """One generated Rego test: ``input`` must get ``expect``, with ``codes`` among its reasons."""

    name: str
    description: str
    input: Mapping[str, Any] = field(hash=False)
    expect: str
    codes: tuple[str, ...] = ()
    absent_codes: tuple[str, ...] = ()
    source: str | None = None

    def __post_init__(self) -> None:
        # A test that expects any decision and names no code would pass whatever the policy says.
        if self.expect == "any" and not (self.codes or self.absent_codes):
            raise ValueError(f"generated test {self.name} would assert nothing")


# The codes of a tool call's own checks (rego/agent_boundary/tools/tools.rego), absent for a call within its rules.
_TOOL_CHECK_CODES = (
    "unknown_tool",
    "action_not_allowed",
    "tool_not_allowed_in_environment",
    "clearance_denied",
    "scope_violation",
    "invalid_arguments",
)


def cases_for(agent: AgentBoundary, global_domains: tuple[str, ...] = ()) -> list[TestCase]:
    """Every generated case for ``agent``, then the cases written in its YAML ``tests:`` section. ``global_domains``
    are the policy set's ``defaults: allowed_domains``: with any allowed domain, generated HTTP calls name a host."""
    planner = _Planner(agent, global_domains)
    cases = planner.endpoint_cases() + planner.validation_cases() + planner.payload_cases() + planner.path_cases()
    cases += planner.tool_cases()
    cases += planner.user_cases()
    return _unique_names(cases)


class _Planner:
    def __init__(self, agent: AgentBoundary, global_domains: tuple[str, ...] = ()) -> None:
        self.agent = agent
        # With an egress allowlist an HTTP call without a host is refused, so generated calls go to an allowed host.
        domains = agent.allowed_domains + global_domains
        hosts = sorted(_host_of(canonical_domain(domain)) for domain in domains)
        # With data residency, a host in one of the agent's regions (else every generated call would be refused).
        resident = [host for host in hosts if _host_region(agent, host) in agent.regions]
        self.host = (resident or hosts)[0] if hosts else None

    # -- predictions from the model ------------------------------------------------------------------------------

    def denied_by(self, method: str, path: str) -> EndpointRule | None:
        rules = self.agent.denied_endpoints
        return next((rule for rule in rules if applies(rule.method, rule.path.regex, method, path)), None)

    def allowed_by(self, method: str, path: str) -> EndpointRule | None:
        rules = self.agent.allowed_endpoints
        return next((rule for rule in rules if applies(rule.method, rule.path.regex, method, path)), None)

    def validations_for(self, method: str, path: str) -> list[InputValidation]:
        entries = self.agent.input_validation
        return [entry for entry in entries if applies(entry.method, entry.endpoint.regex, method, path)]

    def method_for(self, rule_method: str, path: str) -> str:
        """A concrete method for a rule: its own, else the method an allowed endpoint uses for ``path``."""
        if rule_method != ANY_METHOD:
            return rule_method.upper()
        for rule in self.agent.allowed_endpoints:
            if rule.method != ANY_METHOD and applies(rule.method, rule.path.regex, rule.method, path):
                return rule.method.upper()
        return "POST"

    def valid_body(self, method: str, path: str) -> dict[str, Any] | None:
        """A body every applicable field rule accepts, or ``None`` when one cannot be built from the model."""
        body: dict[str, Any] = {}
        for entry in self.validations_for(method, path):
            for rule in entry.fields:
                value = _valid_value(rule)
                if value is _UNKNOWN:
                    return None
                put_at(body, rule.path, value)
        return body

    def call(self, method: str, path: str, body: Any = None, **extra: Any) -> dict[str, Any]:
        call: dict[str, Any] = {"agent_id": self.agent.agent_id, "method": method, "path": path}
        if self.host is not None:
            call["host"] = self.host
        if body is not None:
            call["body"] = body
        call.update(extra)
        return call

    # -- cases ---------------------------------------------------------------------------------------------------

    def endpoint_cases(self) -> list[TestCase]:
        cases = []
        for rule in self.agent.allowed_endpoints:
            method = _concrete_method(rule.method)
            path = rule.path.example_path()
            denial = self.denied_by(method, path)
            body = self.valid_body(method, path)
            if denial is not None:
                cases.append(self._denied_case(f"{_slug(rule.rule_id)}_overridden_by_deny", rule, method, path, denial))
            elif self.agent.regions and rule.region is not None and rule.region not in self.agent.regions:
                cases.append(
                    TestCase(
                        name=f"{_slug(rule.rule_id)}_region_not_allowed",
                        description=f"{rule.rule_id} ({rule.describe()}) goes to region {rule.region}, outside the "
                        f"agent's regions",
                        input=self.call(method, path, body or None),
                        expect="deny",
                        codes=("region_not_allowed",),
                        source=_where(rule.source),
                    )
                )
            elif body is not None:
                # Parameter conditions are satisfied (`purpose ne care` gets `care`); when the answer still cannot be
                # predicted (a sanitize rule applies), the test only checks that the endpoint itself is allowed.
                call, certain = settled_call(self.agent, self.call(method, path, body or None))
                cases.append(
                    TestCase(
                        name=f"{_slug(rule.rule_id)}_allows",
                        description=f"{rule.rule_id} ({rule.describe()}) allows {method} {path}",
                        input=call,
                        expect="allow" if certain else "any",
                        absent_codes=() if certain else ("endpoint_not_allowed", "endpoint_denied"),
                        source=_where(rule.source),
                    )
                )
        for rule in self.agent.denied_endpoints:
            method = _concrete_method(rule.method)
            path = rule.path.example_path()
            cases.append(self._denied_case(f"{_slug(rule.rule_id)}_denies", rule, method, path, rule))
        if self.allowed_by("GET", _UNLISTED_PATH) is None:
            cases.append(
                TestCase(
                    name="unlisted_endpoint_is_denied",
                    description=f"GET {_UNLISTED_PATH} matches no allowed endpoint: default deny",
                    input=self.call("GET", _UNLISTED_PATH),
                    expect="deny",
                    codes=("endpoint_not_allowed",),
                )
            )
        return cases

    def _denied_case(self, name: str, rule: EndpointRule, method: str, path: str, denial: EndpointRule) -> TestCase:
        return TestCase(
            name=name,
            description=f"{denial.rule_id} ({denial.describe()}) denies {method} {path}",
            input=self.call(method, path),
            expect="deny",
            codes=("endpoint_denied",),
            source=_where(rule.source),
        )

    def validation_cases(self) -> list[TestCase]:
        cases = []
        for entry in self.agent.input_validation:
            path = entry.endpoint.example_path()
            method = self.method_for(entry.method, path)
            body = self.valid_body(method, path)
            if body is None:
                continue
            for rule in entry.fields:
                invalid = dict(body)
                put_at(invalid, rule.path, _invalid_value(rule))
                cases.append(
                    TestCase(
                        name=f"{_slug(rule.rule_id)}_rejects_invalid_{_slug(rule.field)}",
                        description=f"{rule.rule_id}: field {rule.field} must be a valid {rule.type.value}",
                        input=self.call(method, path, invalid),
                        expect="deny",
                        codes=("invalid_input",),
                        source=_where(rule.source),
                    )
                )
                if rule.required:
                    missing = _without(body, rule.path)
                    cases.append(
                        TestCase(
                            name=f"{_slug(rule.rule_id)}_requires_{_slug(rule.field)}",
                            description=f"{rule.rule_id}: field {rule.field} is required",
                            input=self.call(method, path, missing),
                            expect="deny",
                            codes=("invalid_input",),
                            source=_where(rule.source),
                        )
                    )
        return cases

    def payload_cases(self) -> list[TestCase]:
        if self.agent.max_payload_size_kb is None:
            return []
        limit = self.agent.max_payload_size_kb * 1024
        where = _where(self.agent.max_payload_source)
        cases = [
            TestCase(
                name="max_payload_size_kb_rejects_larger_payload",
                description=f"a payload of {limit + 1} bytes is above max_payload_size_kb ({limit} bytes)",
                input=self.call("POST", _first_path(self.agent), payload_size_bytes=limit + 1),
                expect="deny",
                codes=("payload_too_large",),
                source=where,
            )
        ]
        cases.append(
            TestCase(
                name="max_payload_size_kb_accepts_payload_at_the_limit",
                description=f"a payload of exactly {limit} bytes is within max_payload_size_kb",
                input=self.call("POST", _first_path(self.agent), payload_size_bytes=limit),
                expect="any",
                absent_codes=("payload_too_large",),
                source=where,
            )
        )
        return cases

    def path_cases(self) -> list[TestCase]:
        path = _first_path(self.agent)
        return [
            TestCase(
                name="dot_dot_segment_is_refused",
                description="a path with a '..' segment is not canonical and is refused before any rule matches",
                input=self.call("GET", path.rstrip("/") + "/../../admin"),
                expect="deny",
                codes=("non_canonical_path",),
            )
        ]

    def tool_cases(self) -> list[TestCase]:
        """For each tool: a call that passes every check, then one that breaks each of its rules in turn."""
        if not self.agent.tools:
            return []
        cases = [
            TestCase(
                name="unregistered_tool_is_denied",
                description=f"tool {_UNLISTED_TOOL} is not in the tool registry",
                input={"agent_id": self.agent.agent_id, "tool": _UNLISTED_TOOL},
                expect="deny",
                codes=("unknown_tool",),
            )
        ]
        for tool in self.agent.tools:
            planned = self.tool_call(tool)
            if planned is None:
                continue
            call, expect = planned
            # Parameter conditions are satisfied as for endpoints; an answer that stays uncertain is not asserted.
            call, certain = settled_call(self.agent, call)
            if certain:
                cases.append(
                    self._tool_case(
                        tool,
                        "allows" if expect == "allow" else "needs_approval",
                        call,
                        expect,
                        f"a call of {tool.name} within its rules gets {expect}",
                    )
                )
            else:
                # A condition decides the outcome; the test still proves that the tool's own checks let it through.
                cases.append(
                    self._tool_case(
                        tool,
                        "passes_its_tool_checks",
                        call,
                        "any",
                        f"a call of {tool.name} within its rules passes the tool's own checks",
                        absent_codes=_TOOL_CHECK_CODES,
                    )
                )
            other = next((action for action in ToolAction if action not in tool.actions), None)
            if other is not None:
                cases.append(
                    self._tool_case(
                        tool,
                        f"refuses_{other.value}",
                        {**call, "action": other.value},
                        "deny",
                        f"{tool.name} does not allow {other.value}",
                        ("action_not_allowed",),
                    )
                )
            for rule in tool.args or ():
                bad = {**call["args"], rule.field: _invalid_value(rule)}
                cases.append(
                    self._tool_case(
                        tool,
                        f"rejects_invalid_{_slug(rule.field)}",
                        {**call, "args": bad},
                        "deny",
                        f"{rule.rule_id}: argument {rule.field} must be a valid {rule.type.value}",
                        ("invalid_arguments",),
                    )
                )
            if tool.args is not None:
                extra = {**call["args"], _UNLISTED_ARG: "x"}
                cases.append(
                    self._tool_case(
                        tool,
                        "rejects_undeclared_argument",
                        {**call, "args": extra},
                        "deny",
                        f"{tool.name} declares no argument {_UNLISTED_ARG}",
                        ("invalid_arguments",),
                    )
                )
            for scope in tool.scope:
                outside = {**call["args"], scope.arg: _OUT_OF_SCOPE}
                cases.append(
                    self._tool_case(
                        tool,
                        f"keeps_{_slug(scope.arg)}_in_scope",
                        {**call, "args": outside},
                        "deny",
                        f"{scope.rule_id}: {_OUT_OF_SCOPE} is outside {', '.join(scope.patterns)}",
                        ("scope_violation",),
                    )
                )
            if call.get("requester_role") is not None:
                cases.append(
                    self._tool_case(
                        tool,
                        "needs_clearance",
                        _without(call, ("requester_role",)),
                        "deny",
                        f"{tool.name} handles {tool.classification.value} data: a call without "
                        "a cleared role is refused",
                        ("clearance_denied",),
                    )
                )
        context = self.agent.execution_context or ExecutionContext()
        for gate in context.environments:
            barred = [
                tool
                for tool in self.agent.tools
                if gate.allowed_tools is not None and tool.name not in gate.allowed_tools
            ]
            if barred:
                call = {"agent_id": self.agent.agent_id, "tool": barred[0].name, "environment": gate.name}
                cases.append(
                    TestCase(
                        name=f"environment_{_slug(gate.name)}_bars_{_slug(barred[0].name)}",
                        description=f"{gate.rule_id} does not allow {barred[0].name}",
                        input=call,
                        expect="deny",
                        codes=("tool_not_allowed_in_environment",),
                        source=_where(gate.source),
                    )
                )
        return cases

    def tool_call(self, tool: Tool) -> tuple[dict[str, Any], str] | None:
        """A call of ``tool`` that passes every deny check, and the decision it must get; ``None`` when the model
        does not say how to build one (an argument with an unexampled pattern, no environment or role that fits)."""
        context = self.agent.execution_context or ExecutionContext()
        action = tool.actions[0]
        args: dict[str, Any] = {}
        scopes = {scope.arg: scope for scope in tool.scope}
        for rule in tool.args or ():
            value = _valid_value(rule) if rule.field not in scopes else scopes[rule.field].patterns[0].replace("*", "x")
            if value is _UNKNOWN or (rule.field in scopes and not _string_fits(rule, value)):
                return None
            args[rule.field] = value
        call: dict[str, Any] = {
            "agent_id": self.agent.agent_id,
            "tool": tool.name,
            "action": action.value,
            "args": args,
        }
        approval = tool.requires_approval
        if context.environments:
            gates = [
                gate for gate in context.environments if gate.allowed_tools is None or tool.name in gate.allowed_tools
            ]
            if not gates:
                return None
            gate = next((gate for gate in gates if action not in gate.requires_approval_for), gates[0])
            call["environment"] = gate.name
            approval = approval or action in gate.requires_approval_for
        if tool.classification in context.restricted_classes:
            role = next((role for role, classes in context.clearance.items() if tool.classification in classes), None)
            if role is None:
                return None
            call["requester_role"] = role
        return call, "approval_needed" if approval else "allow"

    def _tool_case(
        self,
        tool: Tool,
        suffix: str,
        call: dict[str, Any],
        expect: str,
        description: str,
        codes: tuple[str, ...] = (),
        *,
        absent_codes: tuple[str, ...] = (),
    ) -> TestCase:
        return TestCase(
            name=f"tool_{_slug(tool.name)}_{suffix}",
            description=description,
            input=call,
            expect=expect,
            codes=codes,
            absent_codes=absent_codes,
            source=_where(tool.source),
        )

    def user_cases(self) -> list[TestCase]:
        cases = []
        for test in self.agent.tests:
            call = {"agent_id": self.agent.agent_id, **dict(test.input)}
            cases.append(
                TestCase(
                    name=f"user_{_slug(test.name)}",
                    description=test.name,
                    input=call,
                    expect=test.expect_decision,
                    codes=tuple(test.expect_reasons),
                    source=_where(test.source),
                )
            )
        return cases


# -- helpers -----------------------------------------------------------------------------------------------------

_UNKNOWN = object()
_UNLISTED_TOOL = "yaml2rego_unlisted_tool"
_UNLISTED_ARG = "yaml2rego_unlisted_argument"
_OUT_OF_SCOPE = "yaml2rego/out-of-scope"


def _string_fits(rule: FieldRule, value: str) -> bool:
    """Whether a scope-derived value also satisfies its argument's string rule."""
    if rule.type is not FieldType.STRING:
        return False
    if rule.min_length is not None and len(value) < rule.min_length:
        return False
    if rule.max_length is not None and len(value) > rule.max_length:
        return False
    return rule.pattern is None or re.search(rule.pattern, value) is not None


def _concrete_method(method: str) -> str:
    return "GET" if method == ANY_METHOD else method.upper()


def _host_of(domain: str) -> str:
    """A host an allowed-domain pattern covers: the domain itself, or one subdomain below a ``*.`` pattern."""
    return "yaml2rego" + domain[1:] if domain.startswith("*.") else domain


def _host_region(agent: AgentBoundary, host: str) -> str | None:
    """The region ``host_regions`` gives ``host`` (the first matching pattern), or ``None``."""
    return next((entry.region for entry in agent.host_regions if domain_matches(host, entry.pattern)), None)


def _first_path(agent: AgentBoundary) -> str:
    if agent.allowed_endpoints:
        return agent.allowed_endpoints[0].path.example_path()
    return _UNLISTED_PATH


def _valid_value(rule: FieldRule) -> Any:
    if rule.example is not None:
        return rule.example
    if rule.type is FieldType.UUID:
        return _SAMPLE_UUID
    if rule.type is FieldType.ENUM:
        return rule.values[0] if rule.values else _UNKNOWN
    if rule.type is FieldType.EMAIL:
        return "agent@example.com"
    if rule.type is FieldType.BOOLEAN:
        return True
    if rule.type in (FieldType.INTEGER, FieldType.NUMBER):
        low = rule.minimum if rule.minimum is not None else (rule.maximum if rule.maximum is not None else 1)
        return int(low) if rule.type is FieldType.INTEGER and float(low).is_integer() else low
    if rule.pattern is not None:
        return _UNKNOWN
    return "x" * max(rule.min_length or 1, 1)


def _invalid_value(rule: FieldRule) -> Any:
    """A value of the wrong type or outside the rule, whatever its bounds."""
    if rule.type in (FieldType.STRING, FieldType.UUID, FieldType.EMAIL):
        return 12345
    if rule.type is FieldType.ENUM:
        return "yaml2rego-not-a-listed-value"
    return "not-a-" + rule.type.value


def _without(document: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    copy: dict[str, Any] = dict(document)
    node = copy
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            return copy
        node[key] = dict(node[key])
        node = node[key]
    node.pop(path[-1], None)
    return copy


def _where(location: Any) -> str | None:
    return f"{location.file}:{location.line}" if location is not None else None


@lru_cache(maxsize=4096)
def _slug(text: str) -> str:
    # Cached: rule ids such as `allowed_endpoints[0]` recur in every agent.
    return _UNDERSCORES.sub("_", _NOT_SLUG.sub("_", text.lower())).strip("_") or "case"


_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_UNDERSCORES = re.compile(r"_+")


def _unique_names(cases: list[TestCase]) -> list[TestCase]:
    seen: dict[str, int] = {}
    unique = []
    for case in cases:
        count = seen.get(case.name, 0)
        seen[case.name] = count + 1
        if count:
            case = TestCase(**{**case.__dict__, "name": f"{case.name}_{count + 1}"})
        unique.append(case)
    return unique
