"""Finding and running a real ``opa`` binary (production engine, CI checks), when one is installed.

``OPA_BIN`` names the binary explicitly; otherwise ``opa`` is looked up on ``PATH``. Nothing here downloads OPA.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from yaml2rego.errors import EngineUnavailable

__all__ = ["find_opa", "require_opa", "run_opa"]


def find_opa() -> str | None:
    """The path of an ``opa`` binary from ``OPA_BIN`` or ``PATH``, or ``None``."""
    named = os.environ.get("OPA_BIN")
    if named:
        return named if os.path.isfile(named) and os.access(named, os.X_OK) else shutil.which(named)
    return shutil.which("opa")


def require_opa() -> str:
    binary = find_opa()
    if binary is None:
        raise EngineUnavailable("no opa binary found: install OPA 1.x and put it on PATH, or set OPA_BIN")
    return binary


def run_opa(arguments: Sequence[str], *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``opa ARGUMENTS`` and capture its output (text)."""
    return subprocess.run([require_opa(), *arguments], capture_output=True, text=True, timeout=timeout, check=False)
