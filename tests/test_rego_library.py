"""The hand-written Rego library (``rego/``) and the embedded Rego test runner (:mod:`yaml2rego.engines.rego_testing`).

Every Rego test in ``rego/`` runs on the embedded engine as its own pytest case, so a failure names the Rego test.
With a real ``opa`` binary the same files also go through ``opa test``, ``opa fmt`` and ``opa check --strict``.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from yaml2rego.engines.embedded import new_regorus_engine
from yaml2rego.engines.rego_testing import RegoTest, discover_tests, load_rego_modules, run_tests
from yaml2rego.engines.test_report import TestReport, TestResult, render
from yaml2rego.errors import EngineError
from yaml2rego.semantics.paths import non_canonical_reason, parse_pattern

from .path_cases import PATH_CASES

REGO_DIR = Path(__file__).resolve().parent.parent / "rego"
LIBRARY_MODULES = load_rego_modules(REGO_DIR)
LIBRARY_TESTS = discover_tests(LIBRARY_MODULES)
MIN_COVERAGE = 80.0


@cache
def library_run() -> TestReport:
    return run_tests(LIBRARY_MODULES, coverage=True)


def result_named(summary: TestReport, name: str) -> TestResult:
    matches = [result for result in summary.results if result.name == name]
    assert len(matches) == 1, f"expected one result named {name}, got {matches}"
    return matches[0]


# --- the library ------------------------------------------------------------------------------------------------


def test_library_has_tests_for_every_package() -> None:
    """Each library package has a test package beside it."""
    packages = {test.package for test in LIBRARY_TESTS}
    assert packages == {
        "agent_boundary_test",
        "agent_boundary.conditions_test",
        "agent_boundary.dlp_test",
        "agent_boundary.egress_test",
        "agent_boundary.envoy_test",
        "agent_boundary.paths_test",
        "agent_boundary.tools_test",
        "agent_boundary.validation_test",
    }


@pytest.mark.parametrize("rego_test", LIBRARY_TESTS, ids=lambda test: f"{test.package}.{test.name}")
def test_rego_library_test_passes(rego_test: RegoTest) -> None:
    """One Rego test of the library passes on the embedded engine."""
    result = next(
        result
        for result in library_run().results
        if (result.package, result.name) == (rego_test.package, rego_test.name)
    )
    assert result.outcome == "pass", f"{result.location}: {result.error or result.message}"


def test_rego_library_coverage() -> None:
    """The library's tests cover at least 80% of its non-test lines, every module included."""
    report = library_run().coverage_report
    assert report is not None
    assert {Path(item.path).name for item in report.files} == {
        "conditions.rego",
        "decision.rego",
        "dlp.rego",
        "egress.rego",
        "enforcement.rego",
        "envoy.rego",
        "paths.rego",
        "residency.rego",
        "tools.rego",
        "validation.rego",
    }
    assert report.percent >= MIN_COVERAGE, render(library_run())


def library_engine() -> Any:
    """A regorus engine holding the library's modules without their tests, as the embedded engine loads them."""
    engine = new_regorus_engine()
    for module_path, text in LIBRARY_MODULES:
        if not module_path.endswith("_test.rego"):
            engine.add_policy(module_path, text)
    return engine


def _reason_in(engine: Any, path: object) -> object:
    engine.set_input({"path": path})
    answer = json.loads(engine.eval_query_as_json("data.agent_boundary.paths.non_canonical_reason(input.path)"))
    rows = answer.get("result", [])
    return rows[0]["expressions"][0]["value"] if rows else None


@pytest.mark.parametrize(("path", "reason"), PATH_CASES)
def test_rego_and_python_agree_on_canonical_paths(path: object, reason: str | None) -> None:
    """agent_boundary.paths.non_canonical_reason mirrors yaml2rego.semantics.paths.non_canonical_reason exactly."""
    assert _reason_in(library_engine(), path) == non_canonical_reason(path) == reason


