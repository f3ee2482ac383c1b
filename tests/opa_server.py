"""Start a real OPA server for tests that need one (skipped when no opa binary is available)."""

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
def running_opa(opa_binary: str, arguments: Sequence[str], *, timeout: float = 20.0) -> Iterator[str]:
    """Run ``opa run --server --addr 127.0.0.1:<port> ARGUMENTS``; yields the base URL once /health answers."""
    port = free_port()
    # OPA's log goes to a file, read only to explain a failed start: a pipe nobody reads fills up after a few hundred
    # requests, and OPA then stalls on its next log line.
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            [opa_binary, "run", "--server", "--addr", f"127.0.0.1:{port}", *arguments],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"opa exited with {process.returncode}: {log.read()}")
                try:
                    if requests.get(f"{url}/health", timeout=0.5).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("opa did not become healthy in time")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
