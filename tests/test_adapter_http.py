"""The HTTP adapters (``requests`` and ``httpx``) against a real local HTTP server that counts the requests it gets:
a blocked request must never reach it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.conftest import SEED_POLICY
from yaml2rego.adapters import Guard, MemorySink
from yaml2rego.adapters.http import AsyncGuardedTransport, GuardedTransport, guarded_session
from yaml2rego.errors import PolicyDenied

AGENT = "support_agent_1"
TICKET = {"customer_id": "3f2b8c1e-9a7d-4c5e-8f1a-2b3c4d5e6f70", "priority": "high"}


class CountingServer:
    """A local HTTP server on 127.0.0.1 that answers 200 to everything and remembers each request it got."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append((self.command, self.path, self.rfile.read(length)))
                payload = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[CountingServer]:
    counting = CountingServer()
    yield counting
    counting.close()


@pytest.fixture
def guarded() -> Iterator[tuple[Guard, MemorySink]]:
    sink = MemorySink()
    guard = Guard.from_policy([SEED_POLICY], sinks=[sink])
    yield guard, sink
    guard.close()


# One function per client, each sending (method, path, body bytes or None) and returning the status code.
Sender = Callable[[Guard, str, str, str, "bytes | None"], int]


def send_requests(guard: Guard, base: str, method: str, path: str, body: bytes | None) -> int:
    session = guarded_session(guard, AGENT)
    headers = {"Content-Type": "application/json"} if body else {}
    return int(session.request(method, base + path, data=body, headers=headers).status_code)


def send_httpx(guard: Guard, base: str, method: str, path: str, body: bytes | None) -> int:
    headers = {"Content-Type": "application/json"} if body else {}
    with httpx.Client(transport=GuardedTransport(guard, AGENT)) as client:
        return client.request(method, base + path, content=body, headers=headers).status_code


def send_httpx_async(guard: Guard, base: str, method: str, path: str, body: bytes | None) -> int:
    async def run() -> int:
        headers = {"Content-Type": "application/json"} if body else {}
        async with httpx.AsyncClient(transport=AsyncGuardedTransport(guard, AGENT)) as client:
            return (await client.request(method, base + path, content=body, headers=headers)).status_code

    return asyncio.run(run())


SENDERS = {"requests": send_requests, "httpx": send_httpx, "httpx-async": send_httpx_async}

# (id, method, path, body, the code that refuses it or None when it must reach the server)
REQUESTS = [
    ("allowed-get", "GET", "/api/customer/v1/42?fields=name", None, None),
    ("valid-ticket", "POST", "/api/ticket/v1/", json.dumps(TICKET).encode(), None),
    ("denied-endpoint", "GET", "/api/admin/users", None, "endpoint_denied"),
    ("unlisted-endpoint", "PUT", "/api/customer/v1/42", b"{}", "endpoint_not_allowed"),
    ("invalid-body", "POST", "/api/ticket/v1/", json.dumps({**TICKET, "priority": "urgent"}).encode(), "invalid_input"),
    ("encoded-traversal", "GET", "/api/customer/v1/%2e%2e/admin", None, "non_canonical_path"),
    ("too-large", "POST", "/api/ticket/v1/", b'{"note": "' + b"x" * (1024 * 1024) + b'"}', "payload_too_large"),
]


@pytest.mark.parametrize("sender", SENDERS.values(), ids=SENDERS.keys())
@pytest.mark.parametrize(("method", "path", "body", "code"), [r[1:] for r in REQUESTS], ids=[r[0] for r in REQUESTS])
def test_request_is_checked_before_it_is_sent(
    sender: Sender, method: str, path: str, body: bytes | None, code: str | None, server: CountingServer, guarded: Any
) -> None:
    guard, sink = guarded
    if code is None:
        assert sender(guard, server.url, method, path, body) == 200
        assert [(m, p) for m, p, _ in server.requests] == [(method, path)]
    else:
        with pytest.raises(PolicyDenied) as raised:
            sender(guard, server.url, method, path, body)
        assert code in raised.value.decision.codes
        assert server.requests == []
    assert guard.flush(5.0)
    [record] = sink.records
    assert record["decision"] == ("allow" if code is None else "deny")
    assert record["method"] == method


def test_record_names_host_and_exact_payload_size(server: CountingServer, guarded: Any) -> None:
    guard, sink = guarded
    body = json.dumps({**TICKET, "note": "naïve"}).encode()
    send_requests(guard, server.url, "POST", "/api/ticket/v1/", body)
    assert guard.flush(5.0)
    assert sink.records[0]["path"] == "/api/ticket/v1"
    assert server.requests[0][2] == body


def test_http_call_carries_host_and_size() -> None:
    from yaml2rego.adapters.http import http_call

    call = http_call(AGENT, "post", "https://CRM.example.com:8443/api/ticket/v1/?a=1", "é".encode())
    assert call == {
        "agent_id": AGENT,
        "method": "POST",
        "path": "/api/ticket/v1/?a=1",
        "host": "crm.example.com",
        "body": "é",
        "payload_size_bytes": 2,
    }


@pytest.mark.parametrize(
    ("method", "url", "sent_method", "sent_host"),
    [
        pytest.param(
            "po\u017ft", "https://crm.example.com/x", "po\u017ft", "crm.example.com", id="long-s-not-upper-cased"
        ),
        pytest.param("get", "https://\u212aube.example.com/x", "GET", "\u212aube.example.com", id="kelvin-sign-kept"),
        pytest.param("get", "https://API\uff0eexample.com/x", "GET", "API\uff0eexample.com", id="fullwidth-dot-kept"),
    ],
)
def test_http_call_passes_lookalikes_on_as_written(method: str, url: str, sent_method: str, sent_host: str) -> None:
    """A method that is no RFC 9110 token and a host outside ASCII reach the policy unfolded, for it to refuse."""
    from yaml2rego.adapters.http import http_call

    call = http_call(AGENT, method, url, None)
    assert (call["method"], call["host"]) == (sent_method, sent_host)


def test_streamed_requests_body_is_measured_before_sending(server: CountingServer, guarded: Any) -> None:
    guard, _ = guarded
    session = guarded_session(guard, AGENT)
    chunks = iter([b'{"customer_id": "', TICKET["customer_id"].encode(), b'", "priority": "urgent"}'])
    with pytest.raises(PolicyDenied) as raised:
        session.post(server.url + "/api/ticket/v1/", data=chunks)
    assert raised.value.decision.codes == ["invalid_input"]
    assert server.requests == []


def test_missing_httpx_names_the_extra(monkeypatch: pytest.MonkeyPatch, guarded: Any) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(ImportError, match=r"pip install 'yaml2rego\[httpx\]'"):
        GuardedTransport(guarded[0], AGENT)
