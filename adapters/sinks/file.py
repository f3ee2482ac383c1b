"""The JSON-lines file sink: an append-only audit log, one sealed record per line, with rotation and fsync policy.

Rotation never renames a file that already has a name in the log's history: the full file gets the next free
``<name>.<n>`` suffix (``decisions.jsonl.1``, ``decisions.jsonl.2``, …) and a new file is started; the hash chain
runs on across files, so ``yaml2rego logs verify decisions.jsonl.1 decisions.jsonl.2 decisions.jsonl`` checks all.

>>> import tempfile, os
>>> sink = JsonlFileSink(os.path.join(tempfile.mkdtemp(), "decisions.jsonl"), fsync="always")
>>> sink.write([{"decision_id": "d-1", "hash": "ab"}])
>>> sink.last_hash()
'ab'
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from yaml2rego.adapters.sinks.base import Record, encode_record

__all__ = ["FSYNC_POLICIES", "JsonlFileSink"]

# "always": fsync after every batch the background thread writes; "interval": at most every `fsync_interval`
# seconds; "never": leave it to the operating system.
FSYNC_POLICIES = ("always", "interval", "never")


class JsonlFileSink:
    """Appends records to ``path`` as JSON lines."""

    name = "file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: str = "interval",
        fsync_interval: float = 1.0,
        max_bytes: int | None = None,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}, not {fsync!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._last_sync = time.monotonic()
        self._last_hash = self._read_last_hash()
        self._handle = open(self.path, "ab")  # noqa: SIM115 - kept open for appends

    def write(self, records: Sequence[Record]) -> None:
        self.write_encoded(records, [encode_record(record) for record in records])

    def write_encoded(self, records: Sequence[Record], lines: Sequence[bytes]) -> None:
        """Append ``lines`` (one JSON line per record, as the pipeline encoded them)."""
        if not lines:
            return
        with self._lock:
            if self.max_bytes:
                for line in lines:  # rotation happens between records, never inside a batch's line
                    if self._handle.tell() > 0 and self._handle.tell() + len(line) > self.max_bytes:
                        self._rotate()
                    self._handle.write(line)
            else:
                self._handle.write(b"".join(lines))
            self._handle.flush()
            now = time.monotonic()
            if self.fsync == "always" or (self.fsync == "interval" and now - self._last_sync >= self.fsync_interval):
                os.fsync(self._handle.fileno())
                self._last_sync = now
            last = records[-1].get("hash") if records else None
            self._last_hash = str(last) if last is not None else self._last_hash

    def last_hash(self) -> str | None:
        """The hash of the last record in the log (so a restarted guard continues the chain), if any."""
        return self._last_hash

    def flush(self, timeout: float | None = None) -> bool:
        with self._lock:
            if not self._handle.closed:
                self._handle.flush()
                if self.fsync != "never":
                    os.fsync(self._handle.fileno())
        return True

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._handle.close()

    def _rotate(self) -> None:
        self._handle.flush()
        if self.fsync != "never":
            os.fsync(self._handle.fileno())
        self._handle.close()
        number = 1
        while self.path.with_name(f"{self.path.name}.{number}").exists():
            number += 1
        os.replace(self.path, self.path.with_name(f"{self.path.name}.{number}"))
        self._handle = open(self.path, "ab")  # noqa: SIM115

    def _read_last_hash(self) -> str | None:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 65536))
                lines = [line for line in handle.read().split(b"\n") if line.strip()]
        except FileNotFoundError:
            return None
        for line in reversed(lines):
            try:
                value = json.loads(line).get("hash")
            except (ValueError, AttributeError):
                continue
            if isinstance(value, str):
                return value
        return None
