"""The LangGraph adapter, in real graphs: scripted AI messages (no LLM), a ToolNode and an in-memory checkpointer."""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import tools_condition
from langgraph.types import Command

from tests.adapter_cases import AGENT, RUNS, TOOL_FUNCTIONS, grant, records_of
from yaml2rego.adapters.langgraph import BoundaryToolWrapper, guard_node, guarded_tool_node
from yaml2rego.errors import PolicyDenied

TOOLS = [tool(function) for function in TOOL_FUNCTIONS.values()]


def tool_calls(*calls: tuple[str, dict[str, Any]]) -> AIMessage:
    return AIMessage(
        content="", tool_calls=[{"name": name, "args": args, "id": f"call_{i}"} for i, (name, args) in enumerate(calls)]
    )


def build_graph(tool_node: Any, first: AIMessage) -> Any:
    """agent → tools → agent: the agent's first turn asks for ``first``'s tool calls, its second turn answers."""
    script = iter([first, AIMessage(content="done")])

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [next(script)]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", tool_node)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=InMemorySaver())


def thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


def tool_messages(result: dict[str, Any]) -> list[ToolMessage]:
    return [message for message in result["messages"] if isinstance(message, ToolMessage)]


def test_allowed_call_runs_the_tool_and_is_recorded(guarded: Any) -> None:
    guard, sink = guarded
    node = guarded_tool_node(TOOLS, guard, AGENT, environment="prod", requester_role="engineer")
    graph = build_graph(node, tool_calls(("jira_ticket_reader", {"project_key": "SEC-INFRA", "ticket_id": "SEC-42"})))
    result = graph.invoke({"messages": [("user", "review SEC-42")]}, thread())
    [message] = tool_messages(result)
    assert message.status == "success"
    assert message.content == "SEC-42: 2 open findings"
    assert RUNS["jira_ticket_reader"] == 1
    [record] = records_of(guard, sink)
    assert (record["tool"], record["decision"], record["agent_id"]) == ("jira_ticket_reader", "allow", AGENT)


def test_denied_call_becomes_an_error_tool_message(guarded: Any) -> None:
    """The model reads the reasons; the tool never runs and the graph carries on to the agent's next turn."""
    guard, sink = guarded
    node = guarded_tool_node(TOOLS, guard, AGENT, environment="prod")
    graph = build_graph(node, tool_calls(("jira_ticket_reader", {"project_key": "HR-PAYROLL"})))
    result = graph.invoke({"messages": [("user", "read HR")]}, thread())
    [message] = tool_messages(result)
    assert message.status == "error"
    assert "[scope_violation]" in message.content
    assert message.artifact["codes"] == ["scope_violation"]
    assert result["messages"][-1].content == "done"
    assert RUNS["jira_ticket_reader"] == 0
    assert [r["decision"] for r in records_of(guard, sink)] == ["deny"]


def test_unregistered_tool_is_refused_before_the_tool_node_looks_it_up(guarded: Any) -> None:
    guard, _ = guarded
    graph = build_graph(guarded_tool_node(TOOLS, guard, AGENT, environment="prod"), tool_calls(("shell_exec", {})))
    [message] = tool_messages(graph.invoke({"messages": [("user", "x")]}, thread()))
    assert message.status == "error"
    assert "[unknown_tool]" in message.content


def test_on_deny_raise_raises_policy_denied(guarded: Any) -> None:
    guard, _ = guarded
    node = guarded_tool_node(TOOLS, guard, AGENT, environment="prod", on_deny="raise")
    graph = build_graph(node, tool_calls(("jira_ticket_reader", {"project_key": "HR-1"})))
    with pytest.raises(PolicyDenied) as raised:
        graph.invoke({"messages": [("user", "x")]}, thread())
    assert raised.value.decision.codes == ["scope_violation"]


def approval_graph(guard: Any) -> Any:
    node = guarded_tool_node(TOOLS, guard, AGENT, environment="prod", actions={"slack_risk_notifier": "write"})
    call = ("slack_risk_notifier", {"channel": "#infra-risk", "message": "PR 17 opens port 22"})
    return build_graph(node, tool_calls(call))


