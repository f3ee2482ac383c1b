"""The command line, through click's CliRunner: exit codes and exact messages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from yaml2rego.cli import main
from yaml2rego.cli._base import ErrorMappingGroup
from yaml2rego.errors import CompileError

from .conftest import REPO_ROOT, SEED_POLICY

UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_check_accepts_the_seed(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", str(SEED_POLICY)])
    assert result.exit_code == 0
    assert result.output == "ok: 1 agent boundary valid\n"


def test_check_reports_file_line_col_and_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent_boundary:\n  agent_id: a\n  allowed_endpoint:\n    - {method: GET, path: /x}\n")
    result = runner.invoke(main, ["check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:3:3:" in result.output
    assert "did you mean 'allowed_endpoints'?" in result.output
    assert "Traceback" not in result.output


def test_check_reports_yaml_syntax_errors_without_traceback(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("agent_boundary:\n  agent_id: [unclosed\n")
    result = runner.invoke(main, ["check", str(bad)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{bad}:")
    assert "Traceback" not in result.output


def test_missing_file_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", "no/such/file.yaml"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_compile_writes_a_loadable_directory(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(main, ["compile", str(SEED_POLICY), "-o", str(out), "--policy-version", "v9"])
    assert result.exit_code == 0, result.output
    assert "policy_version v9" in result.output
    assert (out / "agent_boundary" / "decision.rego").is_file()
    assert (out / "agents" / "support_agent_1" / "policy_test.rego").is_file()
    assert json.loads((out / "boundaries" / "data.json").read_text())["policy_version"] == "v9"


def test_compile_removes_files_of_agents_that_no_longer_exist(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stale = out / "agents" / "retired_agent" / "policy.rego"
    stale.parent.mkdir(parents=True)
    stale.write_text("package agents.retired_agent\n")
    result = runner.invoke(main, ["compile", str(SEED_POLICY), "-o", str(out)])
    assert result.exit_code == 0
    assert not stale.exists()
    assert "removed 1 stale file\n" in result.output


def test_compile_again_into_its_own_output_with_tenants_removes_a_tenant_that_is_gone(
    runner: CliRunner, tmp_path: Path
) -> None:
    """Tenants' data (tenants/<tenant>/data.json) is the output's own: compiling again neither refuses it as a foreign
    file nor keeps the data of a tenant that no longer exists."""
    out = tmp_path / "out"
    tenants = REPO_ROOT / "tests" / "fixtures" / "tenants"
    assert runner.invoke(main, ["compile", str(tenants), "-o", str(out)]).exit_code == 0
    assert (out / "tenants" / "globex" / "data.json").is_file()
    result = runner.invoke(main, ["compile", str(tenants / "acme.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "stale files" in result.output  # globex's data and its agent's modules
    assert (out / "tenants" / "acme" / "data.json").is_file()
    assert not (out / "tenants" / "globex").exists()


def test_compile_removes_stale_files_at_any_depth_and_the_folders_they_leave_empty(
    runner: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert runner.invoke(main, ["compile", str(SEED_POLICY), "-o", str(out)]).exit_code == 0
    kept = sorted(path.relative_to(out).as_posix() for path in out.rglob("*"))
    stale = [
        out / "agents" / "support_agent_1" / "old_helper.rego",  # beside files that stay
        out / "agents" / "retired" / "deep" / "policy.rego",  # a folder that empties completely
        out / "boundaries" / "notes.txt",
    ]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("stale\n")
    result = runner.invoke(main, ["compile", str(SEED_POLICY), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "removed 3 stale files" in result.output
    assert sorted(path.relative_to(out).as_posix() for path in out.rglob("*")) == kept


_COMPILE_COUNTING_FORKS = """
import os, sys
from yaml2rego.cli import main
forks = []
real_fork = os.fork
def counted_fork():
    forks.append(1)
    return real_fork()
os.fork = counted_fork
sys.argv[0] = "yaml2rego"
try:
    main()
finally:
    sys.stderr.write(f"forks: {len(forks)}\\n")