def opa_library_engine() -> Any:
    """The library on OPA's Go evaluator (opa_bindings); skips, saying why, where that package is not installed."""
    bindings = pytest.importorskip(
        "opa_bindings", reason="OPA's Go library (pip package opa-golib-python-bindings) is not installed"
    )
    engine = bindings.OpaEngine()
    for module_path, text in LIBRARY_MODULES:
        if not module_path.endswith("_test.rego"):
            engine.add_policy(module_path, text)
    return engine


# The same table on both engines in one query: a reason per path, null where it is canonical.
PATH_TABLE_MODULE = (
    "paths_table.rego",
    """package paths_table

import data.agent_boundary.paths

reasons := [_reason(path) | some path in input.paths]

_reason(path) := reason if {
	reason := paths.non_canonical_reason(path)
} else := null
""",
)


def test_opa_and_regorus_agree_on_canonical_paths() -> None:
    """The whole path table gives byte for byte the same reasons under OPA's evaluator as under regorus."""
    opa = opa_library_engine()
    opa.add_policy(*PATH_TABLE_MODULE)
    table = {"paths": [case.values[0] for case in PATH_CASES]}
    from_opa = opa.eval_document("paths_table.reasons", table)
    engine = library_engine()
    engine.add_policy(*PATH_TABLE_MODULE)
    engine.set_input(table)
    from_regorus = json.loads(engine.eval_rule_as_json("data.paths_table.reasons"))
    assert json.dumps(from_opa, ensure_ascii=False) == json.dumps(from_regorus, ensure_ascii=False)
    assert from_regorus == [case.values[1] for case in PATH_CASES]


# What the tricks are made of, beside plain path pieces, so random paths reach every check and their order.
FUZZ_PLAIN = ["/", "/", "/", "a", "Z", "0", "-", "_", "~", ".", "..", ":", "@", "!", "*", "'", "=", "%20", "%3F", "?"]
FUZZ_TRICKS = ["%2e", "%2F", "%25", "%5c", "%41", "%7e", "%00", "%C0%AE", "%", "%4", "%u002e", "%zz", ";", "%3B", "#",
               " ", "\\", '"', "[", "`", "\x00", "\r\n", "\x7f", "\u0085", "\u2028", "\uff0e", "\u2215", "\u00e9",
               "\U0001f600", "//", "/./", "/../", "/.../"]  # fmt: skip


def fuzz_paths(count: int, seed: int) -> list[str]:
    """Paths of plain pieces with a trick now and then; most start with `/`."""
    rng = random.Random(seed)
    paths = []
    for _ in range(count):
        pieces = [rng.choice(FUZZ_TRICKS if rng.random() < 0.15 else FUZZ_PLAIN) for _ in range(rng.randint(0, 10))]
        paths.append(("/" if rng.random() < 0.95 else "") + "".join(pieces))
    return paths


def test_rego_and_python_agree_on_a_seeded_fuzz_corpus() -> None:
    """2,000 random paths of tricky characters: regorus (and OPA's evaluator, when installed) give Python's reason."""
    table = {"paths": fuzz_paths(2000, seed=7)}
    expected = [non_canonical_reason(path) for path in table["paths"]]
    engine = library_engine()
    engine.add_policy(*PATH_TABLE_MODULE)
    engine.set_input(table)
    assert json.loads(engine.eval_rule_as_json("data.paths_table.reasons")) == expected
    try:
        opa = opa_library_engine()
    except pytest.skip.Exception:
        return
    opa.add_policy(*PATH_TABLE_MODULE)
    assert opa.eval_document("paths_table.reasons", table) == expected


LIBRARY = "data.agent_boundary.paths."
PATTERNS = ["/", "/*", "/**", "/api/*", "/api/**", "/api/ticket/v1/", "/api/*/items", "/a/**/z", "/a.b/c+d",
            "/x/**/y/*"]  # fmt: skip
PATHS = ["/", "/api", "/api/", "/apix", "/api/ticket/v1", "/api/ticket/v1/5", "/api/7/items", "/api/7/8/items",
         "/a/z", "/a/b/c/z", "/a.b/c+d", "/axb/c+d", "/x/y", "/x/q/y/z", "/x/q/r"]  # fmt: skip


