"""The ``yaml2rego`` command line.

Each group of commands lives in its own module and registers itself on :data:`main`; errors become exit codes only
here, at the boundary: 1 for a yaml2rego error (message only, never a traceback), 2 for usage errors (click's own).

Exit codes used by individual commands are documented in ``docs/cli.md``.
"""

from __future__ import annotations

# Importing a command module registers its commands on `main`.
from yaml2rego.cli import (  # noqa: F401
    approval_commands,
    bundle_commands,
    evidence_commands,
    key_commands,
    logs_commands,
    policy_commands,
    schema_commands,
)
from yaml2rego.cli._base import main

__all__ = ["main"]