"""

_WORD_AGENT = """agent_boundary:
  agent_id: word_agent
  allowed_endpoints:
    - {method: POST, path: /notes}
  input_validation:
    - endpoint: /notes
      rules:
        - {field: title, type: string, pattern: '^\\w+$'}
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_compile_of_many_agents_in_two_processes_writes_and_reports_what_one_process_does(tmp_path: Path) -> None:
    """From 100 agents on `compile` forks (tests rendered, native programs built in a second process): the files
    and every line it prints are those of the one-process compile. Run as a command, where a fork is safe."""
    import subprocess
    import sys

    from yaml2rego.compile.compiler import compile_policy_set
    from yaml2rego.compile.native_program import native_support
    from yaml2rego.dsl.loader import load_policies

    policies = tmp_path / "policies"
    policies.mkdir()
    seed = SEED_POLICY.read_text()
    for index in range(119):
        (policies / f"agent_{index:03d}.yaml").write_text(seed.replace("support_agent_1", f"agent_{index}", 1))
    (policies / "word_agent.yaml").write_text(_WORD_AGENT)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-c", _COMPILE_COUNTING_FORKS, "compile", str(policies), "-o", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # The tests, and the native programs, each in a second process: where there is a second core to run it.
    assert result.stderr == f"forks: {2 if (os.cpu_count() or 1) > 1 else 0}\n"

    compiled = compile_policy_set(load_policies([policies]))
    support = native_support(compiled.data_document())
    assert sorted(reason for reason in support.values() if reason) == ["\\w (a word class) is not translated"]
    assert result.stdout == (
        f"wrote {len(compiled.files)} files for 120 agents to {out} (policy_version {compiled.policy_version})\n"
        "native decision programs: 119 of 120 agents\n"
        "  word_agent: decided by regorus (\\w (a word class) is not translated)\n"
    )
    written = {path.relative_to(out).as_posix(): path.read_bytes() for path in out.rglob("*") if path.is_file()}
    assert written == dict(compiled.files)


@pytest.mark.parametrize(
    "form",
    ["object", "array", "jsonl"],
)
def test_eval_reads_json_object_array_and_lines(runner: CliRunner, tmp_path: Path, form: str) -> None:
    calls = [
        {"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"},
        {"agent_id": "support_agent_1", "method": "DELETE", "path": "/api/customer/v1/42"},
    ]
    if form == "object":
        calls = calls[:1]
        text = json.dumps(calls[0])
    elif form == "array":
        text = json.dumps(calls)
    else:
        text = "\n".join(json.dumps(c) for c in calls) + "\n"
    source = tmp_path / "calls.json"
    source.write_text(text)
    result = runner.invoke(main, ["eval", str(SEED_POLICY), "--input", str(source)])
    assert result.exit_code == 0, result.output
    decisions = [json.loads(line) for line in result.output.splitlines()]
    assert [d["decision"] for d in decisions] == ["allow", "deny"][: len(calls)]


def test_eval_reads_stdin(runner: CliRunner) -> None:
    line = json.dumps(
        {
            "agent_id": "support_agent_1",
            "method": "POST",
            "path": "/api/ticket/v1/",
            "body": {"customer_id": UUID, "priority": "urgent"},
        }
    )
    result = runner.invoke(main, ["eval", str(SEED_POLICY), "--input", "-"], input=line)
    assert result.exit_code == 0
    decision = json.loads(result.output)
    assert decision["decision"] == "deny"
    assert "priority" in decision["decision_reason"]


def test_eval_names_the_bad_json_line(runner: CliRunner) -> None:
    text = json.dumps({"agent_id": "a", "method": "GET", "path": "/"}) + "\n{not json\n"
    result = runner.invoke(main, ["eval", str(SEED_POLICY), "--input", "-"], input=text)
    assert result.exit_code == 1
    assert "<stdin>:2:2: not JSON" in result.output


def test_eval_on_unreachable_opa_is_a_clear_error(runner: CliRunner) -> None:
    line = json.dumps({"agent_id": "support_agent_1", "method": "GET", "path": "/"})
    result = runner.invoke(
        main,
        ["eval", str(SEED_POLICY), "--input", "-", "--opa-url", "http://127.0.0.1:9", "--timeout", "0.5"],
        input=line,
    )
    assert result.exit_code == 1
    assert "error: OPA at http://127.0.0.1:9 is unreachable" in result.output


def test_test_command_passes_for_the_seed(runner: CliRunner) -> None:
    result = runner.invoke(main, ["test", str(SEED_POLICY), "--engine", "embedded"])
    assert result.exit_code == 0, result.output
    assert " passed, 0 failed" in result.output.splitlines()[-1]


