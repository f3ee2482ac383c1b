"""Native decision programs: each agent's compiled data (``data.boundaries.agents[id]``) turned into frozen Python
objects with every regex compiled, once, at load time. :class:`~yaml2rego.engines.native.NativeEngine` runs them.

The Rego library stays the audited truth; a program is a second reading of the same data, rule by rule (the
evaluator in ``yaml2rego/engines/native.py`` names the Rego rule each step mirrors), proven equal by
``tests/test_native_engine.py``. What a program cannot express with certainty (a regex outside the translated subset,
a number regorus would change, a value the messages could not print the same) is refused here with
:class:`~yaml2rego.compile.native_regex.Unsupported`, and that agent is decided by regorus instead.

>>> from yaml2rego.compile.compiler import compile_policy_set
>>> from yaml2rego.dsl.loader import load_policies
>>> compiled = compile_policy_set(load_policies(["examples/support_agent.yaml"]))  # doctest: +SKIP
>>> programs, refused = build_programs(compiled.data_document())  # doctest: +SKIP
>>> sorted(programs), refused  # doctest: +SKIP
(['support_agent_1'], {})
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from yaml2rego._batch import paused_gc
from yaml2rego.compile.native_regex import Regex, Unsupported, compile_regex

__all__ = [
    "AgentProgram",
    "Boundaries",
    "EndpointRule",
    "FieldCheck",
    "MethodRules",
    "SanitizeRule",
    "ToolProgram",
    "build_programs",
    "native_support",
]

# Numbers regorus keeps exactly: it turns an integral float into an integer and saturates beyond 64 bits, so only
# values well inside the range where int and float agree are mirrored.
_EXACT = 2**53
_MATCH_KINDS = frozenset({"subtree", "exact", "regex"})
_FIELD_TYPES = frozenset({"uuid", "enum", "string", "integer", "number", "boolean", "email"})
_OPERATORS = frozenset({"exists", "missing", "eq", "ne", "lt", "le", "gt", "ge", "in", "not_in"})
# Every key the library reads, per kind of entry. Data with any other key was written for Rego rules these programs
# do not know (a section added later): that agent is left to regorus rather than decided without it.
_MATCHER = {"rule", "source", "method", "pattern", "prefix", "match", "regex"}
_KEYS = {
    "agent": {
        "agent_id", "mode", "source", "allowed_endpoints", "denied_endpoints", "input_validation", "rate_limits",
        "max_payload", "conditions", "egress", "budget", "sanitize", "tools", "execution_context",
    },
    "endpoint": _MATCHER,
    "input_validation": _MATCHER | {"fields"},
    "rate limit": _MATCHER | {"requests_per_minute"},
    "condition": _MATCHER | {"field", "path", "op", "value", "outcome", "message"},
    "sanitize rule": _MATCHER | {"detector", "flag_regex", "fields", "apply_to"},
    "field rule": {
        "rule", "source", "field", "path", "type", "required", "values", "min_length", "max_length", "pattern",
        "minimum", "maximum",
    },
    "tool": {
        "name", "rule", "source", "actions", "arg_names", "args", "classification", "declares_args",
        "requires_approval", "scope",
    },
    "scope": {"arg", "patterns", "regexes", "rule", "source"},
    "execution_context": {"clearance", "environments", "restricted_classes", "source"},
    "environment": {"allowed_tools", "requires_approval_for", "rule", "source"},
    "egress": {"rule", "source", "domains"},
    "max_payload": {"rule", "source", "bytes"},
    "boundaries": {"agents", "policy_version", "defaults"},
    "defaults": {"source", "allowed_domains"},
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class EndpointRule:
    """An entry with ``{method, prefix, match, regex}``: endpoint rules, validation, rate limits, conditions, DLP.
    ``data`` is the entry itself (normalised), for the fields a reason or a rate limit shows."""

    method: str | None
    prefix: str | None
    kind: str | None
    regex: Regex | None
    data: Mapping[str, Any]

    def applies(self, method: str, target_slash: str) -> bool:
        """decision.rego ``_applies`` (= paths.rule_matches): method, literal prefix, then the rest by match kind."""
        if self.method != "*" and self.method != method:
            return False
        return self.matches_path(target_slash)

    def matches_path(self, target_slash: str) -> bool:
        """:meth:`applies` once the method is known to match: literal prefix, then the rest by match kind."""
        if self.prefix is None or not target_slash.startswith(self.prefix):
            return False
        if self.kind == "subtree":
            return True
        if self.kind == "exact":
            return target_slash == self.prefix
        if self.kind == "regex" and self.regex is not None:
            return self.regex.search(target_slash[:-1])
        return False


@dataclass(frozen=True, slots=True)
class FieldCheck:
    """One field rule of validation.rego (``fields[_]`` of input_validation, or ``args`` of a tool)."""

    field: str
    path: tuple[str, ...]
    type: str | None
    required: bool
    values: tuple[Any, ...] | None
    strings_only: bool  # every one of `values` is a string: the enum's text may be cached by its values alone
    min_length: Any
    max_length: Any
    pattern: Regex | None
    minimum: Any
    maximum: Any
    rule: Any
    source: Any


@dataclass(frozen=True, slots=True)
class ToolProgram:
    """One entry of the agent's tool registry (tools.rego), with its scope regexes and argument checks compiled."""

    data: Mapping[str, Any]
    actions: tuple[Any, ...]
    scopes: tuple[tuple[Mapping[str, Any], tuple[Regex, ...]], ...]
    args: tuple[FieldCheck, ...]


