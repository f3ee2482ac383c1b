"""``yaml2rego test``: run every Rego test of a compiled policy with real OPA, or with the embedded engine.

With an ``opa`` binary available the compiled directory is handed to ``opa test`` unchanged, so what passes here is
what passes in a user's CI. Without one, the same modules run on the embedded engine
(:mod:`yaml2rego.engines.rego_testing`).
"""

from __future__ import annotations

import json
import re
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any

from yaml2rego.compile.compiler import CompiledPolicy
from yaml2rego.engines.opa_binary import find_opa, run_opa
from yaml2rego.errors import EngineError

__all__ = ["TestOutcome", "TestReport", "render", "run"]


@dataclass(frozen=True)
class TestOutcome:
    """One Rego test rule and how it ended: ``error`` is set when evaluation raised (an error, not a failure);
    ``message`` says why a test did not pass (the error, or what failed)."""

    __test__ = False  # a result of Rego tests, not a pytest test class (doctests collect this module)

    package: str
    name: str
    passed: bool
    error: str | None = None
    duration_ms: float = 0.0
    message: str | None = None


@dataclass
class TestReport:
    __test__ = False  # see TestOutcome

    engine: str
    outcomes: list[TestOutcome] = field(default_factory=list)
    coverage: float | None = None

    @property
    def passed(self) -> bool:
        return bool(self.outcomes) and all(outcome.passed for outcome in self.outcomes)

    @property
    def failures(self) -> list[TestOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.passed]


def run(compiled: CompiledPolicy, *, engine: str = "auto", coverage: bool = True) -> TestReport:
    """Run all tests of ``compiled``; ``engine`` is ``auto``, ``opa`` or ``embedded``."""
    if engine == "opa" or (engine == "auto" and find_opa() is not None):
        return _run_with_opa(compiled, coverage)
    return _run_embedded(compiled, coverage)


def _run_with_opa(compiled: CompiledPolicy, coverage: bool) -> TestReport:
    with tempfile.TemporaryDirectory(prefix="yaml2rego-test-") as directory:
        compiled.write(directory)
        result = run_opa(["test", directory, "--format=json"])
        if not result.stdout.strip() and result.returncode != 0:
            # A module that does not parse or compile: opa prints the errors on stderr and no JSON at all.
            raise EngineError(f"opa test failed: {(result.stderr or '').strip() or f'exit code {result.returncode}'}")
        try:
            raw = json.loads(result.stdout or "[]")
        except json.JSONDecodeError as exc:
            raise EngineError(f"opa test failed: {(result.stderr or result.stdout).strip()}") from exc
        report = TestReport(engine="opa")
        for item in raw:
            error = item.get("error")
            error_text = (error.get("message") if isinstance(error, dict) else error) or None
            report.outcomes.append(
                TestOutcome(
                    package=str(item.get("package", "")).removeprefix("data."),
                    name=item.get("name", ""),
                    passed=not item.get("fail") and not error,
                    error=error_text,
                    duration_ms=item.get("duration", 0) / 1e6,
                    message=error_text or (_opa_failure(item, directory) if item.get("fail") else None),
                )
            )
        if coverage:
            covered = run_opa(["test", directory, "--coverage", "--format=json"])
            try:
                report.coverage = float(json.loads(covered.stdout).get("coverage", 0.0))
            except (json.JSONDecodeError, AttributeError):
                report.coverage = None
        return report


def _run_embedded(compiled: CompiledPolicy, coverage: bool) -> TestReport:
    from yaml2rego.engines import rego_testing

    modules = sorted(compiled.modules(include_tests=True).items())
    summary = rego_testing.run_tests(modules, data=compiled.data_document(), coverage=coverage)
    report = TestReport(engine="embedded", coverage=summary.coverage if coverage else None)
    for result in summary.results:
        report.outcomes.append(
            TestOutcome(
                package=result.package.removeprefix("data."),
                name=result.name,
                passed=result.passed,
                error=result.error,
                duration_ms=result.duration_ms,
                message=None if result.passed else (result.error or result.message or "the test failed"),
            )
        )
    return report


def _opa_failure(item: dict[str, Any], directory: str) -> str:
    """``file:row: the test is false or undefined``, with the file relative to the compiled directory."""
    location = item.get("location") or {}
    file = str(location.get("file", "")).removeprefix(directory).lstrip("/")
    where = f"{file}:{location.get('row')}: " if file and location.get("row") else ""
    return f"{where}the test is false or undefined"


def render(report: TestReport, output_format: str = "text", *, verbose: bool = False) -> str:
    """The report as ``text`` (for people), ``json`` or ``junit`` (for CI systems)."""
    if output_format == "json":
        return json.dumps(
            {
                "engine": report.engine,
                "passed": report.passed,
                "total": len(report.outcomes),
                "failed": len(report.failures),
                "coverage": report.coverage,
                "tests": [asdict(outcome) for outcome in report.outcomes],
            },
            indent=2,
        )
    if output_format == "junit":
        return _junit(report)
    return _text(report, verbose)


def _text(report: TestReport, verbose: bool) -> str:
    lines = []
    for outcome in report.outcomes:
        if verbose or not outcome.passed:
            status = "PASS" if outcome.passed else ("ERROR" if outcome.error else "FAIL")
            detail = f": {outcome.message}" if outcome.message and not outcome.passed else ""
            lines.append(f"{status} data.{outcome.package}.{outcome.name}{detail}")
    total, failed = len(report.outcomes), len(report.failures)
    summary = f"{total - failed} passed, {failed} failed"
    if report.coverage is not None:
        summary += f" (coverage {report.coverage:.1f}%, engine {report.engine})"
    else:
        summary += f" (engine {report.engine})"
    if not report.outcomes:
        summary = f"no tests found (engine {report.engine})"
    lines.append(summary)
    return "\n".join(lines)


def _junit(report: TestReport) -> str:
    # The common JUnit XML shape (Ant/Jenkins/GitLab): <properties> is the first child of each <testsuite>, an
    # evaluation error is an <error>, a false or undefined test a <failure>, and `failures` does not count errors.
    errors = sum(1 for outcome in report.outcomes if outcome.error)
    suites = ET.Element(
        "testsuites",
        name="yaml2rego",
        tests=str(len(report.outcomes)),
        failures=str(len(report.failures) - errors),
        errors=str(errors),
    )
    by_package: dict[str, list[TestOutcome]] = {}
    for outcome in report.outcomes:
        by_package.setdefault(outcome.package, []).append(outcome)
    for package, outcomes in by_package.items():
        suite_errors = sum(1 for outcome in outcomes if outcome.error)
        failures = sum(1 for outcome in outcomes if not outcome.passed) - suite_errors
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"data.{package}",
            tests=str(len(outcomes)),
            failures=str(failures),
            errors=str(suite_errors),
        )
        if report.coverage is not None:
            properties = ET.SubElement(suite, "properties")
            ET.SubElement(properties, "property", name="coverage", value=f"{report.coverage:.2f}")
        for outcome in outcomes:
            case: Any = ET.SubElement(
                suite,
                "testcase",
                classname=f"data.{package}",
                name=outcome.name,
                time=f"{outcome.duration_ms / 1000:.6f}",
            )
            if not outcome.passed:
                text = _xml_safe(outcome.message or outcome.error or "failed")
                ET.SubElement(case, "error" if outcome.error else "failure", message=text).text = text
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


# Characters XML 1.0 cannot hold at all, even escaped (control characters other than tab, newline, carriage return).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    return _XML_INVALID.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
