"""Run Rego unit tests on the embedded engine (regorus), for machines without an ``opa`` binary.

``opa test`` is the reference; this runner follows its conventions so the same ``*_test.rego`` files pass in both:

* every rule whose name starts with ``test_`` in any package is a test (rules named ``todo_test_…`` are skipped, and a
  function named ``test_…`` is a helper, not a test);
* a test passes when it evaluates to a value other than ``false``; undefined and ``false`` fail; an evaluation error
  is reported as an error, not a failure;
* a parameterised test (``test_x[note] if {…}`` or ``test_x contains note if {…}``) evaluates to an object or a set of
  cases. It passes when it holds at least one case and no case has the value ``false``; the names of the cases whose
  value is ``false`` are reported. A case whose body fails simply does not appear, so parameterised tests in this
  library also assert that every case is present (``count(test_x) == count(cases)``). Stricter than ``opa test`` on
  one point: an empty parameterised test fails here, because a table test that checked nothing is a broken test.

Tests are found in the engine's parsed modules (``get_ast_as_json``), not by scanning text, so a ``test_`` in a
comment or a string is never mistaken for a test.

Coverage (``coverage=True``) uses regorus' line coverage and counts only modules that are not tests (paths ending
in ``_test.rego`` or packages ending in ``_test``). regorus reports only modules that some test evaluated; a module no
test touched counts with every rule line uncovered.

>>> summary = run_tests([("x_test.rego", "package x_test\\n\\ntest_sum if 1 + 1 == 2\\n")])
>>> [(result.name, result.passed) for result in summary.results]
[('test_sum', True)]
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yaml2rego.engines.test_report import CoverageReport, FileCoverage, TestReport, TestResult
from yaml2rego.errors import EngineError, EngineUnavailable

__all__ = ["RegoTest", "discover_tests", "load_rego_modules", "run_tests"]

TEST_PREFIX = "test_"


@dataclass(frozen=True)
class RegoTest:
    """A test rule found in a module: ``data.<package>.<name>``, defined first at ``path:line``."""

    package: str
    name: str
    path: str
    line: int

    @property
    def query(self) -> str:
        return f"data.{self.package}.{self.name}"


def load_rego_modules(root: str | Path) -> list[tuple[str, str]]:
    """Every ``*.rego`` file under ``root`` (or ``root`` itself), as ``(path, text)`` pairs in path order."""
    base = Path(root)
    files = [base] if base.is_file() else sorted(base.rglob("*.rego"))
    return [(str(path), path.read_text(encoding="utf-8")) for path in files]


def discover_tests(modules: Sequence[tuple[str, str]]) -> list[RegoTest]:
    """The test rules of ``modules``, in file order, each once (a rule may have several definitions)."""
    engine = _engine(modules)
    return _discover(engine)


def run_tests(
    modules: Sequence[tuple[str, str]],
    data: Mapping[str, Any] | None = None,
    *,
    coverage: bool = False,
    run: str | None = None,
) -> TestReport:
    """Evaluate every ``test_*`` rule of ``modules`` (``(path, text)`` pairs, tests included) on regorus: the
    report of engine ``embedded``, with the covered lines when ``coverage`` is asked for.

    ``data`` is loaded as the base document; ``run`` is a regular expression that a test's ``package.name`` must
    contain (like ``opa test --run``). Raises :class:`~yaml2rego.errors.EngineError` when a module does not compile.

    >>> modules = [("p_test.rego", "package p_test\\n\\ntest_no if false\\n")]
    >>> run_tests(modules).results[0].outcome
    'fail'
    """
    selector = re.compile(run) if run else None
    results = []
    coverage_reports = []
    # regorus' cost per evaluation grows with every test rule loaded into the engine, so each test package runs in
    # an engine of its own: the library modules plus that package's test files. Packages never share test rules.
    library = [module for module in modules if not _is_test_module(module)]
    groups = _test_groups(modules)
    if not groups:
        groups = [[]]  # still load the library, so a module that does not compile is reported
    for group in groups:
        engine = _engine(library + group)
        if data:
            engine.add_data(dict(data))
        if coverage:
            engine.set_enable_coverage(True)
        for test in _discover(engine):
            if selector and not selector.search(f"{test.package}.{test.name}"):
                continue
            results.append(_run_one(engine, test))
        if coverage:
            coverage_reports.append(_coverage(engine, library + group))
    report = _merge_coverage(coverage_reports) if coverage else None
    percent = None if report is None else report.percent
    return TestReport("embedded", results, coverage=percent, coverage_report=report)


def _is_test_module(module: tuple[str, str]) -> bool:
    path, text = module
    package = _PACKAGE_LINE.search(text)
    return path.endswith("_test.rego") or bool(package and package.group(1).endswith("_test"))


def _test_groups(modules: Sequence[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Test modules grouped by package (test helpers may be shared between files of one package), in file order."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for module in modules:
        if _is_test_module(module):
            package = _PACKAGE_LINE.search(module[1])
            groups.setdefault(package.group(1) if package else module[0], []).append(module)
    return list(groups.values())


def _merge_coverage(reports: Sequence[CoverageReport]) -> CoverageReport:
    """One report from several engines: a line is covered when any engine covered it."""
    covered: dict[str, set[int]] = {}
    seen: dict[str, set[int]] = {}
    for report in reports:
        for entry in report.files:
            covered.setdefault(entry.path, set()).update(entry.covered)
            seen.setdefault(entry.path, set()).update(entry.covered, entry.not_covered)
    return CoverageReport(
        files=tuple(
            FileCoverage(path, tuple(sorted(covered[path])), tuple(sorted(seen[path] - covered[path])))
            for path in sorted(seen)
        )
    )


_PACKAGE_LINE = re.compile(r"^package\s+([^\s#]+)", re.MULTILINE)


def _engine(modules: Sequence[tuple[str, str]]) -> Any:
    try:
        import regorus
    except ImportError as exc:  # pragma: no cover - regorus is a hard dependency
        raise EngineUnavailable("the embedded Rego engine is not installed: pip install gordon-to-regorus") from exc
    engine = regorus.Engine()
    for path, text in modules:
        try:
            engine.add_policy(path, text)
        except Exception as exc:  # regorus raises plain exceptions with a Rust backtrace attached
            message = _clean_error(exc)
            raise EngineError(message if message.startswith(path) else f"{path}: {message}") from exc
    return engine


def _discover(engine: Any) -> list[RegoTest]:
    found: dict[tuple[str, str], RegoTest] = {}
    for module in json.loads(engine.get_ast_as_json()):
        path = module["source"]["file"]
        package = _ref_text(module["ast"]["package"]["refr"])
        for rule in module["ast"]["rules"]:
            spec = rule.get("Spec")
            if not spec:
                continue
            kind, head = next(iter(spec["head"].items()))
            if kind == "Func":  # a function named test_… is a helper
                continue
            name = _root_name(head["refr"])
            if name is None or not name.startswith(TEST_PREFIX):
                continue
            found.setdefault((package, name), RegoTest(package, name, path, spec["span"]["line"]))
    return list(found.values())


def _root_name(ref: Mapping[str, Any]) -> str | None:
    """The first name of a rule head such as ``test_x``, ``test_x[note]`` or ``test_x.case``."""
    kind, node = next(iter(ref.items()))
    if kind == "Var":
        return str(node["value"])
    if kind in ("RefBrack", "RefDot"):
        return _root_name(node["refr"])
    return None


def _ref_text(ref: Mapping[str, Any]) -> str:
    kind, node = next(iter(ref.items()))
    if kind == "Var":
        return str(node["value"])
    if kind == "RefDot":
        return f"{_ref_text(node['refr'])}.{node['field'][1]}"
    if kind == "RefBrack":
        index = next(iter(node["index"].values()))
        return f"{_ref_text(node['refr'])}.{index['value']}"
    raise EngineError(f"unexpected package reference {kind}")


def _run_one(engine: Any, test: RegoTest) -> TestResult:
    location = f"{test.path}:{test.line}"
    started = time.perf_counter()
    try:
        answer = json.loads(engine.eval_query_as_json(test.query))
    except Exception as exc:  # an evaluation error (conflict, builtin error) is an error, not a failure
        milliseconds = (time.perf_counter() - started) * 1000
        error = _clean_error(exc)
        return TestResult(test.package, test.name, False, error, milliseconds, error, location)
    milliseconds = (time.perf_counter() - started) * 1000
    values = [expression["value"] for row in answer.get("result", []) for expression in row["expressions"]]
    passed, message, failed_cases = _judge(values)
    return TestResult(test.package, test.name, passed, None, milliseconds, message or None, location, failed_cases)


def _judge(values: list[Any]) -> tuple[bool, str, tuple[str, ...]]:
    """(passed, message, failed case names) for the values a test rule evaluated to."""
    if not values:
        return False, "the test is undefined", ()
    value = values[0]
    if value is False:
        return False, "the test is false", ()
    if isinstance(value, dict):
        failed = tuple(sorted(str(case) for case, outcome in value.items() if outcome is False))
        if failed:
            return False, "failed cases: " + ", ".join(failed), failed
        if not value:
            return False, "the parameterised test has no cases", ()
    # regorus writes sets as JSON arrays: an empty one is a `contains` test without cases.
    if isinstance(value, list) and not value:
        return False, "the parameterised test has no cases", ()
    return True, "", ()


def _coverage(engine: Any, modules: Sequence[tuple[str, str]]) -> CoverageReport:
    asts = {module["source"]["file"]: module["ast"] for module in json.loads(engine.get_ast_as_json())}
    test_files = {
        path
        for path, _ in modules
        if path.endswith("_test.rego") or (path in asts and _ref_text(asts[path]["package"]["refr"]).endswith("_test"))
    }
    report = json.loads(engine.get_coverage_report_as_json())
    files = {
        entry["path"]: FileCoverage(entry["path"], tuple(sorted(entry["covered"])), tuple(sorted(entry["not_covered"])))
        for entry in report.get("files", [])
        if entry["path"] not in test_files
    }
    # regorus leaves out modules that no test evaluated at all; count their rules as uncovered lines.
    for path, module in asts.items():
        if path not in test_files and path not in files:
            lines = sorted({rule["Spec"]["span"]["line"] for rule in module["rules"] if "Spec" in rule})
            files[path] = FileCoverage(path, (), tuple(lines))
    return CoverageReport(files=tuple(files[path] for path in sorted(files)))


def _clean_error(exc: object) -> str:
    """regorus' message without the Rust backtrace, on one line: ``file:line:col: error: …``."""
    text = str(exc).split("Stack backtrace:")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    location = next((line[4:].strip() for line in lines if line.startswith("-->")), "")
    message = next((line for line in lines if line.startswith("error:")), lines[-1] if lines else "unknown error")
    return f"{location}: {message}" if location else message
