"""Start a real OPA server for tests that need one (skipped when no opa binary is available)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tests.processes import free_port, running_process

__all__ = ["free_port", "running_opa"]


@contextmanager
def running_opa(opa_binary: str, arguments: Sequence[str], *, timeout: float = 20.0) -> Iterator[str]:
    """Run ``opa run --server --addr 127.0.0.1:<port> ARGUMENTS``; yields the base URL once /health answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [opa_binary, "run", "--server", "--addr", f"127.0.0.1:{port}", *arguments]
    with running_process(command, f"{url}/health", name="opa", timeout=timeout):
        yield url
