"""The LangChain adapter: a guarded ``BaseTool`` on its own and in a graph, and the ``create_agent`` middleware with a
scripted chat model (no LLM)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from tests.adapter_cases import AGENT, RUNS, TOOL_FUNCTIONS, records_of
from tests.payment_cases import AGENT as PAYMENT_AGENT
from tests.payment_cases import PAYMENTS, grant, make_payment, payment_guard, records
from tests.test_adapter_langgraph import build_graph, thread, tool_calls, tool_messages
from yaml2rego.adapters.langchain import boundary_middleware, guard_tool
from yaml2rego.errors import PolicyDenied

JIRA = tool(TOOL_FUNCTIONS["jira_ticket_reader"])
SLACK = tool(TOOL_FUNCTIONS["slack_risk_notifier"])


class ScriptedModel(GenericFakeChatModel):
    """Answers with the next scripted message; binding tools changes nothing."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def as_tool_call(args: dict[str, Any], name: str = "jira_ticket_reader") -> dict[str, Any]:
    return {"type": "tool_call", "name": name, "args": args, "id": "call_7"}


def test_guarded_tool_keeps_name_description_and_arguments(guarded: Any) -> None:
    safe = guard_tool(JIRA, guarded[0], AGENT, environment="prod")
    assert (safe.name, safe.description) == (JIRA.name, JIRA.description)
    assert safe.args == JIRA.args


def test_allowed_call_runs_the_tool(guarded: Any) -> None:
    guard, sink = guarded
    safe = guard_tool(JIRA, guard, AGENT, action="read", environment="prod")
    message = safe.invoke(as_tool_call({"project_key": "SEC-INFRA"}))
    assert (message.status, message.content) == ("success", "SEC-INFRA: 2 open findings")
    assert [(r["tool"], r["decision"]) for r in records_of(guard, sink)] == [("jira_ticket_reader", "allow")]


def test_denied_call_becomes_an_error_tool_message(guarded: Any) -> None:
    guard, _ = guarded
    safe = guard_tool(JIRA, guard, AGENT, environment="prod")
    message = safe.invoke(as_tool_call({"project_key": "HR-PAYROLL"}))
    assert isinstance(message, ToolMessage)
    assert message.status == "error"
    assert "[scope_violation]" in message.content
    assert RUNS["jira_ticket_reader"] == 0


def test_on_deny_raise_raises_policy_denied(guarded: Any) -> None:
    safe = guard_tool(JIRA, guarded[0], AGENT, environment="prod", on_deny="raise")
    with pytest.raises(PolicyDenied):
        safe.invoke({"project_key": "HR-PAYROLL"})


def test_async_call_is_checked(guarded: Any) -> None:
    guard, _ = guarded
    safe = guard_tool(JIRA, guard, AGENT, environment="prod")
    message = asyncio.run(safe.ainvoke(as_tool_call({"project_key": "HR-1"})))
    assert message.status == "error"
    assert asyncio.run(safe.ainvoke({"project_key": "SEC-1"})) == "SEC-1: 2 open findings"


def test_approval_outside_a_graph_is_refused(guarded: Any) -> None:
    safe = guard_tool(SLACK, guarded[0], AGENT, action="write", environment="prod")
    message = safe.invoke(as_tool_call({"channel": "#infra-risk", "message": "hi"}, "slack_risk_notifier"))
    assert message.status == "error"
    assert "[approval_required]" in message.content
    assert RUNS["slack_risk_notifier"] == 0


def test_approval_inside_a_graph_interrupts_and_resumes(guarded: Any) -> None:
    from langgraph.prebuilt import ToolNode

    safe = guard_tool(SLACK, guarded[0], AGENT, action="write", environment="prod")
    graph = build_graph(
        ToolNode([safe]), tool_calls(("slack_risk_notifier", {"channel": "#infra-risk", "message": "x"}))
    )
    config = thread()
    paused = graph.invoke({"messages": [("user", "notify")]}, config)
    assert paused["__interrupt__"][0].value["tool"] == "slack_risk_notifier"
    grant(guarded[0], paused["__interrupt__"][0].value["approval_id"])
    [message] = tool_messages(graph.invoke(Command(resume=True), config))
    assert (message.status, RUNS["slack_risk_notifier"]) == ("success", 1)


