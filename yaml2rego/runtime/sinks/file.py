"""The JSON-lines file sink: an append-only audit log, one sealed record per line, with rotation and fsync policy.

Rotation never renames a file that already has a name in the log's history: the full file gets the next
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
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from yaml2rego.runtime.sinks.base import Record, cut_torn_tail, encode_record

__all__ = ["FSYNC_POLICIES", "JsonlFileSink"]

log = logging.getLogger("yaml2rego.adapters")

# "always": fsync after every batch the background thread writes; "interval": at most every `fsync_interval`
# seconds; "never": leave it to the operating system.
FSYNC_POLICIES = ("always", "interval", "never")


class JsonlFileSink:
    """Appends records to ``path`` as JSON lines: the guard's record log, which every other sink ships from.

    Lines are appended with ``os.write`` on an ``O_APPEND`` descriptor, one call per batch, so a batch is never
    interleaved and a killed process leaves at most a torn last line, which the next open cuts off (its record was
    never acknowledged to a caller). The file is created ``0600``: records may hold bodies.
    """

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
        self.repaired = cut_torn_tail(self.path)
        self._last_hash, self._last_is_checkpoint = self._read_last_line()
        self._fd = _open_append(self.path)
        self._size = os.fstat(self._fd).st_size
        self._closed = False
        self.rotations = 0  # how many times this sink rotated (a reader of the log may then prune old files)

    def write(self, records: Sequence[Record]) -> None:
        self.write_encoded(records, [encode_record(record) for record in records])

    def write_encoded(self, records: Sequence[Record], lines: Sequence[bytes]) -> None:
        """Append ``lines`` (one JSON line per record, as the pipeline encoded them)."""
        self.append(lines)
        last = records[-1].get("hash") if records else None
        if last is not None:
            self._last_hash = str(last)

    def append(self, lines: Sequence[bytes], *, sync: bool = False) -> None:
        """Append sealed lines in one write (rotating between lines when ``max_bytes`` says so); ``sync`` forces an
        fsync whatever the policy. On return the lines are in the operating system's hands: a killed process loses
        none of them, a power cut may lose what was not fsync'd."""
        if not lines:
            return
        with self._lock:
            if self._closed:
                raise OSError(f"the record log {self.path} is closed")
            if self.max_bytes:
                pending: list[bytes] = []
                size = self._size
                for line in lines:  # rotation happens between records, never inside a line
                    if size > 0 and size + len(line) > self.max_bytes:
                        self._write_all(b"".join(pending))
                        pending, size = [], 0
                        self._rotate()
                    pending.append(line)
                    size += len(line)
                self._write_all(b"".join(pending))
            else:
                self._write_all(b"".join(lines))
            now = time.monotonic()
            if (
                sync
                or self.fsync == "always"
                or (self.fsync == "interval" and now - self._last_sync >= self.fsync_interval)
            ):
                os.fsync(self._fd)
                self._last_sync = now
            self._last_is_checkpoint = b'"checkpoint":' in lines[-1]

    def last_hash(self) -> str | None:
        """The hash of the last line in the log (so a restarted guard continues the chain), if any."""
        return self._last_hash

    def set_last_hash(self, value: str) -> None:
        self._last_hash = value

    @property
    def ends_with_checkpoint(self) -> bool:
        return self._last_is_checkpoint

    def files(self) -> list[Path]:
        """The log's files, oldest first: the rotated ``<name>.<n>`` in order, then ``path``."""
        rotated = []
        for candidate in self.path.parent.glob(f"{self.path.name}.*"):
            suffix = candidate.name[len(self.path.name) + 1 :]
            if suffix.isdigit():
                rotated.append((int(suffix), candidate))
        return [path for _, path in sorted(rotated)] + [self.path]

    def flush(self, timeout: float | None = None) -> bool:
        with self._lock:
            if not self._closed and self.fsync != "never":
                os.fsync(self._fd)
        return True

    def close(self) -> None:
        self.flush()
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._fd)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._size += len(data)

    def _rotate(self) -> None:
        if self.fsync != "never":
            os.fsync(self._fd)
        os.close(self._fd)
        # One past the highest suffix, not the first free one: rotated files stay in order even after older ones
        # were deleted (readers of the log follow the suffixes).
        rotated = self.files()[:-1]
        number = int(rotated[-1].name.rsplit(".", 1)[1]) + 1 if rotated else 1
        os.replace(self.path, self.path.with_name(f"{self.path.name}.{number}"))
        self._fd = _open_append(self.path)
        self._size = 0
        self.rotations += 1

    def _read_last_line(self) -> tuple[str | None, bool]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 65536))
                lines = [line for line in handle.read().split(b"\n") if line.strip()]
        except FileNotFoundError:
            return None, False
        for line in reversed(lines):
            try:
                record = json.loads(line)
                value = record.get("hash")
            except (ValueError, AttributeError):
                continue
            if isinstance(value, str):
                return value, "checkpoint" in record
        return None, False


def _open_append(path: Path) -> int:
    # 0600 from the first byte: created with the mode, not chmod'ed after (a reader could open it in between).
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
