"""Shippers: each sink other than the record log reads the log from its own committed cursor, as Filebeat does.

The record log (the JSON-lines file, :class:`~yaml2rego.runtime.sinks.file.JsonlFileSink`) is the one source of
truth. A :class:`Shipper` runs one thread per sink: it reads a batch of lines after its cursor, hands them to the
sink, and only then moves the cursor on and stores it (``cursor.json``, replaced atomically). After a crash the
next process resumes from the stored cursor, so every logged record reaches every sink at least once; a batch in
flight at the crash may arrive twice, and ``decision_id`` tells the copies apart.

The cursor is the log file's inode and a byte offset, so it follows the file through rotation (``decisions.jsonl``
renamed to ``decisions.jsonl.3`` keeps its inode). The same shipper also drains a :class:`~.spool.Spool` (the
Splunk sink used on its own, the OPA decision-log relay): both offer ``peek_lines`` and ``ack``.

>>> reader = LogReader(log, cursor_path)  # doctest: +SKIP
>>> lines, position = reader.peek_lines(100)  # doctest: +SKIP
>>> reader.ack(position)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from yaml2rego.errors import SinkError
from yaml2rego.runtime.sinks.base import Record, Sink

__all__ = ["LogPosition", "LogReader", "Retryable", "Shipper", "Source", "deliver_to"]

log = logging.getLogger("yaml2rego.adapters")

LogPosition = tuple[int, int]  # (inode, byte offset)


class Retryable(Exception):
    """The destination was busy or unreachable: the same batch is sent again later."""


class Source(Protocol):
    """Where a shipper reads from: a batch of complete lines after the committed position, and a commit."""

    def peek_lines(self, max_records: int, max_bytes: int = ...) -> tuple[list[bytes], Any]: ...

    def ack(self, position: Any) -> None: ...

    def pending(self) -> int: ...


class _Files(Protocol):
    path: Path

    def files(self) -> list[Path]: ...


class LogReader:
    """Reads the record log's files in order from a cursor stored at ``cursor_path``.

    Without a stored cursor the reader starts at the end of the log as it is now, and stores that position at
    once: a sink added to an existing log ships what is written from then on (``yaml2rego logs ship`` back-fills).
    """

    def __init__(self, log: _Files, cursor_path: str | os.PathLike[str]) -> None:
        self.log = log
        self.cursor_path = Path(cursor_path)
        self.cursor_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        stored = self._read_cursor()
        if stored is None:
            stat = os.stat(log.path)
            stored = (stat.st_ino, stat.st_size)
            self._write_cursor(stored)
        self._position: LogPosition = stored

    @property
    def position(self) -> LogPosition:
        return self._position

    def peek_lines(self, max_records: int, max_bytes: int = 1 << 62) -> tuple[list[bytes], LogPosition]:
        """Up to ``max_records`` complete lines after the cursor (crossing into newer files), and where they end."""
        with self._lock:
            inode, offset = self._position
        index = None
        for _ in range(3):  # a rotation between listing the files and looking at them: list them again
            files = self._inodes()
            index = next((n for n, (_, ino) in enumerate(files) if ino == inode), None)
            if index is not None:
                break
        if index is None:
            # The cursor's file is gone (deleted after rotation): start at the oldest file there is.
            index, offset = 0, 0
            inode = files[0][1] if files else inode
        lines: list[bytes] = []
        size = 0
        while index < len(files):
            path, inode = files[index]
            full = False
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    for line in handle:
                        if not line.endswith(b"\n"):
                            break  # a line still being written
                        if lines and (len(lines) >= max_records or size + len(line) > max_bytes):
                            full = True
                            break
                        offset += len(line)
                        size += len(line)
                        if line.strip():
                            lines.append(line)
            except FileNotFoundError:
                pass
            if full or len(lines) >= max_records or index == len(files) - 1:
                break
            index, offset = index + 1, 0
        return lines, (files[index][1] if index < len(files) else inode, offset)

    def ack(self, position: LogPosition) -> None:
        with self._lock:
            self._position = position
            self._write_cursor(position)

    def pending(self) -> int:
        """Bytes after the cursor (0 when the reader has shipped everything written so far)."""
        inode, offset = self._position
        total = 0
        seen = False
        for path, ino in self._inodes():
            if ino == inode:
                seen = True
                total += max(0, _size(path) - offset)
            elif seen:
                total += _size(path)
        return total if seen else sum(_size(path) for path, _ in self._inodes())

    def _inodes(self) -> list[tuple[Path, int]]:
        found = []
        for path in self.log.files():
            try:
                found.append((path, os.stat(path).st_ino))
            except FileNotFoundError:
                continue
        return found

    def _read_cursor(self) -> LogPosition | None:
        try:
            value = json.loads(self.cursor_path.read_text(encoding="utf-8"))
            return int(value["inode"]), int(value["offset"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_cursor(self, position: LogPosition) -> None:
        temporary = self.cursor_path.with_name(self.cursor_path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"inode": position[0], "offset": position[1], "log": str(self.log.path)}, handle)
        os.replace(temporary, self.cursor_path)


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def deliver_to(sink: Sink) -> Callable[[list[Record], list[bytes]], None]:
    """How a shipper hands a batch to ``sink``: its ``ship`` (a network sink that sends synchronously and raises
    :class:`Retryable`), else ``write_encoded`` or ``write``."""
    ship = getattr(sink, "ship", None)
    if ship is not None:
        return ship  # type: ignore[no-any-return]
    write_encoded = getattr(sink, "write_encoded", None)
    if write_encoded is not None:
        return write_encoded  # type: ignore[no-any-return]
    return lambda records, lines: sink.write(records)


class Shipper:
    """One thread moving lines from ``source`` to ``deliver``, committing the source's position after each batch."""

    def __init__(
        self,
        source: Source,
        deliver: Callable[[list[Record], list[bytes]], None],
        *,
        name: str = "sink",
        batch_size: int = 256,
        max_batch_bytes: int = 800_000,
        backoff: tuple[float, float] = (0.2, 30.0),
    ) -> None:
        self.source = source
        self.deliver = deliver
        self.name = name
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.backoff = backoff
        self.delivered = 0
        self.errors = 0
        self.error: Exception | None = None
        self._acked: Any = None
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"yaml2rego-ship-{name}", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """New lines were written: look now rather than at the next poll."""
        self._wake.set()

    @property
    def stopped(self) -> bool:
        """Stopped for good: closed, or the destination refused the credentials (401/403)."""
        return self._closed.is_set() or getattr(self.error, "status", 0) in (401, 403)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything in the source so far is delivered; ``False`` on timeout or when stopped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.notify()
        while self.source.pending():
            if self.stopped or (deadline is not None and time.monotonic() >= deadline):
                return False
            self._wake.set()
            time.sleep(0.002)
        return True

    def close(self, timeout: float | None = 5.0) -> None:
        self._closed.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        delay = self.backoff[0]
        while not self.stopped:
            lines, position = self.source.peek_lines(self.batch_size, self.max_batch_bytes)
            if not lines:
                if position != self._acked:
                    self._commit(position)  # past blank lines, or into a newer file
                self._wake.wait(0.2)
                self._wake.clear()
                continue
            try:
                records = [json.loads(line) for line in lines]
                self.deliver(records, lines)
            except Retryable as exc:
                log.warning("%s; retrying in %.1fs", exc, delay)
                delay = self._wait(delay)
                continue
            except SinkError as exc:
                self.error = exc
                log.error("%s", exc)
                if self.stopped:
                    return  # a credentials problem: everything stays in the log for when it is fixed
                self.errors += 1
                delay = self._wait(delay)
                continue
            except Exception:
                # A sink of our own or the caller's that raised: counted, logged and retried (at least once).
                self.errors += 1
                log.exception("the %s sink failed to take %d records; retrying in %.1fs", self.name, len(lines), delay)
                delay = self._wait(delay)
                continue
            self.delivered += len(lines)
            delay = self.backoff[0]
            self._commit(position)

    def _wait(self, delay: float) -> float:
        """Wait ``delay`` seconds (less if closed) before the next try; the delay for the try after it."""
        self._closed.wait(delay)
        return min(delay * 2, self.backoff[1])

    def _commit(self, position: Any) -> None:
        self.source.ack(position)
        self._acked = position
