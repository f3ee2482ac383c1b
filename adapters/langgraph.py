"""LangGraph: the agent boundary on every tool call of a ``ToolNode``, and on plain nodes.

>>> from langgraph.prebuilt import ToolNode  # doctest: +SKIP
>>> from yaml2rego.adapters import Guard
>>> from yaml2rego.adapters.langgraph import BoundaryToolWrapper
>>> guard = Guard.from_policy(["examples/infra_review_agent.yaml"])  # doctest: +SKIP
>>> wrapper = BoundaryToolWrapper(guard, "infra_review_agent", environment="prod")  # doctest: +SKIP
>>> node = ToolNode(tools, wrap_tool_call=wrapper, awrap_tool_call=wrapper.awrap)  # doctest: +SKIP

A denied call becomes a ``ToolMessage`` with ``status="error"`` and the reasons, so the model can react (or raises
:class:`~yaml2rego.errors.PolicyDenied` with ``on_deny="raise"``). A call that needs approval calls ``interrupt()``
with an approval request; the graph continues when resumed with ``Command(resume=True)`` (or ``"approve"``) and
refuses the call on any other answer. LangGraph re-runs an interrupted node from its start, so a resumed call is
decided (and recorded) again before the answer is read.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from yaml2rego.adapters.tool_calls import ToolCallContext, approval_request, is_approved, refusal_text, require
from yaml2rego.errors import PolicyDenied
from yaml2rego.runtime.decision import Decision
from yaml2rego.runtime.guard import Guard
from yaml2rego.runtime.steps import redeem_approval, sanitize_call, sanitize_result

__all__ = ["BoundaryToolWrapper", "guard_node", "guarded_tool_node"]

OnDeny = Literal["message", "raise"]


class BoundaryToolWrapper:
    """A ``wrap_tool_call`` for ``ToolNode`` (and, via :mod:`yaml2rego.adapters.langchain`, for ``create_agent``).

    ``context_from(request)`` may return per-call overrides (``environment``, ``requester_role``, ``action``), e.g.
    read from ``request.runtime.context`` or the graph state.
    """

    def __init__(
        self,
        guard: Guard,
        agent_id: str,
        *,
        environment: str | None = None,
        requester_role: str | None = None,
        actions: Mapping[str, str] | None = None,
        on_deny: OnDeny = "message",
        context_from: Callable[[Any], Mapping[str, Any]] | None = None,
    ) -> None:
        require("langgraph.types", "langgraph")
        self.guard = guard
        self.context = ToolCallContext(agent_id, environment, requester_role, dict(actions or {}))
        self.on_deny = on_deny
        self.context_from = context_from

    def decide(self, request: Any) -> tuple[dict[str, Any], Decision]:
        """The decision input for a ``ToolCallRequest`` and the guard's decision on it."""
        overrides = dict(self.context_from(request)) if self.context_from is not None else {}
        call = self.context.call(request.tool_call["name"], request.tool_call.get("args"), **overrides)
        return call, self.guard.check(call)

    def __call__(self, request: Any, execute: Callable[[Any], Any]) -> Any:
        call, decision = self.decide(request)
        refusal, decision = self._settle(request, call, decision)
        return refusal if refusal is not None else _redacted(decision, execute(_sanitized(request, call, decision)))

    async def awrap(self, request: Any, execute: Callable[[Any], Awaitable[Any]]) -> Any:
        """The async ``awrap_tool_call``: the engine runs in a worker thread, never on the event loop."""
        overrides = dict(self.context_from(request)) if self.context_from is not None else {}
        call = self.context.call(request.tool_call["name"], request.tool_call.get("args"), **overrides)
        decision = await self.guard.acheck(call)
        refusal, decision = self._settle(request, call, decision)
        if refusal is not None:
            return refusal
        return _redacted(decision, await execute(_sanitized(request, call, decision)))

    def _settle(self, request: Any, call: Mapping[str, Any], decision: Decision) -> tuple[Any, Decision]:
        """The ``ToolMessage`` the model gets instead of the tool's output (``None`` when the call may run), and the
        decision the call runs under: after an approval, the one the override token earned, so a call that is also
        sanitized still runs redacted."""
        tool_call_id = request.tool_call.get("id")
        if decision.decision == "approval_needed" and decision.blocked:
            from langgraph.types import interrupt

            # Outside any try block: the interrupt must reach LangGraph (a GraphBubbleUp), never be caught here.
            answer = interrupt(approval_request(decision, call, tool_call_id))
            if is_approved(answer):
                # With an approval service, the approver's override token decides (and is used up) here.
                granted = redeem_approval(self.guard, call, decision, answer)
                if granted is None:
                    return None, decision
                if not granted.blocked:
                    return None, granted
                decision = granted
        elif not decision.blocked:
            return None, decision
        if self.on_deny == "raise":
            raise PolicyDenied(decision)
        from langchain_core.messages import ToolMessage

        refusal = ToolMessage(
            content=refusal_text(decision),
            name=request.tool_call["name"],
            tool_call_id=tool_call_id,
            status="error",
            artifact={"decision": decision.decision, "decision_id": decision.decision_id, "codes": decision.codes},
        )
        return refusal, decision


