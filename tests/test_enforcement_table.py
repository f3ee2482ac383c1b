"""The enforcement table, row by row, through the runtime guard: high-value payments, EHR reads, budgets, egress —
and every new rule kind in shadow mode (never blocks, records what would have happened)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import RedisServer, redis_server  # noqa: F401 - the fixture
from yaml2rego.adapters import Guard, MemorySink
from yaml2rego.runtime.approvals import ApprovalService, MemoryApprovalStore
from yaml2rego.runtime.budgets import MemoryBudgetStore, RedisBudgetStore
from yaml2rego.runtime.steps import sanitize_call, sanitize_result

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SECRET = "test-secret-that-is-at-least-32-bytes!"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _shadow_copy(name: str, tmp_path: Path) -> Path:
    """The example with `mode: shadow` added under its agent_id."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("agent_id:"))
    lines.insert(index + 1, "  mode: shadow")
    target = tmp_path / name
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _guard(path: Path, **options: Any) -> tuple[Guard, MemorySink]:
    sink = MemorySink()
    return Guard.from_policy([path], sinks=[sink], **options), sink


def _records(guard: Guard, sink: MemorySink) -> list[dict[str, Any]]:
    guard.flush()
    return sink.records


# --- high-value payment -------------------------------------------------------------------------------------------

PAYMENT = {
    "agent_id": "finance_agent",
    "method": "POST",
    "path": "/api/payments/v1/",
    "host": "payments.internal.example",
}


@pytest.fixture
def finance() -> Iterator[tuple[Guard, MemorySink]]:
    approvals = ApprovalService(MemoryApprovalStore(), secret=SECRET)
    guard, sink = _guard(EXAMPLES / "finance_agent.yaml", approvals=approvals)
    yield guard, sink
    guard.close()


@pytest.mark.parametrize(
    ("amount", "decision", "codes"),
    [(120, "allow", []), (5000, "allow", []), (5000.01, "approval_needed", ["approval_required"]),
     (50001, "deny", ["parameter_denied"])],
    ids=["small", "at-threshold", "above-threshold", "above-maximum"],
)  # fmt: skip
def test_payment_row(finance: tuple[Guard, MemorySink], amount: float, decision: str, codes: list[str]) -> None:
    guard, _ = finance
    result = guard.check({**PAYMENT, "body": {"amount": amount, "currency": "EUR"}})
    assert (result.decision, result.codes, result.blocked) == (decision, codes, decision != "allow")


def test_payment_approval_reason_names_the_rule_and_line(finance: tuple[Guard, MemorySink]) -> None:
    guard, sink = finance
    result = guard.check({**PAYMENT, "body": {"amount": 7500, "currency": "EUR"}})
    [reason] = result.reasons
    assert reason["message"] == "payments above 5000 need a second person's approval (conditions[0])"
    assert reason["source"] == f"{EXAMPLES / 'finance_agent.yaml'}:22" and reason["control"] == "CC8.1"
    assert _records(guard, sink)[0]["approval_id"] == result.approval_id


# --- EHR read -----------------------------------------------------------------------------------------------------

EHR = {"agent_id": "clinical_agent", "method": "GET", "path": "/ehr/patients/42", "host": "ehr.hospital.example"}
CARE_ONLY = "EHR access is allowed only for the purpose of care (conditions[0])"
NO_EXPORT = "exporting records is not allowed (conditions[1])"
NOT_EHR = "GET /billing/42 matches no allowed endpoint"


@pytest.fixture
def clinical() -> Iterator[tuple[Guard, MemorySink]]:
    guard, sink = _guard(EXAMPLES / "clinical_agent.yaml")
    yield guard, sink
    guard.close()


