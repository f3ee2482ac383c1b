"""The hooks in .pre-commit-hooks.yaml, run by the real `pre-commit` on a fixture repository of boundary files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, SEED_POLICY

HOOKS_FILE = REPO_ROOT / ".pre-commit-hooks.yaml"
BROKEN = "agent_boundary:\n  agent_id: broken_agent\n  allowed_endpoints:\n    - method: GTE\n      path: /api/x\n"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git to build the fixture repository")


def hooks() -> dict[str, dict[str, Any]]:
    return {hook["id"]: hook for hook in yaml.safe_load(HOOKS_FILE.read_text())}


def pre_commit(repo: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home"), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args, "--color", "never"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def fixture_repo(tmp_path: Path) -> Path:
    """A user's repository: the seed boundary under policies/, a workflow YAML that is not a boundary, no commits."""
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    shutil.copy(SEED_POLICY, repo / "policies" / "support_agent.yaml")
    (repo / "ci").mkdir()
    (repo / "ci" / "pipeline.yml").write_text("stages: [test]\n")  # outside policies/: the hooks must leave it alone
    git(repo, "init", "-q")
    return repo


def local_config(repo: Path, *hook_ids: str) -> None:
    """A `repo: local` configuration holding the shipped hook definitions, run with the yaml2rego installed here."""
    local_hooks = []
    for hook_id in hook_ids:
        hook = dict(hooks()[hook_id])
        hook["language"] = "system"  # `python` would build a virtualenv from the package index
        hook["entry"] = f"{Path(sys.executable).parent / 'yaml2rego'} {hook['entry'].removeprefix('yaml2rego ')}"
        hook.pop("minimum_pre_commit_version", None)
        local_hooks.append(hook)
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": local_hooks}]}))


# --- the definitions ----------------------------------------------------------------------------------------------


def test_hooks_file_defines_check_and_embedded_test() -> None:
    defined = hooks()
    assert set(defined) == {"yaml2rego-check", "yaml2rego-test"}
    assert defined["yaml2rego-check"]["entry"] == "yaml2rego check"
    assert defined["yaml2rego-test"]["entry"] == "yaml2rego test --engine embedded"
    for hook in defined.values():
        assert hook["language"] == "python"  # pre-commit installs this package for the user
        assert hook["types"] == ["yaml"] and hook["files"] == "^policies/"
    assert defined["yaml2rego-test"]["pass_filenames"] is False and defined["yaml2rego-test"]["args"] == ["policies/"]


def test_hooks_file_passes_pre_commit_validation() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", str(HOOKS_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- running them -------------------------------------------------------------------------------------------------


def test_check_hook_passes_a_valid_boundary(fixture_repo: Path) -> None:
    local_config(fixture_repo, "yaml2rego-check")
    git(fixture_repo, "add", ".")
    result = pre_commit(fixture_repo, "run", "--all-files")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "yaml2rego check" in result.stdout and "Passed" in result.stdout


def test_check_hook_fails_a_broken_boundary_with_its_location(fixture_repo: Path) -> None:
    local_config(fixture_repo, "yaml2rego-check")
    (fixture_repo / "policies" / "broken.yaml").write_text(BROKEN)
    git(fixture_repo, "add", ".")
    result = pre_commit(fixture_repo, "run", "--all-files")
    assert result.returncode == 1
    assert "Failed" in result.stdout
    assert "policies/broken.yaml:4:15: unknown HTTP method 'GTE'; did you mean 'GET'?" in result.stdout
    assert "ci/pipeline.yml" not in result.stdout


def test_check_hook_sees_only_staged_files_under_policies(fixture_repo: Path) -> None:
    """`pre-commit run` without --all-files checks what is staged; a non-boundary YAML elsewhere is skipped."""
    local_config(fixture_repo, "yaml2rego-check")
    git(fixture_repo, "add", "ci/pipeline.yml", ".pre-commit-config.yaml")
    result = pre_commit(fixture_repo, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(no files to check)Skipped" in result.stdout.replace(".", "")


@pytest.mark.slow
def test_test_hook_runs_the_rego_tests_of_the_whole_directory(fixture_repo: Path) -> None:
    local_config(fixture_repo, "yaml2rego-test")
    policy = fixture_repo / "policies" / "support_agent.yaml"
    # A test written in the boundary that cannot pass: the hook must fail and name it.
    admin_is_open = "    - name: admin is open\n      input: {method: GET, path: /api/admin/x}\n      expect: allow\n"
    policy.write_text(policy.read_text() + "  tests:\n" + admin_is_open)
    git(fixture_repo, "add", ".")
    result = pre_commit(fixture_repo, "run", "--all-files")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL data.agents.support_agent_1_test.test_user_admin_is_open" in result.stdout
    assert "1 failed" in result.stdout


@pytest.mark.slow
def test_hooks_install_from_the_repository_with_pre_commit_try_repo(fixture_repo: Path) -> None:
    """What a user gets: pre-commit builds its own environment from this repository and runs the check hook."""
    (fixture_repo / "policies" / "broken.yaml").write_text(BROKEN)
    git(fixture_repo, "add", ".")
    result = pre_commit(fixture_repo, "try-repo", str(REPO_ROOT), "yaml2rego-check", "--all-files", timeout=600)
    output = result.stdout + result.stderr
    if "An unexpected error has occurred" in output and ("pip" in output or "Could not find" in output):
        pytest.skip(f"pre-commit could not install the package (package index unreachable?): {output[-300:]}")
    assert result.returncode == 1, output
    assert "policies/broken.yaml:4:15: unknown HTTP method 'GTE'" in output
