"""Envoy: an external authorization service (gRPC ``envoy.service.auth.v3.Authorization``) backed by the Guard, for
agents whose traffic goes through an Envoy sidecar.

>>> from yaml2rego.adapters.envoy import serve
>>> server = serve(guard, "127.0.0.1:9191")  # doctest: +SKIP
>>> server.wait()  # doctest: +SKIP

Envoy's ``ext_authz`` filter (``opa/envoy/envoy.yaml``) sends a ``CheckRequest`` for every request the agent makes;
it becomes the call ``{agent_id, method, path, host, body, payload_size_bytes}`` — the method and path exactly as
Envoy forwards them upstream — and the guard decides it, so rate limits, approvals and decision records apply to
sidecar traffic as to any other. The agent id comes from the ``agent_id`` context extension, which only Envoy's own
configuration sets (``identity=`` takes another trusted source, such as the mTLS peer). An allowed request goes on
with ``x-agent-id`` set for the upstream and the ``X-Approval-Token`` header taken off; a blocked one gets 403 (429
when a rate limit is full) with the reason in ``x-agent-boundary-reason``. A call whose decision redacts its body or
its result is refused (``redaction_unsupported``): ext_authz can rewrite neither. Needs
``pip install 'yaml2rego[envoy]'`` (grpcio, xds-protos).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from yaml2rego.adapters.tool_calls import require
from yaml2rego.runtime.decision import Decision
from yaml2rego.runtime.guard import Guard
from yaml2rego.runtime.steps import APPROVAL_TOKEN_HEADER

__all__ = [
    "AGENT_ID_EXTENSION",
    "REDACTION_UNSUPPORTED",
    "AuthorizationService",
    "ExtAuthzServer",
    "check_request_call",
    "context_agent_id",
    "context_tenant",
    "header_text",
    "redaction_needed",
    "serve",
]

log = logging.getLogger("yaml2rego.adapters")

# The context extension (route or virtual-host configuration in Envoy) that names the sidecar's agent.
AGENT_ID_EXTENSION = "agent_id"
# The context extension that names the sidecar's tenant; like the agent id, only Envoy's configuration sets it.
TENANT_EXTENSION = "tenant"
# The code added to a refusal of a call whose decision asks for a redaction this service cannot make.
REDACTION_UNSUPPORTED = "redaction_unsupported"
_PERMISSION_DENIED = 7  # google.rpc.Code
_MAX_HEADER_CHARS = 1024
# HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD: a header the agent sent under the same name is replaced, not kept.
_OVERWRITE = 2


def context_agent_id(request: Any) -> str | None:
    """The agent id Envoy's configuration attached to the request (``context_extensions.agent_id``)."""
    agent = request.attributes.context_extensions.get(AGENT_ID_EXTENSION)
    return str(agent) if agent else None


def context_tenant(request: Any) -> str | None:
    """The tenant Envoy's configuration attached to the request (``context_extensions.tenant``), if any."""
    tenant = request.attributes.context_extensions.get(TENANT_EXTENSION)
    return str(tenant) if tenant else None


def check_request_call(request: Any, identity: Callable[[Any], str | None] = context_agent_id) -> dict[str, Any]:
    """The decision input for one ``CheckRequest``. Mirrors ``rego/agent_boundary/envoy/envoy.rego`` (the same
    mapping for OPA's envoy plugin); a test holds the two equal."""
    http = request.attributes.request.http
    call: dict[str, Any] = {"agent_id": identity(request), "method": http.method, "path": http.path}
    if http.host:
        call["host"] = http.host.lower()
    # `raw_body` when Envoy packs the body as bytes (with_request_body.pack_as_bytes), else the UTF-8 text.
    content = http.raw_body or http.body.encode("utf-8")
    if content:
        call["body"] = content.decode("utf-8", errors="replace")
        call["payload_size_bytes"] = len(content)
    token = http.headers.get(APPROVAL_TOKEN_HEADER.lower())
    if token:
        call["approval_token"] = token
    return call