@pytest.mark.parametrize(
    ("call", "decision", "message"),
    [
        ({"context": {"purpose": "care"}}, "allow", None),
        ({"context": {"purpose": "research"}}, "deny", CARE_ONLY),
        ({}, "deny", CARE_ONLY),
        ({"context": {"purpose": "care"}, "body": {"export": True}}, "deny", NO_EXPORT),
        ({"context": {"purpose": "care"}, "path": "/billing/42"}, "deny", NOT_EHR),
    ],
    ids=["care", "research", "no-purpose", "export", "outside-ehr"],
)  # fmt: skip
def test_ehr_row(clinical: tuple[Guard, MemorySink], call: dict[str, Any], decision: str, message: str | None) -> None:
    guard, _ = clinical
    result = guard.check({**EHR, **call})
    assert result.decision == decision
    if message is not None:
        assert result.decision_reason == message


def test_ehr_notes_are_sanitized_before_they_leave(clinical: tuple[Guard, MemorySink]) -> None:
    guard, sink = clinical
    call = {
        "agent_id": "clinical_agent",
        "method": "POST",
        "path": "/ehr/notes/",
        "host": "ehr.hospital.example",
        "context": {"purpose": "care"},
        "body": {"note": "Reach Ann at ann@example.com, SSN 123-45-6789.", "visits": ["bob@example.org"]},
    }
    result = guard.check(call)
    assert (result.decision, result.blocked) == ("sanitize", False)
    sent = sanitize_call(result, call)
    assert sent["body"] == {
        "note": "Reach Ann at [REDACTED:email], SSN [REDACTED:us_ssn].",
        "visits": ["[REDACTED:email]"],
    }
    assert call["body"]["note"].startswith("Reach Ann at ann@")  # the caller's own call is not modified
    [record] = _records(guard, sink)
    assert record["decision"] == "sanitize"
    assert sorted((r["field"], r["detector"], r["count"]) for r in record["redactions"]) == [
        ("body.note", "email", 1),
        ("body.note", "us_ssn", 1),
        ("body.visits.0", "email", 1),
    ]
    assert "ann@example.com" not in str(record) and "123-45-6789" not in str(record)


def test_logged_bodies_are_the_redacted_bodies(tmp_path: Path) -> None:
    """With log_bodies=True the record holds the body as it leaves: redacted, never the values it redacted."""
    guard, sink = _guard(EXAMPLES / "clinical_agent.yaml", log_bodies=True)
    call = {**EHR, "method": "POST", "path": "/ehr/notes", "context": {"purpose": "care"},
            "body": {"note": "mail ann@example.com"}}  # fmt: skip
    with guard:
        assert guard.check(call).decision == "sanitize"
        [record] = _records(guard, sink)
    assert record["body"] == {"note": "mail [REDACTED:email]"}
    assert "ann@example.com" not in json.dumps(record)


@pytest.mark.parametrize(
    ("body", "sent"),
    [
        pytest.param({"contacts": {"ann@example.com": "sister"}}, {"contacts": {"[REDACTED:email]": "sister"}},
                     id="key-below-the-body"),
        pytest.param({"ann@example.com": {"bob@example.org": 1}}, {"[REDACTED:email]": {"[REDACTED:email]": 1}},
                     id="keys-at-two-depths"),
        pytest.param('{"ann@example.com": "x"}', '{"[REDACTED:email]":"x"}', id="key-in-a-json-string-body"),
    ],
)  # fmt: skip
def test_pii_used_as_an_object_key_is_redacted(clinical: tuple[Guard, MemorySink], body: Any, sent: Any) -> None:
    """DLP scans object keys too: a PII value used as a key leaves redacted, and the record names no key."""
    guard, sink = clinical
    call = {**EHR, "method": "POST", "path": "/ehr/notes", "context": {"purpose": "care"}, "body": body}
    result = guard.check(call)
    assert result.decision == "sanitize"
    assert sanitize_call(result, call)["body"] == sent
    records = _records(guard, sink)
    assert "ann@example.com" not in json.dumps(records) and "bob@example.org" not in json.dumps(records)


def test_a_json_string_body_is_redacted_and_stays_a_string(clinical: tuple[Guard, MemorySink]) -> None:
    guard, _ = clinical
    call = {**EHR, "method": "POST", "path": "/ehr/notes", "context": {"purpose": "care"},
            "body": '{"note": "mail ann@example.com"}'}  # fmt: skip
    result = guard.check(call)
    assert sanitize_call(result, call)["body"] == '{"note":"mail [REDACTED:email]"}'


