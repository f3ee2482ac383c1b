"""MCP: the agent boundary on every ``tools/call`` of a server built with the official ``mcp`` SDK (v2), and a small
proxy that puts it in front of an existing MCP server.

>>> from mcp.server.mcpserver import MCPServer  # doctest: +SKIP
>>> from yaml2rego.adapters.mcp import BoundaryMiddleware, guarded_proxy
>>> server = MCPServer("infra", middleware=[BoundaryMiddleware(guard, "infra_review_agent")])  # doctest: +SKIP
>>> async with Client(upstream_url) as upstream:  # doctest: +SKIP
...     proxy = guarded_proxy(upstream, guard, "infra_review_agent")  # serve it as any low-level Server

A refused call never reaches the tool: the client gets a ``CallToolResult`` with ``is_error=True``, the reasons as
text (for the model) and the decision as ``structured_content`` (for code). A call that needs approval pauses when
the client supports elicitation: the client is asked for the override token a human's grant issued, and the call is
checked again with it. Otherwise (or when the client declines) it is refused with ``decision: "approval_needed"`` and
the approval request; once a human grants it, the caller makes the same call again with the override token in the
request's ``_meta`` (:data:`APPROVAL_TOKEN_META`), and it goes through once. A ``sanitize`` decision forwards the
redacted arguments, and a policy that redacts results has the tool's text and structured content redacted on the way
back. The approval pause by elicitation lives in :mod:`yaml2rego.adapters.mcp_approval`.

>>> await client.call_tool("make_payment", args, meta={APPROVAL_TOKEN_META: token})  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from yaml2rego.adapters.mcp_approval import APPROVAL_INPUT, APPROVAL_REQUEST_META, ask_for_token, resumed_call
from yaml2rego.adapters.tool_calls import ToolCallContext, approval_request, refusal_text, require
from yaml2rego.runtime.decision import Decision
from yaml2rego.runtime.guard import Guard
from yaml2rego.runtime.steps import sanitize_call, sanitize_result

__all__ = [
    "APPROVAL_INPUT",
    "APPROVAL_REQUEST_META",
    "APPROVAL_TOKEN_META",
    "BoundaryMiddleware",
    "guard_server",
    "guarded_proxy",
    "refusal_result",
]

# The ``_meta`` key of a ``tools/call`` request that presents an override token. Not an argument: arguments are what
# the model writes and what the approver approved, while the token is the caller's, and is taken off before the tool
# (or an upstream server) sees the request.
APPROVAL_TOKEN_META = "yaml2rego/approval_token"


class BoundaryMiddleware:
    """Server middleware (``MCPServer(middleware=[…])`` or ``server.middleware``) checking each ``tools/call``.

    ``context_from(ctx)`` may return per-call overrides (``environment``, ``requester_role``, ``action``), e.g. from
    the authenticated client. Every other request passes through untouched. An allowed call is forwarded with its
    arguments redacted (``sanitize``) and without the override token in ``_meta``; its result comes back with the
    policy's result redactions applied. A call that needs approval, from a client that declared elicitation, asks
    the client for the override token (:data:`APPROVAL_INPUT`) and is checked again with the answer.
    """

    def __init__(
        self,
        guard: Guard,
        agent_id: str,
        *,
        environment: str | None = None,
        requester_role: str | None = None,
        actions: Mapping[str, str] | None = None,
        context_from: Callable[[Any], Mapping[str, Any]] | None = None,
    ) -> None:
        require("mcp.types", "mcp")
        self.guard = guard
        self.context = ToolCallContext(agent_id, environment, requester_role, dict(actions or {}))
        self.context_from = context_from

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        params = ctx.params
        if ctx.method != "tools/call" or not isinstance(params, Mapping) or not isinstance(params.get("name"), str):
            return await call_next(ctx)
        overrides = dict(self.context_from(ctx)) if self.context_from is not None else {}
        call = self.context.call(params["name"], params.get("arguments"), **overrides)
        meta = params.get("_meta")
        token = meta.get(APPROVAL_TOKEN_META) if isinstance(meta, Mapping) else None
        resumed = resumed_call(ctx)
        if resumed is not None:
            # The call made again with the answer to the question ask_for_token asked; the state holds the refusal.
            ctx, answered, held = resumed
            params = ctx.params
            if answered is None and held is not None:
                return held
            token = answered or token
        checked = {**call, "approval_token": token} if isinstance(token, str) and token else call
        decision = await self.guard.acheck(checked)
        if decision.decision == "approval_needed" and decision.blocked and decision.approval_id and resumed is None:
            paused = await ask_for_token(ctx, self.guard, decision, call, refusal_result)
            if not isinstance(paused, Decision):
                return paused  # the question, answered by the client's next call
            decision = paused
        if decision.blocked:
            return refusal_result(decision, call)
        forwarded = _forwarded(params, decision)
        if isinstance(meta, Mapping) and APPROVAL_TOKEN_META in meta:
            ctx = dataclasses.replace(ctx, params=forwarded, meta=forwarded.get("_meta"))
        else:
            ctx = dataclasses.replace(ctx, params=forwarded)
        return _redacted_result(decision, await call_next(ctx))


def _forwarded(params: Mapping[str, Any], decision: Decision) -> dict[str, Any]:
    """The request's params as the tool gets them: the arguments redacted by an enforced ``sanitize`` decision, and
    the override token taken out of ``_meta``."""
    forwarded = dict(params)
    if decision.decision == "sanitize" and isinstance(params.get("arguments"), Mapping):
        # The arguments as the client sent them (not the decision input, which leaves out null ones), redacted.
        forwarded["arguments"] = sanitize_call(decision, {"args": params["arguments"]})["args"]
    meta = params.get("_meta")
    if isinstance(meta, Mapping) and APPROVAL_TOKEN_META in meta:
        forwarded["_meta"] = {key: value for key, value in meta.items() if key != APPROVAL_TOKEN_META}
    return forwarded


def _redacted_result(decision: Decision, result: Any) -> Any:
    """The tool's result with the decision's result redactions (``apply_to: [result]``) applied to its text content,
    embedded text resources and structured content; anything else (images, metadata) is passed on as it is."""
    if not decision.details.get("result_redactions") or result is None:
        return result
    if hasattr(result, "model_dump"):
        result = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    if not isinstance(result, Mapping):
        return result
    redacted = dict(result)
    if isinstance(result.get("content"), list):
        redacted["content"] = [_redacted_block(decision, block) for block in result["content"]]
    if "structuredContent" in result:
        redacted["structuredContent"] = sanitize_result(decision, result["structuredContent"])
    return redacted


def _redacted_block(decision: Decision, block: Any) -> Any:
    if not isinstance(block, Mapping):
        return block
    if block.get("type") == "text" and isinstance(block.get("text"), str):
        return {**block, "text": sanitize_result(decision, block["text"])}
    resource = block.get("resource")
    if block.get("type") == "resource" and isinstance(resource, Mapping) and isinstance(resource.get("text"), str):
        return {**block, "resource": {**resource, "text": sanitize_result(decision, resource["text"])}}
    return block


def refusal_result(decision: Decision, call: Mapping[str, Any]) -> Any:
    """The ``CallToolResult`` a client gets instead of the tool's output."""
    types = require("mcp.types", "mcp")
    structured: dict[str, Any] = {
        "decision": decision.decision,
        "decision_id": decision.decision_id,
        "reasons": decision.reasons,
    }
    if decision.decision == "approval_needed":
        structured["approval_request"] = approval_request(decision, call)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=refusal_text(decision))],
        structured_content=structured,
        is_error=True,
    )