@pytest.mark.parametrize("pattern", PATTERNS)
def test_rego_matcher_agrees_with_the_pattern_regex(pattern: str) -> None:
    """paths.rule_matches on the compiler's matcher (prefix, match kind) says what the pattern's regex says."""
    parsed = parse_pattern(pattern)
    engine = library_engine()
    for path in PATHS:
        engine.set_input({"rule": {"method": "*", **parsed.matcher()}, "path": path})
        query = 'paths.rule_matches(input.rule, "GET", paths.match_target(input.path))'.replace("paths.", LIBRARY)
        rows = json.loads(engine.eval_query_as_json(query)).get("result", [])
        assert bool(rows) is parsed.matches(path), f"{pattern} on {path}"


AGENT = {
    "agent_id": "a1",
    "mode": "enforce",
    "source": "a.yaml",
    "allowed_endpoints": [
        {
            "rule": "allowed_endpoints[0]",
            "source": "a.yaml:3",
            "method": "*",
            "pattern": "/x/*",
            "prefix": "/x/",
            "match": "subtree",
            "regex": "^/x(?:/[^/]+)*$",
        }
    ],
    "denied_endpoints": [],
    "input_validation": [
        {
            "rule": "input_validation[0]",
            "source": "a.yaml:5",
            "method": "*",
            "pattern": "/x/*",
            "prefix": "/x/",
            "match": "subtree",
            "regex": "^/x(?:/[^/]+)*$",
            "fields": [
                {"rule": "r0", "source": "a.yaml:6", "field": "n", "path": ["n"], "type": "integer", "required": False},
                {
                    "rule": "r1",
                    "source": "a.yaml:7",
                    "field": "s.t",
                    "path": ["s", "t"],
                    "type": "string",
                    "required": False,
                    "min_length": 1,
                    "pattern": "^[a-z]+$",
                },
            ],
        }
    ],
    "rate_limits": [],
    "max_payload": {"rule": "max_payload_size_kb", "source": "a.yaml:9", "bytes": 1024},
}

ODD_INPUTS = [
    None,
    0,
    "text",
    [],
    {},
    {"agent_id": "a1", "method": "GET", "path": "/x"},
    {"agent_id": "a1", "method": "", "path": "/x/\u00e9?q=\u0000"},
    {"agent_id": "a1", "method": "GET", "path": "/x", "body": 12, "payload_size_bytes": "12"},
    {"agent_id": "a1", "method": "GET", "path": "/x", "body": None, "payload_size_bytes": -1},
    {"agent_id": "a1", "method": "GET", "path": "/x", "body": {"n": "1", "s": "flat"}},
    {"agent_id": "a1", "method": "GET", "path": "/x", "body": {"n": 1e300, "s": {"t": ["x"]}}},
    {"agent_id": "a1", "method": "GET", "path": "/x", "body": '{"n": 2, "s": {"t": 5}}'},
    {"agent_id": "a1", "method": "GET", "path": "/x", "body": [1, 2]},
    {"agent_id": "suspended", "method": "GET", "path": "/x"},
    {"agent_id": ["a1"], "method": "GET", "path": "/x"},
    {"agent_id": "a1", "method": "GET", "path": "/x/%2e%2E/y"},
]


