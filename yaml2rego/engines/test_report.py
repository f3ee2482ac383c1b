"""The results of a run of Rego tests, whichever engine ran them, and the formats ``yaml2rego test`` writes.

``opa test`` (:mod:`yaml2rego.engines.test_runner`) and the embedded runner (:mod:`yaml2rego.engines.rego_testing`)
both give a :class:`TestReport` of :class:`TestResult`; :func:`render` writes it as ``text`` (for people), ``json`` or
``junit`` (for CI systems; docs/ci.md describes both).

>>> report = TestReport("embedded", [TestResult("p_test", "test_ok", True), TestResult("p_test", "test_no", False,
...                                  message="the test is false")], coverage=87.5)
>>> print(render(report, "text"))
FAIL data.p_test.test_no: the test is false
1 passed, 1 failed (coverage 87.5%, engine embedded)
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CoverageReport", "FileCoverage", "TestReport", "TestResult", "render"]


@dataclass(frozen=True)
class TestResult:
    """One Rego test rule (``data.<package>.<name>``) and how it ended. ``error`` is set when evaluation raised (an
    error, not a failure); ``message`` says why a test did not pass (the error, or what failed); ``location`` is
    ``file:line`` of the rule and ``failed_cases`` the cases of a parameterised test that were false, when known."""

    __test__ = False  # a result of Rego tests, not a pytest test class (doctests collect this module)

    package: str
    name: str
    passed: bool
    error: str | None = None
    duration_ms: float = 0.0
    message: str | None = None
    location: str = ""
    failed_cases: tuple[str, ...] = ()

    @property
    def outcome(self) -> str:
        """``"pass"``, ``"fail"`` or ``"error"``."""
        if self.error is not None:
            return "error"
        return "pass" if self.passed else "fail"


@dataclass(frozen=True)
class FileCoverage:
    """Covered and not covered line numbers of one module."""

    path: str
    covered: tuple[int, ...]
    not_covered: tuple[int, ...]

    @property
    def percent(self) -> float:
        total = len(self.covered) + len(self.not_covered)
        return 100.0 if total == 0 else 100.0 * len(self.covered) / total


@dataclass(frozen=True)
class CoverageReport:
    """Line coverage of the modules that are not tests."""

    files: tuple[FileCoverage, ...]

    @property
    def covered_lines(self) -> int:
        return sum(len(item.covered) for item in self.files)

    @property
    def total_lines(self) -> int:
        return sum(len(item.covered) + len(item.not_covered) for item in self.files)

    @property
    def percent(self) -> float:
        """Covered lines as a percentage of coverable lines (100 when nothing is coverable)."""
        total = self.total_lines
        return 100.0 if total == 0 else 100.0 * self.covered_lines / total


@dataclass
class TestReport:
    """Every result of one run, by the engine that ran it (``opa`` or ``embedded``). ``coverage`` is the percentage
    of covered lines, ``None`` when it was not asked for; ``coverage_report`` the lines, when the engine gives them."""

    __test__ = False  # see TestResult

    engine: str
    results: list[TestResult] = field(default_factory=list)
    coverage: float | None = None
    coverage_report: CoverageReport | None = None

    @property
    def passed(self) -> bool:
        """Whether at least one test ran and every test passed."""
        return bool(self.results) and all(result.passed for result in self.results)

    @property
    def failures(self) -> list[TestResult]:
        """The tests that did not pass: failed or raised an error."""
        return [result for result in self.results if not result.passed]

    @property
    def errors(self) -> list[TestResult]:
        """The tests whose evaluation raised an error."""
        return [result for result in self.results if result.error is not None]


def render(report: TestReport, output_format: str = "text", *, verbose: bool = False) -> str:
    """The report as ``text`` (failures, then a summary line; passes too with ``verbose``), ``json`` or ``junit``."""
    if output_format == "json":
        return _json(report)
    if output_format == "junit":
        return _junit(report)
    return _text(report, verbose)


def _text(report: TestReport, verbose: bool) -> str:
    lines = []
    for result in report.results:
        if verbose or not result.passed:
            status = "PASS" if result.passed else ("ERROR" if result.error else "FAIL")
            detail = f": {result.message}" if result.message and not result.passed else ""
            lines.append(f"{status} data.{result.package}.{result.name}{detail}")
    total, failed = len(report.results), len(report.failures)
    summary = f"{total - failed} passed, {failed} failed"
    if report.coverage is not None:
        summary += f" (coverage {report.coverage:.1f}%, engine {report.engine})"
    else:
        summary += f" (engine {report.engine})"
    if not report.results:
        summary = f"no tests found (engine {report.engine})"
    lines.append(summary)
    return "\n".join(lines)


def _json(report: TestReport) -> str:
    tests = [
        {
            "package": result.package,
            "name": result.name,
            "passed": result.passed,
            "error": result.error,
            "duration_ms": result.duration_ms,
            "message": result.message,
        }
        for result in report.results
    ]
    document = {
        "engine": report.engine,
        "passed": report.passed,
        "total": len(report.results),
        "failed": len(report.failures),
        "coverage": report.coverage,
        "tests": tests,
    }
    return json.dumps(document, indent=2)


def _junit(report: TestReport) -> str:
    # The common JUnit XML shape (Ant/Jenkins/GitLab): <properties> is the first child of each <testsuite>, an
    # evaluation error is an <error>, a false or undefined test a <failure>, and `failures` does not count errors.
    errors = len(report.errors)
    suites = ET.Element(
        "testsuites",
        name="yaml2rego",
        tests=str(len(report.results)),
        failures=str(len(report.failures) - errors),
        errors=str(errors),
    )
    by_package: dict[str, list[TestResult]] = {}
    for result in report.results:
        by_package.setdefault(result.package, []).append(result)
    for package, results in by_package.items():
        suite_errors = sum(1 for result in results if result.error)
        failures = sum(1 for result in results if not result.passed) - suite_errors
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"data.{package}",
            tests=str(len(results)),
            failures=str(failures),
            errors=str(suite_errors),
        )
        if report.coverage is not None:
            properties = ET.SubElement(suite, "properties")
            ET.SubElement(properties, "property", name="coverage", value=f"{report.coverage:.2f}")
        for result in results:
            case: Any = ET.SubElement(
                suite,
                "testcase",
                classname=f"data.{package}",
                name=result.name,
                time=f"{result.duration_ms / 1000:.6f}",
            )
            if not result.passed:
                text = _xml_safe(result.message or result.error or "failed")
                ET.SubElement(case, "error" if result.error else "failure", message=text).text = text
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


# Characters XML 1.0 cannot hold at all, even escaped (control characters other than tab, newline, carriage return).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    return _XML_INVALID.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