@dataclass(frozen=True, slots=True)
class SanitizeRule:
    """A sanitize rule (dlp.rego): where it applies, and its flag regex compiled."""

    matcher: EndpointRule
    flag_regex: Regex | None


@dataclass(frozen=True, slots=True)
class MethodRules:
    """The endpoint rules, validation entries and rate limits of one agent whose method is one given method or
    ``*``, in the data's order: a call reads only those and matches only their paths."""

    allowed: tuple[EndpointRule, ...]
    denied: tuple[EndpointRule, ...]
    validation: tuple[tuple[EndpointRule, tuple[FieldCheck, ...]], ...]
    rate_limits: tuple[EndpointRule, ...]


@dataclass(frozen=True, slots=True)
class AgentProgram:
    """Everything the decision reads about one agent, frozen; shared read-only by every thread."""

    agent_id: str
    data: Mapping[str, Any]
    allowed: tuple[EndpointRule, ...]
    denied: tuple[EndpointRule, ...]
    validation: tuple[tuple[EndpointRule, tuple[FieldCheck, ...]], ...]
    rate_limits: tuple[EndpointRule, ...]
    conditions: tuple[EndpointRule, ...] | None
    sanitize: tuple[SanitizeRule, ...]
    tools: Mapping[str, ToolProgram]
    by_method: Mapping[str, MethodRules]  # every method a rule names
    any_method: MethodRules  # the ``*`` rules alone: any other method (and a tool call's missing one)

    def rules_for(self, method: str | None) -> MethodRules:
        """The rules that may apply to a call with ``method`` (upper case), found by one lookup."""
        return self.by_method.get(method, self.any_method)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Boundaries:
    """What the decision reads outside one agent: the policy version and the global egress defaults."""

    policy_version: Any
    global_domains: tuple[Any, ...]
    defaults_source: Any


def build_programs(data: Mapping[str, Any]) -> tuple[Mapping[str, AgentProgram], dict[str, str]]:
    """One program per agent of ``data`` (the root data document), and why each agent left out has none."""
    boundaries = data.get("boundaries") if isinstance(data, Mapping) else None
    agents = boundaries.get("agents") if isinstance(boundaries, Mapping) else None
    programs: dict[str, AgentProgram] = {}
    refused: dict[str, str] = {}
    with paused_gc():  # 10,000 agents' programs are millions of long-lived objects (see yaml2rego._batch)
        for agent_id, agent in (agents or {}).items():
            try:
                programs[agent_id] = _agent_program(agent_id, agent)
            except Unsupported as exc:
                refused[agent_id] = str(exc)
    return MappingProxyType(programs), refused


def boundaries_of(data: Mapping[str, Any]) -> Boundaries:
    """The :class:`Boundaries` of the root data document; :class:`Unsupported` for values not mirrored."""
    boundaries = data.get("boundaries") if isinstance(data, Mapping) else None
    if not isinstance(boundaries, Mapping):
        raise Unsupported("data.boundaries is not an object")
    _known(boundaries, "boundaries")
    defaults = boundaries.get("defaults")
    if defaults is not None:
        _known(defaults, "defaults")
    domains = defaults.get("allowed_domains", []) if isinstance(defaults, Mapping) else []
    if not isinstance(domains, list) or not all(isinstance(domain, str) for domain in domains):
        raise Unsupported("data.boundaries.defaults.allowed_domains is not a list of strings")
    source = defaults.get("source") if isinstance(defaults, Mapping) else None
    return Boundaries(_normalised(boundaries.get("policy_version")), tuple(domains), _normalised(source))


