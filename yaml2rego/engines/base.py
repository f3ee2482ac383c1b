"""The seam between Python and Rego: one small protocol every engine implements.

Two engines implement it: :class:`~yaml2rego.engines.embedded.EmbeddedEngine` (regorus, in-process, the default) and
:class:`~yaml2rego.engines.opa.OpaEngine` (a running OPA daemon over its REST API). Tests swap one for the other, or
for any object with these methods, without monkeypatching.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["DECISION_PATH", "RUNTIME_DATA_ROOT", "Engine"]

# The rule every caller asks for; `/v1/data/agent_boundary/decision` on the REST API.
DECISION_PATH = "agent_boundary/decision"
# Runtime state (the kill switch) lives outside every bundle root, so OPA's data API may write it.
RUNTIME_DATA_ROOT = "agent_boundary_runtime"


@runtime_checkable
class Engine(Protocol):
    """Evaluates the agent-boundary decision for one call.

    ``decide`` returns the decision object described in ``docs/architecture.md``. It raises
    :class:`~yaml2rego.errors.EngineUnavailable` when the engine cannot be reached or times out, and
    :class:`~yaml2rego.errors.EngineError` for any other failure; it never returns a partial decision.
    Implementations are safe to call from many threads at once.
    """

    name: str

    def decide(self, call: Mapping[str, Any]) -> dict[str, Any]: ...

    def suspend(self, agent_id: str, reason: str) -> None:
        """Kill switch: every later decision for ``agent_id`` is a deny with code ``agent_suspended``."""
        ...

    def resume(self, agent_id: str) -> None:
        """Lift a suspension; a no-op when the agent is not suspended."""
        ...

    def close(self) -> None: ...
