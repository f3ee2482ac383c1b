"""The record path: one durable record log written by group commit, and a shipper per other sink.

Every record is sealed into the hash chain exactly once, by whoever holds the log's write lock, and appended to
the record log (the first :class:`~.file.JsonlFileSink` among the sinks, or ``<spool_dir>/records.jsonl`` when
there is none). Every other sink is fed by a :class:`~.shipper.Shipper` reading the log from its own committed
cursor, so what is in the log reaches every sink, after any crash, at least once.

``durability`` decides when :meth:`RecordPipeline.record` returns:

* ``"logged"`` (the guard's default): after the record is written to the log (``os.write``: a killed process loses
  nothing that was returned). Concurrent callers share one write: the first to take the write lock writes every
  record waiting, the others find theirs written (group commit).
* ``"fsync"``: as ``"logged"``, and the write is fsync'd before anyone returns (a power cut loses nothing).
* ``"async"``: at once; a background thread writes within milliseconds. A crash loses what had not been written
  yet (at most ``queue_size`` records: a caller that finds that many waiting writes them itself).

The items handed to :meth:`record` are records or zero-argument callables that build one: building (the input
digest, the JSON) and sealing happen in the writer, not before the caller's decision is returned in async mode.
With a ``checkpoint_key``, the writer appends a signed checkpoint every ``checkpoint_every`` records or
``checkpoint_interval`` seconds, and a closing one at :meth:`close`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from yaml2rego.errors import SinkError
from yaml2rego.runtime.records import CheckpointKey, HashChain, checkpoint_record
from yaml2rego.runtime.sinks.base import Record, Sink
from yaml2rego.runtime.sinks.file import JsonlFileSink
from yaml2rego.runtime.sinks.shipper import LogReader, Shipper, deliver_to

__all__ = ["DURABILITY", "Item", "RecordPipeline"]

log = logging.getLogger("yaml2rego.adapters")

DURABILITY = ("logged", "fsync", "async")
Item = Record | Callable[[], Record]

_OWN_LOG_BYTES = 64 * 1024 * 1024


class RecordPipeline:
    """Record from any thread; :meth:`flush` waits until every sink has everything recorded so far."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        chain: HashChain | None = None,
        durability: str = "logged",
        queue_size: int = 10_000,
        spool_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 256,
        checkpoint_key: CheckpointKey | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 10.0,
        backoff: tuple[float, float] = (0.2, 30.0),
    ) -> None:
        if durability not in DURABILITY:
            raise ValueError(f"durability must be one of {', '.join(DURABILITY)}, not {durability!r}")
        if checkpoint_key is not None and not checkpoint_key.can_sign:
            raise ValueError("the checkpoint key can only verify: give the private key or the HMAC secret")
        self.durability = durability
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.errors = 0
        self.checkpoint_key = checkpoint_key
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        sinks = list(sinks)
        self.log = next((sink for sink in sinks if isinstance(sink, JsonlFileSink)), None)
        self._own_log = False
        self._rotations_seen = 0
        others = [sink for sink in sinks if sink is not self.log]
        self._temporary: Path | None = None
        if self.log is None and others:
            if spool_dir is None:
                # Gone with the process unless a sink has not received everything by close (then it stays, named
                # in the log, for an operator to ship).
                self._temporary = Path(tempfile.mkdtemp(prefix="yaml2rego-log-"))
            directory = Path(spool_dir) if spool_dir is not None else self._temporary
            assert directory is not None
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            # The log of its own when no file sink is given: rotated, and a rotated file goes once every shipper has
            # read past it (a file sink's rotated files are the operator's audit trail and are never deleted).
            self.log = JsonlFileSink(directory / "records.jsonl", fsync="never", max_bytes=_OWN_LOG_BYTES)
            self._own_log = True
        self.sinks = sinks if self.log is None or self.log in sinks else [self.log, *sinks]
        last = self.log.last_hash() if self.log is not None else None
        self.chain = chain if chain is not None else (HashChain(last) if last else HashChain())
        self._readers: list[LogReader] = []
        self.shippers = [self._shipper(sink, n, backoff) for n, sink in enumerate(others)]
        self._pending: list[Item] = []
        self._submitted = 0  # tickets handed out
        self._written = 0  # tickets written to the log
        self._pending_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._failures: list[tuple[int, int, str]] = []  # ticket ranges whose write failed, the latest few
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        self._closed = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        if self.log is not None and (durability == "async" or checkpoint_key is not None):
            self._thread = threading.Thread(target=self._run, name="yaml2rego-records", daemon=True)
            self._thread.start()

    # -- recording -------------------------------------------------------------------------------------------------

    def record(self, item: Item) -> None:
        """Put one record (or a callable building it) into the log, as ``durability`` says."""
        if self.log is None:
            return  # no sink at all: nothing would ever read the record
        with self._pending_lock:
            self._pending.append(item)
            self._submitted += 1
            ticket = self._submitted
            backlog = len(self._pending)
        if self.durability == "async":
            if backlog >= self.queue_size:
                self.commit(ticket)  # the writer fell behind: this caller writes, rather than the queue growing
            elif backlog == 1:
                self._wake.set()
            return
        self.commit(ticket)

    submit = record

    def commit(self, ticket: int | None = None) -> None:
        """Return once every record up to ``ticket`` (all so far when ``None``) is written to the log."""
        if self.log is None:
            return
        if ticket is None:
            ticket = self._submitted
        if self._written >= ticket:
            return
        with self._write_lock:
            if self._written < ticket:
                self._write_pending()
            # Ours was written by this call or another caller's (group commit): unless that write failed.
            failed = None
            if self._failures:
                failed = next((error for first, last, error in self._failures if first <= ticket <= last), None)
        if failed is not None:
            raise SinkError(f"a decision record could not be written to the record log: {failed}")

    def pending(self) -> int:
        """Records not yet written to the log."""
        return self._submitted - self._written

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Write what waits, then wait until every shipper has delivered everything in the log."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self.commit()
        except SinkError:
            return False  # logged where it happened; the records are not in the log
        if self.log is not None:
            self.log.flush()
        ok = True
        for shipper in self.shippers:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ok = shipper.flush(remaining) and ok
        return ok

    def close(self, timeout: float | None = 5.0) -> None:
        """Write what waits and a closing checkpoint, give the shippers ``timeout`` to deliver, close everything.
        What a shipper did not deliver stays in the log, after its cursor, for the next start."""
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.log is not None:
            with self._write_lock:
                self._write_pending(closing=self.checkpoint_key is not None)
        delivered = self.flush(timeout)
        for shipper in self.shippers:
            shipper.close(timeout)
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                log.exception("closing the %s sink failed", getattr(sink, "name", sink))
        if self._temporary is not None:
            if delivered:
                shutil.rmtree(self._temporary, ignore_errors=True)
            else:
                log.warning("records not yet delivered to every sink are kept in %s", self._temporary)

    # -- the writer ------------------------------------------------------------------------------------------------

    def _write_pending(self, closing: bool = False) -> None:
        """Seal and append everything waiting, in one write. Called with the write lock held."""
        assert self.log is not None
        with self._pending_lock:
            batch, self._pending = self._pending, []
            upto = self._submitted
        first_ticket = upto - len(batch) + 1
        chained = self.chain.last_hash  # to undo the sealing if the write fails: the chain is what the log holds
        lines: list[bytes] = []
        key = self.checkpoint_key
        # No yielding of the interpreter lock between records: a thread that gives it away gets it back only after a
        # caller's whole switch interval (5 ms), so the record thread, yielding every 64 records, wrote 64 for every
        # 250 calls and fell behind. Taking its turns as the interpreter hands them out, it keeps up.
        for item in batch:
            try:
                record = item() if callable(item) else item
                lines.append(self.chain.seal_encoded(record))
            except Exception:
                self.errors += 1
                log.exception("a decision record could not be built")
                continue
            self._since_checkpoint += 1
            if key is not None and self._checkpoint_due():
                lines.append(self._checkpoint(key, closing=False))
        if key is not None and (closing or (self._since_checkpoint and self._checkpoint_due())):
            lines.append(self._checkpoint(key, closing=closing))
        try:
            self.log.append(lines, sync=self.durability == "fsync")
        except Exception as exc:
            # The log cannot be written (disk full, read-only): the callers waiting on these records are told (the
            # guard then fails closed), and the next write tries again.
            self.errors += len(lines)
            log.exception("the record log %s could not be written (%d lines)", self.log.path, len(lines))
            self._failures = [*self._failures[-31:], (first_ticket, upto, type(exc).__name__)]
            self.chain.last_hash = chained
        self._written = upto
        for shipper in self.shippers:
            shipper.notify()
        if self._own_log and self.log.rotations != self._rotations_seen:
            self._rotations_seen = self.log.rotations
            self._prune()

    def _prune(self) -> None:
        """Delete the own log's rotated files that every shipper has read past."""
        assert self.log is not None
        inodes = {}
        for path in self.log.files():
            try:
                inodes[os.stat(path).st_ino] = path
            except FileNotFoundError:
                continue
        order = list(inodes)
        positions = [order.index(reader.position[0]) for reader in self._readers if reader.position[0] in inodes]
        oldest_needed = min(positions, default=len(order) - 1)
        for inode in order[:oldest_needed]:
            inodes[inode].unlink(missing_ok=True)

    def _checkpoint_due(self) -> bool:
        return (
            self._since_checkpoint >= self.checkpoint_every
            or time.monotonic() - self._last_checkpoint >= self.checkpoint_interval
        )

    def _checkpoint(self, key: CheckpointKey, *, closing: bool) -> bytes:
        line = self.chain.seal_checkpoint(checkpoint_record(key, self._since_checkpoint, closing=closing), key)
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        return line

    def _run(self) -> None:
        # Async mode: write whatever waits as soon as this thread gets the interpreter lock (waiting for it is what
        # gathers a burst into one write). With a checkpoint key, in any mode: the timed checkpoint of a log
        # that has gone quiet.
        while not self._closed.is_set():
            self._wake.wait(0.05)
            self._wake.clear()
            if self._submitted > self._written:
                with contextlib.suppress(SinkError):  # logged where it happened; the next write tries again
                    self.commit()
            elif self.checkpoint_key is not None and self._since_checkpoint and self._checkpoint_due():
                with self._write_lock:
                    self._write_pending()

    # -- shippers --------------------------------------------------------------------------------------------------

    def _shipper(self, sink: Sink, number: int, backoff: tuple[float, float]) -> Shipper:
        assert self.log is not None
        name = str(getattr(sink, "name", "sink"))
        cursor = getattr(sink, "cursor_path", None)
        if cursor is None:
            # Beside the log, hidden: `decisions.jsonl.*` globs (rotated files) must not pick it up.
            cursor = self.log.path.parent / f".{self.log.path.name}.cursors" / f"{number}-{name}.json"
        reader = LogReader(self.log, cursor)
        self._readers.append(reader)
        return Shipper(
            reader,
            deliver_to(sink),
            name=name,
            batch_size=int(getattr(sink, "batch_size", self.batch_size)),
            max_batch_bytes=int(getattr(sink, "max_batch_bytes", 800_000)),
            backoff=tuple(getattr(sink, "backoff", backoff)),
        )
