"""A LangGraph support agent whose every tool call is decided by its agent boundary, end to end, offline.

    python examples/langgraph_support_agent.py

The model is scripted (no LLM, no network): it looks up an order (allowed), tries a tool its boundary does not
register (refused: the model reads why), then asks for a refund, which needs a human's approval. The graph pauses,
the "human" approves, and the refund runs. The decision records printed at the end are what an auditor reads.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import tools_condition
from langgraph.types import Command

from yaml2rego.adapters import ApprovalService, Guard, MemorySink
from yaml2rego.adapters.langgraph import guarded_tool_node
from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.dsl.loader import load_policy_text
from yaml2rego.engines.embedded import EmbeddedEngine

BOUNDARY = """
agent_boundary:
  agent_id: support_agent_1
  tools:
    lookup_order:
      actions: [read]
      classification: internal
      args:
        order_id: {type: string, pattern: '^ORD-[0-9]+$', example: ORD-1001}
    issue_refund:
      actions: [write]
      classification: financial
      requires_approval: true
      args:
        order_id: {type: string, pattern: '^ORD-[0-9]+$', example: ORD-1001}
        amount_eur: {type: number, minimum: 0.01, maximum: 500}
  execution_context:
    clearance:
      support-lead: [financial]
    environments:
      prod: {requires_approval_for: [write, execute]}
"""


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order's status."""
    return f"{order_id}: delivered, 2 items, 79.90 EUR"


@tool
def issue_refund(order_id: str, amount_eur: float) -> str:
    """Refund part or all of an order."""
    return f"refunded {amount_eur:.2f} EUR on {order_id}"


@tool
def delete_account(customer_id: str) -> str:
    """Delete a customer's account."""
    raise AssertionError("the boundary never lets this run")


SCRIPT = [
    AIMessage("", tool_calls=[{"name": "lookup_order", "args": {"order_id": "ORD-1001"}, "id": "call_1"}]),
    AIMessage("", tool_calls=[{"name": "delete_account", "args": {"customer_id": "C-7"}, "id": "call_2"}]),
    AIMessage(
        "", tool_calls=[{"name": "issue_refund", "args": {"order_id": "ORD-1001", "amount_eur": 79.9}, "id": "call_3"}]
    ),
    AIMessage("The order was refunded in full."),
]


def build_agent(guard: Guard) -> Any:
    """agent ⇄ tools, with the boundary on the tool node. The 'model' answers with the next scripted message."""
    script = iter(SCRIPT)

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [next(script)]}

    tools = guarded_tool_node(
        [lookup_order, issue_refund, delete_account],
        guard,
        "support_agent_1",
        environment="prod",
        requester_role="support-lead",
    )
    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", tools)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=InMemorySaver())


def main() -> dict[str, Any]:
    """Run the conversation; returns the final state, the approval request and the decision records."""
    sink = MemorySink()
    engine = EmbeddedEngine.from_compiled(compile_policy_set(load_policy_text(BOUNDARY, "support_agent_1.yaml")))
    approvals = ApprovalService(secret="example-approval-secret-at-least-32-bytes")
    with Guard(engine, sinks=[sink], approvals=approvals) as guard:
        graph = build_agent(guard)
        config = {"configurable": {"thread_id": str(uuid.uuid4())}}
        paused = graph.invoke({"messages": [("user", "Please refund order ORD-1001.")]}, config)
        request = paused["__interrupt__"][0].value
        print(
            f"approval requested for {request['tool']} {json.dumps(request['args'])}: "
            f"{request['reasons'][0]['message']}"
        )
        # The human approves (as `yaml2rego approve <id>` would); the resumed call runs under the override token.
        approvals.approve(request["approval_id"], approver="on-call lead")
        final = graph.invoke(Command(resume="approve"), config)
        guard.flush()
        records = list(sink.records)
    for message in final["messages"]:
        if isinstance(message, ToolMessage):
            print(f"[{message.status}] {message.name}: {message.content}")
    print(final["messages"][-1].content)
    for record in records:
        print(json.dumps({key: record[key] for key in ("tool", "decision", "controls", "decision_reason")}))
    return {"final": final, "approval_request": request, "records": records}


if __name__ == "__main__":
    main()
