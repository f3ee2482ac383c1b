"""The JSON Schema (draft 2020-12) of agent-boundary YAML files, shipped inside the package.

Editors can use it for completion and hover help (``# yaml-language-server: $schema=…``); the loader uses it to
validate every document before the checks a schema cannot express.

>>> load_schema()["$id"]
'https://yaml2rego.dev/schema/agent-boundary.schema.json'
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_ID", "load_schema", "schema_path"]

SCHEMA_ID = "https://yaml2rego.dev/schema/agent-boundary.schema.json"

_RESOURCE = ("schema", "agent_boundary.schema.json")


def schema_path() -> Path:
    """The schema file on disk, e.g. to point an editor at it."""
    return Path(str(files("yaml2rego.dsl").joinpath(*_RESOURCE)))


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return files("yaml2rego.dsl").joinpath(*_RESOURCE).read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The schema as a fresh dict (callers may change their copy freely)."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema
