"""Moves records off the agent's call path: a bounded in-memory queue, drained to the sinks by one thread.

The call path only puts a record into the queue. When the queue is full, the record is appended to a disk spool
instead (never dropped); from then on every record goes to the spool until the background thread has caught up,
so records reach the sinks in the order they were submitted. The thread seals each record into the hash chain just
before handing it to the sinks, so the chain is the order the sinks see.
"""

from __future__ import annotations

import logging
import queue
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from yaml2rego.adapters.records import HashChain
from yaml2rego.adapters.sinks.base import Record, Sink
from yaml2rego.adapters.sinks.spool import Spool

__all__ = ["RecordPipeline"]

log = logging.getLogger("yaml2rego.adapters")

_SLICE = 2


class RecordPipeline:
    """Submit records from any thread; :meth:`flush` waits until the sinks have them."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        chain: HashChain | None = None,
        queue_size: int = 10_000,
        spool_dir: str | Path | None = None,
        batch_size: int = 256,
    ) -> None:
        self.sinks = list(sinks)
        self.chain = chain or HashChain()
        self.batch_size = batch_size
        self.errors = 0
        self.spilled = 0
        self._queue: queue.Queue[Record] = queue.Queue(maxsize=queue_size)
        self._spool_dir = Path(spool_dir) if spool_dir is not None else None
        self._overflow: Spool | None = None
        self._overflowing = False
        self._overflow_lock = threading.Lock()
        self._busy = False
        self._closed = threading.Event()
        if self._spool_dir is not None and any(self._spool_dir.glob("segment-*.jsonl")):
            # Records that overflowed before a restart go out first, ahead of anything new.
            self._overflowing = self._spool().pending() > 0
        self._thread = threading.Thread(target=self._run, name="yaml2rego-records", daemon=True)
        self._thread.start()

    def submit(self, record: Record) -> None:
        """Hand a record over; returns at once unless the queue is full (then one append to a local file)."""
        if not self._overflowing:
            try:
                self._queue.put_nowait(record)
                return
            except queue.Full:
                pass
        with self._overflow_lock:
            self._overflowing = True
            self._spool().append([record])
            self.spilled += 1

    def pending(self) -> int:
        """Records not yet handed to the sinks."""
        overflow = self._overflow.pending() if self._overflow is not None else 0
        return self._queue.unfinished_tasks + overflow + int(self._busy)

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until every submitted record has reached every sink and the sinks have delivered them."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.pending():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        ok = True
        for sink in self.sinks:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ok = sink.flush(remaining) and ok
        return ok

    def close(self, timeout: float | None = 5.0) -> None:
        """Deliver what is queued (up to ``timeout``), stop the thread and close the sinks."""
        self.flush(timeout)
        self._closed.set()
        self._thread.join(timeout)
        leftovers = []
        while True:
            try:
                leftovers.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if leftovers:
            # Not delivered in time: kept in the overflow spool, where the next pipeline on `spool_dir` finds them.
            with self._overflow_lock:
                self._spool().append(leftovers)
            log.warning(
                "%d decision records not yet delivered were kept in %s", len(leftovers), self._spool().directory
            )
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                log.exception("closing the %s sink failed", getattr(sink, "name", sink))
        if self._overflow is not None:
            self._overflow.close()

    # -- the background thread -------------------------------------------------------------------------------------

    def _spool(self) -> Spool:
        if self._overflow is None:
            directory = self._spool_dir or Path(tempfile.mkdtemp(prefix="yaml2rego-overflow-"))
            self._overflow = Spool(directory)
        return self._overflow

    def _run(self) -> None:
        while not self._closed.is_set():
            batch = self._take_from_queue()
            if batch:
                self._deliver(batch)
                for _ in batch:
                    self._queue.task_done()
                self._busy = False
            elif self._overflowing:
                self._drain_overflow()

    def _take_from_queue(self) -> list[Record]:
        try:
            first = self._queue.get(timeout=0.05)
        except queue.Empty:
            return []
        self._busy = True
        batch = [first]
        while len(batch) < self.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _drain_overflow(self) -> None:
        spool = self._spool()
        self._busy = True
        records, position = spool.peek(self.batch_size)
        if records:
            self._deliver(records)
        spool.ack(position)
        with self._overflow_lock:
            if spool.pending() == 0:
                self._overflowing = False
        self._busy = False

    def _deliver(self, records: list[Record]) -> None:
        # Small slices, each followed by a voluntary switch: this thread then never holds the GIL for long while an
        # agent's thread is waiting for it (otherwise a call could wait a whole switch interval, 5 ms by default).
        for start in range(0, len(records), _SLICE):
            chunk = records[start : start + _SLICE]
            lines = [self.chain.seal_encoded(record) for record in chunk]
            for sink in self.sinks:
                try:
                    write_encoded = getattr(sink, "write_encoded", None)
                    if write_encoded is not None:
                        write_encoded(chunk, lines)
                    else:
                        sink.write(chunk)
                except Exception:
                    # A failing sink must not stop the others or the agent; the error is counted and logged.
                    self.errors += 1
                    log.exception("the %s sink failed to write %d records", getattr(sink, "name", sink), len(chunk))
                time.sleep(0)
            if not self.sinks:
                time.sleep(0)  # sealing alone holds the GIL too