def test_test_command_fails_on_a_wrong_user_expectation(runner: CliRunner, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "agent_boundary:\n  agent_id: a\n  allowed_endpoints:\n    - {method: GET, path: /x}\n"
        "  tests:\n    - name: wrong expectation\n      input: {method: GET, path: /x}\n      expect: deny\n"
    )
    result = runner.invoke(main, ["test", str(policy), "--engine", "embedded"])
    assert result.exit_code == 1
    assert "FAIL data.agents.a_test.test_user_wrong_expectation" in result.output
    assert "1 failed" in result.output


@pytest.mark.parametrize("output_format", ["json", "junit"])
def test_test_command_machine_formats(runner: CliRunner, output_format: str) -> None:
    result = runner.invoke(main, ["test", str(SEED_POLICY), "--engine", "embedded", "--format", output_format])
    assert result.exit_code == 0
    if output_format == "json":
        report = json.loads(result.output)
        assert report["passed"] is True and report["failed"] == 0 and report["total"] > 10
    else:
        import xml.etree.ElementTree as ET

        root = ET.fromstring(result.output)
        assert root.tag == "testsuites" and int(root.get("failures", "1")) == 0


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("yaml2rego, version ")


def test_show_prints_the_review_module(runner: CliRunner) -> None:
    result = runner.invoke(main, ["show", str(SEED_POLICY), "--agent", "support_agent_1"])
    assert result.exit_code == 0
    assert "package agents.support_agent_1\n" in result.output
    assert "denied_endpoints[1]: DELETE /api/*" in result.output


def test_show_markdown_lists_rules_with_controls_and_sources(runner: CliRunner) -> None:
    result = runner.invoke(main, ["show", str(SEED_POLICY), "--agent", "support_agent_1", "--format", "markdown"])
    assert result.exit_code == 0
    assert "| `denied_endpoints[1]` | deny | `DELETE /api/*` | CC6.1 | " in result.output
    assert "field `priority` is one of low, medium, high" in result.output


def test_show_unknown_agent_lists_the_known_ones(runner: CliRunner) -> None:
    result = runner.invoke(main, ["show", str(SEED_POLICY), "--agent", "nobody"])
    assert result.exit_code == 1
    assert result.output == "error: no boundary for agent 'nobody' (agents: support_agent_1)\n"


# --- one place maps errors to messages and exit codes -------------------------------------------------------------


def _group_raising(error: BaseException) -> click.Group:
    @click.group(cls=ErrorMappingGroup)
    def root() -> None:
        pass

    @root.group()
    def nested() -> None:
        pass

    @nested.command()
    def boom() -> None:
        raise error

    return root