def test_approval_needed_interrupts_and_an_approval_runs_the_tool(guarded: Any) -> None:
    guard, sink = guarded
    graph, config = approval_graph(guard), thread()
    paused = graph.invoke({"messages": [("user", "notify")]}, config)
    [pending] = paused["__interrupt__"]
    assert pending.value["type"] == "approval_request"
    assert pending.value["tool"] == "slack_risk_notifier"
    assert pending.value["tool_call_id"] == "call_0"
    assert {reason["code"] for reason in pending.value["reasons"]} == {"approval_required"}
    assert RUNS["slack_risk_notifier"] == 0
    grant(guard, pending.value["approval_id"])  # a human approves it (yaml2rego approve)
    result = graph.invoke(Command(resume=True), config)
    [message] = tool_messages(result)
    assert (message.status, message.content) == ("success", "posted to #infra-risk")
    assert RUNS["slack_risk_notifier"] == 1
    # LangGraph re-runs the interrupted node, so the call was decided before and after the pause; the call that ran
    # is recorded as allowed, with its approver and approval id.
    assert [r["decision"] for r in records_of(guard, sink)] == ["approval_needed", "approval_needed", "allow"]
    assert (sink.records[-1]["approver"], sink.records[-1]["approval_id"]) == ("alice", pending.value["approval_id"])


def test_a_resume_value_without_a_granted_approval_runs_nothing(guarded: Any) -> None:
    """Resumed with "yes" while nobody approved the request: the tool does not run."""
    guard, sink = guarded
    graph, config = approval_graph(guard), thread()
    graph.invoke({"messages": [("user", "notify")]}, config)
    [message] = tool_messages(graph.invoke(Command(resume=True), config))
    assert message.status == "error" and RUNS["slack_risk_notifier"] == 0
    assert [r["decision"] for r in records_of(guard, sink)] == ["approval_needed", "approval_needed"]


def test_refused_approval_becomes_an_error_tool_message(guarded: Any) -> None:
    guard, _ = guarded
    graph, config = approval_graph(guard), thread()
    graph.invoke({"messages": [("user", "notify")]}, config)
    result = graph.invoke(Command(resume={"type": "reject"}), config)
    [message] = tool_messages(result)
    assert message.status == "error"
    assert message.content.startswith("This tool call needs a human's approval and was not approved")
    assert RUNS["slack_risk_notifier"] == 0


def test_async_graph_uses_the_async_wrapper(guarded: Any) -> None:
    guard, sink = guarded
    node = guarded_tool_node(TOOLS, guard, AGENT, environment="prod")
    graph = build_graph(
        node,
        tool_calls(
            ("jira_ticket_reader", {"project_key": "HR-1"}),
            ("github_pr_inspector", {"repo": "org/infra-core", "pr_number": 17}),
        ),
    )
    result = asyncio.run(graph.ainvoke({"messages": [("user", "x")]}, thread()))
    statuses = {message.name: message.status for message in tool_messages(result)}
    assert statuses == {"jira_ticket_reader": "error", "github_pr_inspector": "success"}
    assert sorted(r["decision"] for r in records_of(guard, sink)) == ["allow", "deny"]


def test_context_from_supplies_per_call_environment(guarded: Any) -> None:
    """The environment can come from the run's config instead of the wrapper: aws_metadata_query is barred in prod."""
    guard, _ = guarded

    def aws_metadata_query(account: str, region: str, resource_type: str) -> str:
        """Describe resources of an account."""
        return "ok"

    wrapper = BoundaryToolWrapper(
        guard,
        AGENT,
        requester_role="sre",
        context_from=lambda request: {"environment": request.runtime.config["configurable"]["environment"]},
    )
    from langgraph.prebuilt import ToolNode

    node = ToolNode([tool(aws_metadata_query)], wrap_tool_call=wrapper)
    args = {"account": "dev-env", "region": "us-east-1", "resource_type": "s3"}
    outcomes = {}
    for environment in ("dev", "prod"):
        graph = build_graph(node, tool_calls(("aws_metadata_query", args)))
        config = {"configurable": {"thread_id": environment, "environment": environment}}
        [message] = tool_messages(graph.invoke({"messages": [("user", "x")]}, config))
        outcomes[environment] = message.status
    assert outcomes == {"dev": "success", "prod": "error"}


