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
from yaml2rego.adapters.langchain import boundary_middleware, guard_tool

from tests.adapter_cases import AGENT, RUNS, TOOL_FUNCTIONS, new_guard, records_of
from tests.test_adapter_langgraph import build_graph, thread, tool_calls, tool_messages
from yaml2rego.errors import PolicyDenied

JIRA = tool(TOOL_FUNCTIONS["jira_ticket_reader"])
SLACK = tool(TOOL_FUNCTIONS["slack_risk_notifier"])


class ScriptedModel(GenericFakeChatModel):
    """Answers with the next scripted message; binding tools changes nothing."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


@pytest.fixture
def guarded() -> Any:
    guard, sink = new_guard()
    RUNS.clear()
    yield guard, sink
    guard.close()


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
