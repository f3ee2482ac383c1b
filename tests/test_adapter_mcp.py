"""The MCP adapter with a real in-process client and server (official ``mcp`` SDK), and the guarded proxy."""

from __future__ import annotations

from typing import Any

import anyio
import mcp.types
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from tests.adapter_cases import AGENT, RUNS, TOOL_FUNCTIONS, records_of
from tests.payment_cases import AGENT as PAYMENT_AGENT
from tests.payment_cases import CARD, PAYMENTS, grant, make_payment, payment_guard, records
from yaml2rego.adapters.mcp import (
    APPROVAL_REQUEST_META,
    APPROVAL_TOKEN_META,
    BoundaryMiddleware,
    guard_server,
    guarded_proxy,
)


def infra_server(**options: Any) -> MCPServer:
    """The review tools as a plain MCP server, before any guard."""
    server = MCPServer("infra-tools", **options)
    for function in TOOL_FUNCTIONS.values():
        server.tool()(function)
    return server


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


# -- redaction and override tokens (examples/finance_agent.yaml) -----------------------------------------------------


WRITE = {"make_payment": "write"}


@pytest.fixture
def payments() -> Any:
    guard, sink = payment_guard()
    PAYMENTS.clear()
    yield guard, sink
    guard.close()


def payment_server(guard: Any, **options: Any) -> MCPServer:
    server = MCPServer("payments", middleware=[BoundaryMiddleware(guard, PAYMENT_AGENT, actions=WRITE, **options)])
    server.tool()(make_payment)
    return server


def calls(server: Any, *requests: tuple[dict[str, Any], str | None]) -> list[Any]:
    """Make each ``(arguments, token)`` call of ``make_payment`` in turn, on one connection."""

    async def run() -> list[Any]:
        async with Client(server) as client:
            results = []
            for arguments, token in requests:
                meta = {APPROVAL_TOKEN_META: token} if token is not None else None
                results.append(await client.call_tool("make_payment", arguments, meta=meta))
            return results

    return anyio.run(run)


def test_sanitized_call_reaches_the_tool_redacted(payments: Any) -> None:
    guard, sink = payments
    [result] = calls(payment_server(guard), ({"amount": 120, "currency": "EUR", "memo": "to ann@example.com"}, None))
    assert result.is_error is False
    assert PAYMENTS == [{"amount": 120, "currency": "EUR", "memo": "to [REDACTED:email]"}]
    [record] = records(guard, sink)
    assert record["decision"] == "sanitize"
    assert record["redactions"] == [{"field": "args.memo", "detector": "email", "rule": "sanitize[0]", "count": 1}]


def test_result_redaction_covers_text_and_structured_content(payments: Any) -> None:
    [result] = calls(payment_server(payments[0]), ({"amount": 120, "currency": "EUR"}, None))
    assert result.is_error is False
    assert result.content[0].text == "paid 120 EUR with card [REDACTED:card]"
    assert result.structured_content == {"result": "paid 120 EUR with card [REDACTED:card]"}
    assert CARD not in str(result)


def test_approval_token_in_meta_lets_the_call_through_once(payments: Any) -> None:
    """Refused for approval, granted by a human, run once with the token, refused when the token comes again."""
    guard, sink = payments
    server = payment_server(guard, environment="prod", requester_role="treasurer")
    arguments = {"amount": 7500, "currency": "EUR"}
    [first] = calls(server, (arguments, None))
    assert first.is_error is True
    assert first.structured_content["decision"] == "approval_needed"
    approval_id = first.structured_content["approval_request"]["approval_id"]
    token = grant(guard, approval_id)
    approved, reused = calls(server, (arguments, token), (arguments, token))
    assert approved.is_error is False
    assert approved.content[0].text == "paid 7500 EUR with card [REDACTED:card]"
    assert reused.is_error is True
    assert [reason["code"] for reason in reused.structured_content["reasons"]] == ["approval_token_reused"]
    assert len(PAYMENTS) == 1
    logged = records(guard, sink)
    assert [(r["decision"], r["approval_id"]) for r in logged] == [
        ("approval_needed", approval_id), ("allow", approval_id), ("deny", approval_id),
    ]  # fmt: skip
    assert {(r["tool"], r["action"], r["environment"], r["requester_role"]) for r in logged} == {
        ("make_payment", "write", "prod", "treasurer")
    }
    assert all(token not in str(r) and "args" not in r for r in logged)


