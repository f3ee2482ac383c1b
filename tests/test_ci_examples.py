"""The CI examples users copy: valid YAML, the expected steps, and their shell steps run on a fixture repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, SEED_POLICY

CI = REPO_ROOT / "examples" / "ci"
GITHUB_WORKFLOW = CI / ".github" / "workflows" / "policy-ci.yml"
GITLAB_CI = CI / ".gitlab-ci.yml"

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git to build the fixture repository")


def github_workflow() -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(GITHUB_WORKFLOW.read_text())
    return document


def github_steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = github_workflow()["jobs"]["policy"]["steps"]
    return steps


def step(name: str) -> dict[str, Any]:
    return next(item for item in github_steps() if item.get("name") == name)


def gitlab_ci() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(GITLAB_CI.read_text())
    return document


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return result.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def run_script(script: str, repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a step's shell script as the CI runner does (`bash -e`), with this interpreter's yaml2rego first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=repo,
        env={**os.environ, "PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def base_repo(tmp_path: Path) -> tuple[Path, str]:
    """A boundary repository with one commit on main: the seed under policies/."""
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    shutil.copy(SEED_POLICY, repo / "policies" / "support_agent.yaml")
    git(repo, "init", "-q", "-b", "main")
    return repo, commit_all(repo, "seed boundary")


def change_seed(repo: Path, old: str, new: str) -> None:
    policy = repo / "policies" / "support_agent.yaml"
    text = policy.read_text()
    assert old in text
    policy.write_text(text.replace(old, new))
    commit_all(repo, f"{old} -> {new}")


# --- GitHub Actions: the file ---------------------------------------------------------------------------------------


def test_github_workflow_is_valid_yaml_with_one_policy_job() -> None:
    workflow = github_workflow()
    triggers = workflow["on"] if "on" in workflow else workflow[True]  # YAML 1.1 readers turn the key `on` into True
    assert set(triggers) == {"pull_request", "push"}
    # Adding the approval label must re-run the job.
    assert {"labeled", "unlabeled", "synchronize"} <= set(triggers["pull_request"]["types"])
    assert workflow["permissions"] == {"contents": "read"}
    assert list(workflow["jobs"]) == ["policy"]


def test_github_workflow_runs_the_expected_steps_in_order() -> None:
    steps = github_steps()
    uses = [item.get("uses", "") for item in steps]
    runs = [item.get("run", "") for item in steps]

    def index(predicate: Any) -> int:
        return next(position for position, item in enumerate(steps) if predicate(item))

    checkout = index(lambda item: item.get("uses", "").startswith("actions/checkout@"))
    install = index(lambda item: 'pip install "$YAML2REGO_SPEC"' in item.get("run", ""))
    setup_opa = index(lambda item: item.get("uses", "").startswith("open-policy-agent/setup-opa@v2"))
    check = index(lambda item: item.get("run", "").startswith('yaml2rego check "$POLICY_DIR"'))
    compile_ = index(lambda item: item.get("run", "").startswith('yaml2rego compile "$POLICY_DIR" -o "$BUILD_DIR"'))
    fmt = index(lambda item: item.get("run", "").strip() == 'opa fmt --list --fail "$BUILD_DIR"')
    strict = index(lambda item: item.get("run", "").strip() == 'opa check --strict "$BUILD_DIR"')
    test = index(lambda item: item.get("run", "").startswith('opa test "$BUILD_DIR"'))
    coverage = index(lambda item: 'opa test "$BUILD_DIR" --coverage --format=json' in item.get("run", ""))
    bundle = index(lambda item: item.get("run", "").startswith('yaml2rego bundle "$POLICY_DIR"'))
    diff = index(lambda item: "yaml2rego diff" in item.get("run", ""))
    assert checkout < install < setup_opa < check < compile_ < fmt < strict < test < coverage < bundle < diff
    assert steps[checkout]["with"]["fetch-depth"] == 0
    assert "COVERAGE_THRESHOLD" in runs[coverage] and "$GITHUB_STEP_SUMMARY" in runs[coverage]
    assert "--format markdown" in runs[diff] and '>> "$GITHUB_STEP_SUMMARY"' in runs[diff]
    assert "pull_request" in steps[diff]["if"]
    assert any(use.startswith("actions/upload-artifact@") for use in uses)


def test_github_workflow_pins_yaml2rego_and_names_its_settings_once() -> None:
    env = github_workflow()["env"]
    assert set(env) == {"POLICY_DIR", "BUILD_DIR", "COVERAGE_THRESHOLD", "LOOSENING_LABEL", "YAML2REGO_SPEC"}
    assert re.fullmatch(r"yaml2rego @ git\+https://github\.com/yaml2rego/yaml2rego@COMMIT_SHA", env["YAML2REGO_SPEC"])
    assert 0 < float(env["COVERAGE_THRESHOLD"]) <= 100
    # Untrusted pull-request data reaches the script through env, never through ${{ }} inside `run`.
    assert all("${{" not in item.get("run", "") for item in github_steps())


# --- GitHub Actions: the shell steps, run ----------------------------------------------------------------------------


@needs_git
def test_github_yaml2rego_steps_pass_on_the_seed(base_repo: tuple[Path, str], tmp_path: Path) -> None:
    repo, head = base_repo
    env = {**github_workflow()["env"], "GITHUB_SHA": head, "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    for name in ("yaml2rego check", "yaml2rego compile", "Build the bundle"):
        result = run_script(step(name)["run"], repo, env)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
    assert (repo / "build" / "policy" / "boundaries" / "data.json").is_file()
    assert (repo / "build" / "bundle.tar.gz").is_file()


@needs_git
def test_github_check_step_fails_on_a_broken_boundary(base_repo: tuple[Path, str]) -> None:
    repo, _ = base_repo
    change_seed(repo, "method: GET", "method: GTE")
    result = run_script(step("yaml2rego check")["run"], repo, github_workflow()["env"])
    assert result.returncode == 1
    assert "policies/support_agent.yaml:4:15: unknown HTTP method 'GTE'" in result.stderr


def run_github_diff(
    repo: Path, base: str, tmp_path: Path, approved: bool
) -> tuple[subprocess.CompletedProcess[str], str]:
    summary = tmp_path / "summary.md"
    env = {
        **github_workflow()["env"],
        "BASE_SHA": base,
        "GITHUB_STEP_SUMMARY": str(summary),
        "LOOSENING_APPROVED": "true" if approved else "false",
    }
    result = run_script(step("Diff against the base branch")["run"], repo, env)
    return result, summary.read_text() if summary.exists() else ""


@needs_git
def test_github_diff_step_fails_a_loosening_change_and_summarises_it(
    base_repo: tuple[Path, str], tmp_path: Path
) -> None:
    repo, base = base_repo
    change_seed(repo, "requests_per_minute: 30", "requests_per_minute: 60")
    result, summary = run_github_diff(repo, base, tmp_path, approved=False)
    assert result.returncode == 3  # yaml2rego diff's "loosens" status fails the step
    assert "## Agent boundary changes" in summary
    assert "| **loosens** | `rate_limit_raised` |" in summary
    assert "::error::This change loosens an agent boundary: a reviewer must add the 'policy-loosening-approved'" in (
        result.stdout
    )


@needs_git
def test_github_diff_step_passes_a_loosening_change_with_the_label(base_repo: tuple[Path, str], tmp_path: Path) -> None:
    repo, base = base_repo
    change_seed(repo, "requests_per_minute: 30", "requests_per_minute: 60")
    result, summary = run_github_diff(repo, base, tmp_path, approved=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "`rate_limit_raised`" in summary and "::warning::" in result.stdout


@needs_git
def test_github_diff_step_passes_a_tightening_change(base_repo: tuple[Path, str], tmp_path: Path) -> None:
    repo, base = base_repo
    change_seed(repo, "requests_per_minute: 30", "requests_per_minute: 10")
    result, summary = run_github_diff(repo, base, tmp_path, approved=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tightens" in summary and "**loosens**" not in summary


@needs_git
def test_github_diff_step_treats_every_agent_as_added_on_the_first_pull_request(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("boundaries\n")
    git(repo, "init", "-q", "-b", "main")
    base = commit_all(repo, "empty repository")
    (repo / "policies").mkdir()
    shutil.copy(SEED_POLICY, repo / "policies" / "support_agent.yaml")
    commit_all(repo, "first boundary")
    result, summary = run_github_diff(repo, base, tmp_path, approved=False)
    assert result.returncode == 3
    assert "`agent_added`" in summary and "support_agent_1" in summary


@pytest.mark.opa
@needs_git
def test_github_every_shell_step_passes_on_the_seed_with_real_opa(
    base_repo: tuple[Path, str], tmp_path: Path, opa_binary: str
) -> None:
    repo, base = base_repo
    change_seed(repo, "requests_per_minute: 30", "requests_per_minute: 10")
    # The steps call `opa` by name, as setup-opa leaves it on the runner's PATH.
    opa_dir = tmp_path / "opa-bin"
    opa_dir.mkdir()
    (opa_dir / "opa").symlink_to(Path(opa_binary).resolve())
    env = {
        "PATH": f"{opa_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **github_workflow()["env"],
        "GITHUB_SHA": "head",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "BASE_SHA": base,
        "LOOSENING_APPROVED": "false",
    }
    for item in github_steps():
        if "run" in item and "pip install" not in item["run"]:
            result = run_script(item["run"], repo, env)
            assert result.returncode == 0, f"{item['name']}: {result.stdout}{result.stderr}"
    assert re.search(
        r"^Rego test coverage: \d+(\.\d{1,2})?% \(threshold 90%\)$", (tmp_path / "summary.md").read_text(), re.M
    )


# --- GitLab CI ----------------------------------------------------------------------------------------------------


def test_gitlab_ci_is_valid_yaml_with_policy_and_diff_jobs() -> None:
    document = gitlab_ci()
    assert document["stages"] == ["test", "review"]
    assert {"policy", "policy-diff"} <= set(document)
    script = "\n".join(document["policy"]["script"])
    order = [
        'yaml2rego check "$POLICY_DIR"',
        'yaml2rego compile "$POLICY_DIR" -o "$BUILD_DIR"',
        'opa fmt --list --fail "$BUILD_DIR"',
        'opa check --strict "$BUILD_DIR"',
        'opa test "$BUILD_DIR" --verbose',
        'opa test "$BUILD_DIR" --coverage --format=json',
        'yaml2rego bundle "$POLICY_DIR"',
    ]
    positions = [script.index(command) for command in order]
    assert positions == sorted(positions)
    assert document["policy"]["artifacts"]["reports"]["junit"] == "build/test-results.xml"
    assert "--format junit > build/test-results.xml" in "\n".join(document["policy"]["after_script"])
    assert document["policy-diff"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert document["policy-diff"]["variables"]["GIT_DEPTH"] == "0"
    installs = "\n".join(document["default"]["before_script"])
    assert 'pip install --quiet "$YAML2REGO_SPEC"' in installs and "opa_linux_amd64_static" in installs


@pytest.mark.parametrize(("coverage", "passes"), [(95.25, True), (90.0, True), (89.99, False)])
def test_gitlab_coverage_gate_and_the_coverage_regex(tmp_path: Path, coverage: float, passes: bool) -> None:
    document = gitlab_ci()
    gate = next(line for line in document["policy"]["script"] if "COVERAGE_THRESHOLD" in line)
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "coverage.json").write_text(json.dumps({"coverage": coverage, "files": {}}))
    env = {**document["variables"], "COVERAGE_THRESHOLD": "90"}
    result = run_script(gate, tmp_path, env)
    assert (result.returncode == 0) is passes, result.stdout + result.stderr
    match = re.search(document["policy"]["coverage"].strip("/"), result.stdout)
    assert match is not None and float(match.group(1)) == pytest.approx(coverage, abs=0.01)
    if not passes:
        assert f"Rego coverage {coverage:.2f}% is below 90%" in result.stderr


def run_gitlab_diff(repo: Path, base: str, labels: str) -> subprocess.CompletedProcess[str]:
    document = gitlab_ci()
    env = {
        **document["variables"],
        **document["policy-diff"]["variables"],
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
        "CI_MERGE_REQUEST_LABELS": labels,
    }
    env.pop("POLICY_BOT_TOKEN", None)
    return run_script("\n".join(document["policy-diff"]["script"]), repo, env)


@needs_git
@pytest.mark.parametrize(
    ("labels", "exit_code"),
    [("", 3), ("needs-review", 3), ("policy-loosening-approved-later", 3), ("docs,policy-loosening-approved", 0)],
)
def test_gitlab_diff_job_requires_the_label_for_a_loosening_change(
    base_repo: tuple[Path, str], labels: str, exit_code: int
) -> None:
    repo, base = base_repo
    change_seed(repo, "requests_per_minute: 30", "requests_per_minute: 60")
    result = run_gitlab_diff(repo, base, labels)
    assert result.returncode == exit_code, result.stdout + result.stderr
    assert "| **loosens** | `rate_limit_raised` |" in (repo / "build" / "policy-diff.md").read_text()


@needs_git
def test_gitlab_diff_job_passes_when_nothing_loosens(base_repo: tuple[Path, str]) -> None:
    repo, base = base_repo
    change_seed(repo, "  max_payload_size_kb: 1024", "  # payloads up to 1 MiB\n  max_payload_size_kb: 1024")
    result = run_gitlab_diff(repo, base, "")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No policy changes." in (repo / "build" / "policy-diff.md").read_text()


# --- the example folder does not disturb `yaml2rego check examples/` ------------------------------------------------


def test_ci_examples_are_hidden_from_the_boundary_loader(tmp_path: Path) -> None:
    """The CI files sit in dot-folders, as users place them, which the loader skips when it reads a directory."""
    from yaml2rego.dsl.loader import load_policies

    hidden = [path.relative_to(CI).parts[0] for path in (GITHUB_WORKFLOW, GITLAB_CI)]
    assert all(part.startswith(".") for part in hidden)
    folder = tmp_path / "examples"
    shutil.copytree(CI, folder / "ci")
    shutil.copy(SEED_POLICY, folder / "support_agent.yaml")
    assert load_policies([str(folder)]).agent_ids == ("support_agent_1",)


# --- docs/ci.md ---------------------------------------------------------------------------------------------------

CI_DOC = REPO_ROOT / "docs" / "ci.md"


def doc_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", CI_DOC.read_text(), re.DOTALL)


def test_docs_walkthrough_boundary_is_valid_and_names_the_schema(tmp_path: Path) -> None:
    from yaml2rego.dsl.loader import load_policies

    [boundary] = [block for block in doc_blocks("yaml") if block.startswith("# yaml-language-server: $schema=")]
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "support_agent.yaml").write_text(boundary)
    assert load_policies([str(tmp_path / "policies")]).agent_ids == ("support_agent_1",)
    assert boundary.splitlines()[0].endswith("/yaml2rego/dsl/schema/agent_boundary.schema.json")


def test_docs_precommit_snippet_uses_the_shipped_hook_ids() -> None:
    shipped = {hook["id"] for hook in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())}
    [config] = [yaml.safe_load(block) for block in doc_blocks("yaml") if block.startswith("repos:")]
    [repo] = config["repos"]
    assert repo["rev"] == "COMMIT_SHA" and [hook["id"] for hook in repo["hooks"]] == sorted(shipped)


def test_cli_reference_documents_every_command() -> None:
    import click

    from yaml2rego.cli import main

    def commands(group: click.Group, prefix: str = "") -> list[str]:
        found = []
        for name, command in sorted(group.commands.items()):
            if isinstance(command, click.Group):
                found.extend(commands(command, f"{prefix}{name} "))
            else:
                found.append(f"{prefix}{name}")
        return found

    reference = (REPO_ROOT / "docs" / "cli.md").read_text()
    documented = [name for name in commands(main) if f"`yaml2rego {name}" in reference or f"### {name}" in reference]
    missing = sorted(set(commands(main)) - set(documented))
    assert missing == []
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert code in reference
