"""`yaml2rego test --format json|junit`: results CI systems can show natively, and the exit codes behind them."""

from __future__ import annotations

import json
import re
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import SEED_POLICY
from yaml2rego.cli import main
from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.dsl.loader import load_policies
from yaml2rego.engines import test_report

WRONG_EXPECTATION = (
    "agent_boundary:\n  agent_id: a\n  allowed_endpoints:\n    - {method: GET, path: /x}\n"
    "  tests:\n    - name: wrong expectation\n      input: {method: GET, path: /x}\n      expect: deny\n"
    "    - name: reads are allowed\n      input: {method: GET, path: /x}\n      expect: allow\n"
)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def failing_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    policy = tmp_path_factory.mktemp("failing") / "a.yaml"
    policy.write_text(WRONG_EXPECTATION)
    return policy


def rego_test_rules(policy: Path) -> set[str]:
    """`data.<package>.<rule>` of every test rule in the compiled Rego, read from the text (one per rule name)."""
    compiled = compile_policy_set(load_policies([str(policy)]))
    found = set()
    for text in compiled.modules(include_tests=True).values():
        package = re.search(r"^package ([\w.]+)$", text, re.MULTILINE)
        assert package is not None
        for name in re.findall(r"^(test_\w+)\b", text, re.MULTILINE):
            found.add(f"data.{package.group(1)}.{name}")
    return found


def invoke_test(*args: str) -> Any:
    return CliRunner().invoke(main, ["test", "--engine", "embedded", *args])


# Each run compiles and runs every library test, so each CLI run below is shared by the tests of this module.


@pytest.fixture(scope="module")
def seed_json() -> Any:
    """The seed, JSON, coverage gate met."""
    return invoke_test(str(SEED_POLICY), "--format", "json", "--threshold", "50")


@pytest.fixture(scope="module")
def seed_junit_below_threshold() -> Any:
    """The seed, JUnit, every test passes but coverage is below a gate of 100% (some library lines stay uncovered)."""
    return invoke_test(str(SEED_POLICY), "--format", "junit", "--threshold", "100")


@pytest.fixture(scope="module")
def failing_json(failing_policy: Path) -> Any:
    return invoke_test(str(failing_policy), "--format", "json", "--no-coverage")


@pytest.fixture(scope="module")
def failing_junit(failing_policy: Path) -> Any:
    return invoke_test(str(failing_policy), "--format", "junit", "--no-coverage")


# --- JSON -------------------------------------------------------------------------------------------------------


def test_json_report_fields_for_the_seed(seed_json: Any) -> None:
    assert seed_json.exit_code == 0, seed_json.output
    report = json.loads(seed_json.stdout)
    assert set(report) == {"engine", "passed", "total", "failed", "coverage", "tests"}
    assert report["engine"] == "embedded" and report["passed"] is True and report["failed"] == 0
    assert report["total"] == len(report["tests"])
    assert isinstance(report["coverage"], float) and 50 <= report["coverage"] <= 100
    for test in report["tests"]:
        assert set(test) == {"package", "name", "passed", "error", "duration_ms", "message"}
        assert test["passed"] is True and test["error"] is None and test["message"] is None
        assert test["name"].startswith("test_") and not test["package"].startswith("data.")
        assert test["duration_ms"] >= 0


def test_json_lists_every_rego_test_rule_once(seed_json: Any) -> None:
    report = json.loads(seed_json.stdout)
    listed = [f"data.{test['package']}.{test['name']}" for test in report["tests"]]
    assert len(listed) == len(set(listed))
    assert set(listed) == rego_test_rules(SEED_POLICY)


def test_json_failure_carries_a_message_and_exits_1(failing_json: Any) -> None:
    assert failing_json.exit_code == 1
    report = json.loads(failing_json.stdout)
    assert report["passed"] is False and report["failed"] == 1
    [failed] = [test for test in report["tests"] if not test["passed"]]
    assert (failed["package"], failed["name"]) == ("agents.a_test", "test_user_wrong_expectation")
    assert failed["error"] is None  # false or undefined, not an evaluation error
    assert failed["message"] in {"the test is false", "the test is undefined"}
    passing = next(test for test in report["tests"] if test["name"] == "test_user_reads_are_allowed")
    assert passing["passed"] is True and passing["message"] is None