def test_token_for_another_call_is_refused(payments: Any) -> None:
    guard, _ = payments
    server = payment_server(guard)
    [first] = calls(server, ({"amount": 7500, "currency": "EUR"}, None))
    token = grant(guard, first.structured_content["approval_request"]["approval_id"])
    [other] = calls(server, ({"amount": 9000, "currency": "EUR"}, token))
    assert other.structured_content["reasons"][0]["code"] == "approval_token_mismatch"
    assert PAYMENTS == []


def test_the_tool_never_sees_the_token(payments: Any) -> None:
    """The token is taken out of ``_meta`` before the tool's server reads the request."""
    guard, _ = payments
    seen: list[Any] = []

    async def spy(ctx: Any, call_next: Any) -> Any:
        if ctx.method == "tools/call":
            seen.append((dict(ctx.params.get("_meta") or {}), dict(ctx.meta or {})))
        return await call_next(ctx)

    server = payment_server(guard)
    server.middleware.append(spy)
    [first] = calls(server, ({"amount": 7500, "currency": "EUR"}, None))
    token = grant(guard, first.structured_content["approval_request"]["approval_id"])
    [approved] = calls(server, ({"amount": 7500, "currency": "EUR"}, token))
    assert approved.is_error is False
    [(params_meta, ctx_meta)] = seen
    assert APPROVAL_TOKEN_META not in params_meta and APPROVAL_TOKEN_META not in ctx_meta


def test_proxy_forwards_redacted_arguments_and_redacts_results(payments: Any) -> None:
    guard, _ = payments
    upstream_server = MCPServer("payments-upstream")
    upstream_server.tool()(make_payment)

    async def run() -> tuple[Any, Any]:
        async with Client(upstream_server) as upstream:
            proxy = guarded_proxy(upstream, guard, PAYMENT_AGENT, actions=WRITE)
            async with Client(proxy) as client:
                paid = await client.call_tool("make_payment", {"amount": 50, "currency": "USD", "memo": "a@b.example"})
                pending = await client.call_tool("make_payment", {"amount": 6000, "currency": "USD"})
                token = grant(guard, pending.structured_content["approval_request"]["approval_id"])
                meta = {APPROVAL_TOKEN_META: token}
                approved = await client.call_tool("make_payment", {"amount": 6000, "currency": "USD"}, meta=meta)
                return paid, approved

    paid, approved = anyio.run(run)
    assert paid.content[0].text == "paid 50 USD with card [REDACTED:card]"
    assert approved.content[0].text == "paid 6000 USD with card [REDACTED:card]"
    assert [p["memo"] for p in PAYMENTS] == ["[REDACTED:email]", None]


def test_an_approved_call_is_still_redacted(payments: Any) -> None:
    """Approval lifts the need for a human, not the redaction: the token's call goes through as ``sanitize``."""
    guard, sink = payments
    server = payment_server(guard)
    arguments = {"amount": 8000, "currency": "EUR", "memo": "invoice from ann@example.com"}
    [first] = calls(server, (arguments, None))
    token = grant(guard, first.structured_content["approval_request"]["approval_id"])
    [approved] = calls(server, (arguments, token))
    assert approved.is_error is False
    assert PAYMENTS == [{"amount": 8000, "currency": "EUR", "memo": "invoice from [REDACTED:email]"}]
    assert [r["decision"] for r in records(guard, sink)] == ["approval_needed", "sanitize"]


# -- pausing for approval by elicitation ------------------------------------------------------------------------------

# "auto" speaks 2026-07-28 (the server answers with the question and the client makes the call again with the answer);
# "legacy" the 2025-11-25 handshake (the server sends ``elicitation/create`` while the call waits).
MODES = ["auto", "legacy"]


def paused_call(server: Any, arguments: dict[str, Any], answer: Any, mode: str) -> tuple[Any, list[Any]]:
    """Call ``make_payment`` from a client whose elicitation callback answers with ``answer(params)``; returns the
    result and the elicitations the client was asked."""
    asked: list[Any] = []

    async def on_elicit(context: Any, params: Any) -> Any:
        asked.append(params)
        return answer(params)

    async def run() -> Any:
        async with Client(server, elicitation_callback=on_elicit, mode=mode) as client:
            return await client.call_tool("make_payment", arguments)

    return anyio.run(run), asked


def token_answer(token: str) -> mcp.types.ElicitResult:
    return mcp.types.ElicitResult(action="accept", content={"approval_token": token})


