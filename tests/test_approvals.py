"""Approvals: requests, notifications, single-use override tokens, the CLI, and the guard's approval workflow."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from yaml2rego.adapters import Guard, MemorySink
from yaml2rego.cli import main
from yaml2rego.errors import ApprovalError
from yaml2rego.runtime.approvals import (
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    TOKEN_MISMATCH,
    TOKEN_REUSED,
    ApprovalService,
    JsonFileApprovalStore,
    MemoryApprovalStore,
    SlackWebhookNotifier,
    WebhookNotifier,
    call_digest,
)

SECRET = "test-secret-that-is-at-least-32-bytes!"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "finance_agent.yaml"
BIG_PAYMENT = {
    "agent_id": "finance_agent",
    "method": "POST",
    "path": "/api/payments/v1/",
    "host": "payments.internal.example",
    "body": {"amount": 7500, "currency": "EUR"},
}
REASONS = [{"code": "approval_required", "message": "payments above 5000 need approval"}]


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Receiver:
    """A local HTTP server that keeps every JSON body posted to it; answers `status`."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _service(clock: Clock | None = None, **options: Any) -> ApprovalService:
    return ApprovalService(MemoryApprovalStore(), secret=SECRET, clock=clock or Clock(), **options)


def _granted(service: ApprovalService, agent: str = "finance_agent", digest: str = "sha256:aa") -> str:
    request = service.request(agent, digest, REASONS)
    token = service.approve(request.request_id, approver="alice").token
    assert token is not None
    return token


# --- tokens -------------------------------------------------------------------------------------------------------


def test_a_granted_token_lets_the_same_call_through_once() -> None:
    service = _service()
    token = _granted(service)
    first = service.redeem(token, "finance_agent", "sha256:aa")
    assert first.ok and first.approver == "alice" and first.request_id is not None
    second = service.redeem(token, "finance_agent", "sha256:aa")
    assert (second.ok, second.code) == (False, TOKEN_REUSED)


def test_a_token_for_another_call_is_refused_and_stays_usable() -> None:
    service = _service()
    token = _granted(service)
    other = service.redeem(token, "finance_agent", "sha256:bb")
    assert (other.code, other.message.endswith("granted for another call")) == (TOKEN_MISMATCH, True)
    assert service.redeem(token, "finance_agent", "sha256:aa").ok


def test_a_token_for_another_agent_is_refused() -> None:
    service = _service()
    token = _granted(service)
    refused = service.redeem(token, "other_agent", "sha256:aa")
    assert refused.code == TOKEN_MISMATCH and "another agent" in refused.message


def test_an_expired_token_is_refused() -> None:
    clock = Clock()
    service = _service(clock, token_ttl=60)
    token = _granted(service)
    clock.now += 61
    assert service.redeem(token, "finance_agent", "sha256:aa").code == TOKEN_EXPIRED


@pytest.mark.parametrize(
    "forge",
    [
        lambda claims: jwt.encode(claims, "another-secret-that-is-32-bytes-long!!", algorithm="HS256"),
        lambda claims: jwt.encode(claims, key=None, algorithm="none"),  # type: ignore[arg-type]
        lambda claims: "not.a.jwt",
    ],
    ids=["wrong-key", "alg-none", "garbage"],
)
def test_forged_tokens_are_invalid(forge: Any) -> None:
    service = _service()
    token = _granted(service)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert service.redeem(forge(claims), "finance_agent", "sha256:aa").code == TOKEN_INVALID


def test_a_tampered_token_is_invalid() -> None:
    service = _service()
    token = _granted(service)
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["call"] = "sha256:bb"
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    result = service.redeem(f"{header}.{forged_payload}.{signature}", "finance_agent", "sha256:bb")
    assert result.code == TOKEN_INVALID


def test_a_token_of_a_refused_request_cannot_exist_and_a_decided_request_stays_decided() -> None:
    service = _service()
    request = service.request("finance_agent", "sha256:aa", REASONS)
    refused = service.deny(request.request_id, approver="bob", comment="wrong supplier")
    assert (refused.status, refused.token) == ("denied", None)
    assert service.token(request.request_id) is None
    with pytest.raises(ApprovalError, match="already denied"):
        service.approve(request.request_id, approver="alice")


def test_an_expired_request_cannot_be_approved() -> None:
    clock = Clock()
    service = _service(clock, request_ttl=10)
    request = service.request("finance_agent", "sha256:aa", REASONS)
    clock.now += 11
    assert service.get(request.request_id).status == "expired"
    with pytest.raises(ApprovalError, match="has expired"):
        service.approve(request.request_id, approver="alice")


def test_unknown_requests_are_an_error() -> None:
    with pytest.raises(ApprovalError, match="no approval request 'apr-nope'"):
        _service().approve("apr-nope", approver="alice")