def scripted_agent(guard: Any, first: AIMessage) -> Any:
    model = ScriptedModel(messages=iter([first, AIMessage(content="done")]))
    middleware = boundary_middleware(guard, AGENT, environment="prod", actions={"slack_risk_notifier": "write"})
    return create_agent(model, [JIRA, SLACK], middleware=[middleware], checkpointer=InMemorySaver())


def test_middleware_turns_a_denial_into_an_error_tool_message(guarded: Any) -> None:
    guard, sink = guarded
    agent = scripted_agent(guard, tool_calls(("jira_ticket_reader", {"project_key": "HR-PAYROLL"})))
    result = agent.invoke({"messages": [("user", "read HR")]}, thread())
    [message] = tool_messages(result)
    assert message.status == "error"
    assert "[scope_violation]" in message.content
    assert result["messages"][-1].content == "done"
    assert [r["decision"] for r in records_of(guard, sink)] == ["deny"]


def test_middleware_interrupts_for_approval(guarded: Any) -> None:
    guard, _ = guarded
    agent = scripted_agent(guard, tool_calls(("slack_risk_notifier", {"channel": "#infra-risk", "message": "x"})))
    config = {"configurable": {"thread_id": str(uuid.uuid4())}}
    paused = agent.invoke({"messages": [("user", "notify")]}, config)
    assert paused["__interrupt__"][0].value["decision_id"]
    [message] = tool_messages(agent.invoke(Command(resume="reject"), config))
    assert message.status == "error"
    assert RUNS["slack_risk_notifier"] == 0


# -- redaction and override tokens (examples/finance_agent.yaml) -----------------------------------------------------

PAY = tool(make_payment)


@pytest.fixture
def payments() -> Any:
    guard, sink = payment_guard()
    PAYMENTS.clear()
    yield guard, sink
    guard.close()