@pytest.mark.parametrize("mode", MODES)
def test_approval_pauses_the_call_until_the_client_answers_with_a_granted_token(payments: Any, mode: str) -> None:
    """The client is asked for the token, a human grants the request meanwhile, and the call runs once."""
    guard, sink = payments
    server = payment_server(guard, environment="prod", requester_role="treasurer")

    def approve(params: Any) -> Any:
        return token_answer(grant(guard, params.meta[APPROVAL_REQUEST_META]["approval_id"]))

    result, [question] = paused_call(server, {"amount": 7500, "currency": "EUR"}, approve, mode)
    assert result.is_error is False
    assert result.content[0].text == "paid 7500 EUR with card [REDACTED:card]"
    assert PAYMENTS == [{"amount": 7500, "currency": "EUR", "memo": None}]
    [pending, allowed] = records(guard, sink)
    approval_id = pending["approval_id"]
    assert [(r["decision"], r["approval_id"]) for r in (pending, allowed)] == [
        ("approval_needed", approval_id), ("allow", approval_id),
    ]  # fmt: skip
    assert "`make_payment`" in question.message and approval_id in question.message
    assert "[approval_required]" in question.message
    assert question.requested_schema["required"] == ["approval_token"]
    assert list(question.requested_schema["properties"]) == ["approval_token"]
    request = question.meta[APPROVAL_REQUEST_META]
    assert (request["tool"], request["args"], request["decision_id"]) == (
        "make_payment", {"amount": 7500, "currency": "EUR"}, pending["decision_id"],
    )  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("action", ["decline", "cancel"])
def test_declined_elicitation_refuses_with_the_approval_request(payments: Any, mode: str, action: str) -> None:
    guard, sink = payments
    answer = mcp.types.ElicitResult.model_validate({"action": action})
    result, asked = paused_call(payment_server(guard), {"amount": 7500, "currency": "EUR"}, lambda _: answer, mode)
    assert len(asked) == 1
    assert result.is_error is True
    assert result.structured_content["decision"] == "approval_needed"
    [pending] = records(guard, sink)
    assert result.structured_content["approval_request"]["approval_id"] == pending["approval_id"]
    assert result.structured_content["decision_id"] == pending["decision_id"]
    assert "needs a human's approval" in result.content[0].text
    assert PAYMENTS == []


@pytest.mark.parametrize("mode", MODES)
def test_invalid_token_in_the_answer_is_denied(payments: Any, mode: str) -> None:
    guard, sink = payments
    arguments = {"amount": 7500, "currency": "EUR"}
    result, _ = paused_call(payment_server(guard), arguments, lambda _: token_answer("not-a-token"), mode)
    assert result.is_error is True
    assert result.structured_content["decision"] == "deny"
    assert [reason["code"] for reason in result.structured_content["reasons"]] == ["approval_token_invalid"]
    assert [r["decision"] for r in records(guard, sink)] == ["approval_needed", "deny"]
    assert PAYMENTS == []


@pytest.mark.parametrize("mode", MODES)
def test_token_granted_for_another_call_is_denied(payments: Any, mode: str) -> None:
    """The answer is checked like a token in ``_meta``: bound to the call the human approved."""
    guard, sink = payments
    server = payment_server(guard)
    [other] = calls(server, ({"amount": 9000, "currency": "EUR"}, None))
    token = grant(guard, other.structured_content["approval_request"]["approval_id"])
    result, _ = paused_call(server, {"amount": 7500, "currency": "EUR"}, lambda _: token_answer(token), mode)
    assert [reason["code"] for reason in result.structured_content["reasons"]] == ["approval_token_mismatch"]
    assert [r["decision"] for r in records(guard, sink)] == ["approval_needed", "approval_needed", "deny"]
    assert PAYMENTS == []


@pytest.mark.parametrize("mode", MODES)
def test_client_without_elicitation_is_refused_without_being_asked(payments: Any, mode: str) -> None:
    guard, sink = payments

    async def run() -> Any:
        async with Client(payment_server(guard), mode=mode) as client:
            return await client.call_tool("make_payment", {"amount": 7500, "currency": "EUR"})

    result = anyio.run(run)
    assert result.structured_content["decision"] == "approval_needed"
    assert result.structured_content["approval_request"]["approval_id"] is not None
    assert [r["decision"] for r in records(guard, sink)] == ["approval_needed"]
    assert PAYMENTS == []


@pytest.mark.parametrize("mode", MODES)
def test_calls_that_need_no_approval_never_ask(payments: Any, mode: str) -> None:
    def unexpected(params: Any) -> Any:
        raise AssertionError("asked for a token")

    result, asked = paused_call(payment_server(payments[0]), {"amount": 120, "currency": "EUR"}, unexpected, mode)
    assert (result.is_error, asked) == (False, [])