class AuthorizationService:
    """The ``Authorization`` servicer: ``Check`` decides one request with ``guard``. Never raises: an error of its
    own is a refusal (and Envoy refuses whatever it cannot get an answer for)."""

    def __init__(self, guard: Guard, identity: Callable[[Any], str | None] = context_agent_id) -> None:
        self.guard = guard
        self.identity = identity
        self._pb = require("envoy.service.auth.v3.external_auth_pb2", "envoy")
        self._base = require("envoy.config.core.v3.base_pb2", "envoy")

    def Check(self, request: Any, context: Any) -> Any:  # the gRPC method's name
        try:
            # The tenant goes beside the call, not in it: the guard trusts only what it is handed this way.
            decision = self.guard.check(check_request_call(request, self.identity), tenant=context_tenant(request))
            if decision.blocked:
                return self._denied(decision)
            unsupported = redaction_needed(decision)
            if unsupported is not None:
                log.warning("envoy ext_authz: decision %s refused: %s", decision.decision_id, unsupported)
                return self._denied(decision, unsupported)
            return self._allowed(decision)
        except Exception:  # the guard itself never raises; this is the service's own last line of fail-closed
            log.exception("envoy ext_authz: could not answer a check request")
            response = self._pb.CheckResponse()
            response.status.code = _PERMISSION_DENIED
            response.denied_response.status.code = 403
            response.denied_response.headers.append(self._header("x-agent-boundary-reason", "authorization failed"))
            return response

    def _header(self, name: str, value: str) -> Any:
        return self._base.HeaderValueOption(
            header=self._base.HeaderValue(key=name, value=header_text(value)), append_action=_OVERWRITE
        )

    def _allowed(self, decision: Decision) -> Any:
        response = self._pb.CheckResponse()
        response.status.code = 0
        ok = response.ok_response
        ok.headers.extend(
            [
                self._header("x-agent-id", decision.agent_id or ""),
                self._header("x-agent-boundary-decision", decision.decision),
                self._header("x-agent-boundary-decision-id", decision.decision_id),
            ]
        )
        # The override token is for the guard; the upstream never sees it (as with the HTTP client adapters).
        ok.headers_to_remove.append(APPROVAL_TOKEN_HEADER.lower())
        return response

    def _denied(self, decision: Decision, unsupported: str | None = None) -> Any:
        response = self._pb.CheckResponse()
        response.status.code = _PERMISSION_DENIED
        denied = response.denied_response
        denied.status.code = 429 if "rate_limit_exceeded" in decision.codes else 403
        codes = [*decision.codes, REDACTION_UNSUPPORTED] if unsupported else decision.codes
        headers = {
            "x-agent-boundary-decision": decision.decision,
            "x-agent-boundary-reason": unsupported or decision.decision_reason,
            "x-agent-boundary-codes": ",".join(codes),
            "x-agent-boundary-decision-id": decision.decision_id,
            "content-type": "application/json",
        }
        if decision.approval_id is not None:
            headers["x-agent-boundary-approval-id"] = decision.approval_id
        denied.headers.extend(self._header(name, value) for name, value in headers.items())
        denied.body = json.dumps(
            {
                "decision": decision.decision,
                "decision_id": decision.decision_id,
                "decision_reason": unsupported or decision.decision_reason,
                "codes": codes,
                "approval_id": decision.approval_id,
            }
        )
        return response


def redaction_needed(decision: Decision) -> str | None:
    """Why an enforced decision that lets the call go ahead cannot be carried out here: it redacts fields of the
    request (``sanitize``) or of the result (``result_redactions``), and ext_authz can rewrite neither a request body
    nor a response. Such a call is refused rather than sent unredacted. ``None`` when nothing needs redacting."""
    if not decision.enforced:
        return None  # shadow mode redacts nothing
    if decision.decision == "sanitize":
        rules = sorted({str(item.get("rule")) for item in decision.details.get("redactions") or []})
        return f"the boundary redacts fields of this request ({', '.join(rules)}), which Envoy ext_authz cannot do"
    if decision.details.get("result_redactions"):
        rules = sorted({str(item.get("rule")) for item in decision.details["result_redactions"]})
        return f"the boundary redacts this call's result ({', '.join(rules)}), which Envoy ext_authz cannot do"
    return None


def header_text(value: str) -> str:
    """``value`` as a safe header value: printable ASCII only (a reason quotes the request's path, which the agent
    chose), at most 1024 characters. Envoy would refuse a CR or LF; nothing else of the agent's may reach a header."""
    text = "".join(ch if " " <= ch <= "~" else "?" for ch in value)
    return text if len(text) <= _MAX_HEADER_CHARS else text[: _MAX_HEADER_CHARS - 3] + "..."


class ExtAuthzServer:
    """A running gRPC ext_authz server: ``port`` is the port it listens on; ``stop()`` ends it."""

    def __init__(self, server: Any, address: str, port: int, workers: ThreadPoolExecutor) -> None:
        self.server = server
        self.address = address
        self.port = port
        self._workers = workers

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (or ``timeout`` passes)."""
        return bool(self.server.wait_for_termination(timeout))

    def stop(self, grace: float | None = 1.0) -> None:
        """Stop answering (requests in flight get ``grace`` seconds), then end the worker threads: each releases its
        own regorus engine as it exits, since one may only be dropped by the thread that made it."""
        self.server.stop(grace).wait()
        self._workers.shutdown(wait=True)

    def __enter__(self) -> ExtAuthzServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(
    guard: Guard,
    address: str = "127.0.0.1:9191",
    *,
    identity: Callable[[Any], str | None] = context_agent_id,
    credentials: Any = None,
    max_workers: int = 16,
    options: Mapping[str, Any] | None = None,
) -> ExtAuthzServer:
    """Start an ext_authz gRPC server on ``address`` (``host:0`` picks a free port) and return it, running.

    ``credentials`` (``grpc.ssl_server_credentials(...)``) serves TLS; without them the server speaks plaintext,
    which is meant for a loopback address shared with the Envoy sidecar only.
    """
    grpc = require("grpc", "envoy")
    services = require("envoy.service.auth.v3.external_auth_pb2_grpc", "envoy")
    workers = ThreadPoolExecutor(max_workers, "yaml2rego-envoy")
    server = grpc.server(workers, options=list((options or {}).items()))
    services.add_AuthorizationServicer_to_server(AuthorizationService(guard, identity), server)
    try:
        port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError as exc:  # grpc raises a bare RuntimeError for an address it cannot bind
        workers.shutdown(wait=False)
        raise OSError(f"envoy ext_authz: cannot listen on {address}: {exc}") from exc
    server.start()
    log.info("envoy ext_authz service listening on %s (port %d)", address, port)
    return ExtAuthzServer(server, address, port, workers)
