"""Batch work on thousands of agents: the garbage collector paused, and independent work on a second core.

Loading and compiling 10,000 agents creates millions of small objects that live until the end (the model, the data,
the rendered files) and almost no reference cycles. Each collection of the oldest generation walks every object
made so far, so with the collector running a third of the time spent building the model goes into finding nothing.
Reference counting still frees everything temporary; the collector runs again as soon as the work is done.

:class:`Forked` runs a pure function in a forked child process while this one goes on with other work: the child
starts with a copy of everything built so far (nothing is pickled on the way in) and sends back only its result,
as :mod:`marshal` data (plain strings, bytes and containers; nothing is executed when it is read). Wherever the child
cannot help (no ``fork`` here, other threads running, the child failing), the function simply runs in this process
when its result is asked for, so its result, and any error it raises, are the same as without a child.
"""

from __future__ import annotations

import gc
import marshal
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

__all__ = ["Forked", "can_fork", "paused_gc"]

T = TypeVar("T")


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for the ``with`` block (nested blocks are fine)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def can_fork() -> bool:
    """Whether a child can be forked safely: ``os.fork`` exists and this process runs one thread.

    A thread holding a lock at the fork (logging, a sink's queue) would leave the child's copy of that lock held
    forever. The threads are counted by the kernel where it tells (``/proc``), so that threads started by native
    libraries count too.
    """
    if not hasattr(os, "fork"):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return threading.active_count() == 1


class Forked(Generic[T]):
    """``function()`` computed in a forked child while the caller works on; :meth:`result` waits for it.

    ``function`` must be pure (its only effect its result) and return marshal-able data. Use it as a context
    manager, so that a child whose result is no longer wanted (the caller failed first) is stopped and reaped:

    >>> with Forked(lambda: sum(range(10))) as total:
    ...     total.result()
    45
    """

    def __init__(self, function: Callable[[], T], *, fork: bool = True) -> None:
        self._function = function
        self._pid: int | None = None
        self._reader = -1
        if not (fork and can_fork()):
            return
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, send, and leave without running any of the parent's clean-up
            status = 1
            try:
                os.close(reader)
                result: Any = function()  # marshal-able by the contract above; marshal.dumps says if not
                payload = marshal.dumps(result)
                with os.fdopen(writer, "wb") as stream:
                    stream.write(payload)
                status = 0
            finally:
                os._exit(status)
        os.close(writer)
        self._pid, self._reader = pid, reader

    def result(self) -> T:
        """The function's result: the child's when it succeeded, else computed here (raising what it raises)."""
        if self._pid is not None:
            pid, self._pid = self._pid, None
            with os.fdopen(self._reader, "rb") as stream:
                payload = stream.read()  # before waiting: the child blocks until its whole result is read
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) == 0:
                try:
                    value: T = marshal.loads(payload)
                except (EOFError, ValueError, TypeError):
                    pass  # cannot happen when the child exited 0 with a whole result; computed here then
                else:
                    return value
        return self._function()

    def close(self) -> None:
        """Stop and reap the child if its result was not asked for."""
        if self._pid is not None:
            pid, self._pid = self._pid, None
            os.close(self._reader)
            os.kill(pid, signal.SIGKILL)  # not reaped yet, so the pid is still this child's, even when it has ended
            os.waitpid(pid, 0)

    def __enter__(self) -> Forked[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
