"""A disk spool: append-only segment files plus an acknowledged position, so records survive outages and restarts.

Records are JSON lines in ``segment-<n>.jsonl`` files; ``ack.json`` holds the position (segment, byte offset) up to
which records have been delivered. A reader peeks a batch after that position and acknowledges it once delivered;
fully delivered segments are deleted. On open, a torn last line (a write cut short by a crash) is cut off.

>>> import tempfile
>>> spool = Spool(tempfile.mkdtemp())
>>> spool.append([{"n": 1}, {"n": 2}])
>>> batch, position = spool.peek(10)
>>> [record["n"] for record in batch]
[1, 2]
>>> spool.ack(position)
>>> spool.pending()
0
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from yaml2rego.canonical_json import compact_lenient
from yaml2rego.runtime.sinks.base import cut_torn_tail

__all__ = ["Position", "Spool"]

Position = tuple[int, int]
_PREFIX, _SUFFIX = "segment-", ".jsonl"


class Spool:
    """A directory of append-only segment files with an acknowledged offset. Thread-safe."""

    def __init__(
        self, directory: str | os.PathLike[str], *, segment_bytes: int = 16 * 1024 * 1024, fsync: bool = False
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self._lock = threading.Lock()
        self._acked: Position = self._read_ack()
        segments = self._segments()
        self._segment = max(segments[-1] if segments else 1, self._acked[0])
        self._repair(self._segment)
        self._handle = _open_append(self._path(self._segment))
        self._pending = self._count_pending()

    # -- writing ---------------------------------------------------------------------------------------------------

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        """Append records (in order); durable on disk after return when ``fsync`` is on."""
        self.append_lines([compact_lenient(r).encode("utf-8") + b"\n" for r in records])

    def append_lines(self, lines: Sequence[bytes]) -> None:
        """Append lines that are already JSON, each ending in a newline."""
        if not lines:
            return
        data = b"".join(lines)
        with self._lock:
            if self._handle.tell() > 0 and self._handle.tell() + len(data) > self.segment_bytes:
                self._handle.close()
                self._segment += 1
                self._handle = _open_append(self._path(self._segment))
            self._handle.write(data)
            self._handle.flush()
            if self.fsync:
                os.fsync(self._handle.fileno())
            self._pending += len(lines)

    # -- reading ---------------------------------------------------------------------------------------------------

    def peek(self, max_records: int, max_bytes: int = 1 << 62) -> tuple[list[dict[str, Any]], Position]:
        """Up to ``max_records`` records after the acknowledged position, and the position just after them."""
        lines, position = self.peek_lines(max_records, max_bytes)
        return [json.loads(line) for line in lines], position

    def peek_lines(self, max_records: int, max_bytes: int = 1 << 62) -> tuple[list[bytes], Position]:
        """Like :meth:`peek`, but the raw lines (newline included), unparsed."""
        with self._lock:
            segment, offset = self._acked
            lines: list[bytes] = []
            size = 0
            while len(lines) < max_records and segment <= self._segment:
                path = self._path(segment)
                if not path.exists():
                    segment, offset = segment + 1, 0
                    continue
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    for line in handle:
                        if not line.endswith(b"\n") or len(lines) >= max_records:
                            break
                        if lines and size + len(line) > max_bytes:
                            return lines, (segment, offset)
                        offset += len(line)
                        size += len(line)
                        if line.strip():
                            lines.append(line)
                if len(lines) >= max_records or segment == self._segment:
                    break
                segment, offset = segment + 1, 0
            return lines, (segment, offset)

    def ack(self, position: Position) -> None:
        """Mark everything before ``position`` delivered; delete segments that are entirely delivered."""
        with self._lock:
            delivered = self._count_between(self._acked, position)
            self._acked = position
            temporary = self.directory / "ack.json.tmp"
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump({"segment": position[0], "offset": position[1]}, handle)
            os.replace(temporary, self.directory / "ack.json")
            self._pending = max(0, self._pending - delivered)
            for segment in self._segments():
                if segment < position[0]:
                    self._path(segment).unlink(missing_ok=True)

    def pending(self) -> int:
        """How many records are waiting to be delivered."""
        with self._lock:
            return self._pending

    def close(self) -> None:
        with self._lock:
            self._handle.close()

    # -- internals -------------------------------------------------------------------------------------------------

    def _path(self, segment: int) -> Path:
        return self.directory / f"{_PREFIX}{segment:08d}{_SUFFIX}"

    def _segments(self) -> list[int]:
        found = []
        for path in self.directory.glob(f"{_PREFIX}*{_SUFFIX}"):
            number = path.name[len(_PREFIX) : -len(_SUFFIX)]
            if number.isdigit():
                found.append(int(number))
        return sorted(found)

    def _read_ack(self) -> Position:
        try:
            value = json.loads((self.directory / "ack.json").read_text(encoding="utf-8"))
            return int(value["segment"]), int(value["offset"])
        except (OSError, ValueError, KeyError, TypeError):
            segments = self._segments()
            return (segments[0] if segments else 1), 0

    def _repair(self, segment: int) -> None:
        cut_torn_tail(self._path(segment))

    def _count_pending(self) -> int:
        return self._count_between(self._acked, (self._segment, 1 << 62))

    def _count_between(self, start: Position, end: Position) -> int:
        count = 0
        for segment in range(start[0], end[0] + 1):
            path = self._path(segment)
            if not path.exists():
                continue
            with open(path, "rb") as handle:
                handle.seek(start[1] if segment == start[0] else 0)
                stop = end[1] if segment == end[0] else 1 << 62
                position = handle.tell()
                for line in handle:
                    if position >= stop:
                        break
                    position += len(line)
                    count += line.endswith(b"\n")
        return count


def _open_append(path: Path) -> Any:
    # 0600 from creation: spooled records may hold bodies.
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
