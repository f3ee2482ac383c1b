"""yaml2rego: compile YAML agent boundaries into OPA Rego policies and enforce them on every agent call.

The public surface, from YAML to a decision::

    >>> import yaml2rego
    >>> policy_set = yaml2rego.load_policies(["examples/support_agent.yaml"])     # YAML -> typed model
    >>> compiled = yaml2rego.compile_policy_set(policy_set)                      # model -> Rego + data
    >>> engine = yaml2rego.EmbeddedEngine.from_compiled(compiled)                # or OpaEngine("http://…")
    >>> engine.decide({"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"})["decision"]
    'allow'

At run time an agent goes through the guard (``yaml2rego.runtime.Guard``, also importable from here), which adds
rate limits, fail-closed behaviour and decision records; framework adapters live in ``yaml2rego.adapters.*``.
Bundles, signatures, the policy history and the semantic diff are in :mod:`yaml2rego.bundles.bundle`,
:mod:`yaml2rego.bundles.history` and :mod:`yaml2rego.audit.diff`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from yaml2rego._version import __version__
from yaml2rego.compile.compiler import CompiledPolicy, compile_policy_set
from yaml2rego.dsl.loader import load_policies, load_policy_text
from yaml2rego.dsl.model import AgentBoundary, Mode, PolicySet
from yaml2rego.dsl.schema import load_schema, schema_path
from yaml2rego.engines import EmbeddedEngine, Engine, OpaEngine
from yaml2rego.errors import (
    ApprovalError,
    BundleError,
    CompileError,
    EngineError,
    EngineUnavailable,
    HistoryError,
    PolicyDenied,
    PolicyError,
    PolicyErrors,
    PolicySyntaxError,
    PolicyValidationError,
    SignatureError,
    SourceLocation,
    Yaml2RegoError,
)

if TYPE_CHECKING:
    from yaml2rego.runtime import Decision, Guard

__all__ = [
    "AgentBoundary",
    "ApprovalError",
    "BundleError",
    "CompileError",
    "CompiledPolicy",
    "Decision",
    "EmbeddedEngine",
    "Engine",
    "EngineError",
    "EngineUnavailable",
    "Guard",
    "HistoryError",
    "Mode",
    "OpaEngine",
    "PolicyDenied",
    "PolicyError",
    "PolicyErrors",
    "PolicySet",
    "PolicySyntaxError",
    "PolicyValidationError",
    "SignatureError",
    "SourceLocation",
    "Yaml2RegoError",
    "__version__",
    "compile_policy_set",
    "load_policies",
    "load_policy_text",
    "load_schema",
    "schema_path",
]

# The runtime is imported on first use: compiling policies needs none of it.
_RUNTIME = {"Guard", "Decision"}


def __getattr__(name: str) -> Any:
    if name in _RUNTIME:
        from yaml2rego import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'yaml2rego' has no attribute {name!r}")