def payment_call(args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_call", "name": "make_payment", "args": args, "id": "call_pay"}


def with_token(token: str) -> dict[str, Any]:
    return {"configurable": {"approval_token": token}}


def test_guarded_tool_runs_a_sanitized_call_on_redacted_arguments(payments: Any) -> None:
    guard, sink = payments
    safe = guard_tool(PAY, guard, PAYMENT_AGENT, action="write")
    message = safe.invoke(payment_call({"amount": 120, "currency": "EUR", "memo": "to ann@example.com"}))
    assert message.status == "success"
    assert PAYMENTS == [{"amount": 120, "currency": "EUR", "memo": "to [REDACTED:email]"}]
    assert message.content == "paid 120 EUR with card [REDACTED:card]"
    [record] = records(guard, sink)
    assert (record["decision"], record["action"]) == ("sanitize", "write")


def test_guarded_tool_redacts_plain_and_async_results(payments: Any) -> None:
    safe = guard_tool(PAY, payments[0], PAYMENT_AGENT)
    assert safe.invoke({"amount": 10, "currency": "USD", "memo": "x@y.example"}) == (
        "paid 10 USD with card [REDACTED:card]"
    )
    assert asyncio.run(safe.ainvoke({"amount": 20, "currency": "USD"})) == "paid 20 USD with card [REDACTED:card]"
    assert [p["memo"] for p in PAYMENTS] == ["[REDACTED:email]", None]


def test_config_token_lets_an_approved_call_through_once(payments: Any) -> None:
    """Outside a graph: refused for approval, granted by a human, run once with the token, then refused as reused."""
    guard, sink = payments
    safe = guard_tool(PAY, guard, PAYMENT_AGENT, action="write", environment="prod", requester_role="treasurer")
    call = payment_call({"amount": 7500, "currency": "EUR"})
    refused = safe.invoke(call)
    assert (refused.status, refused.artifact["decision"]) == ("error", "approval_needed")
    token = grant(guard, refused.artifact["approval_id"])
    approved = safe.invoke(call, config=with_token(token))
    assert (approved.status, approved.content) == ("success", "paid 7500 EUR with card [REDACTED:card]")
    reused = asyncio.run(safe.ainvoke(call, config=with_token(token)))
    assert reused.status == "error"
    assert reused.artifact["codes"] == ["approval_token_reused"]
    assert len(PAYMENTS) == 1
    logged = records(guard, sink)
    assert [r["decision"] for r in logged] == ["approval_needed", "allow", "deny"]
    assert {(r["action"], r["environment"], r["requester_role"]) for r in logged} == {("write", "prod", "treasurer")}
    assert all(token not in str(r) for r in logged)


def test_token_for_another_call_is_refused(payments: Any) -> None:
    guard, _ = payments
    safe = guard_tool(PAY, guard, PAYMENT_AGENT)
    refused = safe.invoke(payment_call({"amount": 7500, "currency": "EUR"}))
    token = grant(guard, refused.artifact["approval_id"])
    other = safe.invoke(payment_call({"amount": 7600, "currency": "EUR"}), config=with_token(token))
    assert other.artifact["codes"] == ["approval_token_mismatch"]
    assert PAYMENTS == []


def test_guarded_tool_in_a_graph_redeems_the_granted_token_on_resume(payments: Any) -> None:
    """With an approval service, resuming is not enough: the approver's grant is what lets the call run, once."""
    from langgraph.prebuilt import ToolNode

    guard, sink = payments
    safe = guard_tool(PAY, guard, PAYMENT_AGENT)
    graph = build_graph(ToolNode([safe]), tool_calls(("make_payment", {"amount": 7500, "currency": "EUR"})))
    config = thread()
    paused = graph.invoke({"messages": [("user", "pay")]}, config)
    request = paused["__interrupt__"][0].value
    assert request["tool"] == "make_payment"
    grant(guard, request["approval_id"])
    [message] = tool_messages(graph.invoke(Command(resume=True), config))
    assert (message.status, message.content) == ("success", "paid 7500 EUR with card [REDACTED:card]")
    assert [r["decision"] for r in records(guard, sink)] == ["approval_needed", "approval_needed", "allow"]


def test_guarded_tool_in_a_graph_stays_refused_when_nobody_granted(payments: Any) -> None:
    from langgraph.prebuilt import ToolNode

    guard, _ = payments
    safe = guard_tool(PAY, guard, PAYMENT_AGENT)
    graph = build_graph(ToolNode([safe]), tool_calls(("make_payment", {"amount": 7500, "currency": "EUR"})))
    config = thread()
    graph.invoke({"messages": [("user", "pay")]}, config)
    [message] = tool_messages(graph.invoke(Command(resume=True), config))
    assert message.status == "error"
    assert PAYMENTS == []


def payment_agent(guard: Any, args: dict[str, Any]) -> Any:
    model = ScriptedModel(messages=iter([tool_calls(("make_payment", args)), AIMessage(content="done")]))
    middleware = boundary_middleware(guard, PAYMENT_AGENT, environment="prod", actions={"make_payment": "write"})
    return create_agent(model, [PAY], middleware=[middleware], checkpointer=InMemorySaver())


def test_middleware_runs_a_sanitized_call_on_redacted_arguments(payments: Any) -> None:
    guard, sink = payments
    agent = payment_agent(guard, {"amount": 120, "currency": "EUR", "memo": "to ann@example.com"})
    [message] = tool_messages(agent.invoke({"messages": [("user", "pay")]}, thread()))
    assert (message.status, message.content) == ("success", "paid 120 EUR with card [REDACTED:card]")
    assert PAYMENTS[0]["memo"] == "to [REDACTED:email]"
    [record] = records(guard, sink)
    assert (record["decision"], record["environment"], record["action"]) == ("sanitize", "prod", "write")


def test_middleware_presents_the_config_token_once(payments: Any) -> None:
    """A run whose config presents the granted token pays without pausing; a second run with it is refused."""
    guard, _ = payments
    args = {"amount": 7500, "currency": "EUR"}
    paused = payment_agent(guard, args).invoke({"messages": [("user", "pay")]}, thread())
    token = grant(guard, paused["__interrupt__"][0].value["approval_id"])
    outcomes = []
    for _ in range(2):
        config = {"configurable": {"thread_id": str(uuid.uuid4()), "approval_token": token}}
        result = payment_agent(guard, args).invoke({"messages": [("user", "pay")]}, config)
        assert "__interrupt__" not in result
        [message] = tool_messages(result)
        outcomes.append((message.status, message.artifact["codes"] if message.status == "error" else None))
    assert outcomes == [("success", None), ("error", ["approval_token_reused"])]
    assert len(PAYMENTS) == 1
