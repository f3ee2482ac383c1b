"""HTTP: the agent boundary on every outbound request made with ``requests`` or ``httpx``, checked before it is sent.

>>> from yaml2rego.adapters.http import GuardedTransport, guarded_session
>>> session = guarded_session(guard, "support_agent_1")  # doctest: +SKIP
>>> session.get("https://crm.internal/api/customer/v1/42")  # doctest: +SKIP
>>> client = httpx.Client(transport=GuardedTransport(guard, "support_agent_1"))  # doctest: +SKIP

Each request becomes a call ``{agent_id, method, path, host, body, payload_size_bytes}``: the path as sent (still
percent-encoded, with its query, so the policy sees what the server will see), the host in lower case, the body as
text (the policy reads a JSON object out of it) and its exact size in bytes. A request that is blocked raises
:class:`~yaml2rego.errors.PolicyDenied` and never leaves the process. A call that needs approval is blocked too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters

from yaml2rego.adapters.tool_calls import require
from yaml2rego.runtime.guard import Guard
from yaml2rego.runtime.steps import APPROVAL_TOKEN_HEADER, redacted_body
from yaml2rego.semantics.paths import method_problem

__all__ = ["AsyncGuardedTransport", "GuardedAdapter", "GuardedTransport", "guarded_session", "http_call"]


def http_call(agent_id: str, method: str, url: str, content: bytes | None) -> dict[str, Any]:
    """The decision input for one outbound request. The body is passed as text: the policy reads a JSON object out
    of it for field rules, and its exact size in bytes is given separately."""
    parts = urlsplit(url)
    path = parts.path or "/"
    call: dict[str, Any] = {
        "agent_id": agent_id,
        # Upper-cased only when it is an RFC 9110 token: "po\u017ft".upper() is "POST". Anything else goes to the
        # policy as it is, to be refused.
        "method": method if method_problem(method) else method.upper(),
        "path": f"{path}?{parts.query}" if parts.query else path,
        "host": _destination(parts.netloc, parts.hostname),
    }
    if content:
        call["body"] = content.decode("utf-8", errors="replace")
        call["payload_size_bytes"] = len(content)
    return call


def _destination(netloc: str, hostname: str | None) -> str:
    """The host as the policy sees it. A user name, or a character outside ASCII (urlsplit lower-cases the Kelvin sign
    into "k"), is passed on as written, for the policy to refuse (egress_denied), never silently dropped or folded."""
    if not netloc.isascii():
        return netloc
    if "@" in netloc:
        return netloc.lower()
    return (hostname or "").lower()


class GuardedAdapter(requests.adapters.HTTPAdapter):
    """A ``requests`` transport adapter: checks each request, then sends it as a plain ``HTTPAdapter`` would."""

    def __init__(self, guard: Guard, agent_id: str, **adapter_options: Any) -> None:
        super().__init__(**adapter_options)
        self.guard = guard
        self.agent_id = agent_id

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        body: Any = request.body
        if body is not None and not isinstance(body, (bytes, str)):
            # A streamed body (a file, a generator) is read once here, so its size and content are known.
            body = b"".join(chunk if isinstance(chunk, bytes) else str(chunk).encode() for chunk in body)
            request.body = body
            request.headers["Content-Length"] = str(len(body))
            request.headers.pop("Transfer-Encoding", None)
        content = body.encode("utf-8") if isinstance(body, str) else body
        method, url = str(request.method), str(request.url)
        call = _with_token(
            http_call(self.agent_id, method, url, content), request.headers.pop(APPROVAL_TOKEN_HEADER, None)
        )
        redacted = redacted_body(self.guard.enforce(call), call)
        if redacted is not None:
            request.body = redacted
            request.headers["Content-Length"] = str(len(redacted))
        return super().send(request, *args, **kwargs)


def guarded_session(guard: Guard, agent_id: str, session: Any = None, **adapter_options: Any) -> Any:
    """A ``requests.Session`` (``session`` or a new one) whose every ``http://`` and ``https://`` request is checked."""
    if session is None:
        session = requests.Session()
    adapter = GuardedAdapter(guard, agent_id, **adapter_options)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _with_token(call: dict[str, Any], token: Any) -> dict[str, Any]:
    """The call with the override token of an approved request (``X-Approval-Token``), taken off the request."""
    if token:
        call["approval_token"] = str(token)
    return call


def _httpx_call(agent_id: str, request: Any) -> dict[str, Any]:
    token = request.headers.pop(APPROVAL_TOKEN_HEADER, None)
    return _with_token(http_call(agent_id, request.method, str(request.url), request.content), token)


def _httpx_send(request: Any, decision: Any, call: dict[str, Any]) -> Any:
    """The request to send: the same one, or a copy with the redacted body of a ``sanitize`` decision."""
    redacted = redacted_body(decision, call)
    if redacted is None:
        return request
    httpx = require("httpx", "httpx")
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return httpx.Request(request.method, request.url, headers=headers, content=redacted, extensions=request.extensions)


class GuardedTransport:
    """An ``httpx`` transport that checks each request before handing it to ``transport`` (default: a new
    ``httpx.HTTPTransport()``)."""

    def __init__(self, guard: Guard, agent_id: str, transport: Any = None) -> None:
        httpx = require("httpx", "httpx")
        self.guard = guard
        self.agent_id = agent_id
        self.transport = transport if transport is not None else httpx.HTTPTransport()

    def handle_request(self, request: Any) -> Any:
        request.read()  # a streamed body is read once, so its size and content are known
        call = _httpx_call(self.agent_id, request)
        return self.transport.handle_request(_httpx_send(request, self.guard.enforce(call), call))

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> GuardedTransport:
        self.transport.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.transport.__exit__(*exc_info)


class AsyncGuardedTransport:
    """:class:`GuardedTransport` for ``httpx.AsyncClient``; the engine runs in a worker thread."""

    def __init__(self, guard: Guard, agent_id: str, transport: Any = None) -> None:
        httpx = require("httpx", "httpx")
        self.guard = guard
        self.agent_id = agent_id
        self.transport = transport if transport is not None else httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: Any) -> Any:
        await request.aread()
        call = _httpx_call(self.agent_id, request)
        return await self.transport.handle_async_request(_httpx_send(request, await self.guard.aenforce(call), call))

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncGuardedTransport:
        await self.transport.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.transport.__aexit__(*exc_info)
