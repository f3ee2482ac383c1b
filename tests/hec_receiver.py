"""A local Splunk HTTP Event Collector for tests: a real HTTP server on 127.0.0.1 that answers exactly as HEC does.

It accepts ``POST /services/collector/event`` (and ``/services/collector``) with ``Authorization: Splunk <token>``,
parses the body as concatenated JSON envelopes the way Splunk does (no array, no commas, whitespace between them),
keeps the events it accepted in :attr:`HecReceiver.events`, and answers Splunk's JSON bodies and status codes:

* 200 ``{"text":"Success","code":0}``
* 401 code 2 "Token is required", 401 code 3 "Invalid authorization", 403 code 4 "Invalid token"
* 400 code 5 "No data", 400 code 6 "Invalid data format" (with ``invalid-event-number``), 400 code 12 "Event field
  is required", 400 code 13 "Event field cannot be blank"
* 503 code 9 "Server is busy" while :attr:`HecReceiver.busy` is set

As Splunk does, the events before a malformed one in a batch are indexed; the rest of the batch is not.
:meth:`stop` and :meth:`start` close and reopen the listening socket on the same port, mid-test; :meth:`stop` also
cuts the connections a client keeps alive, as a Splunk that goes down does. Indexer acknowledgement (``/ack``) is not
used by the sink, so it is not offered.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["HecReceiver", "parse_concatenated"]

COLLECTOR_PATHS = ("/services/collector/event", "/services/collector", "/services/collector/event/1.0")


def parse_concatenated(text: str) -> tuple[list[Any], int | None]:
    """The JSON values in ``text`` and the index of the first one that is not valid JSON (``None`` if all are)."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    index = 0
    while True:
        while index < len(text) and text[index] in " \t\r\n":
            index += 1
        if index >= len(text):
            return values, None
        try:
            value, index = decoder.raw_decode(text, index)
        except ValueError:
            return values, len(values)
        values.append(value)


class HecReceiver:
    """Speaks HEC on ``http://127.0.0.1:<port>``; use as a context manager or call :meth:`start`/:meth:`stop`."""

    def __init__(self, token: str = "test-token", port: int = 0) -> None:
        self.token = token
        self.port = port
        self.events: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.busy = False
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HecReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                with receiver._lock:
                    receiver._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = receiver.handle(self.path, dict(self.headers.items()), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:  # a server that goes down drops its clients' keep-alive connections too
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> HecReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def decision_ids(self) -> list[str]:
        with self._lock:
            return [event["event"]["decision_id"] for event in self.events]

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Splunk's answer to one request; accepted events are appended to :attr:`events`."""
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
        if path.split("?")[0] not in COLLECTOR_PATHS:
            return 404, {"text": "The requested URL was not found on this server.", "code": 404}
        authorization = {key.lower(): value for key, value in headers.items()}.get("authorization")
        if not authorization:
            return 401, {"text": "Token is required", "code": 2}
        scheme, _, token = authorization.partition(" ")
        if scheme != "Splunk" or not token:
            return 401, {"text": "Invalid authorization", "code": 3}
        if token != self.token:
            return 403, {"text": "Invalid token", "code": 4}
        if self.busy:
            return 503, {"text": "Server is busy", "code": 9}
        text = body.decode("utf-8", errors="replace")
        if not text.strip():
            return 400, {"text": "No data", "code": 5}
        values, bad = parse_concatenated(text)
        accepted: list[dict[str, Any]] = []
        answer: tuple[int, dict[str, Any]] = (200, {"text": "Success", "code": 0})
        for number, value in enumerate(values):
            if not isinstance(value, dict):
                answer = (400, {"text": "Invalid data format", "code": 6, "invalid-event-number": number})
                break
            if "event" not in value:
                answer = (400, {"text": "Event field is required", "code": 12, "invalid-event-number": number})
                break
            if value["event"] in ("", None):
                answer = (400, {"text": "Event field cannot be blank", "code": 13, "invalid-event-number": number})
                break
            accepted.append(value)
        else:
            if bad is not None:
                answer = (400, {"text": "Invalid data format", "code": 6, "invalid-event-number": bad})
        with self._lock:
            self.events.extend(accepted)
        return answer
