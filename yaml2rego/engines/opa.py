"""The OPA daemon engine: a running OPA asked over its REST API, on persistent keep-alive connections.

The client is the standard library's ``http.client`` with a small pool of connections (one per thread in flight,
reused call after call): no per-call environment or proxy lookups, one ``sendall`` and a few ``recv`` per decision.
``timeout`` is a deadline for the whole call (connect, send, every read of the answer), not a per-read socket
timeout: a server that trickles a valid answer byte by byte is cut off when the deadline passes. Every failure to
get a well-formed answer is an :class:`~yaml2rego.errors.EngineUnavailable` or :class:`~yaml2rego.errors.EngineError`
(the guard turns both into a fail-closed deny), and no message carries the URL's user or password.

>>> engine = OpaEngine("http://127.0.0.1:8181", timeout=0.25)  # doctest: +SKIP
>>> engine.decide({"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"})["allow"]
... # doctest: +SKIP
True
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from yaml2rego.canonical_json import compact
from yaml2rego.engines.base import DECISION_PATH, RUNTIME_DATA_ROOT
from yaml2rego.errors import EngineError, EngineUnavailable

__all__ = ["OpaEngine", "display_url"]

MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a decision is a few KiB; this bounds a broken or hostile server
_IDLE_CONNECTIONS = 64


def display_url(url: str) -> str:
    """``url`` without its user and password, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class _DeadlineExceeded(TimeoutError):
    pass


class _Deadline:
    """Arms the socket's timeout with what is left of the call's deadline before every send and receive."""

    deadline: float = float("inf")

    def _arm(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _DeadlineExceeded("deadline passed")
        self.settimeout(remaining)  # type: ignore[attr-defined]

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return super().recv_into(buffer, nbytes, flags)  # type: ignore[misc, no-any-return]

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._arm()
        return super().recv(bufsize, flags)  # type: ignore[misc, no-any-return]

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._arm()
        super().sendall(data, flags)  # type: ignore[misc]

    def send(self, data: Any, flags: int = 0) -> int:
        self._arm()
        return super().send(data, flags)  # type: ignore[misc, no-any-return]


class _DeadlineSocket(_Deadline, socket.socket):  # the same methods, the deadline armed first
    pass


class _DeadlineSSLSocket(_Deadline, ssl.SSLSocket):  # type: ignore[misc]
    pass


class _Connection(http.client.HTTPConnection):
    """An HTTP/1.1 keep-alive connection whose socket honours a per-call deadline."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext | None) -> None:
        super().__init__(host, port)
        self._context = context
        self.fresh = True

    def open(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _DeadlineExceeded("deadline passed")
        raw = socket.create_connection((self.host, self.port), timeout=remaining)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one small request, one small answer
        sock: Any = _DeadlineSocket(fileno=raw.detach())
        sock.deadline = deadline
        if self._context is not None:
            sock = self._context.wrap_socket(sock, server_hostname=self.host)
            sock.deadline = deadline
        self.sock = sock

    def set_deadline(self, deadline: float) -> None:
        sock: Any = self.sock
        sock.deadline = deadline

    def connect(self) -> None:  # http.client calls this only when no socket is open
        self.open(time.monotonic() + 10.0)


class OpaEngine:
    """Decisions from an OPA server at ``url`` (e.g. ``http://127.0.0.1:8181``); ``timeout`` bounds each call."""

    name = "opa"

    def __init__(self, url: str, *, timeout: float = 0.5, token: str | None = None, retries: int = 0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineError(f"not an OPA URL: {display_url(url)!r} (expected http://host:port)")
        self.url = display_url(url.rstrip("/"))
        self.timeout = timeout
        self.retries = retries
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 8181)
        self._context: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._context = ssl.create_default_context()
            self._context.sslsocket_class = _DeadlineSSLSocket
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._decision_path = f"/v1/data/{DECISION_PATH}"
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def decide(self, call: Mapping[str, Any]) -> dict[str, Any]:
        try:
            body = compact({"input": call}).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise EngineError(f"the call cannot be sent to OPA as JSON: {exc}") from None
        status, data = self._exchange("POST", self._decision_path, body)
        if status != 200:
            raise EngineError(f"OPA at {self.url} refused the query: {_error_text(status, data)}")
        try:
            answer = json.loads(data)
        except ValueError:
            raise EngineError(f"OPA at {self.url} gave no usable answer: the body is not JSON") from None
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, dict):
            # OPA omits `result` when the rule is undefined, e.g. when the policy is not loaded.
            raise EngineError(f"OPA at {self.url} has no decision at /v1/data/{DECISION_PATH} (is the policy loaded?)")
        if "decision_id" in answer:
            result = {**result, "decision_id": answer["decision_id"]}
        return result

    def suspend(self, agent_id: str, reason: str) -> None:
        self._data_request("PUT", _suspension_path(agent_id), json.dumps({"reason": reason}).encode("utf-8"))

    def resume(self, agent_id: str) -> None:
        self._data_request("DELETE", _suspension_path(agent_id), None, missing_ok=True)

    def healthy(self) -> bool:
        try:
            status, _ = self._exchange("GET", "/health", None)
        except EngineError:
            return False
        return status == 200

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # -- the connection pool ---------------------------------------------------------------------------------------

    def _exchange(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        """One request and its whole answer within ``timeout``; a reused connection the server had closed is
        replaced once (the first write on it can succeed and the read then finds it closed)."""
        deadline = time.monotonic() + self.timeout
        attempts = 1 + max(0, self.retries)
        while True:
            connection = self._take()
            try:
                if connection.sock is None:
                    connection.open(deadline)
                else:
                    connection.set_deadline(deadline)
                connection.request(method, path, body=body, headers=self._headers)
                response = connection.getresponse()
                data = response.read(MAX_ANSWER_BYTES + 1)
            except TimeoutError:
                connection.close()
                raise EngineUnavailable(f"OPA at {self.url} did not answer within {self.timeout}s") from None
            except (http.client.HTTPException, OSError) as exc:
                connection.close()
                stale = not connection.fresh and isinstance(
                    exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
                )
                if stale and time.monotonic() < deadline:
                    continue  # a keep-alive connection the server had closed: try once on a new one
                attempts -= 1
                if attempts > 0 and time.monotonic() < deadline:
                    continue
                raise EngineUnavailable(f"OPA at {self.url} is unreachable ({type(exc).__name__})") from None
            if len(data) > MAX_ANSWER_BYTES:
                connection.close()
                raise EngineError(f"OPA at {self.url} answered with more than {MAX_ANSWER_BYTES} bytes")
            if response.will_close:
                connection.close()
            else:
                connection.fresh = False
                self._give_back(connection)
            return response.status, data

    def _take(self) -> _Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _Connection(self._host, self._port, self._context)

    def _give_back(self, connection: _Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < _IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()

    def _data_request(self, method: str, path: str, body: bytes | None, *, missing_ok: bool = False) -> None:
        status, data = self._exchange(method, f"/v1/data/{path}", body)
        if status == 404 and missing_ok:
            return
        if status >= 300:
            raise EngineError(f"OPA refused {method} {self.url}/v1/data/{path}: {_error_text(status, data)}")


def _suspension_path(agent_id: str) -> str:
    return f"{RUNTIME_DATA_ROOT}/suspended/{quote(agent_id, safe='')}"


def _error_text(status: int, data: bytes) -> str:
    try:
        body = json.loads(data)
    except ValueError:
        return f"HTTP {status}: {data[:200].decode('utf-8', errors='replace')}"
    message = body.get("message", body) if isinstance(body, dict) else body
    return f"HTTP {status}: {message}"