def test_without_an_approval_service_nothing_is_asked() -> None:
    """No approval service (an engine whose policy the guard cannot see, as an OPA daemon), no token to ask for: the
    call is refused with the approval request."""
    from tests.adapter_cases import POLICY
    from yaml2rego.adapters import Guard
    from yaml2rego.engines import EmbeddedEngine

    class Unseen:
        """The embedded engine behind the Engine protocol only, its policy out of the guard's sight."""

        name = "opaque"

        def __init__(self) -> None:
            self.engine = EmbeddedEngine.from_policy_paths([POLICY])

        def decide(self, call: Any) -> dict[str, Any]:
            return self.engine.decide(call)

        def suspend(self, agent_id: str, reason: str) -> None: ...

        def resume(self, agent_id: str) -> None: ...

        def close(self) -> None: ...

    guard = Guard(Unseen())
    server = guard_server(infra_server(), guard, AGENT, environment="prod", actions={"slack_risk_notifier": "write"})
    asked: list[Any] = []

    async def on_elicit(context: Any, params: Any) -> Any:
        asked.append(params)
        return token_answer("x")

    async def run() -> Any:
        async with Client(server, elicitation_callback=on_elicit) as client:
            return await client.call_tool("slack_risk_notifier", {"channel": "#infra-risk", "message": "x"})

    result = anyio.run(run)
    guard.close()
    assert (result.structured_content["decision"], asked) == ("approval_needed", [])
    assert RUNS["slack_risk_notifier"] == 0


def test_the_tool_never_sees_the_answer(payments: Any) -> None:
    """The answer and the held-back state are taken out of the request before the tool's server reads it."""
    guard, _ = payments
    seen: list[Any] = []

    async def spy(ctx: Any, call_next: Any) -> Any:
        if ctx.method == "tools/call":
            seen.append(dict(ctx.params))
        return await call_next(ctx)

    server = payment_server(guard)
    server.middleware.append(spy)

    def approve(params: Any) -> Any:
        return token_answer(grant(guard, params.meta[APPROVAL_REQUEST_META]["approval_id"]))

    result, _ = paused_call(server, {"amount": 7500, "currency": "EUR"}, approve, "auto")
    assert result.is_error is False
    [params] = seen
    assert "inputResponses" not in params and "requestState" not in params


@pytest.mark.parametrize("mode", MODES)
def test_proxy_pauses_for_approval(payments: Any, mode: str) -> None:
    """The proxy's client is asked too; the upstream server runs the call once the answer's token passes."""
    guard, sink = payments
    upstream_server = MCPServer("payments-upstream")
    upstream_server.tool()(make_payment)

    async def on_elicit(context: Any, params: Any) -> Any:
        return token_answer(grant(guard, params.meta[APPROVAL_REQUEST_META]["approval_id"]))

    async def run() -> Any:
        async with Client(upstream_server) as upstream:
            proxy = guarded_proxy(upstream, guard, PAYMENT_AGENT, actions=WRITE)
            async with Client(proxy, elicitation_callback=on_elicit, mode=mode) as client:
                return await client.call_tool("make_payment", {"amount": 6000, "currency": "USD"})

    approved = anyio.run(run)
    assert approved.content[0].text == "paid 6000 USD with card [REDACTED:card]"
    assert [r["decision"] for r in records(guard, sink)] == ["approval_needed", "allow"]
    assert PAYMENTS == [{"amount": 6000, "currency": "USD", "memo": None}]


@pytest.mark.parametrize("proxied", [False, True], ids=["server", "proxy"])
def test_the_held_back_refusal_travels_sealed(payments: Any, proxied: bool) -> None:
    """From 2026-07-28 the question comes back as an ``input_required`` result; its state is opaque to the client."""
    guard, _ = payments
    upstream_server = MCPServer("payments-upstream")
    upstream_server.tool()(make_payment)

    async def on_elicit(context: Any, params: Any) -> Any:
        raise AssertionError("the round is read as it is, not answered")

    async def run() -> Any:
        async with Client(upstream_server) as upstream:
            server = guarded_proxy(upstream, guard, PAYMENT_AGENT, actions=WRITE) if proxied else payment_server(guard)
            async with Client(server, elicitation_callback=on_elicit) as client:
                arguments = {"amount": 7500, "currency": "EUR"}
                return await client.session.call_tool("make_payment", arguments, allow_input_required=True)

    question = anyio.run(run)
    assert isinstance(question, mcp.types.InputRequiredResult)
    assert list(question.input_requests) == ["yaml2rego/approval"]
    assert question.request_state and "approval_needed" not in question.request_state
    assert PAYMENTS == []