def guard_server(server: Any, guard: Guard, agent_id: str, **options: Any) -> Any:
    """Add :class:`BoundaryMiddleware` to an existing ``MCPServer`` or low-level ``Server``; returns the server."""
    server.middleware.append(BoundaryMiddleware(guard, agent_id, **options))
    return server


def guarded_proxy(upstream: Any, guard: Guard, agent_id: str, *, name: str = "yaml2rego-proxy", **options: Any) -> Any:
    """A low-level MCP ``Server`` that lists ``upstream``'s tools and forwards each allowed call to it.

    ``upstream`` is a connected ``mcp.Client`` (or anything with async ``list_tools()`` and ``call_tool(name,
    arguments)``). Options are those of :class:`BoundaryMiddleware`.
    """
    lowlevel = require("mcp.server.lowlevel", "mcp")
    types = require("mcp.types", "mcp")

    async def on_list_tools(ctx: Any, params: Any) -> Any:
        listed = await upstream.list_tools()
        return types.ListToolsResult(tools=listed.tools)

    async def on_call_tool(ctx: Any, params: Any) -> Any:
        result = await upstream.call_tool(params.name, params.arguments)
        # The upstream's own metadata (its server info) is not the proxy's to repeat.
        return result.model_copy(update={"meta": None})

    server = lowlevel.Server(name, on_list_tools=on_list_tools, on_call_tool=on_call_tool)
    # As MCPServer does: the state a paused call's client echoes back (2026-07-28) is sealed and bound to that call.
    sealing = require("mcp.server.request_state", "mcp")
    server.middleware.append(
        sealing.RequestStateBoundary(sealing.RequestStateSecurity.ephemeral(), default_audience=name)
    )
    return guard_server(server, guard, agent_id, **options)