@pytest.mark.parametrize("request_input", ODD_INPUTS, ids=repr)
def test_decision_is_always_a_full_object(request_input: object) -> None:
    """Whatever the input, the decision is defined, has every key, and a denial carries reasons."""
    engine = library_engine()
    engine.add_data(
        {
            "boundaries": {"policy_version": "v1", "agents": {"a1": AGENT}},
            "agent_boundary_runtime": {"suspended": {"suspended": True}},
        }
    )
    engine.set_input_json(json.dumps(request_input))
    decision = json.loads(engine.eval_rule_as_json("data.agent_boundary.decision"))
    assert set(decision) == {
        "decision",
        "allow",
        "reasons",
        "decision_reason",
        "policy_version",
        "agent_id",
        "mode",
        "rate_limits",
    }
    assert decision["allow"] is (decision["decision"] == "allow")
    assert "\n" not in decision["decision_reason"]
    if decision["decision"] == "deny":
        assert decision["reasons"]
        assert decision["decision_reason"] == "; ".join(reason["message"] for reason in decision["reasons"])
    texts = [
        json.dumps(reason, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for reason in decision["reasons"]
    ]
    assert texts == sorted(texts)


# --- the runner ---------------------------------------------------------------------------------------------------

LIB = (
    "lib/calc.rego",
    """package calc

double(x) := x * 2

half(x) := x / 2 if {
	x != 0
}
""",
)


def make_test_module(body: str, package: str = "calc_test") -> tuple[str, str]:
    return (f"lib/{package}.rego", f"package {package}\n\nimport data.calc\n\n{body}\n")


def run_body(
    body: str, *, coverage: bool = False, run: str | None = None, data: dict[str, object] | None = None
) -> TestReport:
    return run_tests([LIB, make_test_module(body)], data, coverage=coverage, run=run)


def test_passing_test_is_reported_as_passed() -> None:
    summary = run_body("test_double if calc.double(2) == 4")
    result = result_named(summary, "test_double")
    assert (result.package, result.passed, result.error, result.outcome) == ("calc_test", True, None, "pass")
    assert result.location == "lib/calc_test.rego:5"
    assert result.duration_ms >= 0 and result.message is None
    assert summary.passed


def test_failing_test_is_reported_as_failed() -> None:
    """A test whose body fails is undefined: a failure, not an error."""
    summary = run_body("test_double if calc.double(2) == 5")
    result = result_named(summary, "test_double")
    assert (result.passed, result.error, result.outcome) == (False, None, "fail")
    assert result.message == "the test is undefined"
    assert (len(summary.failures), len(summary.errors), summary.passed) == (1, 0, False)


def test_false_test_is_reported_as_failed() -> None:
    result = result_named(run_body("test_false := false"), "test_false")
    assert result.outcome == "fail"
    assert result.message == "the test is false"


def test_erroring_test_is_reported_as_error() -> None:
    """An evaluation error is an error, with the location and without the engine's backtrace."""
    summary = run_body("test_divide if calc.double(1) / 0 == 1")
    result = result_named(summary, "test_divide")
    assert result.outcome == "error"
    assert result.passed is False
    assert result.error is not None
    assert result.error.startswith("lib/calc_test.rego:5:")
    assert "divide by zero" in result.error
    assert "backtrace" not in result.error.lower()
    assert "\n" not in result.error
    assert summary.errors == [result] and result.message == result.error


def test_conflicting_values_are_an_error() -> None:
    summary = run_body("test_conflict := 1 if true\n\ntest_conflict := 2 if true")
    assert result_named(summary, "test_conflict").outcome == "error"


def test_parameterised_test_passes_when_every_case_passes() -> None:
    body = """cases := {"one": 1, "two": 2}

test_double[note] if {
	some note, n in cases
	calc.double(n) == n + n
}"""
    assert result_named(run_body(body), "test_double").outcome == "pass"


def test_parameterised_test_names_the_cases_that_are_false() -> None:
    body = """cases := {"one": 1, "two": 2, "three": 3}

test_double[note] := ok if {
	some note, n in cases
	ok := calc.double(n) == 4
}"""
    result = result_named(run_body(body), "test_double")
    assert result.outcome == "fail"
    assert result.failed_cases == ("one", "three")
    assert result.message == "failed cases: one, three"


def test_parameterised_test_without_cases_fails() -> None:
    summary = run_body("test_none contains note if {\n\tsome note in []\n}")
    result = result_named(summary, "test_none")
    assert result.outcome == "fail"
    assert result.message == "the parameterised test has no cases"


def test_contains_test_with_cases_passes() -> None:
    assert result_named(run_body('test_some contains "a" if true'), "test_some").outcome == "pass"


def test_only_test_rules_are_run() -> None:
    """todo_ tests are skipped, functions named test_ are helpers, rules with several bodies run once."""
    body = """todo_test_later if false

test_helper(x) := x

helper := 1

test_twice if calc.double(1) == 2

test_twice if calc.double(1) == 3"""
    summary = run_body(body)
    assert [result.name for result in summary.results] == ["test_twice"]
    assert summary.results[0].outcome == "pass"


def test_tests_in_every_package_are_found() -> None:
    modules = [
        LIB,
        make_test_module("test_a if true", "calc_test"),
        make_test_module("test_b if true", "other.deep_test"),
    ]
    found = [(test.package, test.name, test.line) for test in discover_tests(modules)]
    assert found == [("calc_test", "test_a", 5), ("other.deep_test", "test_b", 5)]


def test_run_selects_tests_by_name() -> None:
    summary = run_body("test_keep if true\n\ntest_drop if false", run="keep$")
    assert [result.name for result in summary.results] == ["test_keep"]


def test_data_is_loaded() -> None:
    summary = run_body("test_limit if data.settings.limit == 3", data={"settings": {"limit": 3}})
    assert result_named(summary, "test_limit").outcome == "pass"


def test_module_that_does_not_compile_raises_engine_error() -> None:
    with pytest.raises(EngineError) as caught:
        run_tests([("broken.rego", "package broken\n\nallow if {\n")])
    message = str(caught.value)
    assert message.startswith("broken.rego")
    assert "backtrace" not in message.lower()


def test_coverage_counts_only_modules_that_are_not_tests() -> None:
    untouched = ("lib/unused.rego", "package unused\n\nvalue := 1\n\ncheck if {\n\tvalue == 1\n}\n")
    summary = run_tests([LIB, untouched, make_test_module("test_double if calc.double(2) == 4")], coverage=True)
    report = summary.coverage_report
    assert report is not None
    by_path = {item.path: item for item in report.files}
    assert set(by_path) == {"lib/calc.rego", "lib/unused.rego"}
    assert by_path["lib/calc.rego"].covered  # double() ran
    assert 5 in by_path["lib/calc.rego"].not_covered  # half() never did
    assert by_path["lib/unused.rego"].covered == ()
    assert by_path["lib/unused.rego"].not_covered == (3, 5)
    assert summary.coverage == report.percent
    assert 0 < report.percent < 100


def test_no_coverage_unless_asked() -> None:
    summary = run_body("test_double if calc.double(2) == 4")
    assert summary.coverage is None
    assert summary.coverage_report is None


def test_the_text_report_shows_failures_and_totals() -> None:
    summary = run_body("test_ok if true\n\ntest_bad if false", coverage=True)
    lines = render(summary).splitlines()
    assert lines[0] == "FAIL data.calc_test.test_bad: the test is undefined"
    assert re.fullmatch(r"1 passed, 1 failed \(coverage \d+\.\d%, engine embedded\)", lines[1])
    assert len(lines) == 2
    assert "PASS data.calc_test.test_ok" in render(summary, verbose=True).splitlines()


def test_load_rego_modules_reads_every_file_in_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.rego").write_text("package b\n", encoding="utf-8")
    (tmp_path / "a.rego").write_text("package a\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not rego\n", encoding="utf-8")
    modules = load_rego_modules(tmp_path)
    assert [Path(path).relative_to(tmp_path).as_posix() for path, _ in modules] == ["a.rego", "b/x.rego"]
    assert modules[0][1] == "package a\n"


# --- the real opa binary ------------------------------------------------------------------------------------------


def run_opa(opa_binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([opa_binary, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.opa
def test_opa_test_passes_with_coverage(opa_binary: str) -> None:
    """opa test runs the same library tests; all pass and coverage is at least 80%."""
    result = run_opa(opa_binary, "test", str(REGO_DIR), "--format=json")
    assert result.returncode == 0, result.stdout + result.stderr
    names = {item["name"] for item in json.loads(result.stdout)}
    assert {test.name for test in LIBRARY_TESTS} <= names
    covered = run_opa(opa_binary, "test", str(REGO_DIR), "--coverage", "--format=json")
    assert covered.returncode == 0, covered.stderr
    assert json.loads(covered.stdout)["coverage"] >= MIN_COVERAGE


@pytest.mark.opa
def test_opa_fmt_has_nothing_to_change(opa_binary: str) -> None:
    result = run_opa(opa_binary, "fmt", "--list", str(REGO_DIR))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.opa
def test_opa_check_strict_is_clean(opa_binary: str) -> None:
    result = run_opa(opa_binary, "check", "--strict", str(REGO_DIR))
    assert result.returncode == 0, result.stdout + result.stderr
