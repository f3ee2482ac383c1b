"""The runtime guard: decisions, fail-closed, shadow mode, kill switch, rate limits, records, threads and asyncio."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.fake_engine import ScriptedEngine
from yaml2rego.adapters import Decision, Guard, MemorySink, PolicyDenied, verify_records
from yaml2rego.errors import EngineError, EngineUnavailable
from yaml2rego.runtime.decision import prepare_input

SUPPORT = """\
agent_boundary:
  agent_id: "support_agent_1"
  allowed_endpoints:
    - method: GET
      path: "/api/customer/v1/*"
    - method: POST
      path: "/api/ticket/v1/"
  denied_endpoints:
    - method: "*"
      path: "/api/admin/*"
  input_validation:
    - endpoint: "/api/ticket/v1/"
      rules:
        - field: "priority"
          type: "enum"
          values: ["low", "medium", "high"]
  rate_limits:
    - endpoint: "/api/customer/v1/*"
      requests_per_minute: 30
  max_payload_size_kb: 1
"""

SHADOW = """\
agent_boundary:
  agent_id: "trial_agent"
  mode: shadow
  allowed_endpoints:
    - method: GET
      path: "/api/public/*"
"""

ALLOWED = {"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"}
DENIED = {"agent_id": "support_agent_1", "method": "GET", "path": "/api/admin/users"}


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("boundaries")
    (directory / "support.yaml").write_text(SUPPORT, encoding="utf-8")
    (directory / "trial.yaml").write_text(SHADOW, encoding="utf-8")
    return directory


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def guard(policy_dir: Path, sink: MemorySink) -> Iterator[Guard]:
    guard = Guard.from_policy([policy_dir], sinks=[sink])
    yield guard
    guard.close()


class FakeEngine(ScriptedEngine):
    """An engine that answers from a script: a decision dict, or an exception to raise."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[Mapping[str, Any]] = []

    def decide(self, call: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(call)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[no-any-return]


def shadow_deny(agent_id: str = "trial_agent") -> dict[str, Any]:
    reason = {"code": "endpoint_not_allowed", "message": "no rule", "control": "CC6.1", "rule": "x", "source": "y"}
    return {"decision": "deny", "allow": False, "reasons": [reason], "decision_reason": "no rule",
            "policy_version": "v1", "agent_id": agent_id, "mode": "shadow", "rate_limits": []}  # fmt: skip


# -- decisions -------------------------------------------------------------------------------------------------------


def test_check_returns_the_contract_fields_and_a_decision_id(guard: Guard) -> None:
    decision = guard.check(ALLOWED)
    assert isinstance(decision, Decision)
    assert (decision.decision, decision.allow, decision.reasons) == ("allow", True, [])
    assert decision.agent_id == "support_agent_1" and decision.mode == "enforce" and decision.enforced
    assert decision.policy_version and decision.policy_version.startswith("sha256:")
    assert len(decision.decision_id) == 36 and decision.engine == "native"
    assert "allowed_endpoints[0]" in decision.decision_reason


def test_decision_ids_are_version_4_uuids_and_unique() -> None:
    import uuid

    from yaml2rego.runtime.decision import new_decision_id

    ids = [new_decision_id() for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert all(str(uuid.UUID(text)) == text and uuid.UUID(text).version == 4 for text in ids)
    assert all(uuid.UUID(text).variant == uuid.RFC_4122 for text in ids)


def test_decisions_name_the_engine_the_guard_has_now() -> None:
    """The engine's name is worked out once, and again when the guard is given another engine."""

    class Other(FakeEngine):
        name = "other"

    allow = {"decision": "allow", "allow": True, "reasons": [], "agent_id": "a", "mode": "enforce"}
    guard = Guard(FakeEngine(allow))
    assert guard.check(ALLOWED).engine == "fake"
    guard.engine = Other(allow)
    assert guard.check(ALLOWED).engine == "other" and guard.engine_name == "other"


def test_decision_ids_make_no_system_call_after_a_threads_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """os.urandom gives the interpreter lock away; a thread draws its key from it once, never per id."""
    import os
    import threading

    from yaml2rego.runtime import decision as decision_module

    drawn: list[int] = []
    real = os.urandom
    monkeypatch.setattr(decision_module.os, "urandom", lambda size: drawn.append(size) or real(size))
    made: dict[str, list[str]] = {}

    def draw(name: str) -> None:
        made[name] = [decision_module.new_decision_id() for _ in range(500)]

    workers = [threading.Thread(target=draw, args=(name,)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert drawn == [32, 32]  # one key per thread, 1,000 ids
    assert len(set(made["a"]) | set(made["b"])) == 1000


def test_a_decision_from_a_result_is_the_decision_its_constructor_builds() -> None:
    """from_result fills the frozen dataclass through its __dict__: equal to the constructor's object, still frozen."""
    import dataclasses

    result = {
        "decision": "sanitize", "allow": False, "reasons": [{"code": "sensitive_data_redacted"}],
        "decision_reason": "r", "policy_version": "v", "agent_id": "a", "mode": "shadow",
        "rate_limits": [{"rule": "x", "requests_per_minute": 3}], "redactions": [{"field": "body.note"}],
    }  # fmt: skip
    built = Decision.from_result(result, decision_id="d", engine="native", latency_us=7)
    assert built == Decision(
        decision="sanitize", allow=False, reasons=[{"code": "sensitive_data_redacted"}], decision_reason="r",
        policy_version="v", agent_id="a", mode="shadow", decision_id="d", enforced=True, engine="native",
        rate_limits=[{"rule": "x", "requests_per_minute": 3}], approval_id=None, latency_us=7,
        details={"redactions": [{"field": "body.note"}]},
    )  # fmt: skip
    assert built.reasons is not result["reasons"] and built.reasons[0] is not result["reasons"][0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.decision = "allow"  # type: ignore[misc]
    with pytest.raises(TypeError, match="decision_id needed"):
        Decision.from_result(result, engine="native")
    with pytest.raises(TypeError, match="colour"):
        Decision.from_result(result, decision_id="d", colour="red")


def test_a_forked_child_draws_decision_ids_of_its_own() -> None:
    """Ids come from a per-thread supply of random bytes; a forked child must not hand out its parent's next ones."""
    import os

    from yaml2rego.runtime.decision import new_decision_id

    new_decision_id()  # the parent now holds a supply
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write_end, new_decision_id().encode())
        os._exit(0)
    os.waitpid(child, 0)
    os.close(write_end)
    assert os.read(read_end, 64).decode() != new_decision_id()


def test_enforce_raises_policy_denied_with_the_reasons(guard: Guard) -> None:
    with pytest.raises(PolicyDenied) as raised:
        guard.enforce(DENIED)
    assert "endpoint_denied" in [reason["code"] for reason in raised.value.reasons]
    assert raised.value.decision.blocked


def test_path_is_canonicalised_before_the_engine_sees_it(guard: Guard, sink: MemorySink) -> None:
    decision = guard.check({**ALLOWED, "path": "/api/customer/v1/42/?expand=orders"})
    guard.flush()
    assert decision.allow
    assert sink.records[-1]["path"] == "/api/customer/v1/42"


def test_non_canonical_path_reaches_the_policy_unchanged_and_is_denied_by_it(guard: Guard, sink: MemorySink) -> None:
    decision = guard.check({**ALLOWED, "path": "/api/customer/v1/%2e%2e/admin"})
    guard.flush()
    assert decision.codes == ["non_canonical_path"]
    assert sink.records[-1]["path"] == "/api/customer/v1/%2e%2e/admin"


@pytest.mark.parametrize(
    ("body", "size"),
    [
        pytest.param("héllo", 6, id="str-utf8"),
        pytest.param(b"\x00\x01\x02", 3, id="bytes"),
        pytest.param({"a": "é", "b": [1, 2]}, len('{"a":"é","b":[1,2]}'.encode()), id="json-compact"),
        pytest.param([], 2, id="empty-list"),
    ],
)
def test_payload_size_is_the_utf8_bytes_of_the_body_as_sent(body: Any, size: int) -> None:
    assert prepare_input({"agent_id": "a", "method": "POST", "path": "/x", "body": body})["payload_size_bytes"] == size


def test_prepare_input_copies_the_call_unless_told_it_owns_it() -> None:
    call = {"agent_id": "a", "method": "GET", "path": "/x/?q=1"}
    prepared = prepare_input(call)
    assert prepared is not call and call["path"] == "/x/?q=1" and prepared["path"] == "/x"
    own = dict(call)
    assert prepare_input(own, copy=False) is own and own["path"] == "/x"


def test_a_body_over_the_limit_is_denied_as_payload_too_large(guard: Guard) -> None:
    call = {"agent_id": "support_agent_1", "method": "POST", "path": "/api/ticket/v1/", "body": {"priority": "low"}}
    assert guard.check(call).allow
    big = {**call, "body": {"priority": "low", "note": "é" * 600}}  # 1,200+ bytes against a 1 KiB limit
    assert guard.check(big).codes == ["payload_too_large"]


@pytest.mark.parametrize(
    "call", [pytest.param("GET /", id="string"), pytest.param([1], id="list"), pytest.param({}, id="empty")]
)
def test_a_malformed_call_is_denied_by_the_policy_as_invalid_request(guard: Guard, sink: MemorySink, call: Any) -> None:
    decision = guard.check(call)
    assert set(decision.codes) == {"invalid_request"} and decision.blocked
    guard.flush()
    assert sink.records[-1]["agent_id"] is None and sink.records[-1]["decision"] == "deny"


# -- fail closed -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(EngineUnavailable("OPA at http://x did not answer within 0.25s"), id="unreachable"),
        pytest.param(EngineError("evaluation failed"), id="engine-error"),
        pytest.param(RuntimeError("boom"), id="any-exception"),
        pytest.param(None, id="not-an-object"),
        pytest.param({"decision": "maybe", "allow": True, "reasons": []}, id="unknown-decision"),
        pytest.param({"decision": "allow", "allow": False, "reasons": []}, id="allow-disagrees"),
        pytest.param({"decision": "deny", "allow": False, "reasons": []}, id="deny-without-reasons"),
        pytest.param({"decision": "approval_needed", "allow": True, "reasons": [{"code": "x"}]}, id="approval-allow"),
        pytest.param(
            {"decision": "allow", "allow": True, "reasons": [], "rate_limits": [{"rule": "r"}]}, id="bad-limits"
        ),
    ],
)
def test_engine_failures_become_a_recorded_deny(answer: Any) -> None:
    sink = MemorySink()
    with Guard(FakeEngine(answer), sinks=[sink]) as guard:
        decision = guard.check(ALLOWED)
        assert decision.codes == ["policy_engine_unavailable"]
        assert decision.blocked and decision.controls == ["CC6.1"]
        with pytest.raises(PolicyDenied):
            guard.enforce(ALLOWED)
        guard.flush()
    assert [record["reasons"][0]["code"] for record in sink.records] == ["policy_engine_unavailable"] * 2
    assert sink.records[0]["decision_reason"].startswith("the policy engine is unavailable")


def test_unreachable_opa_daemon_is_a_deny_not_an_exception() -> None:
    with Guard.from_opa("http://127.0.0.1:9", timeout=0.2) as guard:
        decision = guard.check(ALLOWED)
    assert decision.codes == ["policy_engine_unavailable"] and decision.engine == "opa"


def test_an_opa_daemon_slower_than_the_timeout_is_a_deny() -> None:
    release = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            release.wait(5)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Guard.from_opa(f"http://127.0.0.1:{server.server_address[1]}", timeout=0.2) as guard:
            decision = guard.check(ALLOWED)
        assert decision.codes == ["policy_engine_unavailable"]
        assert "did not answer within 0.2s" in decision.decision_reason
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_an_engine_slower_than_the_guards_timeout_is_a_deny() -> None:
    release = threading.Event()

    class Stuck(FakeEngine):
        def decide(self, call: Mapping[str, Any]) -> dict[str, Any]:
            release.wait(5)
            return super().decide(call)

    with Guard(Stuck(shadow_deny()), timeout=0.1) as guard:
        decision = guard.check(ALLOWED)
        release.set()
    assert decision.codes == ["policy_engine_unavailable"] and decision.blocked
    assert decision.decision_reason == "the policy engine is unavailable: the fake engine did not answer within 0.1s"


def test_with_a_timeout_the_embedded_engine_still_decides(policy_dir: Path) -> None:
    with Guard.from_policy([policy_dir], timeout=5) as guard:
        assert guard.check(ALLOWED).allow and guard.check(DENIED).blocked


# -- shadow mode -----------------------------------------------------------------------------------------------------


def test_shadow_agents_are_never_blocked_but_would_be_denials_are_recorded(guard: Guard, sink: MemorySink) -> None:
    call = {"agent_id": "trial_agent", "method": "GET", "path": "/api/private/x"}
    decision = guard.enforce(call)  # does not raise
    assert (decision.decision, decision.enforced, decision.blocked) == ("deny", False, False)
    guard.flush()
    assert sink.records[-1]["enforced"] is False and sink.records[-1]["decision"] == "deny"


def test_a_known_shadow_agent_stays_unblocked_while_the_engine_is_down() -> None:
    engine = FakeEngine(shadow_deny(), EngineUnavailable("down"))
    with Guard(engine) as guard:
        guard.check({"agent_id": "trial_agent", "method": "GET", "path": "/x"})
        decision = guard.check({"agent_id": "trial_agent", "method": "GET", "path": "/x"})
    assert decision.codes == ["policy_engine_unavailable"] and not decision.blocked


# -- kill switch -----------------------------------------------------------------------------------------------------


def test_suspend_denies_the_next_call_and_resume_lifts_it(guard: Guard) -> None:
    assert guard.check(ALLOWED).allow
    guard.suspend("support_agent_1", "incident 42")
    decision = guard.check(ALLOWED)
    assert decision.codes == ["agent_suspended"] and decision.controls == ["CC7.4"]
    guard.resume("support_agent_1")
    assert guard.check(ALLOWED).allow


def test_the_kill_switch_blocks_a_shadow_agent_too(guard: Guard) -> None:
    call = {"agent_id": "trial_agent", "method": "GET", "path": "/api/public/x"}
    guard.suspend("trial_agent", "incident 43")
    decision = guard.check(call)
    guard.resume("trial_agent")
    assert decision.codes == ["agent_suspended"] and decision.blocked
    assert guard.check(call).allow


# -- rate limits -----------------------------------------------------------------------------------------------------


def test_200_threads_racing_on_a_limit_of_30_let_exactly_30_through(guard: Guard) -> None:
    barrier = threading.Barrier(200)
    decisions: list[Decision] = []
    lock = threading.Lock()

    def call(n: int) -> None:
        barrier.wait()
        decision = guard.check({**ALLOWED, "path": f"/api/customer/v1/{n}"})
        with lock:
            decisions.append(decision)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(decision.allow for decision in decisions) == 30
    refused = [decision for decision in decisions if not decision.allow]
    assert {tuple(decision.codes) for decision in refused} == {("rate_limit_exceeded",)}
    assert refused[0].reasons[0]["rule"] == "rate_limits[0]" and refused[0].controls == ["A1.1"]
    assert "30 requests per minute" in refused[0].decision_reason


def test_only_calls_that_are_otherwise_allowed_are_counted(guard: Guard) -> None:
    for _ in range(40):  # POST is not allowed on the rate-limited pattern: denied by the policy, never counted
        assert guard.check({**ALLOWED, "method": "POST"}).codes == ["endpoint_not_allowed"]
    assert all(guard.check(ALLOWED).allow for _ in range(30))
    assert guard.check(ALLOWED).codes == ["rate_limit_exceeded"]


# -- decision cache --------------------------------------------------------------------------------------------------


@pytest.fixture
def cached_guard(policy_dir: Path, sink: MemorySink) -> Iterator[Guard]:
    guard = Guard.from_policy([policy_dir], sinks=[sink], decision_cache=100)
    yield guard
    guard.close()


def test_a_repeated_call_is_answered_from_the_decision_cache_and_still_recorded(
    cached_guard: Guard, sink: MemorySink
) -> None:
    first, second = cached_guard.check(ALLOWED), cached_guard.check(ALLOWED)
    cache = cached_guard.engine.cache  # type: ignore[attr-defined]
    assert (cache.misses, cache.hits) == (1, 1)
    assert (first.decision, first.decision_reason) == (second.decision, second.decision_reason)
    assert first.decision_id != second.decision_id
    cached_guard.flush()
    assert [record["decision_id"] for record in sink.records] == [first.decision_id, second.decision_id]


def test_the_decision_cache_never_answers_a_different_input(cached_guard: Guard) -> None:
    assert cached_guard.check(ALLOWED).allow
    assert cached_guard.check({**ALLOWED, "path": "/api/admin/users"}).codes == ["endpoint_denied"]
    assert cached_guard.check({**ALLOWED, "body": {"x": 1}}).allow
    assert cached_guard.engine.cache.hits == 0  # type: ignore[attr-defined]


def test_the_kill_switch_is_not_bypassed_by_a_cached_allow(cached_guard: Guard) -> None:
    assert cached_guard.check(ALLOWED).allow
    cached_guard.suspend("support_agent_1", "incident 44")
    assert cached_guard.check(ALLOWED).codes == ["agent_suspended"]
    cached_guard.resume("support_agent_1")
    assert cached_guard.check(ALLOWED).allow


def test_rate_limits_count_calls_answered_from_the_cache(cached_guard: Guard) -> None:
    assert all(cached_guard.check(ALLOWED).allow for _ in range(30))
    assert cached_guard.check(ALLOWED).codes == ["rate_limit_exceeded"]
    assert cached_guard.engine.cache.hits >= 29  # type: ignore[attr-defined]


def test_a_cached_decision_is_a_fresh_copy(cached_guard: Guard) -> None:
    denied = cached_guard.check(DENIED)
    denied.reasons[0]["message"] = "changed by the caller"
    assert cached_guard.check(DENIED).reasons[0]["message"] != "changed by the caller"


def test_the_decision_cache_keeps_only_the_most_recent_inputs(policy_dir: Path) -> None:
    with Guard.from_policy([policy_dir], decision_cache=2) as guard:
        for n in range(3):
            guard.check({**ALLOWED, "path": f"/api/customer/v1/{n}"})
        guard.check({**ALLOWED, "path": "/api/customer/v1/0"})  # pushed out by the third
        guard.check({**ALLOWED, "path": "/api/customer/v1/2"})  # still kept
        assert (guard.engine.cache.misses, guard.engine.cache.hits) == (4, 1)  # type: ignore[attr-defined]


# -- records ---------------------------------------------------------------------------------------------------------


def test_every_decision_becomes_one_chained_record(guard: Guard, sink: MemorySink) -> None:
    first = guard.check({**ALLOWED, "tool": "crm_lookup"})
    second = guard.check(DENIED)
    assert guard.flush(5)
    assert [record["decision_id"] for record in sink.records] == [first.decision_id, second.decision_id]
    record = sink.records[0]
    assert record["tool"] == "crm_lookup" and record["decision"] == first.decision and record["enforced"] is True
    assert record["engine"] == "native" and isinstance(record["latency_us"], int)
    assert record["input_sha256"].startswith("sha256:") and "body" not in record
    assert sink.records[1]["controls"] == ["CC6.1"]
    assert "endpoint_denied" in [reason["code"] for reason in sink.records[1]["reasons"]]
    assert verify_records(sink.records).ok


def test_records_carry_the_callers_trace_when_tracing_is_on(policy_dir: Path) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    sink = MemorySink()
    tracer = TracerProvider().get_tracer("test")
    with Guard.from_policy([policy_dir], sinks=[sink], tracing=True) as guard:
        with tracer.start_as_current_span("agent step") as span:
            guard.check(ALLOWED)
        guard.check(ALLOWED)
        guard.flush()
    context = span.get_span_context()
    assert sink.records[0]["trace_id"] == format(context.trace_id, "032x")
    assert sink.records[0]["span_id"] == format(context.span_id, "016x")
    assert "trace_id" not in sink.records[1]


def test_approval_id_from_the_call_is_recorded(guard: Guard, sink: MemorySink) -> None:
    decision = guard.check({**ALLOWED, "approval_id": "apr-7"})
    guard.flush()
    assert decision.approval_id == "apr-7" and sink.records[-1]["approval_id"] == "apr-7"


# -- concurrency -----------------------------------------------------------------------------------------------------


def test_one_guard_serves_threads_and_asyncio_tasks_at_once(guard: Guard, sink: MemorySink) -> None:
    async def many() -> list[Decision]:
        return await asyncio.gather(*(guard.acheck(DENIED) for _ in range(50)))

    results: list[Decision] = []
    worker = threading.Thread(target=lambda: results.extend(guard.check(DENIED) for _ in range(50)))
    worker.start()
    results.extend(asyncio.run(many()))
    worker.join()
    assert len(results) == 100 and all("endpoint_denied" in decision.codes for decision in results)
    guard.flush()
    assert len({record["decision_id"] for record in sink.records}) == 100


def test_aenforce_raises_for_a_blocked_call(guard: Guard) -> None:
    with pytest.raises(PolicyDenied):
        asyncio.run(guard.aenforce(DENIED))


def test_flush_waits_for_a_slow_sink(policy_dir: Path) -> None:
    class SlowSink(MemorySink):
        def write(self, records: Any) -> None:
            time.sleep(0.01)
            super().write(records)

    sink = SlowSink()
    with Guard.from_policy([policy_dir], sinks=[sink]) as guard:
        for _ in range(20):
            guard.check(DENIED)
        assert guard.flush(10)
        assert len(sink.records) == 20
    assert json.dumps(sink.records)  # plain data all the way down


# -- a real OPA daemon (skipped without an opa binary) ---------------------------------------------------------------


@pytest.mark.opa
def test_guard_on_a_real_opa_daemon(policy_dir: Path, opa_binary: str, tmp_path: Path) -> None:
    """Same decisions, kill switch through OPA's data API, and rate limits counted by the guard."""
    from tests.opa_server import running_opa
    from yaml2rego.compile.compiler import compile_policy_set
    from yaml2rego.dsl.loader import load_policies

    compile_policy_set(load_policies([policy_dir])).write(tmp_path / "policy")
    sink = MemorySink()
    with running_opa(opa_binary, [str(tmp_path / "policy")]) as url, Guard.from_opa(url, sinks=[sink]) as guard:
        assert guard.check(ALLOWED).allow and guard.check(DENIED).blocked
        guard.suspend("support_agent_1", "drill")
        assert guard.check(ALLOWED).codes == ["agent_suspended"]
        guard.resume("support_agent_1")
        assert sum(guard.check(ALLOWED).allow for _ in range(40)) == 29  # one of the 30 was used above
        guard.flush()
    assert {record["engine"] for record in sink.records} == {"opa"} and verify_records(sink.records).ok


def test_an_approval_needed_answer_blocks_the_call_and_keeps_extra_keys() -> None:
    reason = {"code": "approval_required", "message": "over 1000", "control": "CC8.1", "rule": "r", "source": "s"}
    answer = {"decision": "approval_needed", "allow": False, "reasons": [reason], "decision_reason": "over 1000",
              "policy_version": "v", "agent_id": "a", "mode": "enforce", "rate_limits": [],
              "approval": {"ttl": 60}}  # fmt: skip
    with Guard(FakeEngine(answer)) as guard:
        decision = guard.check({"agent_id": "a", "method": "POST", "path": "/pay"})
    assert (decision.decision, decision.blocked, decision.codes) == ("approval_needed", True, ["approval_required"])
    assert decision.details == {"approval": {"ttl": 60}}


def test_the_runtime_public_names_are_pinned() -> None:
    import yaml2rego.adapters as adapters
    import yaml2rego.runtime.sinks as sinks

    assert sorted(adapters.__all__) == [
        "ApprovalRequest", "ApprovalService", "Decision", "Guard", "HashChain", "JsonFileApprovalStore",
        "JsonlFileSink", "MemoryApprovalStore", "MemoryBudgetStore", "MemoryRateLimitStore", "MemorySink", "OtelSink",
        "PolicyDenied", "RateLimitStore", "RedisBudgetStore", "RedisRateLimitStore", "Sink", "SlackWebhookNotifier",
        "SplunkHecSink", "VerifyResult", "WebhookNotifier", "sanitize_call", "sanitize_result", "verify_file",
        "verify_records",
    ]  # fmt: skip
    assert sorted(sinks.__all__) == [
        "HecClient", "JsonlFileSink", "MemorySink", "OtelSink", "Record", "RecordPipeline", "Sink", "SplunkHecSink",
        "Spool",
    ]  # fmt: skip
    assert all(hasattr(adapters, name) for name in adapters.__all__)


@pytest.mark.parametrize(
    ("declared", "sent"),
    [
        pytest.param(1, 10, id="understated-is-raised"),
        pytest.param(100, 100, id="overstated-is-kept"),
        pytest.param(None, 10, id="null-is-measured"),
        pytest.param(-1, -1, id="negative-left-for-the-policy"),
        pytest.param(1.5, 1.5, id="fraction-left-for-the-policy"),
        pytest.param("1", "1", id="text-left-for-the-policy"),
        pytest.param(True, True, id="boolean-left-for-the-policy"),
    ],
)
def test_declared_payload_size_is_never_below_the_body(declared: Any, sent: Any) -> None:
    """The guard sends the larger of the declared and the measured size; a malformed one goes on, to be refused."""
    call = {"agent_id": "a", "method": "POST", "path": "/x", "body": "0123456789", "payload_size_bytes": declared}
    assert prepare_input(call)["payload_size_bytes"] == sent