def test_numbers_failing_the_luhn_check_are_not_redacted(clinical: tuple[Guard, MemorySink]) -> None:
    guard, sink = clinical
    call = {**EHR, "method": "POST", "path": "/ehr/notes", "context": {"purpose": "care"},
            "body": {"note": "order 4111 1111 1111 1112"}}  # fmt: skip
    result = guard.check(call)
    assert (result.decision, sanitize_call(result, call)) == ("allow", call)
    real = guard.check({**call, "body": {"note": "card 4111 1111 1111 1111"}})
    assert sanitize_call(real, {**call, "body": {"note": "card 4111 1111 1111 1111"}})["body"] == {
        "note": "card [REDACTED:card]"
    }
    assert "redactions" not in _records(guard, sink)[0]


def test_tool_results_are_redacted_when_the_rule_says_so(clinical: tuple[Guard, MemorySink]) -> None:
    guard, _ = clinical
    result = guard.check({**EHR, "context": {"purpose": "care"}})
    returned = {"patient": "Ann", "payment": {"card": "4111-1111-1111-1111", "email": "ann@example.com"}}
    assert sanitize_result(result, returned) == {
        "patient": "Ann",
        "payment": {"card": "[REDACTED:card]", "email": "ann@example.com"},
    }


# --- budget -------------------------------------------------------------------------------------------------------

COMPLETION = {"agent_id": "llm_agent", "method": "POST", "path": "/v1/chat/completions", "host": "llm.internal.example"}


def test_budget_row_denies_when_exhausted_with_a_budget_exceeded_record() -> None:
    clock = Clock()
    guard, sink = _guard(EXAMPLES / "llm_budget_agent.yaml", store=MemoryBudgetStore(clock=clock))
    with guard:
        results = []
        for _ in range(4):
            clock.now += 1.0  # one call per second: the per-second limit never bites
            results.append(guard.check({**COMPLETION, "cost_usd": 6.0}))
        assert [r.decision for r in results] == ["allow", "allow", "allow", "deny"]
        assert results[3].codes == ["budget_exceeded"] and results[3].controls == ["A1.1"]
        records = _records(guard, sink)
    assert records[3]["reasons"][0]["code"] == "budget_exceeded"
    assert records[3]["budget"]["spent_usd"] == 18.0 and records[3]["budget"]["daily_usd"] == 20
    assert records[2]["budget"] == {
        "rule": "budget",
        "source": f"{EXAMPLES / 'llm_budget_agent.yaml'}:8",
        "daily_usd": 20,
        "requests_per_second": 5,
        "cost_usd": 6.0,
        "spent_usd": 18.0,
    }


def test_budget_row_limits_requests_per_second() -> None:
    clock = Clock()
    guard, _ = _guard(EXAMPLES / "llm_budget_agent.yaml", store=MemoryBudgetStore(clock=clock))
    with guard:
        burst = [guard.check(COMPLETION) for _ in range(6)]
        assert [r.allow for r in burst] == [True] * 5 + [False]
        assert burst[5].codes == ["rate_limit_exceeded"]
        clock.now += 1.5
        assert guard.check(COMPLETION).allow


def test_the_call_default_cost_is_charged_without_a_cost_usd() -> None:
    guard, sink = _guard(EXAMPLES / "llm_budget_agent.yaml")
    with guard:
        assert guard.check(COMPLETION).allow
        assert _records(guard, sink)[0]["budget"]["cost_usd"] == 0.002


