"""Every compiled output of examples/, tests/golden and tests/fixtures/policies/good is what a real OPA 1.x accepts:
`opa check --strict` and `opa test` pass, and `opa fmt --list` names no file. Skipped, with the reason shown, where
no opa binary exists (OPA_BIN or PATH)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from yaml2rego.compiler import compile_policy_set
from yaml2rego.loader import load_policies

from .conftest import EXAMPLES, REPO_ROOT

POLICY_SETS = [
    EXAMPLES,
    *sorted(EXAMPLES.glob("*.yaml")),
    *sorted((EXAMPLES / "agents").rglob("*.y*ml")),
    *sorted((REPO_ROOT / "tests" / "golden").glob("*/policy.yaml")),
    *sorted((REPO_ROOT / "tests" / "fixtures" / "policies" / "good").glob("*.yaml")),
]


@pytest.mark.opa
@pytest.mark.parametrize("policy", POLICY_SETS, ids=lambda path: path.relative_to(REPO_ROOT).as_posix())
def test_compiled_output_passes_opa_check_fmt_and_test(policy: Path, opa_binary: str, tmp_path: Path) -> None:
    compiled = compile_policy_set(load_policies([policy]))
    for name, text in compiled.modules(include_tests=True).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "data.json").write_text(json.dumps(compiled.data_document()), encoding="utf-8")

    def opa(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([opa_binary, *arguments], capture_output=True, text=True, timeout=300, check=False)

    check = opa("check", "--strict", str(tmp_path))
    assert check.returncode == 0, check.stderr
    listed = opa("fmt", "--list", str(tmp_path))
    assert (listed.returncode, listed.stdout) == (0, ""), listed.stdout + listed.stderr
    tested = opa("test", str(tmp_path))
    assert tested.returncode == 0, tested.stdout[-2000:] + tested.stderr
