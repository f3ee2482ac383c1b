"""The Splunk HTTP Event Collector sink: records spool to disk first, then a sender thread posts them in batches.

Batches are concatenated JSON envelopes (``{"time", "event", …}``) posted to ``/services/collector/event`` with
``Authorization: Splunk <token>``. A 5xx answer or a connection error is retried with exponential backoff, and
nothing is lost meanwhile: the spool keeps every record, in order, across outages and process restarts (a batch
may be sent twice after a crash; ``decision_id`` lets Splunk de-duplicate). A 4xx answer is not retried: a 400
batch is set aside in ``rejected.jsonl`` beside the spool; a 401/403 (token) stops sending, keeps the spool, and
the error is in :attr:`SplunkHecSink.error`.

>>> sink = SplunkHecSink("http://127.0.0.1:8088", "token", spool_dir="/var/spool/yaml2rego/hec")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from yaml2rego.canonical_json import compact
from yaml2rego.errors import SinkError
from yaml2rego.runtime.records import parse_timestamp
from yaml2rego.runtime.sinks.base import Record, encode_record
from yaml2rego.runtime.sinks.shipper import Retryable, Shipper
from yaml2rego.runtime.sinks.spool import Spool

__all__ = ["HecClient", "HecRetryable", "SplunkHecSink", "hec_event_url"]

log = logging.getLogger("yaml2rego.adapters")


def hec_event_url(url: str) -> str:
    """``http://host:8088`` → ``http://host:8088/services/collector/event``; a full collector URL is kept."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SinkError(f"not a Splunk HEC URL: {url!r} (expected https://host:8088)")
    path = parts.path.rstrip("/") or "/services/collector/event"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class HecRetryable(Retryable):
    """Splunk was busy or unreachable: the same batch may be sent again later."""


class HecClient:
    """Posts batches of events to one HEC endpoint over a keep-alive session."""

    def __init__(self, url: str, token: str, *, timeout: float = 10.0) -> None:
        self.url = hec_event_url(url)
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers.update({"Authorization": f"Splunk {token}", "Content-Type": "application/json"})

    def send(self, envelopes: Sequence[Mapping[str, Any]]) -> None:
        """Raise :class:`HecRetryable` for 5xx/connection errors, :class:`SinkError` for a refusal (4xx)."""
        self.send_body(b"".join(encode_record(dict(envelope)) for envelope in envelopes), len(envelopes))

    def send_body(self, body: bytes, count: int) -> None:
        """Post ``count`` envelopes already concatenated into ``body``; errors as for :meth:`send`."""
        try:
            response = self._session.post(self.url, data=body, timeout=self.timeout)
        except requests.RequestException as exc:
            # requests' own message repeats the whole URL and connection pool; the exception's kind is what matters.
            raise HecRetryable(f"Splunk HEC at {self.url} is unreachable ({type(exc).__name__})") from exc
        if response.status_code < 300:
            return
        text = _splunk_text(response)
        if response.status_code >= 500 or response.status_code == 429:
            raise HecRetryable(f"Splunk HEC at {self.url} is unavailable: {text}")
        error = SinkError(f"Splunk HEC at {self.url} refused {count} events: {text}")
        error.status = response.status_code  # type: ignore[attr-defined]
        raise error

    def close(self) -> None:
        self._session.close()


def _splunk_text(response: requests.Response) -> str:
    try:
        body = response.json()
        return f"HTTP {response.status_code} {body.get('text')} (code {body.get('code')})"
    except ValueError:
        return f"HTTP {response.status_code} {response.text[:200]}"


