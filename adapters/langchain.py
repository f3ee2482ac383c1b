"""LangChain: the agent boundary on any ``BaseTool``, and as ``create_agent`` middleware.

>>> from langchain.agents import create_agent  # doctest: +SKIP
>>> from yaml2rego.adapters.langchain import boundary_middleware, guard_tool
>>> safe_search = guard_tool(search_tool, guard, "support_agent_1", action="read")  # doctest: +SKIP
>>> agent = create_agent(model, tools, middleware=[boundary_middleware(guard, "infra_review_agent")])  # doctest: +SKIP

Both behave as the LangGraph adapter does (:mod:`yaml2rego.adapters.langgraph`): a denied call becomes a
``ToolMessage`` with ``status="error"`` and the reasons (or raises :class:`~yaml2rego.errors.PolicyDenied` with
``on_deny="raise"``), and a call that needs approval interrupts the graph it runs in, continuing or refusing when it
is resumed. A guarded tool that needs approval outside any graph is refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from typing import Any

from yaml2rego.adapters.decision import Decision
from yaml2rego.adapters.guard import Guard
from yaml2rego.adapters.langgraph import BoundaryToolWrapper, OnDeny
from yaml2rego.adapters.tool_calls import ToolCallContext, approval_request, is_approved, refusal_text, require

from yaml2rego.errors import PolicyDenied

__all__ = ["boundary_middleware", "guard_tool"]


def guard_tool(
    tool: Any,
    guard: Guard,
    agent_id: str,
    *,
    action: str | None = None,
    environment: str | None = None,
    requester_role: str | None = None,
    on_deny: OnDeny = "message",
) -> Any:
    """A ``StructuredTool`` with ``tool``'s name, description and arguments that checks each call before running it."""
    tools = require("langchain_core.tools", "langchain")
    context = ToolCallContext(agent_id, environment, requester_role, {tool.name: action} if action else {})

    def settle(call: Mapping[str, Any], decision: Decision) -> None:
        """Return when the call may run; raise what the caller should see otherwise."""
        if decision.decision == "approval_needed" and decision.blocked and _in_graph():
            from langgraph.types import interrupt

            if is_approved(interrupt(approval_request(decision, call))):
                return
        elif not decision.blocked:
            return
        if on_deny == "raise":
            raise PolicyDenied(decision)
        # With handle_tool_error, LangChain turns this into a ToolMessage with status "error".
        raise tools.ToolException(refusal_text(decision))

    def run(**kwargs: Any) -> Any:
        call = context.call(tool.name, kwargs)
        settle(call, guard.check(call))
        return tool.invoke(kwargs)

    async def arun(**kwargs: Any) -> Any:
        call = context.call(tool.name, kwargs)
        settle(call, await guard.acheck(call))
        return await tool.ainvoke(kwargs)

    return tools.StructuredTool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        func=run,
        coroutine=arun,
        handle_tool_error=True,
        return_direct=tool.return_direct,
    )


def _in_graph() -> bool:
    """Whether the tool runs inside a LangGraph run, where ``interrupt()`` can pause it for a human."""
    try:
        from langgraph.config import get_config

        configurable = get_config().get("configurable", {})
    except (ImportError, RuntimeError):
        return False
    # A bare tool.invoke() also sets a config; only a graph run carries the scratchpad that interrupt() needs.
    return "__pregel_scratchpad" in configurable


def boundary_middleware(guard: Guard, agent_id: str, **options: Any) -> Any:
    """An ``AgentMiddleware`` for ``create_agent(..., middleware=[…])`` whose ``wrap_tool_call`` checks every tool call
    (options as for :class:`~yaml2rego.adapters.langgraph.BoundaryToolWrapper`)."""
    return _middleware_class()(BoundaryToolWrapper(guard, agent_id, **options))


@cache
def _middleware_class() -> type:
    middleware = require("langchain.agents.middleware", "langchain")

    class BoundaryMiddleware(middleware.AgentMiddleware):  # type: ignore[misc]
        """Checks each tool call against the agent boundary before the tool runs."""

        def __init__(self, wrapper: BoundaryToolWrapper) -> None:
            super().__init__()
            self.wrapper = wrapper

        def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
            return self.wrapper(request, handler)

        async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
            return await self.wrapper.awrap(request, handler)

    return BoundaryMiddleware
