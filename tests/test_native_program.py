"""The native decision programs hold what the evaluator reads, precomputed once and equal to reading the data."""

from __future__ import annotations

from pathlib import Path

import pytest

from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.compile.native_program import AgentProgram, build_programs
from yaml2rego.dsl.loader import load_policies

from .conftest import REPO_ROOT

BOUNDARIES = sorted(
    [
        *(REPO_ROOT / "examples").glob("*.yaml"),
        *(REPO_ROOT / "tests" / "golden").glob("*/policy.yaml"),
        *(REPO_ROOT / "tests" / "fixtures" / "policies" / "good").glob("*.yaml"),
        REPO_ROOT / "tests" / "fixtures" / "native" / "every_operator.yaml",
    ]
)
# Methods the rules name, in other cases, ones no rule names, and a tool call's missing method.
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "get", "*", "M-SEARCH", None]


def _programs(path: Path) -> list[AgentProgram]:
    programs, refused = build_programs(compile_policy_set(load_policies([path])).data_document())
    assert refused == {}
    return list(programs.values())


def _targets(program: AgentProgram) -> list[str]:
    """Match targets (a canonical path without its trailing slash, then ``/``) at, below and beside every prefix."""
    prefixes = {rule.prefix or "/" for rule in [*program.allowed, *program.denied, *program.rate_limits]}
    prefixes |= {entry.prefix or "/" for entry, _ in program.validation}
    targets = {"/", "/x/"}
    for prefix in prefixes:
        targets |= {prefix, prefix + "x/", prefix + "x/y/", prefix.rstrip("/")[:-1] + "/", prefix[:-1] + "x/"}
    return sorted(targets)


@pytest.mark.parametrize("path", BOUNDARIES, ids=lambda path: path.relative_to(REPO_ROOT).as_posix())
def test_the_rules_of_a_method_are_the_rules_that_apply_to_it(path: Path) -> None:
    """rules_for(method) keeps every rule `_applies` could match for that method, in order, and matching only their
    paths then decides as `_applies` does."""
    for program in _programs(path):
        for method in _METHODS:
            rules = program.rules_for(method)
            sections = [
                (program.allowed, rules.allowed),
                (program.denied, rules.denied),
                (tuple(entry for entry, _ in program.validation), tuple(entry for entry, _ in rules.validation)),
                (program.rate_limits, rules.rate_limits),
            ]
            for every, kept in sections:
                assert kept == tuple(rule for rule in every if rule.method in ("*", method))
                for target in _targets(program):
                    applying = [rule for rule in every if rule.applies(method, target)]  # type: ignore[arg-type]
                    assert [rule for rule in kept if rule.matches_path(target)] == applying, (method, target)
            assert [checks for _, checks in rules.validation] == [
                checks for entry, checks in program.validation if entry.method in ("*", method)
            ]


def test_the_rules_of_a_method_share_tuples_with_the_program() -> None:
    """An agent's per-method rules reuse its sections (and its rules for any method) where they are the same rules:
    10,000 agents' programs hold few new objects."""
    (program,) = _programs(REPO_ROOT / "examples" / "support_agent.yaml")
    get, delete = program.rules_for("GET"), program.rules_for("DELETE")
    assert get.denied is program.any_method.denied and get.validation is program.validation
    assert delete.denied is program.denied and delete.rate_limits is program.rate_limits
    assert program.rules_for("PUT") is program.any_method