@pytest.mark.parametrize(
    ("error", "message"),
    [
        pytest.param(CompileError("two agents share a module"), "error: two agents share a module\n", id="yaml2rego"),
        pytest.param(
            FileNotFoundError(2, "No such file or directory", "x.yaml"),
            "error: No such file or directory: x.yaml\n",
            id="file",
        ),
        pytest.param(
            KeyError("kid"), "error: unexpected KeyError: 'kid' (set YAML2REGO_DEBUG=1 to see where)\n", id="unexpected"
        ),
    ],
)
def test_every_error_of_a_nested_command_becomes_one_line_and_exit_1(
    error: BaseException, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("YAML2REGO_DEBUG", raising=False)
    result = CliRunner().invoke(_group_raising(error), ["nested", "boom"])
    assert (result.exit_code, result.output) == (1, message)


def test_debug_shows_the_traceback_of_an_unexpected_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YAML2REGO_DEBUG", "1")
    result = CliRunner().invoke(_group_raising(KeyError("kid")), ["nested", "boom"])
    assert isinstance(result.exception, KeyError)


def test_approve_with_a_key_file_that_is_no_key_says_so(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("not a key\n")
    (tmp_path / "store.json").write_text("{}")
    result = runner.invoke(
        main, ["approve", "apr-1", "--store", str(tmp_path / "store.json"), "--key-file", str(tmp_path / "bad.pem")]
    )
    assert (result.exit_code, result.output) == (
        1,
        f"error: --key-file {tmp_path / 'bad.pem'} is not an unencrypted PEM private key\n",
    )


def test_approvals_list_on_a_missing_store_is_an_error_not_an_empty_list(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "approvals.json"
    result = runner.invoke(main, ["approvals", "list", "--store", str(missing)])
    assert result.exit_code == 1
    assert (
        result.output
        == f"error: no approval store at {missing}: no request was opened there yet, or the path is wrong\n"
    )


def test_compile_refuses_a_directory_holding_an_older_output_below_it(runner: CliRunner, tmp_path: Path) -> None:
    """`-o build` over an earlier `-o build/policy`: OPA would load both trees, so nothing would load."""
    assert runner.invoke(main, ["compile", str(SEED_POLICY), "-o", str(tmp_path / "build" / "policy")]).exit_code == 0
    result = runner.invoke(main, ["compile", str(SEED_POLICY), "-o", str(tmp_path / "build")])
    assert result.exit_code == 1
    assert result.output.startswith(
        f"error: {tmp_path / 'build'} already holds files that are not part of this output "
        "(policy/agent_boundary/conditions/conditions.rego, "
    )
    assert not (tmp_path / "build" / "agent_boundary").exists()


@pytest.mark.parametrize("threshold", ["-1", "150"])
def test_test_refuses_a_coverage_threshold_outside_0_to_100(runner: CliRunner, threshold: str) -> None:
    result = runner.invoke(main, ["test", str(SEED_POLICY), "--coverage", "--threshold", threshold])
    assert result.exit_code == 2
    assert "is not in the range 0<=x<=100" in result.output


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    """`yaml2rego eval … | head -1`: a closed pipe is exit 1 with nothing on stderr, not `error: Broken pipe`."""
    import subprocess
    import sys

    calls = tmp_path / "calls.jsonl"
    line = json.dumps({"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"})
    calls.write_text((line + "\n") * 5000)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from yaml2rego.cli import main; main()",
            "eval",
            str(SEED_POLICY),
            "--input",
            str(calls),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert json.loads(process.stdout.readline())["decision"] == "allow"
    process.stdout.close()
    stderr = process.stderr.read()
    assert (process.wait(timeout=60), stderr) == (1, b"")


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "Ed25519"])
def test_keygen_writes_a_private_key_only_its_owner_reads_and_its_public_key(
    runner: CliRunner, tmp_path: Path, algorithm: str
) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

    result = runner.invoke(main, ["keygen", "--algorithm", algorithm, "-o", str(tmp_path / "keys")])
    private, public = tmp_path / "keys" / "private.pem", tmp_path / "keys" / "public.pem"
    assert (result.exit_code, result.output) == (
        0,
        f"wrote {private} (private, {algorithm}, mode 0600) and {public} (public)\n",
    )
    assert private.stat().st_mode & 0o777 == 0o600
    key = load_pem_private_key(private.read_bytes(), password=None)
    assert load_pem_public_key(public.read_bytes()) == key.public_key()


def test_keygen_never_replaces_a_key(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(main, ["keygen", "-o", str(tmp_path)]).exit_code == 0
    before = (tmp_path / "private.pem").read_bytes()
    result = runner.invoke(main, ["keygen", "-o", str(tmp_path)])
    assert (result.exit_code, result.output) == (
        1,
        f"error: {tmp_path / 'public.pem'} already exists: keygen never replaces a key\n",
    )
    assert (tmp_path / "private.pem").read_bytes() == before


def test_a_keygen_key_signs_a_bundle_that_verifies(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(main, ["keygen", "--algorithm", "ES256", "-o", str(tmp_path)]).exit_code == 0
    bundle = tmp_path / "bundle.tar.gz"
    built = runner.invoke(
        main,
        [
            "bundle",
            str(SEED_POLICY),
            "-o",
            str(bundle),
            "--signing-key",
            str(tmp_path / "private.pem"),
            "--signing-alg",
            "ES256",
        ],
    )
    assert built.exit_code == 0, built.output
    verified = runner.invoke(
        main, ["verify", str(bundle), "--verification-key", str(tmp_path / "public.pem"), "--signing-alg", "ES256"]
    )
    assert verified.exit_code == 0 and verified.output.startswith(f"ok: {bundle} verified")


def test_logs_verify_of_an_empty_log_is_an_error_not_ok(runner: CliRunner, tmp_path: Path) -> None:
    empty = tmp_path / "decisions.jsonl"
    empty.write_text("")
    result = runner.invoke(main, ["logs", "verify", str(empty)])
    assert (result.exit_code, result.output) == (
        1,
        f"error: {empty} holds no decision records: there is nothing to verify\n",
    )
