"""Shared test options and fixtures.

``--update-golden`` rewrites the expected files under ``tests/golden/`` from the current compiler output (review the
diff before committing it). Tests marked ``opa`` need a real ``opa`` binary and are skipped, with the reason shown in
the summary, when none is on PATH and ``OPA_BIN`` is unset.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from yaml2rego.engines.opa_binary import find_opa

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"
SEED_POLICY = EXAMPLES / "support_agent.yaml"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden expected files")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if find_opa() is not None:
        return
    skip = pytest.mark.skip(reason="needs a real opa binary: none on PATH and OPA_BIN is unset")
    for item in items:
        if "opa" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def opa_binary() -> str:
    binary = find_opa()
    if binary is None:
        pytest.skip("needs a real opa binary: none on PATH and OPA_BIN is unset")
    return binary


@pytest.fixture
def guarded() -> Iterator[tuple[Any, Any]]:
    """A guard on the infra-review example with a memory sink, and the tool-run counter reset (adapter tests)."""
    from tests.adapter_cases import RUNS, new_guard

    guard, sink = new_guard()
    RUNS.clear()
    yield guard, sink
    guard.close()
