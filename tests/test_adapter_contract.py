"""One table of calls through every adapter: the same decisions and the same records (minus timestamps, ids, latency
and chain links) as the guard gives when asked directly.

Tool calls go through the LangGraph ToolNode wrapper, a LangChain guarded tool, the LangChain agent middleware, an
MCP server with the middleware and an MCP proxy; HTTP requests through ``requests`` and ``httpx`` (sync and async).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
import requests
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import StructuredTool, tool
from langgraph.checkpoint.memory import InMemorySaver
from mcp import Client
from mcp.server.mcpserver import MCPServer

from tests.adapter_cases import AGENT, CASES, ENVIRONMENT, ROLE, TOOL_FUNCTIONS, VOLATILE, Case, new_guard
from tests.conftest import SEED_POLICY
from tests.test_adapter_http import AGENT as HTTP_AGENT
from tests.test_adapter_http import REQUESTS, CountingServer
from tests.test_adapter_langchain import ScriptedModel
from tests.test_adapter_langgraph import build_graph, thread, tool_calls, tool_messages
from yaml2rego.adapters import Guard, MemorySink
from yaml2rego.adapters.http import AsyncGuardedTransport, GuardedTransport, guarded_session, http_call
from yaml2rego.adapters.langchain import boundary_middleware, guard_tool
from yaml2rego.adapters.langgraph import guarded_tool_node
from yaml2rego.adapters.mcp import guard_server, guarded_proxy
from yaml2rego.adapters.tool_calls import ToolCallContext
from yaml2rego.errors import PolicyDenied

TOOLS = [tool(function) for function in TOOL_FUNCTIONS.values()]

# What happens to the call: it ran, it was refused with an error the model or client reads, or the graph paused.
RAN, REFUSED, PAUSED = "ran", "refused", "paused"
OPTIONS: dict[str, Any] = {"environment": ENVIRONMENT, "requester_role": ROLE}


def actions(case: Case) -> dict[str, str]:
    return {case.tool: case.action} if case.action else {}


def through_guard(guard: Guard, case: Case) -> str:
    context = ToolCallContext(AGENT, ENVIRONMENT, ROLE, actions(case))
    decision = guard.check(context.call(case.tool, case.args))
    return RAN if decision.allow else (PAUSED if decision.decision == "approval_needed" else REFUSED)


def graph_outcome(result: dict[str, Any]) -> str:
    if "__interrupt__" in result:
        return PAUSED
    [message] = tool_messages(result)
    return RAN if message.status == "success" else REFUSED


def through_langgraph(guard: Guard, case: Case) -> str:
    node = guarded_tool_node(TOOLS, guard, AGENT, actions=actions(case), **OPTIONS)
    graph = build_graph(node, tool_calls((case.tool, case.args)))
    return graph_outcome(graph.invoke({"messages": [("user", case.id)]}, thread()))


def through_langchain_tool(guard: Guard, case: Case) -> str:
    """Outside a graph nothing can pause, so a call that needs approval is refused."""
    function = TOOL_FUNCTIONS.get(case.tool)
    wrapped = (
        tool(function) if function else StructuredTool.from_function(lambda **_: "ran", name=case.tool, description="x")
    )
    safe = guard_tool(wrapped, guard, AGENT, action=case.action, **OPTIONS)
    message = safe.invoke({"type": "tool_call", "name": case.tool, "args": case.args, "id": "call_0"})
    assert isinstance(message, ToolMessage)
    return RAN if message.status == "success" else REFUSED


def through_langchain_middleware(guard: Guard, case: Case) -> str:
    model = ScriptedModel(messages=iter([tool_calls((case.tool, case.args)), AIMessage(content="done")]))
    middleware = boundary_middleware(guard, AGENT, actions=actions(case), **OPTIONS)
    agent = create_agent(model, TOOLS, middleware=[middleware], checkpointer=InMemorySaver())
    return graph_outcome(agent.invoke({"messages": [("user", case.id)]}, thread()))


def mcp_server() -> MCPServer:
    server = MCPServer("infra-tools")
    for function in TOOL_FUNCTIONS.values():
        server.tool()(function)
    return server


def through_mcp(guard: Guard, case: Case) -> str:
    server = guard_server(mcp_server(), guard, AGENT, actions=actions(case), **OPTIONS)

    async def run() -> Any:
        async with Client(server) as client:
            return await client.call_tool(case.tool, case.args)

    return REFUSED if anyio.run(run).is_error else RAN


def through_mcp_proxy(guard: Guard, case: Case) -> str:
    async def run() -> Any:
        async with Client(mcp_server()) as upstream:
            proxy = guarded_proxy(upstream, guard, AGENT, actions=actions(case), **OPTIONS)
            async with Client(proxy) as client:
                return await client.call_tool(case.tool, case.args)

    return REFUSED if anyio.run(run).is_error else RAN


TOOL_ADAPTERS: dict[str, Callable[[Guard, Case], str]] = {
    "langgraph": through_langgraph,
    "langchain-tool": through_langchain_tool,
    "langchain-middleware": through_langchain_middleware,
    "mcp": through_mcp,
    "mcp-proxy": through_mcp_proxy,
}
# Where a call that needs approval can pause for a human; elsewhere it is refused until approved.
CAN_PAUSE = {"langgraph", "langchain-middleware"}


def run_and_record(guard: Guard, sink: MemorySink, send: Callable[[], Any]) -> tuple[Any, list[dict[str, Any]]]:
    outcome = send()
    assert guard.flush(5.0)
    records = [{key: value for key, value in record.items() if key not in VOLATILE} for record in sink.records]
    return outcome, records


@pytest.mark.parametrize("adapter", TOOL_ADAPTERS, ids=list(TOOL_ADAPTERS))
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_tool_call_gets_the_same_decision_and_record_through_every_adapter(case: Case, adapter: str) -> None:
    expected_guard, expected_sink = new_guard()
    guard, sink = new_guard()
    try:
        direct, expected = run_and_record(expected_guard, expected_sink, lambda: through_guard(expected_guard, case))
        outcome, records = run_and_record(guard, sink, lambda: TOOL_ADAPTERS[adapter](guard, case))
    finally:
        expected_guard.close()
        guard.close()
    assert [record["decision"] for record in expected] == [case.decision]
    assert {reason["code"] for reason in expected[0]["reasons"]} >= set(case.codes)
    assert outcome == (REFUSED if direct == PAUSED and adapter not in CAN_PAUSE else direct)
    assert records == expected


def send_direct(guard: Guard, url: str, method: str, body: bytes | None) -> Any:
    return guard.check(http_call(HTTP_AGENT, method, url, body)).decision


def wire_url(adapter: str, method: str, url: str) -> str:
    """The URL as the client sends it: requests decodes unreserved characters (``%2e`` becomes ``.``) first."""
    if adapter == "requests":
        return str(requests.Request(method, url).prepare().url)
    return str(httpx.Request(method, url).url)


def send_requests(guard: Guard, base: str, method: str, path: str, body: bytes | None) -> Any:
    return guarded_session(guard, HTTP_AGENT).request(method, base + path, data=body).status_code


def send_httpx(guard: Guard, base: str, method: str, path: str, body: bytes | None) -> Any:
    with httpx.Client(transport=GuardedTransport(guard, HTTP_AGENT)) as client:
        return client.request(method, base + path, content=body).status_code


def send_httpx_async(guard: Guard, base: str, method: str, path: str, body: bytes | None) -> Any:
    async def run() -> int:
        async with httpx.AsyncClient(transport=AsyncGuardedTransport(guard, HTTP_AGENT)) as client:
            return (await client.request(method, base + path, content=body)).status_code

    return asyncio.run(run())


HTTP_ADAPTERS = {"requests": send_requests, "httpx": send_httpx, "httpx-async": send_httpx_async}


@pytest.mark.parametrize("adapter", HTTP_ADAPTERS, ids=list(HTTP_ADAPTERS))
@pytest.mark.parametrize(("method", "path", "body", "code"), [r[1:] for r in REQUESTS], ids=[r[0] for r in REQUESTS])
def test_http_request_gets_the_same_decision_and_record_through_every_adapter(
    adapter: str, method: str, path: str, body: bytes | None, code: str | None
) -> None:
    server = CountingServer()
    guards = [(Guard.from_policy([SEED_POLICY], sinks=[sink]), sink) for sink in (MemorySink(), MemorySink())]
    try:
        (expected_guard, expected_sink), (guard, sink) = guards
        args = (server.url, method, path, body)
        url = wire_url(adapter, method, server.url + path)
        _, expected = run_and_record(
            expected_guard, expected_sink, lambda: send_direct(expected_guard, url, method, body)
        )
        sent_before = len(server.requests)

        def send() -> Any:
            try:
                return HTTP_ADAPTERS[adapter](guard, *args)
            except PolicyDenied as denied:
                return denied.decision.decision

        outcome, records = run_and_record(guard, sink, send)
    finally:
        server.close()
        for each, _ in guards:
            each.close()
    assert outcome == (200 if code is None else "deny")
    assert len(server.requests) - sent_before == (1 if code is None else 0)
    assert records == expected
