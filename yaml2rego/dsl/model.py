"""The typed intermediate model between boundary YAML and Rego.

The loader (:mod:`yaml2rego.dsl.loader`) turns YAML into these frozen objects and never emits Rego; the compiler
(:mod:`yaml2rego.compile.compiler`) turns them into Rego modules and data and never reads YAML. Every rule keeps its
``rule_id`` (``denied_endpoints[1]``) and its :class:`~yaml2rego.errors.SourceLocation`, so each decision can say which
line of which file made it.

>>> from yaml2rego.semantics.paths import parse_pattern
>>> rule = EndpointRule("allowed_endpoints[0]", "GET", parse_pattern("/api/customer/v1/*"), None)
>>> rule.describe()
'GET /api/customer/v1/*'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from yaml2rego.errors import SourceLocation
from yaml2rego.semantics.paths import PathPattern

__all__ = [
    "ANY_METHOD",
    "DEFAULT_RESTRICTED_CLASSES",
    "AgentBoundary",
    "AlertRule",
    "Budget",
    "Condition",
    "DataClass",
    "Defaults",
    "EndpointRule",
    "EnvironmentGate",
    "ExecutionContext",
    "FieldRule",
    "FieldType",
    "HostRegion",
    "InputValidation",
    "Mode",
    "PolicySet",
    "PolicyTest",
    "RateLimit",
    "SanitizeRule",
    "Tool",
    "ToolAction",
    "ToolScope",
    "rule_method",
]

ANY_METHOD = "*"


def rule_method(item: Mapping[str, Any]) -> str:
    """The method of a YAML rule (an endpoint, a rate limit, a condition…) as the model holds it: upper case, or
    :data:`ANY_METHOD` when the rule names none.

    >>> rule_method({"method": "post"}), rule_method({})
    ('POST', '*')
    """
    method = str(item.get("method", ANY_METHOD))
    return method if method == ANY_METHOD else method.upper()


JSONValue = Any


class Mode(str, Enum):
    """Whether an agent's denials block its calls (``enforce``) or are only recorded (``shadow``)."""

    ENFORCE = "enforce"
    SHADOW = "shadow"


class FieldType(str, Enum):
    """The value types an input-validation rule can demand."""

    UUID = "uuid"
    ENUM = "enum"
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    EMAIL = "email"


@dataclass(frozen=True)
class EndpointRule:
    """One entry of ``allowed_endpoints`` or ``denied_endpoints``: an HTTP method (or ``*``) and a path pattern."""

    rule_id: str
    method: str
    path: PathPattern
    source: SourceLocation | None
    # Data residency: the region this endpoint sends data to (allowed_endpoints only), checked against the agent's
    # regions.
    region: str | None = None

    def describe(self) -> str:
        return f"{self.method} {self.path.text}"


@dataclass(frozen=True)
class FieldRule:
    """One rule on one field of a call's body, addressed by a dotted path (``customer.id``)."""

    rule_id: str
    field: str
    type: FieldType
    source: SourceLocation | None
    required: bool = True
    values: tuple[JSONValue, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    minimum: float | int | None = None
    maximum: float | int | None = None
    example: JSONValue = None

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.field.split("."))


