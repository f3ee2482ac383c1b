"""``yaml2rego test``: run every Rego test of a compiled policy with real OPA, or with the embedded engine.

With an ``opa`` binary available the compiled directory is handed to ``opa test`` unchanged, so what passes here is
what passes in a user's CI. Without one, the same modules run on the embedded engine
(:mod:`yaml2rego.engines.rego_testing`). Either way the result is one
:class:`~yaml2rego.engines.test_report.TestReport`, written by :func:`~yaml2rego.engines.test_report.render`.
"""

from __future__ import annotations

import json
import tempfile
from typing import Any

from yaml2rego.compile.compiler import CompiledPolicy
from yaml2rego.engines.opa_binary import find_opa, run_opa
from yaml2rego.engines.test_report import TestReport, TestResult
from yaml2rego.errors import EngineError

__all__ = ["run"]


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
            report.results.append(
                TestResult(
                    package=str(item.get("package", "")).removeprefix("data."),
                    name=item.get("name", ""),
                    passed=not item.get("fail") and not error,
                    error=error_text,
                    duration_ms=item.get("duration", 0) / 1e6,
                    message=error_text or (_opa_failure(item, directory) if item.get("fail") else None),
                    location=_opa_location(item, directory),
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
    return rego_testing.run_tests(modules, data=compiled.data_document(), coverage=coverage)


def _opa_location(item: dict[str, Any], directory: str) -> str:
    """``file:row`` of the test rule, with the file relative to the compiled directory ("" when OPA gives none)."""
    location = item.get("location") or {}
    file = str(location.get("file", "")).removeprefix(directory).lstrip("/")
    return f"{file}:{location.get('row')}" if file and location.get("row") else ""


def _opa_failure(item: dict[str, Any], directory: str) -> str:
    """``file:row: the test is false or undefined``."""
    location = _opa_location(item, directory)
    return f"{location}: the test is false or undefined" if location else "the test is false or undefined"