def native_support(data: Mapping[str, Any]) -> dict[str, str | None]:
    """Per agent: ``None`` when a native program expresses it, else why regorus decides it (for ``compile``).

    A tenant's agents (``data.tenants``) have no program: calls made for a tenant are decided by regorus."""
    programs, refused = build_programs(data)
    support: dict[str, str | None] = {agent_id: refused.get(agent_id) for agent_id in [*programs, *refused]}
    tenants = data.get("tenants")
    for tenant, tenant_data in (tenants if isinstance(tenants, Mapping) else {}).items():
        agents = tenant_data.get("agents") if isinstance(tenant_data, Mapping) else None
        for agent_id in agents if isinstance(agents, Mapping) else ():
            support[agent_id] = f"an agent of tenant {tenant}: calls made for a tenant are decided by regorus"
    return dict(sorted(support.items()))


# -- building ----------------------------------------------------------------------------------------------------


def _known(entry: Any, kind: str) -> None:
    """:class:`Unsupported` unless ``entry`` is an object with only keys the library reads for its ``kind``."""
    if not isinstance(entry, Mapping):
        raise Unsupported(f"a {kind} entry is not an object")
    unknown = sorted(set(entry) - _KEYS[kind])
    if unknown:
        raise Unsupported(f"the {kind} data has keys the native program does not read: {', '.join(unknown)}")


def _agent_program(agent_id: str, raw: Any) -> AgentProgram:
    _known(raw, "agent")
    agent = _normalised(raw)
    sections = {
        "endpoint": [
            *_list(agent.get("allowed_endpoints"), "allowed_endpoints"),
            *_list(agent.get("denied_endpoints"), "denied_endpoints"),
        ],
        "input_validation": _list(agent.get("input_validation"), "input_validation"),
        "rate limit": _list(agent.get("rate_limits"), "rate_limits"),
        "condition": _list(agent.get("conditions"), "conditions"),
        "sanitize rule": _list(agent.get("sanitize"), "sanitize"),
    }
    for kind, entries in sections.items():
        for entry in entries:
            _known(entry, kind)
    if "max_payload" in agent:
        _known(agent["max_payload"], "max_payload")
    for key in ("mode", "source"):
        if key in agent and not isinstance(agent[key], str):
            raise Unsupported(f"the agent's {key} is not a string")
    validation = tuple(
        (_endpoint(entry), tuple(_field(field) for field in _list(entry.get("fields"), "fields")))
        for entry in _list(agent.get("input_validation"), "input_validation")
    )
    conditions = None
    if "conditions" in agent:
        conditions = tuple(_condition(entry) for entry in _list(agent["conditions"], "conditions"))
    sanitize = tuple(_sanitize(entry) for entry in _list(agent.get("sanitize", []), "sanitize"))
    tools = agent.get("tools", {})
    if not isinstance(tools, Mapping):
        raise Unsupported("tools is not an object")
    _check_execution_context(agent.get("execution_context"))
    _check_egress(agent)
    _check_budget(agent.get("budget"))
    allowed = tuple(_endpoint(rule) for rule in _list(agent.get("allowed_endpoints"), "allowed_endpoints"))
    denied = tuple(_endpoint(rule) for rule in _list(agent.get("denied_endpoints"), "denied_endpoints"))
    rate_limits = tuple(_endpoint(rule) for rule in _list(agent.get("rate_limits"), "rate_limits"))
    matchers = [*allowed, *denied, *rate_limits, *(entry for entry, _ in validation)]
    named = sorted({rule.method for rule in matchers if rule.method is not None and rule.method != "*"})
    matched = (allowed, denied, validation, rate_limits)
    stars = tuple(_of_method(section, "*", section) for section in matched)
    any_method = MethodRules(*stars)

    def rules_for(method: str) -> MethodRules:  # `_applies` of a call with this method reads these alone
        kept = tuple(_of_method(section, method, star) for section, star in zip(matched, stars, strict=True))
        # Tuples the same as others are shared (see _of_method), and so are the rules of any method: 10,000 agents
        # hold few new objects.
        same = all(mine is theirs for mine, theirs in zip(kept, stars, strict=True))
        return any_method if same else MethodRules(*kept)

    return AgentProgram(
        agent_id=agent_id,
        data=agent,
        allowed=allowed,
        denied=denied,
        validation=validation,
        rate_limits=rate_limits,
        conditions=conditions,
        sanitize=sanitize,
        tools=MappingProxyType({name: _tool(entry) for name, entry in tools.items()}),
        by_method=MappingProxyType({method: rules_for(method) for method in named}),
        any_method=any_method,
    )