@pytest.mark.parametrize("store_kind", ["memory", "redis"])
def test_budget_holds_under_concurrency(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """100 threads through one guard (or two guards on one Redis) spending $1 each of a $20 budget: exactly 20."""
    text = (EXAMPLES / "llm_budget_agent.yaml").read_text(encoding="utf-8")
    policy = tmp_path / "llm.yaml"
    policy.write_text(text.replace("    requests_per_second: 5\n", ""), encoding="utf-8")  # only dollars count here
    if store_kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        guards = [_guard(policy, store=RedisBudgetStore(server.url, timeout=5.0))[0] for _ in range(2)]
    else:
        guards = [_guard(policy)[0]]
    codes: list[list[str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(100)

    def spend(guard: Guard) -> None:
        barrier.wait()
        decision = guard.check({**COMPLETION, "cost_usd": 1.0})
        with lock:
            codes.append(decision.codes)

    threads = [threading.Thread(target=spend, args=(guards[i % len(guards)],)) for i in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for guard in guards:
        guard.close()
    assert codes.count([]) == 20 and codes.count(["budget_exceeded"]) == 80


# --- egress -------------------------------------------------------------------------------------------------------

FETCH = {"agent_id": "research_assistant", "method": "GET"}


@pytest.mark.parametrize(
    ("call", "decision", "message"),
    [
        ({"url": "https://internal-api.company.local/v1/docs"}, "allow", None),
        ({"url": "https://Search.SVC.company.local./v1"}, "allow", None),
        ({"url": "https://paste.example.net/upload"}, "deny", "host `paste.example.net` is not an allowed domain"),
        ({"url": "https://203.0.113.7/upload"}, "deny", "host `203.0.113.7` is refused: an IP address is refused as a "
                                                         "host (use a domain name)"),
        ({"url": "https://internal-api.company.local@paste.example.net/x"}, "deny",
         "host `internal-api.company.local@paste.example.net` is refused: a user name in the host is refused"),
        ({"path": "/x", "host": "api.crossref.org:8443", "port": 443}, "deny",
         "host `api.crossref.org:8443` is refused: the host's port 8443 does not match the call's port 443"),
        ({"path": "/works"}, "deny",
         "the call names no destination host (`host` or `url`), and only allowed domains may be reached"),
    ],
    ids=["internal", "subdomain-any-case", "other-host", "ip", "userinfo", "port-mismatch", "no-destination"],
)  # fmt: skip
def test_egress_row(call: dict[str, Any], decision: str, message: str | None) -> None:
    guard, _ = _guard(EXAMPLES / "egress_allowlist.yaml")
    with guard:
        result = guard.check({**FETCH, **call})
        assert result.decision == decision
        if message is not None:
            assert (result.decision_reason, result.codes, result.controls) == (message, ["egress_denied"], ["CC6.6"])


# --- shadow mode --------------------------------------------------------------------------------------------------


def test_shadow_parameter_conditions_never_block_and_open_no_request(tmp_path: Path) -> None:
    approvals = ApprovalService(MemoryApprovalStore(), secret=SECRET)
    guard, sink = _guard(_shadow_copy("finance_agent.yaml", tmp_path), approvals=approvals)
    with guard:
        needs = guard.check({**PAYMENT, "body": {"amount": 7500, "currency": "EUR"}})
        denied = guard.check({**PAYMENT, "body": {"amount": 60000, "currency": "EUR"}})
        assert (needs.decision, needs.blocked, needs.enforced) == ("approval_needed", False, False)
        assert (denied.decision, denied.blocked) == ("deny", False)
        assert approvals.pending() == [] and needs.approval_id is None
        records = _records(guard, sink)
    assert [(r["decision"], r["enforced"]) for r in records] == [("approval_needed", False), ("deny", False)]


def test_shadow_sanitize_forwards_the_call_unchanged_and_records_the_redactions(tmp_path: Path) -> None:
    guard, sink = _guard(_shadow_copy("clinical_agent.yaml", tmp_path))
    call = {**EHR, "method": "POST", "path": "/ehr/notes", "context": {"purpose": "care"},
            "body": {"note": "mail ann@example.com"}}  # fmt: skip
    with guard:
        result = guard.check(call)
        assert (result.decision, result.blocked, sanitize_call(result, call)) == ("sanitize", False, call)
        assert sanitize_result(result, {"card": "4111111111111111"}) == {"card": "4111111111111111"}
        [record] = _records(guard, sink)
    assert record["enforced"] is False
    assert record["redactions"] == [{"field": "body.note", "detector": "email", "rule": "sanitize[0]", "count": 1}]


def test_shadow_budget_lets_calls_through_and_records_budget_exceeded(tmp_path: Path) -> None:
    clock = Clock()
    guard, sink = _guard(_shadow_copy("llm_budget_agent.yaml", tmp_path), store=MemoryBudgetStore(clock=clock))
    with guard:
        results = [guard.check({**COMPLETION, "cost_usd": 15.0}) for _ in range(2)]
        assert [r.blocked for r in results] == [False, False]
        assert results[1].codes == ["budget_exceeded"]
        assert [r["enforced"] for r in _records(guard, sink)] == [False, False]


def test_shadow_egress_never_blocks(tmp_path: Path) -> None:
    guard, sink = _guard(_shadow_copy("egress_allowlist.yaml", tmp_path))
    with guard:
        result = guard.check({**FETCH, "url": "https://paste.example.net/upload"})
        assert (result.decision, result.blocked, result.codes) == ("deny", False, ["egress_denied"])
        assert _records(guard, sink)[0]["enforced"] is False


# --- through the LangGraph adapter ---------------------------------------------------------------------------------


def _tool_graph(guard: Guard, agent_id: str, function: Any, args: dict[str, Any], **options: Any) -> Any:
    """agent → tools → agent: the agent's first turn calls ``function`` with ``args``, its second turn answers."""
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import tools_condition

    from yaml2rego.adapters.langgraph import guarded_tool_node

    name = function.__name__
    script = iter([AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "c1"}]),
                   AIMessage(content="done")])  # fmt: skip

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [next(script)]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", guarded_tool_node([tool(function)], guard, agent_id, **options))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=InMemorySaver())


@pytest.fixture
def payment_graph() -> Iterator[tuple[Any, Guard, MemorySink, ApprovalService, list[dict[str, Any]]]]:
    approvals = ApprovalService(MemoryApprovalStore(), secret=SECRET)
    guard, sink = _guard(EXAMPLES / "finance_agent.yaml", approvals=approvals)
    paid: list[dict[str, Any]] = []

    def make_payment(amount: float, currency: str, memo: str | None = None) -> str:
        """Pay a supplier."""
        paid.append({"amount": amount, "currency": currency, "memo": memo})
        return "paid with the card on file, 4111 1111 1111 1111"

    def build(args: dict[str, Any]) -> Any:
        return _tool_graph(guard, "finance_agent", make_payment, args, actions={"make_payment": "write"})

    yield build, guard, sink, approvals, paid
    guard.close()


def _thread(name: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": name}}


def _tool_message(result: dict[str, Any]) -> Any:
    from langchain_core.messages import ToolMessage

    [message] = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    return message


def test_langgraph_interrupt_carries_the_request_and_the_granted_resume_pays_once(payment_graph: Any) -> None:
    from langgraph.types import Command

    build, guard, sink, approvals, paid = payment_graph
    graph = build({"amount": 7500, "currency": "EUR"})
    config = _thread("approve")
    paused = graph.invoke({"messages": [("user", "pay")]}, config)
    [interrupt] = paused["__interrupt__"]
    request_id = interrupt.value["approval_id"]
    assert interrupt.value["reasons"][0]["code"] == "approval_required" and paid == []
    approvals.approve(request_id, approver="alice")
    result = graph.invoke(Command(resume={"approved": True}), config)
    assert _tool_message(result).status == "success" and paid == [{"amount": 7500, "currency": "EUR", "memo": None}]
    records = _records(guard, sink)
    assert records[-1]["decision"] == "allow" and records[-1]["approval_id"] == request_id


def test_langgraph_resume_without_a_grant_or_with_a_refusal_is_refused(payment_graph: Any) -> None:
    from langgraph.types import Command

    build, _, _, approvals, paid = payment_graph
    graph = build({"amount": 7500, "currency": "EUR"})
    config = _thread("no-grant")
    paused = graph.invoke({"messages": [("user", "pay")]}, config)
    request_id = paused["__interrupt__"][0].value["approval_id"]
    # "approved" in the graph, but no approver granted the request: the call stays blocked.
    result = graph.invoke(Command(resume={"approved": True}), config)
    assert _tool_message(result).status == "error" and paid == []
    approvals.deny(request_id, approver="bob")
    other = build({"amount": 7500, "currency": "EUR"})
    config = _thread("refused")
    other.invoke({"messages": [("user", "pay")]}, config)
    refused = other.invoke(Command(resume={"approved": False}), config)
    assert "needs a human's approval" in _tool_message(refused).content and paid == []


def test_langgraph_hard_maximum_and_sanitized_arguments(payment_graph: Any) -> None:
    build, _, _, _, paid = payment_graph
    denied = build({"amount": 60000, "currency": "EUR"}).invoke({"messages": [("user", "pay")]}, _thread("max"))
    assert "[parameter_denied]" in _tool_message(denied).content and paid == []
    memo = {"amount": 10, "currency": "EUR", "memo": "receipt to ann@example.com"}
    result = build(memo).invoke({"messages": [("user", "pay")]}, _thread("memo"))
    assert paid == [{"amount": 10, "currency": "EUR", "memo": "receipt to [REDACTED:email]"}]
    assert _tool_message(result).content == "paid with the card on file, [REDACTED:card]"


def test_langgraph_ehr_row() -> None:
    def read_record(patient_id: str, export: bool | None = None) -> str:
        """Read a patient's record."""
        return f"record {patient_id}"

    def purpose(value: str) -> Any:
        return lambda request: {"context": {"purpose": value}}

    guard, sink = _guard(EXAMPLES / "clinical_agent.yaml")
    with guard:
        for args, why, status in [
            ({"patient_id": "42"}, "care", "success"),
            ({"patient_id": "42"}, "research", "error"),
            ({"patient_id": "42", "export": True}, "care", "error"),
        ]:
            graph = _tool_graph(guard, "clinical_agent", read_record, args, context_from=purpose(why))
            message = _tool_message(graph.invoke({"messages": [("user", "read")]}, _thread(f"{why}-{len(args)}")))
            assert message.status == status
        records = _records(guard, sink)
    assert [r["decision"] for r in records] == ["allow", "deny", "deny"]
    assert records[1]["decision_reason"] == CARE_ONLY
    assert records[2]["decision_reason"] == "exporting records is not allowed (conditions[2])"


def test_langgraph_budget_row(tmp_path: Path) -> None:
    def complete(prompt: str) -> str:
        """Ask the model."""
        return "answer"

    policy = _local_copy("llm_budget_agent.yaml", tmp_path, ("daily_usd: 20", "daily_usd: 0.02"))
    guard, sink = _guard(policy, store=MemoryBudgetStore(clock=Clock()))
    with guard:
        statuses = []
        for turn in range(3):
            graph = _tool_graph(guard, "llm_agent", complete, {"prompt": "hi"}, actions={"complete": "execute"})
            statuses.append(_tool_message(graph.invoke({"messages": [("user", "ask")]}, _thread(str(turn)))).status)
        records = _records(guard, sink)
    assert statuses == ["success", "success", "error"]
    assert records[2]["reasons"][0]["code"] == "budget_exceeded" and records[1]["budget"]["cost_usd"] == 0.01


# --- through the HTTP adapters -------------------------------------------------------------------------------------


class Upstream:
    """A local HTTP server that keeps what it receives: (method, path, headers, body)."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[tuple[str, str, dict[str, str], bytes]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                upstream.received.append((self.command, self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


def _local_copy(name: str, tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """The example with its destination domain(s) pointed at `localhost`, the local upstream."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    for old, new in replacements:
        text = text.replace(old, new)
    target = tmp_path / name
    target.write_text(text, encoding="utf-8")
    return target


def test_http_payment_row_with_an_override_token(upstream: Upstream, tmp_path: Path) -> None:
    from yaml2rego.adapters.http import guarded_session
    from yaml2rego.errors import PolicyDenied

    approvals = ApprovalService(MemoryApprovalStore(), secret=SECRET)
    policy = _local_copy("finance_agent.yaml", tmp_path, ("payments.internal.example", "localhost"))
    guard, _ = _guard(policy, approvals=approvals)
    url = f"http://localhost:{upstream.port}/api/payments/v1/"
    with guard, guarded_session(guard, "finance_agent") as session:
        assert session.post(url, json={"amount": 120, "currency": "EUR"}).status_code == 200
        with pytest.raises(PolicyDenied) as pending:
            session.post(url, json={"amount": 7500, "currency": "EUR"})
        request_id = pending.value.decision.approval_id
        assert pending.value.decision.decision == "approval_needed" and len(upstream.received) == 1
        token = approvals.approve(str(request_id), approver="alice").token
        headers = {"X-Approval-Token": str(token)}
        assert session.post(url, json={"amount": 7500, "currency": "EUR"}, headers=headers).status_code == 200
        assert "X-Approval-Token" not in upstream.received[-1][2]
        with pytest.raises(PolicyDenied) as replay:
            session.post(url, json={"amount": 7500, "currency": "EUR"}, headers=headers)
        assert replay.value.decision.codes == ["approval_token_reused"] and len(upstream.received) == 2


def test_http_egress_row(upstream: Upstream, tmp_path: Path) -> None:
    from yaml2rego.adapters.http import guarded_session
    from yaml2rego.errors import PolicyDenied

    policy = _local_copy("egress_allowlist.yaml", tmp_path, ("internal-api.company.local", "localhost"))
    guard, _ = _guard(policy)
    with guard, guarded_session(guard, "research_assistant") as session:
        assert session.get(f"http://localhost:{upstream.port}/v1/docs").status_code == 200
        for url, problem in [
            (f"http://127.0.0.1:{upstream.port}/x", "an IP address is refused"),
            (f"http://evil@localhost:{upstream.port}/x", "a user name in the host is refused"),
        ]:
            with pytest.raises(PolicyDenied) as denied:
                session.get(url)
            assert denied.value.decision.codes == ["egress_denied"] and problem in denied.value.decision.decision_reason
    assert len(upstream.received) == 1


@pytest.mark.parametrize("client", ["requests", "httpx"])
def test_http_clinical_notes_leave_redacted(client: str, upstream: Upstream, tmp_path: Path) -> None:
    import httpx

    from yaml2rego.adapters.http import GuardedTransport, guarded_session

    policy = _local_copy("clinical_agent.yaml", tmp_path, ("ehr.hospital.example", "localhost"),
                         ("field: context.purpose", "field: body.purpose"))  # fmt: skip
    guard, sink = _guard(policy)
    url = f"http://localhost:{upstream.port}/ehr/notes/"
    note = {"purpose": "care", "note": "call ann@example.com"}
    with guard:
        if client == "requests":
            with guarded_session(guard, "clinical_agent") as session:
                assert session.post(url, json=note).status_code == 200
        else:
            with httpx.Client(transport=GuardedTransport(guard, "clinical_agent")) as http:
                assert http.post(url, json=note).status_code == 200
        [(_, _, headers, body)] = upstream.received
        assert json.loads(body) == {"purpose": "care", "note": "call [REDACTED:email]"}
        assert int(headers["Content-Length"]) == len(body)
        [record] = _records(guard, sink)
    assert record["redactions"] == [{"field": "body.note", "detector": "email", "rule": "sanitize[0]", "count": 1}]


def test_http_budget_row(upstream: Upstream, tmp_path: Path) -> None:
    from yaml2rego.adapters.http import guarded_session
    from yaml2rego.errors import PolicyDenied

    policy = _local_copy("llm_budget_agent.yaml", tmp_path, ("llm.internal.example", "localhost"),
                         ("daily_usd: 20", "daily_usd: 0.005"))  # fmt: skip
    guard, _ = _guard(policy, store=MemoryBudgetStore(clock=Clock()))
    url = f"http://localhost:{upstream.port}/v1/chat/completions"
    with guard, guarded_session(guard, "llm_agent") as session:
        assert [session.post(url, json={}).status_code for _ in range(2)] == [200, 200]
        with pytest.raises(PolicyDenied) as exhausted:
            session.post(url, json={})
    assert exhausted.value.decision.codes == ["budget_exceeded"] and len(upstream.received) == 2