def test_no_coverage_gives_null_coverage(failing_json: Any) -> None:
    assert json.loads(failing_json.stdout)["coverage"] is None


# --- JUnit ------------------------------------------------------------------------------------------------------


def test_junit_parses_with_one_testcase_per_rego_test(seed_junit_below_threshold: Any) -> None:
    root = ET.fromstring(seed_junit_below_threshold.stdout)
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert {f"{case.get('classname')}.{case.get('name')}" for case in cases} == rego_test_rules(SEED_POLICY)
    assert len(cases) == len(rego_test_rules(SEED_POLICY)) == int(root.get("tests", "-1"))
    assert (root.get("failures"), root.get("errors")) == ("0", "0")
    for case in cases:
        assert float(case.get("time", "-1")) >= 0
        assert list(case) == []


def test_junit_suite_counts_add_up(seed_junit_below_threshold: Any) -> None:
    root = ET.fromstring(seed_junit_below_threshold.stdout)
    suites = root.findall("testsuite")
    assert len(suites) >= 4  # the library's three test packages and the agent's
    for suite in suites:
        assert int(suite.get("tests", "-1")) == len(suite.findall("testcase"))
        assert suite.get("name", "").startswith("data.")
        assert all(case.get("classname") == suite.get("name") for case in suite.findall("testcase"))
    assert sum(int(suite.get("tests", "0")) for suite in suites) == int(root.get("tests", "-1"))


def test_junit_coverage_is_a_property_of_each_suite(seed_junit_below_threshold: Any, seed_json: Any) -> None:
    root = ET.fromstring(seed_junit_below_threshold.stdout)
    assert root.find("properties") is None  # not standard directly under <testsuites>
    json_coverage = json.loads(seed_json.stdout)["coverage"]
    for suite in root.findall("testsuite"):
        assert suite[0].tag == "properties"  # JUnit wants <properties> before the test cases
        [prop] = suite.findall("properties/property")
        assert prop.get("name") == "coverage"
        assert float(prop.get("value", "nan")) == pytest.approx(json_coverage, abs=0.01)


def test_coverage_below_the_threshold_exits_1_with_parseable_output(seed_junit_below_threshold: Any) -> None:
    assert seed_junit_below_threshold.exit_code == 1
    assert "is below the threshold of 100.0%" in seed_junit_below_threshold.stderr
    assert ET.fromstring(seed_junit_below_threshold.stdout).get("failures") == "0"


def test_junit_without_coverage_has_no_properties(failing_junit: Any) -> None:
    assert ET.fromstring(failing_junit.stdout).findall(".//properties") == []


def test_junit_failure_carries_its_message(failing_junit: Any) -> None:
    assert failing_junit.exit_code == 1
    root = ET.fromstring(failing_junit.stdout)
    assert (root.get("failures"), root.get("errors")) == ("1", "0")
    failed = [case for case in root.iter("testcase") if case.find("failure") is not None]
    assert [(case.get("classname"), case.get("name")) for case in failed] == [
        ("data.agents.a_test", "test_user_wrong_expectation")
    ]
    failure = failed[0].find("failure")
    assert failure is not None
    assert failure.get("message") == failure.text
    assert failure.text in {"the test is false", "the test is undefined"}
    suite = next(s for s in root.findall("testsuite") if s.get("name") == "data.agents.a_test")
    assert suite.get("failures") == "1"


def test_invalid_boundary_exits_1_before_any_test_runs(tmp_path: Path) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text("agent_boundary:\n  agent_id: a\n  allowed_endpoint: []\n")
    result = invoke_test(str(policy), "--format", "junit")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"{policy}:3:3: unknown key 'allowed_endpoint'" in result.stderr


def test_unknown_format_is_a_usage_error() -> None:
    assert invoke_test(str(SEED_POLICY), "--format", "tap").exit_code == 2


# --- render(): errors versus failures, characters XML cannot hold -------------------------------------------------


CONFLICT = "p_test.rego:3:5: error: conflict"


