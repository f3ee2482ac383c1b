"""Relays OPA's own decision logs to Splunk HEC, with the same guarantees as the guard's Splunk sink.

OPA's decision-log plugin uploads batches as ``POST <service url><resource>`` (``/logs`` by default) with a gzip'd
JSON array of events. The relay unpacks a batch, appends every event to its disk spool (fsync'd), and only then
answers 200, so an acknowledged batch is never lost; anything else is a non-2xx, and OPA keeps the batch and
retries. A sender thread posts the spooled events to HEC in order, each as ``{"time": <event timestamp>, "event":
<event>}``, retrying while Splunk is down. See ``opa/decision-logs.md`` for the OPA side.

>>> relay = DecisionLogRelay(SplunkHecSink("http://splunk:8088", "T", source="opa"), port=8282)  # doctest: +SKIP
>>> relay.serve_forever()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from yaml2rego.runtime.sinks.splunk import SplunkHecSink

__all__ = ["DecisionLogRelay", "unpack_batch"]

log = logging.getLogger("yaml2rego.adapters")

MAX_BODY_BYTES = 64 * 1024 * 1024  # OPA's uploads are small (32 KiB gzip'd by default); this bounds a bad client


class BadBatch(ValueError):
    """An upload that is not a (gzip'd) JSON array of objects."""


def unpack_batch(body: bytes, content_encoding: str | None = None) -> list[dict[str, Any]]:
    """The events of one OPA upload; gzip is detected from the header or the magic bytes."""
    if (content_encoding or "").lower() == "gzip" or body[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, MAX_BODY_BYTES)
        except zlib.error as exc:
            raise BadBatch(f"the body is not valid gzip: {exc}") from exc
        if inflater.unconsumed_tail:
            raise BadBatch(f"the unpacked body is larger than {MAX_BODY_BYTES} bytes")
    try:
        events = json.loads(body)
    except ValueError as exc:
        raise BadBatch(f"the body is not JSON: {exc}") from exc
    if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
        raise BadBatch("the body must be a JSON array of decision events")
    return events


class DecisionLogRelay:
    """An HTTP endpoint for OPA's decision-log uploads, forwarding to ``sink`` (usually a :class:`SplunkHecSink`)."""

    def __init__(self, sink: SplunkHecSink, *, host: str = "127.0.0.1", port: int = 8282, resource: str = "/logs"):
        self.sink = sink
        self.resource = "/" + resource.strip("/")
        self.received = 0
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self.host, self.port = str(self._server.server_address[0]), int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.resource}"

    def start(self) -> DecisionLogRelay:
        """Serve in a background thread (tests, embedding); :meth:`serve_forever` serves in this one."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop listening, give the sink ``timeout`` seconds to deliver, and close it (undelivered events stay
        spooled for the next start)."""
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()
        self.sink.flush(timeout)
        self.sink.close()

    def accept(self, body: bytes, content_encoding: str | None) -> tuple[int, dict[str, Any]]:
        """Spool one upload; the HTTP status and JSON answer for OPA."""
        try:
            events = unpack_batch(body, content_encoding)
        except BadBatch as exc:
            return 400, {"code": "invalid_parameter", "message": str(exc)}
        try:
            self.sink.write(events)
        except OSError as exc:
            log.error("could not spool %d decision events: %s", len(events), exc)
            return 500, {"code": "internal_error", "message": "could not spool the batch"}
        self.received += len(events)
        return 200, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                path = self.path.split("?")[0]
                length = int(self.headers.get("Content-Length") or 0)
                if path != relay.resource and not path.startswith(relay.resource + "/"):
                    status, answer = 404, {"code": "not_found", "message": f"decision logs go to {relay.resource}"}
                elif length > MAX_BODY_BYTES:
                    status, answer = 413, {"code": "invalid_parameter", "message": "the batch is too large"}
                else:
                    status, answer = relay.accept(self.rfile.read(length), self.headers.get("Content-Encoding"))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 413:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("relay: " + format, *args)

        return Handler