@dataclass(frozen=True)
class InputValidation:
    """Field rules for calls to one endpoint pattern (and method, ``*`` by default)."""

    rule_id: str
    endpoint: PathPattern
    method: str
    fields: tuple[FieldRule, ...]
    source: SourceLocation | None


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests_per_minute`` calls by one agent to one endpoint pattern (and method) in a sliding minute."""

    rule_id: str
    endpoint: PathPattern
    method: str
    requests_per_minute: int
    source: SourceLocation | None


@dataclass(frozen=True)
class Condition:
    """``field op value`` on calls to one endpoint pattern: when it holds, the call is denied or needs approval."""

    rule_id: str
    endpoint: PathPattern
    method: str
    field: str
    op: str
    value: JSONValue
    outcome: str
    source: SourceLocation | None
    message: str | None = None

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.field.split("."))


@dataclass(frozen=True)
class Budget:
    """Dollars per UTC day and calls per second for one agent; the runtime guard counts them."""

    source: SourceLocation | None
    daily_usd: float | None = None
    requests_per_second: int | None = None
    tool_prices: Mapping[str, float] = field(default_factory=dict, hash=False)
    default_cost_usd: float = 0.0


@dataclass(frozen=True)
class SanitizeRule:
    """A DLP rule: what ``detector`` finds in ``fields`` of calls to one endpoint pattern is redacted."""

    rule_id: str
    endpoint: PathPattern
    method: str
    detector: str
    source: SourceLocation | None
    pattern: str | None = None
    fields: tuple[str, ...] = ("body",)
    apply_to: tuple[str, ...] = ("request",)


@dataclass(frozen=True)
class AlertRule:
    """A severity rule, from a boundary's ``alerts:`` section or a global alerts file: read by the runtime on records
    (``yaml2rego.runtime.alerts``), never by the decision. Conditions left out match anything; ``count`` and
    ``window_s`` make it a repetition rule."""

    name: str
    severity: str
    source: SourceLocation | None = None
    codes: tuple[str, ...] = ()
    path: str | None = None
    decision: str | None = None
    event: str | None = None
    enforced: bool | None = None
    count: int = 1
    window_s: float = 60.0
    quiet_s: float = 0.0  # after an alert, the same rule stays quiet for this agent this long (record time)
    agent_id: str | None = None  # a boundary's own rule watches that agent only


class ToolAction(str, Enum):
    """What a tool call does: reads, changes (``write``) or runs (``execute``) something."""

    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"


class DataClass(str, Enum):
    """The classification of the data a tool handles."""

    PUBLIC = "public"
    INTERNAL = "internal"
    RESTRICTED = "restricted"
    CONFIDENTIAL = "confidential"
    PII = "pii"
    FINANCIAL = "financial"


# Data classes that only roles with clearance may touch, unless a boundary says otherwise.
DEFAULT_RESTRICTED_CLASSES = (DataClass.CONFIDENTIAL, DataClass.PII, DataClass.FINANCIAL)


@dataclass(frozen=True)
class ToolScope:
    """Values one argument of a tool must stay within: glob patterns where ``*`` is any run of characters."""

    rule_id: str
    arg: str
    patterns: tuple[str, ...]
    source: SourceLocation | None

    @property
    def regexes(self) -> tuple[str, ...]:
        """Each pattern as an anchored regular expression, valid in Python, RE2 (OPA) and Rust regex (regorus)."""
        return tuple("^" + ".*".join(_escape(part) for part in pattern.split("*")) + "$" for pattern in self.patterns)


def _escape(text: str) -> str:
    # Only characters that are special in every dialect: escaping a letter or a dash means different things.
    return "".join("\\" + char if char in "\\.+*?()|[]{}^$" else char for char in text)


@dataclass(frozen=True)
class Tool:
    """One entry of the tool registry: what a tool may do, the data it handles and the arguments it takes.

    ``args`` is ``None`` when the boundary does not declare the tool's arguments (they are then not checked);
    otherwise every argument a call passes must be declared, and each must satisfy its rule.
    """

    name: str
    actions: tuple[ToolAction, ...]
    classification: DataClass
    source: SourceLocation | None
    requires_approval: bool = False
    description: str | None = None
    args: tuple[FieldRule, ...] | None = None
    scope: tuple[ToolScope, ...] = ()

    @property
    def rule_id(self) -> str:
        return f"tools.{self.name}"


@dataclass(frozen=True)
class EnvironmentGate:
    """What one target environment (``dev``, ``staging``, ``prod``) permits and which actions need approval there."""

    name: str
    source: SourceLocation | None
    allowed_tools: tuple[str, ...] | None = None
    requires_approval_for: tuple[ToolAction, ...] = ()

    @property
    def rule_id(self) -> str:
        return f"execution_context.environments.{self.name}"


@dataclass(frozen=True)
class ExecutionContext:
    """Environment gates and clearance: which roles may use tools that handle restricted data classes."""

    source: SourceLocation | None = None
    environments: tuple[EnvironmentGate, ...] = ()
    clearance: Mapping[str, tuple[DataClass, ...]] = field(default_factory=dict, hash=False)
    restricted_classes: tuple[DataClass, ...] = DEFAULT_RESTRICTED_CLASSES


@dataclass(frozen=True)
class HostRegion:
    """Data residency: destination hosts matching ``pattern`` (canonical, as in ``allowed_domains``) lie in
    ``region``."""

    pattern: str
    region: str
    source: SourceLocation | None

    @property
    def rule_id(self) -> str:
        return f"host_regions.{self.pattern}"


@dataclass(frozen=True)
class PolicyTest:
    """A test case written in the YAML ``tests:`` section: an input and the decision it must get."""

    name: str
    input: Mapping[str, JSONValue] = field(hash=False)
    expect_decision: str
    expect_reasons: tuple[str, ...]
    source: SourceLocation | None


@dataclass(frozen=True)
class AgentBoundary:
    """Everything one agent may do, as written in one ``agent_boundary`` document."""

    agent_id: str
    source: SourceLocation | None
    mode: Mode = Mode.ENFORCE
    description: str | None = None
    owner: str | None = None
    allowed_endpoints: tuple[EndpointRule, ...] = ()
    denied_endpoints: tuple[EndpointRule, ...] = ()
    input_validation: tuple[InputValidation, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()
    max_payload_size_kb: int | None = None
    max_payload_source: SourceLocation | None = None
    tests: tuple[PolicyTest, ...] = ()
    tools: tuple[Tool, ...] = ()
    execution_context: ExecutionContext | None = None
    conditions: tuple[Condition, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    allowed_domains_source: SourceLocation | None = None
    budget: Budget | None = None
    sanitize: tuple[SanitizeRule, ...] = ()
    alerts: tuple[AlertRule, ...] = ()
    # Multi-tenancy and data residency (yaml2rego.dsl.tenancy): without them the agent compiles as it always did.
    tenant: str | None = None
    regions: tuple[str, ...] = ()
    regions_source: SourceLocation | None = None
    host_regions: tuple[HostRegion, ...] = ()

    @property
    def source_file(self) -> str:
        return self.source.file if self.source else "<memory>"


@dataclass(frozen=True)
class Defaults:
    """Settings for every agent of a policy set, from a ``defaults:`` document: the global allowed domains."""

    source: SourceLocation | None
    allowed_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicySet:
    """All agents compiled together, sorted by ``agent_id`` (so output never depends on file order)."""

    agents: tuple[AgentBoundary, ...]
    defaults: Defaults | None = None

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.agents, key=lambda agent: agent.agent_id))
        object.__setattr__(self, "agents", ordered)

    def __iter__(self) -> Iterator[AgentBoundary]:
        return iter(self.agents)

    def __len__(self) -> int:
        return len(self.agents)

    def get(self, agent_id: str) -> AgentBoundary | None:
        for agent in self.agents:
            if agent.agent_id == agent_id:
                return agent
        return None

    @property
    def agent_ids(self) -> tuple[str, ...]:
        return tuple(agent.agent_id for agent in self.agents)
