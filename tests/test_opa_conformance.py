"""The Rego we write, judged by OPA's own Go implementation (compiler, type checker and evaluator).

No `opa` binary can be installed here, but OPA's Go library ships inside the package `opa-golib-python-bindings`
(module `opa_bindings`, installed by `.ci/run`). It refuses what OPA refuses (recursion, type errors) and evaluates as
OPA does, so these tests catch policies that regorus accepts but OPA would not load or would decide differently.
Skipped, with the reason shown, when the module is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from yaml2rego.compile.compiler import CompiledPolicy, compile_policy_set
from yaml2rego.dsl.loader import load_policies
from yaml2rego.engines import EmbeddedEngine, rego_testing

from .conftest import EXAMPLES, REPO_ROOT, SEED_POLICY
from .test_decisions import SEED_TABLE

opa_bindings = pytest.importorskip(
    "opa_bindings", reason="OPA's Go library (pip package opa-golib-python-bindings) is not installed"
)

# Every example together (as `yaml2rego bundle examples/` builds them), then each golden case on its own.
POLICY_SETS = [EXAMPLES, *sorted((REPO_ROOT / "tests" / "golden").glob("*/policy.yaml"))]


def _opa_engine(compiled: CompiledPolicy, *, include_tests: bool) -> Any:
    engine = opa_bindings.OpaEngine()
    for path, text in sorted(compiled.modules(include_tests=include_tests).items()):
        engine.add_policy(path, text)
    engine.add_data(compiled.data_document())
    return engine


def _passed(value: Any) -> bool:
    """A test rule passes as in `opa test`: true, or a non-empty set/object of cases none of which is false."""
    if value is True:
        return True
    if isinstance(value, dict):
        return bool(value) and all(case is not False for case in value.values())
    if isinstance(value, list):
        return bool(value)
    return False


@pytest.mark.parametrize("policy", POLICY_SETS, ids=lambda path: path.relative_to(REPO_ROOT).as_posix())
def test_every_rego_test_passes_under_opa(policy: Path) -> None:
    """The library's tests, the generated tests and the YAML tests of each policy set pass under OPA's evaluator."""
    compiled = compile_policy_set(load_policies([policy]))
    engine = _opa_engine(compiled, include_tests=True)
    tests = rego_testing.discover_tests(sorted(compiled.modules(include_tests=True).items()))
    failures = []
    # One query per test package: OPA prepares each distinct query, so asking for every test at once is quick.
    for package in sorted({test.package for test in tests}):
        try:
            rows = engine.eval_query(f"x = data.{package}")
        except opa_bindings.engine.OpaError as error:
            failures.append(f"{package}: {error}")
            continue
        values = rows[0]["x"] if rows else {}
        for test in (test for test in tests if test.package == package):
            if not _passed(values.get(test.name)):
                failures.append(f"{package}.{test.name}: {values.get(test.name, 'undefined')}")
    assert tests
    assert failures == []


@pytest.fixture(scope="module")
def seed_engines() -> tuple[Any, EmbeddedEngine]:
    compiled = compile_policy_set(load_policies([SEED_POLICY]))
    return _opa_engine(compiled, include_tests=False), EmbeddedEngine.from_compiled(compiled)


@pytest.mark.parametrize(("request_input", "expected", "codes"), SEED_TABLE)
def test_opa_and_regorus_give_identical_decisions(
    seed_engines: tuple[Any, EmbeddedEngine], request_input: dict[str, Any], expected: str, codes: list[str]
) -> None:
    opa, embedded = seed_engines
    from_opa = opa.eval_document("agent_boundary.decision", request_input)
    assert from_opa == embedded.decide(request_input)
    assert from_opa["decision"] == expected


@pytest.mark.parametrize("weird", [None, 42, "text", [1, 2], {}, {"agent_id": 7}])
def test_malformed_input_gets_a_reasoned_denial_under_opa(seed_engines: tuple[Any, EmbeddedEngine], weird: Any) -> None:
    opa, embedded = seed_engines
    from_opa = opa.eval_document("agent_boundary.decision", weird)
    assert from_opa["decision"] == "deny" and from_opa["reasons"]
    assert from_opa == embedded.decide(weird)