def test_junit_evaluation_error_is_an_error_element_not_a_failure() -> None:
    report = test_report.TestReport(
        engine="embedded",
        results=[
            test_report.TestResult("p_test", "test_ok", True),
            test_report.TestResult("p_test", "test_boom", False, error=CONFLICT, message=CONFLICT),
            test_report.TestResult("p_test", "test_false", False, message="the test is false"),
        ],
    )
    root = ET.fromstring(test_report.render(report, "junit"))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    suite = root.find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("errors")) == ("1", "1")
    boom = root.find("testsuite/testcase[@name='test_boom']/error")
    assert boom is not None and boom.get("message") == CONFLICT
    assert root.find("testsuite/testcase[@name='test_boom']/failure") is None
    assert root.find("testsuite/testcase[@name='test_false']/failure") is not None


def test_text_marks_errors_and_failures_apart() -> None:
    report = test_report.TestReport(
        engine="opa",
        results=[
            test_report.TestResult("p_test", "test_boom", False, error="conflict", message="conflict"),
            test_report.TestResult("p_test", "test_false", False, message="the test is false"),
        ],
    )
    lines = test_report.render(report, "text").splitlines()
    assert lines[:2] == ["ERROR data.p_test.test_boom: conflict", "FAIL data.p_test.test_false: the test is false"]
    assert lines[-1] == "0 passed, 2 failed (engine opa)"


def test_junit_escapes_characters_xml_cannot_hold() -> None:
    message = 'failed cases: bell \x07 <tag> & "quote"'
    result = test_report.TestResult("p_test", "test_x", False, message=message)
    report = test_report.TestReport(engine="embedded", results=[result])
    failure = ET.fromstring(test_report.render(report, "junit")).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == failure.text == 'failed cases: bell \\x07 <tag> & "quote"'


# --- the opa engine ---------------------------------------------------------------------------------------------


@pytest.mark.opa
def test_opa_engine_junit_matches_the_embedded_test_list(runner: CliRunner) -> None:
    result = runner.invoke(main, ["test", str(SEED_POLICY), "--engine", "opa", "--format", "junit"])
    assert result.exit_code == 0, result.output
    cases = ET.fromstring(result.stdout).findall("./testsuite/testcase")
    assert {f"{case.get('classname')}.{case.get('name')}" for case in cases} == rego_test_rules(SEED_POLICY)


@pytest.mark.opa
def test_opa_engine_failure_names_the_test_file(runner: CliRunner, failing_policy: Path) -> None:
    result = runner.invoke(main, ["test", str(failing_policy), "--engine", "opa", "--format", "json"])
    assert result.exit_code == 1
    [failed] = [test for test in json.loads(result.stdout)["tests"] if not test["passed"]]
    assert failed["name"] == "test_user_wrong_expectation" and failed["error"] is None
    assert re.fullmatch(r"agents/a/policy_test\.rego:\d+: the test is false or undefined", failed["message"])


def test_opa_that_prints_no_json_reports_its_own_error(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An `opa test` that fails before testing (a compile error) prints only on stderr; that message is shown."""
    # A stand-in for the opa binary, shaped like OPA's own output for a module that does not compile.
    fake = tmp_path / "opa"
    fake.write_text("#!/bin/sh\necho '1 error occurred: x.rego:3: rego_parse_error: eof' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("OPA_BIN", str(fake))
    result = runner.invoke(main, ["test", str(SEED_POLICY), "--engine", "opa", "--format", "junit"])
    assert result.exit_code == 1
    assert "error: opa test failed: 1 error occurred: x.rego:3: rego_parse_error: eof" in result.stderr
    assert "no tests found" not in result.output and "Traceback" not in result.output


@pytest.mark.opa
def test_both_engines_give_one_report_with_the_same_test_locations(failing_policy: Path) -> None:
    """opa test and the embedded runner report the same tests, outcomes and rule locations in one model."""
    from yaml2rego.engines import test_runner

    compiled = compile_policy_set(load_policies([str(failing_policy)]))
    reports = [test_runner.run(compiled, engine=engine, coverage=False) for engine in ("opa", "embedded")]
    opa, embedded = ({(r.package, r.name): (r.outcome, r.location) for r in report.results} for report in reports)
    assert opa == embedded
    assert opa[("agents.a_test", "test_user_wrong_expectation")][0] == "fail"
    assert all(re.fullmatch(r".+\.rego:\d+", location) for _, location in opa.values())
