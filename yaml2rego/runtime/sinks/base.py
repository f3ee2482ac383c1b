"""What every decision-record sink implements, and the simplest one (a list in memory, for tests and tools)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from yaml2rego.canonical_json import compact_lenient

log = logging.getLogger("yaml2rego.adapters")

__all__ = ["MemorySink", "Record", "Sink", "cut_torn_tail", "encode_record"]

Record = dict[str, Any]


def encode_record(record: Record) -> bytes:
    """One JSON line for ``record`` (compact, UTF-8, newline-terminated)."""
    return compact_lenient(record).encode("utf-8") + b"\n"


@runtime_checkable
class Sink(Protocol):
    """Receives sealed records (``hash`` set), in chain order, from one background thread.

    ``write`` must not keep the caller long: a sink that talks to the network spools and sends from its own thread.
    ``flush`` waits until everything written so far has been delivered (``True``) or ``timeout`` passes (``False``).
    A sink that writes text may also offer ``write_encoded(records, lines)``: the pipeline then hands it each record's
    JSON line as well (the text the hash was computed over), so the record is serialised once, not once per sink.
    """

    name: str

    def write(self, records: Sequence[Record]) -> None: ...

    def flush(self, timeout: float | None = None) -> bool: ...

    def close(self) -> None: ...


class MemorySink:
    """Keeps every record in :attr:`records` (a list of plain dicts).

    >>> sink = MemorySink()
    >>> sink.write([{"decision": "allow"}])
    >>> sink.records
    [{'decision': 'allow'}]
    """

    name = "memory"

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._lock = threading.Lock()

    def write(self, records: Sequence[Record]) -> None:
        with self._lock:
            self.records.extend(records)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self) -> None:
        pass


def cut_torn_tail(path: Path) -> int:
    """Cut a last line without its newline (a write the process did not finish); how many bytes were cut.

    Shared by the record log and the spool: a record is a whole line or nothing."""
    try:
        with open(path, "r+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return 0
            position = size
            while position > 0:  # back to the last newline, a block at a time
                start = max(0, position - 65536)
                handle.seek(start)
                block = handle.read(position - start)
                newline = block.rfind(b"\n")
                if newline >= 0:
                    position = start + newline + 1
                    break
                position = start
            handle.truncate(position)
            log.warning("cut a torn last line (%d bytes) off %s", size - position, path)
            return size - position
    except FileNotFoundError:
        return 0