class SplunkHecSink:
    """Delivers records to Splunk HEC through a disk spool; see the module docstring for the guarantees."""

    name = "splunk"

    def __init__(
        self,
        url: str,
        token: str,
        *,
        spool_dir: str | Path | None = None,
        index: str | None = None,
        source: str | None = "yaml2rego",
        sourcetype: str | None = "_json",
        host: str | None = None,
        batch_size: int = 100,
        max_batch_bytes: int = 800_000,
        timeout: float = 10.0,
        backoff: tuple[float, float] = (0.2, 30.0),
        fsync: bool = False,
        time_field: str = "timestamp",
        envelope: Callable[[Record], dict[str, Any]] | None = None,
    ) -> None:
        self.client = HecClient(url, token, timeout=timeout)
        self.spool_dir = Path(spool_dir) if spool_dir is not None else None
        # In a guard the record log is the spool and the cursor lives here; on its own (the relay, tests) the sink
        # keeps a spool of its own, opened on first write.
        self.cursor_path = self.spool_dir / "cursor.json" if self.spool_dir is not None else None
        self._fsync = fsync
        self._spool: Spool | None = None
        self._shipper: Shipper | None = None
        self._spool_lock = threading.Lock()
        self.metadata = {
            key: value
            for key, value in {"index": index, "source": source, "sourcetype": sourcetype, "host": host}.items()
            if value
        }
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.backoff = backoff
        self.time_field = time_field
        self._envelope = envelope
        self._metadata_json = compact(self.metadata)[1:-1].encode()
        self.error: SinkError | None = None
        self.delivered = 0
        if self.spool_dir is not None and any(self.spool_dir.glob("segment-*.jsonl")):
            _ = self.spool  # events spooled before a restart: send them now

    @property
    def spool(self) -> Spool:
        """The sink's own spool (used when the sink is written to directly, not shipped from a record log)."""
        with self._spool_lock:
            if self._spool is None:
                directory = self.spool_dir or Path(tempfile.mkdtemp(prefix="yaml2rego-hec-"))
                self._spool = Spool(directory, fsync=self._fsync)
                self._shipper = Shipper(
                    self._spool,
                    self._post,
                    name="splunk",
                    batch_size=self.batch_size,
                    max_batch_bytes=self.max_batch_bytes,
                    backoff=self.backoff,
                )
            return self._spool

    def write(self, records: Sequence[Record]) -> None:
        self.write_encoded(records, [encode_record(record) for record in records])

    def write_encoded(self, records: Sequence[Record], lines: Sequence[bytes]) -> None:
        """Spool one ready-to-send HEC envelope per record; the sender thread posts them as they are."""
        envelopes = [self._envelope_line(record, line) for record, line in zip(records, lines, strict=True)]
        self.spool.append_lines(envelopes)
        assert self._shipper is not None
        self._shipper.notify()

    def ship(self, records: Sequence[Record], lines: Sequence[bytes]) -> None:
        """Post records read from the record log now (one request); raises :class:`HecRetryable` or
        :class:`SinkError` as :meth:`HecClient.send_body` does. A shipper calls this and keeps the cursor."""
        envelopes = [self._envelope_line(record, line) for record, line in zip(records, lines, strict=True)]
        self._post(list(records), envelopes)

    def _reject(self, envelopes: Sequence[bytes], error: SinkError) -> None:
        """Set aside a batch Splunk refused as bad data (400), with Splunk's answer, in ``rejected.jsonl``."""
        directory = self.spool_dir or (self._spool.directory if self._spool is not None else None)
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="yaml2rego-hec-"))
            self.spool_dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(directory / "rejected.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
            for line in envelopes:
                entry = {"error": str(error), "envelope": json.loads(line)}
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the sink's own spool is empty; ``False`` on timeout or when Splunk refused the token."""
        if self._shipper is None:
            return True
        return self._shipper.flush(timeout)

    def close(self) -> None:
        if self._shipper is not None:
            self._shipper.close(self.client.timeout + 1)
        if self._spool is not None:
            self._spool.close()
        self.client.close()

    def _post(self, records: Sequence[Record], envelopes: Sequence[bytes]) -> None:
        try:
            self.client.send_body(b"".join(envelopes), len(envelopes))
        except SinkError as exc:
            self.error = exc
            if getattr(exc, "status", 0) in (401, 403):
                raise  # a token problem: the shipper stops and keeps everything for when it is fixed
            log.error("%s", exc)
            self._reject(envelopes, exc)
            return
        self.delivered += len(envelopes)

    def _envelope_line(self, record: Record, line: bytes) -> bytes:
        # The envelope is assembled around the record's JSON line rather than serialising the record again.
        if self._envelope is not None:
            return encode_record(self._envelope(record))
        parts = []
        stamp = record.get(self.time_field)
        if isinstance(stamp, str):
            with contextlib.suppress(ValueError):
                parts.append(b'"time":' + repr(round(parse_timestamp(stamp), 6)).encode())
        if self._metadata_json:
            parts.append(self._metadata_json)
        parts.append(b'"event":' + line.rstrip(b"\n"))
        return b"{" + b",".join(parts) + b"}\n"