def _of_method(section: tuple[Any, ...], method: str, star: tuple[Any, ...]) -> tuple[Any, ...]:
    """The entries of ``section`` (endpoint rules, or validation entries with their rule first) for ``method`` or
    ``*``, in order; ``section`` itself or ``star`` (its ``*`` entries) when they are the same ones."""
    kept = tuple(entry for entry in section if _matcher(entry).method in ("*", method))
    if len(kept) == len(section):
        return section
    return star if len(kept) == len(star) else kept


def _matcher(entry: EndpointRule | tuple[EndpointRule, Any]) -> EndpointRule:
    return entry[0] if isinstance(entry, tuple) else entry


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Unsupported(f"{what} is not a list")
    return value


def _endpoint(entry: Any) -> EndpointRule:
    if not isinstance(entry, Mapping):
        raise Unsupported("an endpoint entry is not an object")
    kind = entry.get("match")
    regex = entry.get("regex")
    compiled = compile_regex(regex) if kind == "regex" and isinstance(regex, str) else None
    if kind not in _MATCH_KINDS:
        raise Unsupported(f"match kind {kind!r} is not mirrored")
    method, prefix = entry.get("method"), entry.get("prefix")
    if not isinstance(method, str) or not isinstance(prefix, str):
        raise Unsupported("an endpoint entry without a string method and prefix")
    return EndpointRule(method, prefix, kind, compiled, entry)


def _field(raw: Any) -> FieldCheck:
    _known(raw, "field rule")
    if not isinstance(raw.get("field"), str):
        raise Unsupported("a field rule without a string `field`")
    if raw.get("type") not in _FIELD_TYPES:
        raise Unsupported(f"field type {raw.get('type')!r} is not mirrored")
    path = raw.get("path")
    if not isinstance(path, list) or not path or not all(isinstance(step, str) for step in path):
        raise Unsupported("a field path that is not a list of strings")
    for key in ("min_length", "max_length", "minimum", "maximum"):
        if key in raw and not _is_number(raw[key]):
            raise Unsupported(f"{key} is not a number")
    values = raw.get("values")
    if "values" in raw and (not isinstance(values, list) or not all(_scalar(value) for value in values)):
        raise Unsupported("enum values that are not a list of scalars")
    pattern = raw.get("pattern")
    if "pattern" in raw and not isinstance(pattern, str):
        raise Unsupported("a field pattern that is not a string")
    return FieldCheck(
        field=raw["field"],
        path=tuple(path),
        type=raw.get("type"),
        required=raw.get("required", True) is True,
        values=tuple(values) if isinstance(values, list) else None,
        strings_only=isinstance(values, list) and all(type(value) is str for value in values),
        min_length=raw.get("min_length"),
        max_length=raw.get("max_length"),
        pattern=compile_regex(pattern) if isinstance(pattern, str) else None,
        minimum=raw.get("minimum"),
        maximum=raw.get("maximum"),
        rule=raw.get("rule"),
        source=raw.get("source"),
    )


def _condition(raw: Any) -> EndpointRule:
    matcher = _endpoint(raw)
    path = raw.get("path")
    if not isinstance(path, list) or not all(isinstance(step, str) for step in path):
        raise Unsupported("a condition path that is not a list of strings")
    if not isinstance(raw.get("field"), str) or not isinstance(raw.get("rule"), str):
        raise Unsupported("a condition without a string field and rule")
    if raw.get("op") not in _OPERATORS:
        raise Unsupported(f"condition operator {raw.get('op')!r} is not mirrored")
    if raw.get("outcome") not in ("deny", "approval_needed"):
        raise Unsupported(f"condition outcome {raw.get('outcome')!r} is not mirrored")
    value = raw.get("value")
    if raw.get("op") in ("in", "not_in") and not isinstance(value, list):
        raise Unsupported("an in/not_in condition whose value is not a list")
    # conditions._show prints a list's items with the scalar form and any other value with %v: only scalars, and
    # lists of scalars, print the same here.
    items = value if isinstance(value, list) else [value]
    if not all(_scalar(item) for item in items):
        raise Unsupported("a condition value with nested arrays or objects is not mirrored")
    if "message" in raw and not isinstance(raw["message"], str):
        raise Unsupported("a condition message that is not a string")
    return matcher