def test_a_pending_request_is_reused_for_the_same_call() -> None:
    service = _service()
    first = service.request("finance_agent", "sha256:aa", REASONS)
    assert service.request("finance_agent", "sha256:aa", REASONS).request_id == first.request_id
    assert service.request("finance_agent", "sha256:bb", REASONS).request_id != first.request_id


def test_rs256_tokens_verify_with_the_public_key_only() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    store = MemoryApprovalStore()
    approver = ApprovalService(store, private_key=private)
    request = approver.request("finance_agent", "sha256:aa", REASONS)
    token = approver.approve(request.request_id, approver="alice").token or ""
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    guard_side = ApprovalService(store, public_key=public)
    assert guard_side.redeem(token, "finance_agent", "sha256:aa").ok


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ApprovalError, match="at least 32 bytes"):
        ApprovalService(secret="short")


@pytest.mark.parametrize("store_kind", ["memory", "file"])
def test_concurrent_redemptions_let_exactly_one_through(store_kind: str, tmp_path: Path) -> None:
    store = MemoryApprovalStore() if store_kind == "memory" else JsonFileApprovalStore(tmp_path / "approvals.json")
    service = ApprovalService(store, secret=SECRET)
    token = _granted(service)
    results: list[bool] = []
    barrier = threading.Barrier(16)

    def redeem() -> None:
        # Each thread its own service on the same store, as separate processes would be.
        own = ApprovalService(
            store if store_kind == "memory" else JsonFileApprovalStore(tmp_path / "approvals.json"), secret=SECRET
        )
        barrier.wait()
        results.append(own.redeem(token, "finance_agent", "sha256:aa").ok)

    threads = [threading.Thread(target=redeem) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1


def test_call_digest_ignores_the_token_and_nothing_else() -> None:
    assert call_digest({**BIG_PAYMENT, "approval_token": "t", "approval_id": "a"}) == call_digest(BIG_PAYMENT)
    changed = {**BIG_PAYMENT, "body": {"amount": 7501, "currency": "EUR"}}
    assert call_digest(changed) != call_digest(BIG_PAYMENT)


# --- notifiers ----------------------------------------------------------------------------------------------------


def test_slack_notifier_posts_a_text_message(receiver: Receiver) -> None:
    service = _service(notifiers=[SlackWebhookNotifier(receiver.url)])
    request = service.request("finance_agent", "sha256:aa", REASONS, summary="POST /api/payments/v1")
    [body] = receiver.bodies
    assert list(body) == ["text"]
    assert request.request_id in body["text"] and "payments above 5000 need approval" in body["text"]
    assert f"yaml2rego approve {request.request_id}" in body["text"]


def test_webhook_notifier_posts_the_request_without_any_token(receiver: Receiver) -> None:
    service = _service(notifiers=[WebhookNotifier(receiver.url)])
    request = service.request("finance_agent", "sha256:aa", REASONS)
    [body] = receiver.bodies
    assert body["event"] == "approval_requested"
    assert body["request"]["request_id"] == request.request_id and "token" not in body["request"]


def test_a_failing_notifier_does_not_stop_the_request(receiver: Receiver) -> None:
    receiver.status = 500
    service = _service(notifiers=[SlackWebhookNotifier(receiver.url)])
    request = service.request("finance_agent", "sha256:aa", REASONS)
    assert service.get(request.request_id).status == "pending" and len(receiver.bodies) == 1


# --- the command line ---------------------------------------------------------------------------------------------


def test_cli_approve_and_deny_share_the_store_with_the_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "approvals.json"
    service = ApprovalService(JsonFileApprovalStore(store), secret=SECRET)
    first = service.request("finance_agent", "sha256:aa", REASONS, summary="POST /api/payments/v1")
    second = service.request("finance_agent", "sha256:bb", REASONS, summary="POST /api/payments/v1")
    runner = CliRunner()
    monkeypatch.setenv("YAML2REGO_APPROVAL_SECRET", SECRET)
    listed = runner.invoke(main, ["approvals", "list", "--store", str(store)])
    assert listed.exit_code == 0 and first.request_id in listed.output and second.request_id in listed.output
    approved = runner.invoke(main, ["approve", first.request_id, "--store", str(store), "--approver", "alice"])
    assert approved.exit_code == 0, approved.output
    assert approved.output.startswith(
        f"approved {first.request_id}: agent finance_agent, POST /api/payments/v1 (by alice)"
    )
    denied = runner.invoke(main, ["deny", second.request_id, "--store", str(store), "--approver", "bob"])
    assert denied.exit_code == 0 and denied.output.startswith(f"denied {second.request_id}")
    token = service.token(first.request_id)
    assert token is not None and service.redeem(token, "finance_agent", "sha256:aa").ok
    again = runner.invoke(main, ["approve", second.request_id, "--store", str(store), "--approver", "alice"])
    assert again.exit_code == 1 and f"error: approval request {second.request_id} is already denied" in again.output


def test_cli_approve_needs_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YAML2REGO_APPROVAL_SECRET", raising=False)
    result = CliRunner().invoke(main, ["approve", "apr-x", "--store", str(tmp_path / "a.json")])
    assert result.exit_code == 2 and "YAML2REGO_APPROVAL_SECRET" in result.output


# --- through the guard --------------------------------------------------------------------------------------------


@pytest.fixture
def guarded(tmp_path: Path, receiver: Receiver) -> Iterator[tuple[Guard, MemorySink, ApprovalService]]:
    sink = MemorySink()
    service = ApprovalService(
        JsonFileApprovalStore(tmp_path / "approvals.json"),
        secret=SECRET,
        notifiers=[SlackWebhookNotifier(receiver.url)],
    )
    guard = Guard.from_policy([EXAMPLE], sinks=[sink], approvals=service)
    yield guard, sink, service
    guard.close()


def test_guard_opens_a_request_and_the_granted_token_passes_exactly_once(
    guarded: tuple[Guard, MemorySink, ApprovalService], receiver: Receiver
) -> None:
    guard, sink, service = guarded
    pending = guard.check(BIG_PAYMENT)
    assert (pending.decision, pending.blocked) == ("approval_needed", True)
    assert pending.approval_id is not None and pending.approval_id in receiver.bodies[0]["text"]
    assert guard.check(BIG_PAYMENT).approval_id == pending.approval_id  # a retry does not open a second request
    token = service.approve(pending.approval_id, approver="alice").token
    passed = guard.check({**BIG_PAYMENT, "approval_token": token})
    assert (passed.decision, passed.blocked, passed.approval_id) == ("allow", False, pending.approval_id)
    assert "approved by alice" in passed.decision_reason
    replay = guard.check({**BIG_PAYMENT, "approval_token": token})
    assert (replay.decision, replay.codes) == ("deny", [TOKEN_REUSED])
    guard.flush()
    assert [record.get("approval_id") for record in sink.records] == [pending.approval_id] * 4
    assert sink.records[2]["decision"] == "allow" and sink.records[3]["reasons"][0]["control"] == "CC6.1"


def test_guard_refuses_a_token_presented_with_another_call(guarded: tuple[Guard, MemorySink, ApprovalService]) -> None:
    guard, _, service = guarded
    pending = guard.check(BIG_PAYMENT)
    token = service.approve(str(pending.approval_id), approver="alice").token
    bigger = {**BIG_PAYMENT, "body": {"amount": 9000, "currency": "EUR"}, "approval_token": token}
    refused = guard.check(bigger)
    assert (refused.decision, refused.codes) == ("deny", [TOKEN_MISMATCH])
    assert guard.check({**BIG_PAYMENT, "approval_token": token}).decision == "allow"


def test_a_token_never_overrides_a_hard_denial(guarded: tuple[Guard, MemorySink, ApprovalService]) -> None:
    guard, _, service = guarded
    pending = guard.check(BIG_PAYMENT)
    token = service.approve(str(pending.approval_id), approver="alice").token
    huge = {**BIG_PAYMENT, "body": {"amount": 60000, "currency": "EUR"}, "approval_token": token}
    assert guard.check(huge).codes == ["parameter_denied"]


def test_approval_id_reaches_the_otel_span(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from yaml2rego.adapters import OtelSink

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    service = ApprovalService(MemoryApprovalStore(), secret=SECRET)
    with Guard.from_policy([EXAMPLE], sinks=[OtelSink(tracer_provider=provider)], approvals=service) as guard:
        pending = guard.check(BIG_PAYMENT)
        guard.flush()
    [span] = exporter.get_finished_spans()
    assert span.attributes is not None and span.attributes["approval_id"] == pending.approval_id


def test_the_engine_never_sees_an_override_token() -> None:
    """The token is a bearer secret: the policy (and OPA's decision log) gets the call without it."""
    from yaml2rego.engines.embedded import EmbeddedEngine

    class Spy:
        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.seen: list[dict[str, Any]] = []

        def decide(self, request: dict[str, Any]) -> Any:
            self.seen.append(request)
            return self.inner.decide(request)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    service = ApprovalService(MemoryApprovalStore(), secret=SECRET)
    spy = Spy(EmbeddedEngine.from_policy_paths([EXAMPLE]))
    with Guard(spy, approvals=service) as guard:  # type: ignore[arg-type]
        pending = guard.check(BIG_PAYMENT)
        token = service.approve(str(pending.approval_id), approver="alice").token
        assert guard.check({**BIG_PAYMENT, "approval_token": token}).allow
    assert [("approval_token" in seen) for seen in spy.seen] == [False, False]
