"""A base for the small engines tests script: the Engine protocol's state-changing calls, as no-ops.

A subclass only says how it decides (``decide``); the guard can then be driven without monkeypatching.
"""

from __future__ import annotations


class ScriptedEngine:
    """An :class:`~yaml2rego.engines.base.Engine` without a kill switch or resources of its own."""

    name = "fake"

    def suspend(self, agent_id: str, reason: str) -> None:
        pass

    def resume(self, agent_id: str) -> None:
        pass

    def close(self) -> None:
        pass
