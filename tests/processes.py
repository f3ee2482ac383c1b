"""Start a real server process for a test and stop it afterwards: OPA, Envoy, or anything with a readiness URL."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_process(command: Sequence[str], ready_url: str, *, name: str, timeout: float = 20.0) -> Iterator[None]:
    """Run ``command`` until the ``with`` block ends; enter the block once ``ready_url`` answers 200.

    The process's output goes to a file, read only to explain a failed start: a pipe nobody reads fills up after a
    few hundred log lines, and the server then stalls on its next one.
    """
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"{name} exited with {process.returncode}: {log.read()}")
                try:
                    if requests.get(ready_url, timeout=0.5).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not become ready in time")
                time.sleep(0.05)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
