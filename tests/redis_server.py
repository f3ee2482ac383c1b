"""A real ``redis-server`` for tests: started on a free port with no persistence, stoppable and restartable.

Tests import the :func:`redis_server` fixture from here; without ``/usr/bin/redis-server`` (or ``REDIS_SERVER``) they
are skipped with a visible reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.processes import free_port

__all__ = ["RedisServer", "redis_server"]


def _binary() -> str | None:
    candidate = os.environ.get("REDIS_SERVER") or "/usr/bin/redis-server"
    if os.path.exists(candidate):
        return candidate
    return shutil.which("redis-server")


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1; :meth:`stop` and :meth:`start` keep the port."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    binary = _binary()
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server, or set REDIS_SERVER)")
    server = RedisServer(binary).start()
    try:
        yield server
    finally:
        server.stop()