def _sanitize(raw: Any) -> SanitizeRule:
    matcher = _endpoint(raw)
    fields = raw.get("fields")
    if not isinstance(fields, list) or not all(
        isinstance(field, list) and all(isinstance(step, str) for step in field) for field in fields
    ):
        raise Unsupported("sanitize fields that are not lists of strings")
    if not isinstance(raw.get("apply_to"), list):
        raise Unsupported("sanitize apply_to that is not a list")
    regex = raw.get("flag_regex")
    if not isinstance(regex, str):
        raise Unsupported("a sanitize rule without a string flag_regex")
    return SanitizeRule(matcher, compile_regex(regex))


def _tool(raw: Any) -> ToolProgram:
    _known(raw, "tool")
    if not isinstance(raw.get("name"), str):
        raise Unsupported("a tool entry without a string name")
    actions = raw.get("actions", [])
    if not isinstance(actions, list) or not all(isinstance(action, str) for action in actions):
        raise Unsupported("tool actions that are not a list of strings")
    scopes = []
    for scope in _list(raw.get("scope"), "scope"):
        _known(scope, "scope")
        if not isinstance(scope.get("arg"), str):
            raise Unsupported("a tool scope without a string arg")
        patterns = scope.get("patterns")
        regexes = scope.get("regexes")
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise Unsupported("tool scope patterns that are not strings")
        if not isinstance(regexes, list) or not all(isinstance(r, str) for r in regexes):
            raise Unsupported("tool scope regexes that are not strings")
        scopes.append((scope, tuple(compile_regex(regex) for regex in regexes)))
    arg_names = raw.get("arg_names", {})
    if not isinstance(arg_names, Mapping):
        raise Unsupported("tool arg_names is not an object")
    return ToolProgram(raw, tuple(actions), tuple(scopes), tuple(_field(f) for f in _list(raw.get("args"), "args")))


def _check_execution_context(context: Any) -> None:
    if context is None:
        return
    _known(context, "execution_context")
    environments = context.get("environments", {})
    if not isinstance(environments, Mapping) or not all(isinstance(e, Mapping) for e in environments.values()):
        raise Unsupported("execution_context.environments is not an object of objects")
    for environment in environments.values():
        _known(environment, "environment")
        if not isinstance(environment.get("allowed_tools", {}), Mapping):
            raise Unsupported("allowed_tools is not an object")
        if not isinstance(environment.get("requires_approval_for", []), list):
            raise Unsupported("requires_approval_for is not a list")


def _check_egress(agent: Mapping[str, Any]) -> None:
    egress = agent.get("egress")
    if egress is None:
        return
    _known(egress, "egress")
    if not isinstance(egress.get("rule"), str) or "source" not in egress:
        raise Unsupported("egress without its rule and source")
    domains = egress.get("domains", [])
    if not isinstance(domains, list) or not all(isinstance(domain, str) for domain in domains):
        raise Unsupported("egress domains that are not strings")


def _check_budget(budget: Any) -> None:
    if budget is None:
        return
    if not isinstance(budget, Mapping) or not isinstance(budget.get("tool_prices", {}), Mapping):
        raise Unsupported("a budget that is not an object with tool_prices")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float))


# The values _normalised returns as they are, by exact type: most of a boundary's data is strings.
_KEPT_AS_IS = frozenset({str, bool, type(None)})


def _normalised(value: Any) -> Any:
    """``value`` as regorus holds it: an integral float becomes an integer; a number it would not keep exactly is
    :class:`Unsupported`. Lists and objects are copied; the program never changes them and never hands them out
    (a decision copies what it shows)."""
    # Data read from JSON holds exact dicts, lists and strings: those take the short way, the same steps in the same
    # order as the general one below (keys checked before any value), without a Mapping check per value.
    kind = type(value)
    if kind is dict:
        if not all(type(key) is str or isinstance(key, str) for key in value):
            raise Unsupported("an object with a key that is not a string")
        return {key: item if type(item) in _KEPT_AS_IS else _normalised(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _KEPT_AS_IS else _normalised(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if abs(value) >= _EXACT:
            raise Unsupported(f"the number {value} is outside the range kept exactly")
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) >= _EXACT:
            raise Unsupported(f"the number {value} is outside the range kept exactly")
        return int(value) if value.is_integer() else value
    if isinstance(value, list):
        return [_normalised(item) for item in value]
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise Unsupported("an object with a key that is not a string")
        return {key: _normalised(item) for key, item in value.items()}
    raise Unsupported(f"a value of type {type(value).__name__} is not JSON")
