"""LangChain: the agent boundary on any ``BaseTool``, and as ``create_agent`` middleware.

>>> from langchain.agents import create_agent  # doctest: +SKIP
>>> from yaml2rego.adapters.langchain import boundary_middleware, guard_tool
>>> safe_search = guard_tool(search_tool, guard, "support_agent_1", action="read")  # doctest: +SKIP
>>> agent = create_agent(model, tools, middleware=[boundary_middleware(guard, "infra_review_agent")])  # doctest: +SKIP

Both behave as the LangGraph adapter does (:mod:`yaml2rego.adapters.langgraph`): a denied call becomes a
``ToolMessage`` with ``status="error"`` and the reasons (or raises :class:`~yaml2rego.errors.PolicyDenied` with
``on_deny="raise"``), a ``sanitize`` decision runs the tool on the redacted arguments, results are redacted when the
policy says so, and a call that needs approval interrupts the graph it runs in, continuing or refusing when it is
resumed (an override token in the resume value, or the one the approver's grant stored, is redeemed then). A
guarded tool that needs approval outside any graph is refused, unless the run's config presents an override token
granted for that call:

>>> safe_pay.invoke(args, config={"configurable": {"approval_token": token}})  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from typing import Any

from yaml2rego.adapters.langgraph import BoundaryToolWrapper, OnDeny
from yaml2rego.adapters.tool_calls import ToolCallContext, approval_request, is_approved, refusal_text, require
from yaml2rego.errors import PolicyDenied
from yaml2rego.runtime.decision import Decision
from yaml2rego.runtime.guard import Guard
from yaml2rego.runtime.steps import redeem_approval, sanitize_call, sanitize_result

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
    """A ``BaseTool`` with ``tool``'s name, description and arguments that checks each call before running it.

    The check sees the arguments exactly as the model sent them (before the tool's schema drops unknown ones), so
    every adapter decides the same call the same way.
    """
    context = ToolCallContext(agent_id, environment, requester_role, {tool.name: action} if action else {})
    return _guarded_tool_class()(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        return_direct=tool.return_direct,
        wrapped=tool,
        settings=(guard, context, on_deny),
    )


@cache
def _guarded_tool_class() -> type:
    tools = require("langchain_core.tools", "langchain")
    messages = require("langchain_core.messages", "langchain")

    class GuardedTool(tools.BaseTool):  # type: ignore[misc,name-defined]
        """Decides each call with the guard, then hands it (redacted, for ``sanitize``) to the wrapped tool."""

        wrapped: Any
        settings: Any

        def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
            guard, context, _ = self.settings
            call = context.call(self.name, _arguments(input))
            refusal, decision = self._settle(input, call, guard.check(_with_token(call, config)))
            if refusal is not None:
                return refusal
            return _redacted(decision, self.wrapped.invoke(_sanitized(input, decision), config, **kwargs))

        async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
            guard, context, _ = self.settings
            call = context.call(self.name, _arguments(input))
            refusal, decision = self._settle(input, call, await guard.acheck(_with_token(call, config)))
            if refusal is not None:
                return refusal
            return _redacted(decision, await self.wrapped.ainvoke(_sanitized(input, decision), config, **kwargs))

        def _run(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - invoke() never gets here
            raise NotImplementedError

        def _settle(self, input: Any, call: Mapping[str, Any], decision: Decision) -> tuple[Any, Decision]:
            """What the caller gets instead of the tool's output (``None`` when the call may run), and the decision
            the call runs under (after an approval, the one the override token earned)."""
            guard, _, on_deny = self.settings
            if decision.decision == "approval_needed" and decision.blocked and _in_graph():
                from langgraph.types import interrupt

                # Outside any try block: the interrupt must reach LangGraph (a GraphBubbleUp), never be caught here.
                answer = interrupt(approval_request(decision, call, _tool_call_id(input)))
                if is_approved(answer):
                    # With an approval service, the approver's override token decides (and is used up) here.
                    granted = redeem_approval(guard, call, decision, answer)
                    if granted is None:
                        return None, decision
                    decision = granted
            if not decision.blocked:
                return None, decision
            if on_deny == "raise":
                raise PolicyDenied(decision)
            if _tool_call_id(input) is None:
                return refusal_text(decision), decision
            artifact = {"decision": decision.decision, "decision_id": decision.decision_id, "codes": decision.codes}
            if decision.approval_id is not None:
                artifact["approval_id"] = decision.approval_id
            refusal = messages.ToolMessage(
                content=refusal_text(decision),
                name=self.name,
                tool_call_id=_tool_call_id(input),
                status="error",
                artifact=artifact,
            )
            return refusal, decision

    return GuardedTool


def _arguments(input: Any) -> Any:
    """The arguments of a tool input: a tool call's ``args``, or the input itself (a dict or a string)."""
    if isinstance(input, Mapping) and input.get("type") == "tool_call":
        return input.get("args")
    return input


def _with_token(call: dict[str, Any], config: Any) -> dict[str, Any]:
    """The call with the override token the run's config presents (``configurable.approval_token``), if any."""
    token = _config_token(config)
    return {**call, "approval_token": token} if token is not None else call


def _config_token(config: Any) -> str | None:
    configurable = config.get("configurable") if isinstance(config, Mapping) else None
    token = configurable.get("approval_token") if isinstance(configurable, Mapping) else None
    return token if isinstance(token, str) and token else None


def _sanitized(input: Any, decision: Decision) -> Any:
    """The tool input with the decision's redactions applied to its arguments (the arguments as the caller gave them,
    not the decision input, which leaves out ``None`` ones)."""
    if not decision.details.get("redaction_flags") or not decision.enforced:
        return input
    args = sanitize_call(decision, {"args": _arguments(input)})["args"]
    if isinstance(input, Mapping) and input.get("type") == "tool_call":
        return {**input, "args": args}
    return args


def _redacted(decision: Decision, output: Any) -> Any:
    """The tool's output (a ``ToolMessage``'s content, or the plain value) with the result redactions applied."""
    if not decision.details.get("result_redactions"):
        return output
    if hasattr(output, "content") and hasattr(output, "model_copy"):
        return output.model_copy(update={"content": sanitize_result(decision, output.content)})
    return sanitize_result(decision, output)


def _tool_call_id(input: Any) -> str | None:
    if isinstance(input, Mapping) and input.get("type") == "tool_call":
        return str(input.get("id"))
    return None


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
    (options as for :class:`~yaml2rego.adapters.langgraph.BoundaryToolWrapper`). Redactions, approvals and resumed
    override tokens are handled as in the LangGraph adapter; an override token in the run's config
    (``configurable.approval_token``) is presented with each call, as for :func:`guard_tool`."""
    overrides = options.pop("context_from", None)

    def context_from(request: Any) -> dict[str, Any]:
        found = dict(overrides(request)) if overrides is not None else {}
        runtime = getattr(request, "runtime", None)
        token = _config_token(getattr(runtime, "config", None))
        if token is not None:
            found["approval_token"] = token
        return found

    return _middleware_class()(BoundaryToolWrapper(guard, agent_id, context_from=context_from, **options))


@cache
def _middleware_class() -> type:
    middleware = require("langchain.agents.middleware", "langchain")

    class BoundaryMiddleware(middleware.AgentMiddleware):  # type: ignore[misc,name-defined]
        """Checks each tool call against the agent boundary before the tool runs."""

        def __init__(self, wrapper: BoundaryToolWrapper) -> None:
            super().__init__()
            self.wrapper = wrapper

        def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
            return self.wrapper(request, handler)

        async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
            return await self.wrapper.awrap(request, handler)

    return BoundaryMiddleware