def _sanitized(request: Any, call: Mapping[str, Any], decision: Decision) -> Any:
    """The tool call with the decision's redactions applied to its arguments (a ``sanitize`` decision, or an approved
    ``approval_needed`` one)."""
    if not decision.details.get("redaction_flags") or not decision.enforced:
        return request
    args = sanitize_call(decision, call).get("args")
    return request.override(tool_call={**request.tool_call, "args": args})


def _redacted(decision: Decision, result: Any) -> Any:
    """The tool's message with the decision's result redactions applied to its content (``apply_to: [result]``)."""
    if not decision.details.get("result_redactions") or not hasattr(result, "content"):
        return result
    return result.model_copy(update={"content": sanitize_result(decision, result.content)})


def guarded_tool_node(tools: Any, guard: Guard, agent_id: str, **options: Any) -> Any:
    """A ``ToolNode`` over ``tools`` whose every call is checked (options as for :class:`BoundaryToolWrapper`,
    plus ``ToolNode``'s own: ``name``, ``handle_tool_errors``, ``messages_key``)."""
    prebuilt = require("langgraph.prebuilt", "langgraph")
    node_options = {
        key: options.pop(key) for key in ("name", "tags", "handle_tool_errors", "messages_key") if key in options
    }
    wrapper = BoundaryToolWrapper(guard, agent_id, **options)
    return prebuilt.ToolNode(tools, wrap_tool_call=wrapper, awrap_tool_call=wrapper.awrap, **node_options)


def guard_node(
    guard: Guard,
    agent_id: str,
    *,
    tool: str | None = None,
    action: str | None = None,
    args: Callable[[Any], Mapping[str, Any]] | None = None,
    environment: str | None = None,
    requester_role: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator for a plain graph node: the node runs only if the call it stands for (``tool``, default the
    function's name, with ``args(state)``) is allowed. A denial raises :class:`~yaml2rego.errors.PolicyDenied`; a
    call that needs approval interrupts the graph and runs when resumed with an approving answer.
    """
    require("langgraph.types", "langgraph")
    context = ToolCallContext(agent_id, environment, requester_role)

    def decorate(node: Callable[..., Any]) -> Callable[..., Any]:
        name = tool or node.__name__

        @functools.wraps(node)
        def guarded(state: Any, *rest: Any, **kwargs: Any) -> Any:
            from langgraph.types import interrupt

            call = context.call(name, args(state) if args is not None else {}, action=action)
            decision = guard.check(call)
            if decision.decision == "approval_needed" and decision.blocked:
                answer = interrupt(approval_request(decision, call))
                if not is_approved(answer):
                    raise PolicyDenied(decision)
                granted = redeem_approval(guard, call, decision, answer)
                if granted is not None:
                    granted.raise_if_blocked()
            else:
                decision.raise_if_blocked()
            return node(state, *rest, **kwargs)

        return guarded

    return decorate