def test_guard_node_runs_an_allowed_plain_node_and_refuses_a_denied_one(guarded: Any) -> None:
    guard, sink = guarded

    def build(project: str) -> Any:
        @guard_node(
            guard,
            AGENT,
            tool="jira_ticket_reader",
            action="read",
            environment="prod",
            args=lambda state: {"project_key": state["project"]},
        )
        def read_ticket(state: dict[str, Any]) -> dict[str, Any]:
            return {"summary": f"read {state['project']}"}

        builder = StateGraph(dict)
        builder.add_node("read_ticket", read_ticket)
        builder.add_edge(START, "read_ticket")
        return builder.compile()

    assert build("SEC-7").invoke({"project": "SEC-7"})["summary"] == "read SEC-7"
    with pytest.raises(PolicyDenied):
        build("HR-1").invoke({"project": "HR-1"})
    assert [r["decision"] for r in records_of(guard, sink)] == ["allow", "deny"]


def test_guard_node_interrupts_for_approval(guarded: Any) -> None:
    guard, _ = guarded

    @guard_node(
        guard,
        AGENT,
        tool="slack_risk_notifier",
        action="write",
        environment="prod",
        args=lambda state: {"channel": "#infra-risk", "message": state["text"]},
    )
    def notify(state: dict[str, Any]) -> dict[str, Any]:
        return {"sent": True}

    builder = StateGraph(dict)
    builder.add_node("notify", notify)
    builder.add_edge(START, "notify")
    graph, config = builder.compile(checkpointer=InMemorySaver()), thread()
    paused = graph.invoke({"text": "risky", "sent": False}, config)
    assert paused["__interrupt__"][0].value["tool"] == "slack_risk_notifier"
    grant(guard, paused["__interrupt__"][0].value["approval_id"])
    assert graph.invoke(Command(resume="approve"), config)["sent"] is True


def test_missing_langgraph_names_the_extra(monkeypatch: pytest.MonkeyPatch, guarded: Any) -> None:
    monkeypatch.setitem(sys.modules, "langgraph.types", None)
    with pytest.raises(ImportError, match=r"pip install 'yaml2rego\[langgraph\]'"):
        BoundaryToolWrapper(guarded[0], AGENT)


def test_support_agent_example_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/langgraph_support_agent.py: allowed lookup, refused unknown tool, approved refund, four records."""
    import importlib.util

    from tests.conftest import EXAMPLES

    spec = importlib.util.spec_from_file_location("langgraph_support_agent", EXAMPLES / "langgraph_support_agent.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    outcome = example.main()
    statuses = [(m.name, m.status) for m in outcome["final"]["messages"] if isinstance(m, ToolMessage)]
    assert statuses == [("lookup_order", "success"), ("delete_account", "error"), ("issue_refund", "success")]
    assert outcome["approval_request"]["tool"] == "issue_refund"
    decisions = [(r["decision"], r.get("approver")) for r in outcome["records"]]
    assert decisions == [("allow", None), ("deny", None), ("approval_needed", None), ("approval_needed", None),
                         ("allow", "on-call lead")]  # fmt: skip
    assert "refunded 79.90 EUR on ORD-1001" in capsys.readouterr().out


def test_an_approved_call_that_is_also_sanitized_runs_redacted() -> None:
    """The override token earns a `sanitize` decision: the tool gets the redacted arguments, not the originals."""
    from tests.payment_cases import AGENT as PAYMENT_AGENT
    from tests.payment_cases import PAYMENTS, grant, make_payment, payment_guard

    guard, _ = payment_guard()
    PAYMENTS.clear()
    try:
        node = guarded_tool_node([tool(make_payment)], guard, PAYMENT_AGENT)
        call = ("make_payment", {"amount": 9000, "currency": "EUR", "memo": "invoice for bob@example.com"})
        graph, config = build_graph(node, tool_calls(call)), thread()
        [pending] = graph.invoke({"messages": [("user", "pay")]}, config)["__interrupt__"]
        token = grant(guard, pending.value["approval_id"])
        result = graph.invoke(Command(resume={"approved": True, "approval_token": token}), config)
        [message] = tool_messages(result)
        assert message.status == "success"
        assert PAYMENTS == [{"amount": 9000, "currency": "EUR", "memo": "invoice for [REDACTED:email]"}]
    finally:
        guard.close()


def test_without_an_approval_service_a_policy_that_asks_for_approval_is_refused_at_construction() -> None:
    """Nothing could grant an approval: the guard refuses to start rather than let a resume value approve."""
    from tests.payment_cases import POLICY
    from yaml2rego.adapters import Guard
    from yaml2rego.errors import ApprovalError

    with pytest.raises(ApprovalError, match=r"no approval service: pass approvals=ApprovalService"):
        Guard.from_policy([POLICY])
