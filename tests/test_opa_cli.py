"""The compiled output of every boundary the project ships, under the real OPA CLI that users run.

For each example, golden case and good fixture: `opa check --strict` and `opa fmt --list` are clean, `opa test`
passes every generated and library test with its coverage reported, and `opa run --server` over the same directory
answers every generated test input exactly as the embedded engine does. Skipped, with the reason shown, when no
`opa` binary is on PATH and OPA_BIN is unset (CI has none).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO_ROOT
from tests.opa_server import running_opa
from yaml2rego.compile import testgen
from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.dsl.loader import load_policies
from yaml2rego.engines.embedded import EmbeddedEngine
from yaml2rego.engines.opa import OpaEngine

pytestmark = pytest.mark.opa

# Every boundary file on its own, and examples/ as one policy set (its global `defaults:` then apply to every agent).
SOURCES = [
    EXAMPLES,
    *sorted(EXAMPLES.glob("*.yaml")),
    *sorted((EXAMPLES / "agents").rglob("*.y*ml")),
    *sorted((REPO_ROOT / "tests" / "golden").glob("*/policy.yaml")),
    *sorted((REPO_ROOT / "tests" / "fixtures" / "policies" / "good").glob("*.yaml")),
]


def _source_id(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


@pytest.fixture(params=SOURCES, ids=_source_id)
def compiled_dir(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    source: Path = request.param
    out = tmp_path / "policy"
    compile_policy_set(load_policies([str(source)])).write(out)
    return source, out


def _opa(opa_binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([opa_binary, *args], capture_output=True, text=True, timeout=300, check=False)


def test_check_strict_fmt_and_test_are_clean(opa_binary: str, compiled_dir: tuple[Path, Path]) -> None:
    """`opa check --strict`, `opa fmt --list` and `opa test --coverage` all pass on the compiled directory."""
    _, out = compiled_dir
    check = _opa(opa_binary, "check", "--strict", str(out))
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = _opa(opa_binary, "fmt", "--list", str(out))
    assert (fmt.returncode, fmt.stdout, fmt.stderr) == (0, "", "")
    tested = _opa(opa_binary, "test", str(out), "--coverage", "--format=json")
    assert tested.returncode == 0, tested.stdout[-2000:] + tested.stderr
    report = json.loads(tested.stdout)
    assert report["coverage"] >= 90, report["coverage"]
    verbose = _opa(opa_binary, "test", str(out), "--format=json")
    results = json.loads(verbose.stdout)
    assert results and all(result.get("fail") is not True for result in results)
    assert any(result["package"].startswith("data.agents.") for result in results)


def test_a_server_over_the_directory_decides_as_the_embedded_engine(
    opa_binary: str, compiled_dir: tuple[Path, Path]
) -> None:
    """Every generated test input gets byte-identical decisions from `opa run --server` and regorus."""
    source, out = compiled_dir
    policy_set = load_policies([str(source)])
    embedded = EmbeddedEngine.from_compiled(compile_policy_set(policy_set))
    inputs = [case.input for agent in policy_set.agents for case in testgen.cases_for(agent)]
    assert inputs
    with running_opa(opa_binary, [str(out)]) as url:
        opa = OpaEngine(url, timeout=10)
        for call in inputs:
            ours, theirs = embedded.decide(call), opa.decide(call)
            assert json.dumps(theirs, sort_keys=True) == json.dumps(ours, sort_keys=True), call
