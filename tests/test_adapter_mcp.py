"""The MCP adapter with a real in-process client and server (official ``mcp`` SDK), and the guarded proxy."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from yaml2rego.adapters.mcp import BoundaryMiddleware, guard_server, guarded_proxy

from tests.adapter_cases import AGENT, RUNS, TOOL_FUNCTIONS, new_guard, records_of


def infra_server(**options: Any) -> MCPServer:
    """The review tools as a plain MCP server, before any guard."""
    server = MCPServer("infra-tools", **options)
    for function in TOOL_FUNCTIONS.values():
        server.tool()(function)
    return server


@pytest.fixture
def guarded() -> Any:
    guard, sink = new_guard()
    RUNS.clear()
    yield guard, sink
    guard.close()


def call(server: Any, name: str, arguments: dict[str, Any]) -> Any:
    async def run() -> Any:
        async with Client(server) as client:
            return await client.call_tool(name, arguments)

    return anyio.run(run)


def test_allowed_call_reaches_the_tool(guarded: Any) -> None:
    guard, sink = guarded
    server = infra_server(middleware=[BoundaryMiddleware(guard, AGENT, environment="prod")])
    result = call(server, "jira_ticket_reader", {"project_key": "SEC-INFRA", "ticket_id": "SEC-42"})
    assert result.is_error is False
    assert result.content[0].text == "SEC-42: 2 open findings"
    assert RUNS["jira_ticket_reader"] == 1
    assert [(r["tool"], r["decision"]) for r in records_of(guard, sink)] == [("jira_ticket_reader", "allow")]


def test_denied_call_is_an_error_result_and_never_runs(guarded: Any) -> None:
    guard, sink = guarded
    server = guard_server(infra_server(), guard, AGENT, environment="prod")
    result = call(server, "jira_ticket_reader", {"project_key": "HR-PAYROLL"})
    assert result.is_error is True
    assert "[scope_violation]" in result.content[0].text
    assert result.structured_content["decision"] == "deny"
    assert [reason["code"] for reason in result.structured_content["reasons"]] == ["scope_violation"]
    assert RUNS["jira_ticket_reader"] == 0
    assert [r["decision"] for r in records_of(guard, sink)] == ["deny"]


def test_unknown_tool_is_refused_by_the_boundary(guarded: Any) -> None:
    server = guard_server(infra_server(), guarded[0], AGENT, environment="prod")
    result = call(server, "shell_exec", {"cmd": "id"})
    assert result.is_error is True
    assert result.structured_content["reasons"][0]["code"] == "unknown_tool"


def test_approval_needed_is_refused_with_the_approval_request(guarded: Any) -> None:
    guard, _ = guarded
    server = guard_server(infra_server(), guard, AGENT, environment="prod", actions={"slack_risk_notifier": "write"})
    result = call(server, "slack_risk_notifier", {"channel": "#infra-risk", "message": "x"})
    assert result.is_error is True
    assert result.structured_content["decision"] == "approval_needed"
    assert result.structured_content["approval_request"]["tool"] == "slack_risk_notifier"
    assert RUNS["slack_risk_notifier"] == 0


def test_other_requests_pass_through(guarded: Any) -> None:
    server = guard_server(infra_server(), guarded[0], AGENT, environment="prod")

    async def run() -> list[str]:
        async with Client(server) as client:
            return [tool.name for tool in (await client.list_tools()).tools]

    assert sorted(anyio.run(run)) == sorted(TOOL_FUNCTIONS)


def test_proxy_guards_an_existing_server(guarded: Any) -> None:
    """The upstream server knows nothing of the boundary; the proxy in front of it refuses and forwards."""
    guard, sink = guarded
    upstream_server = infra_server()

    async def run() -> tuple[Any, Any, list[str]]:
        async with Client(upstream_server) as upstream:
            proxy = guarded_proxy(upstream, guard, AGENT, environment="prod")
            async with Client(proxy) as client:
                listed = [tool.name for tool in (await client.list_tools()).tools]
                allowed = await client.call_tool("github_pr_inspector", {"repo": "org/infra-core", "pr_number": 17})
                denied = await client.call_tool("github_pr_inspector", {"repo": "org/payments", "pr_number": 1})
                return allowed, denied, listed

    allowed, denied, listed = anyio.run(run)
    assert sorted(listed) == sorted(TOOL_FUNCTIONS)
    assert (allowed.is_error, allowed.content[0].text) == (False, "org/infra-core#17: opens port 22 to 0.0.0.0/0")
    assert denied.is_error is True
    assert "[scope_violation]" in denied.content[0].text
    assert RUNS["github_pr_inspector"] == 1
    assert [r["decision"] for r in records_of(guard, sink)] == ["allow", "deny"]


def test_missing_mcp_names_the_extra(monkeypatch: pytest.MonkeyPatch, guarded: Any) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "mcp.types", None)
    with pytest.raises(ImportError, match=r"pip install 'yaml2rego\[mcp\]'"):
        BoundaryMiddleware(guarded[0], AGENT)
