"""The OPA daemon client: a deadline for the whole call, one reused keep-alive connection, no credential in any
message. Against local HTTP servers that misbehave on purpose (tests/test_guard.py runs it against a real OPA)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from yaml2rego.adapters import Guard, JsonlFileSink
from yaml2rego.engines import OpaEngine
from yaml2rego.engines.opa import display_url
from yaml2rego.errors import EngineUnavailable

CALL = {"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"}
ALLOW = {
    "result": {
        "decision": "allow", "allow": True, "reasons": [], "decision_reason": "allowed", "policy_version": "v1",
        "agent_id": "support_agent_1", "mode": "enforce", "rate_limits": [],
    }
}  # fmt: skip


@contextmanager
def serving(answer: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[tuple[str, list[int]]]:
    """An HTTP/1.1 server whose POST handler is ``answer``; yields its URL and a list counting connections."""
    connections: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            connections.append(1)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", connections
    finally:
        server.shutdown()
        server.server_close()


def answer_allow(handler: BaseHTTPRequestHandler) -> None:
    data = json.dumps(ALLOW).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def trickle_allow(handler: BaseHTTPRequestHandler) -> None:
    """A valid allow, one byte every 20 ms: each read is quick, the whole answer takes seconds."""
    data = json.dumps(ALLOW).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    try:
        for byte in data:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.02)
    except OSError:
        pass  # the client gave up, as it should


def test_a_trickling_server_is_a_recorded_deny_at_the_deadline(tmp_path: Path) -> None:
    """The timeout bounds the whole call: a per-read timeout would wait for the whole trickle (seconds) and allow."""
    log = tmp_path / "decisions.jsonl"
    with serving(trickle_allow) as (url, _), Guard.from_opa(url, timeout=0.5, sinks=[JsonlFileSink(log)]) as guard:
        started = time.monotonic()
        decision = guard.check(CALL)
        elapsed = time.monotonic() - started
        recorded = [json.loads(line) for line in log.read_text().splitlines()]
    assert decision.blocked and decision.codes == ["policy_engine_unavailable"]
    assert "did not answer within 0.5s" in decision.decision_reason
    # Recorded before check() returned (durability "logged"): the record is in the file at that moment.
    assert [record["decision_id"] for record in recorded if "decision_id" in record] == [decision.decision_id]
    # A deny within the deadline plus 50 ms; a per-read timeout would take the whole trickle (measured: 0.50 s).
    assert elapsed < 0.5 + 0.05, f"the trickle took {elapsed:.3f}s: the timeout is not a deadline for the whole call"


def test_calls_reuse_one_keep_alive_connection() -> None:
    with serving(answer_allow) as (url, connections):
        engine = OpaEngine(url, timeout=2)
        for _ in range(20):
            assert engine.decide(CALL)["allow"] is True
        engine.close()
    assert len(connections) == 1


def test_a_connection_the_server_closed_is_replaced_within_the_call() -> None:
    """A keep-alive connection the server dropped while idle: the next call opens a new one and still decides."""

    def allow_then_close(handler: BaseHTTPRequestHandler) -> None:
        answer_allow(handler)
        handler.close_connection = True  # closes after answering, without telling the client

    with serving(allow_then_close) as (url, connections):
        engine = OpaEngine(url, timeout=2)
        results = [engine.decide(CALL)["allow"] for _ in range(3)]
        engine.close()
    assert results == [True, True, True] and len(connections) == 3


def test_an_unreachable_opa_is_unavailable_quickly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = OpaEngine(f"http://127.0.0.1:{port}", timeout=0.3)
    with pytest.raises(EngineUnavailable, match="is unreachable"):
        engine.decide(CALL)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("http://opa:s3cret@127.0.0.1:9", "http://127.0.0.1:9", id="user-and-password"),
        pytest.param("http://s3cret@127.0.0.1:9/", "http://127.0.0.1:9/", id="user-only"),
        pytest.param("https://127.0.0.1:8181", "https://127.0.0.1:8181", id="none"),
    ],
)
def test_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_no_decision_reason_carries_the_opa_password() -> None:
    with Guard.from_opa("http://opa:s3cret@127.0.0.1:9", timeout=0.2) as guard:
        decision = guard.check(CALL)
    assert decision.codes == ["policy_engine_unavailable"] and "s3cret" not in json.dumps(decision.reasons)
    assert "s3cret" not in decision.decision_reason


def test_no_record_carries_the_redis_password(tmp_path: Path) -> None:
    """A Redis store that is down: the reason names the store, never the password in its URL."""
    example = Path(__file__).resolve().parent.parent / "examples" / "support_agent.yaml"
    log = tmp_path / "decisions.jsonl"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Guard.from_policy([example], redis_url=f"redis://:s3cret@127.0.0.1:{port}/0", log_file=log) as guard:
        decision = guard.check(CALL)
    assert decision.codes == ["rate_limit_store_unavailable"], decision.reasons
    assert "s3cret" not in decision.decision_reason and "redis://***@" in decision.decision_reason
    assert "s3cret" not in log.read_text()
