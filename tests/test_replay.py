"""Replay against a candidate policy, shadow divergence in the guard, and the evidence manifest and report's safety."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from yaml2rego.adapters import Guard
from yaml2rego.audit.evidence import EvidenceInputs, build_evidence, parse_when
from yaml2rego.cli import main
from yaml2rego.engines.embedded import EmbeddedEngine
from yaml2rego.errors import EngineError
from yaml2rego.runtime.shadow import candidate_verdict, policy_outcome

POLICY = """\
agent_boundary:
  agent_id: a1
  allowed_endpoints:
    - {method: GET, path: "/api/v1/*"}
"""
WIDER = POLICY + '    - {method: GET, path: "/api/v2/*"}\n'


def _log(tmp_path: Path, *, record_input: bool, calls: list[dict[str, Any]]) -> Path:
    (tmp_path / "policy.yaml").write_text(POLICY)
    log = tmp_path / "decisions.jsonl"
    with Guard.from_policy([tmp_path / "policy.yaml"], engine="embedded", log_file=log, record_input=record_input) as g:
        for call in calls:
            g.check(call)
    return log


CALLS = [
    {"agent_id": "a1", "method": "GET", "path": "/api/v1/x"},
    {"agent_id": "a1", "method": "GET", "path": "/api/v2/x"},
    {"agent_id": "a1", "method": "GET", "path": "/api/v2/y", "approval_token": "secret-token"},
]


@pytest.mark.parametrize(
    ("record", "outcome"),
    [
        ({"decision": "deny", "reasons": [{"code": "rate_limit_exceeded"}]}, "allow"),
        ({"decision": "deny", "reasons": [{"code": "budget_exceeded"}, {"code": "endpoint_denied"}]}, "deny"),
        ({"decision": "sanitize", "reasons": [{"code": "sensitive_data_redacted"}]}, "sanitize"),
        ({"decision": "allow", "reasons": []}, "allow"),
    ],
    ids=["runtime-only-deny-was-a-policy-allow", "a-policy-reason-stays-deny", "sanitize", "allow"],
)
def test_policy_outcome_takes_the_runtime_out(record: dict[str, Any], outcome: str) -> None:
    assert policy_outcome(record) == outcome


def test_replay_exits_3_when_the_candidate_loosens_and_0_when_it_does_not(tmp_path: Path) -> None:
    log = _log(tmp_path, record_input=True, calls=CALLS)
    (tmp_path / "wider.yaml").write_text(WIDER)
    runner = CliRunner()
    wider = runner.invoke(main, ["replay", str(log), "--policy", str(tmp_path / "wider.yaml")])
    assert wider.exit_code == 3, wider.output
    assert "LOOSENS   a1 allowed_endpoints[1]: deny -> allow (2 calls" in wider.output
    same = runner.invoke(main, ["replay", str(log), "--policy", str(tmp_path / "policy.yaml"), "--format", "markdown"])
    assert same.exit_code == 0 and "3 replayed against" in same.output and "0 would flip" in same.output
    assert "secret-token" not in log.read_text()  # the kept input never holds the override token


def test_replay_says_what_it_could_not_replay(tmp_path: Path) -> None:
    log = _log(tmp_path, record_input=False, calls=CALLS)
    result = CliRunner().invoke(main, ["replay", str(log), "--policy", str(tmp_path / "policy.yaml")])
    assert result.exit_code == 0
    assert "3 not replayed: no input recorded (only its digest): run the guard with record_input=True" in result.output


def test_replay_refuses_a_broken_log_unless_told(tmp_path: Path) -> None:
    log = _log(tmp_path, record_input=True, calls=CALLS)
    log.write_text(log.read_text().replace('"path":"/api/v1/x"', '"path":"/api/v2/x"', 1))  # the kept input
    (tmp_path / "wider.yaml").write_text(WIDER)
    runner = CliRunner()
    refused = runner.invoke(main, ["replay", str(log), "--policy", str(tmp_path / "wider.yaml")])
    assert refused.exit_code == 1 and "the record log does not verify" in refused.output
    anyway = runner.invoke(main, ["replay", str(log), "--policy", str(tmp_path / "wider.yaml"), "--no-verify"])
    assert anyway.exit_code == 3  # the edited record's kept input no longer matches its digest: it is skipped
    assert "1 not replayed: the kept input does not match the record's input_sha256" in anyway.output


def test_a_compiled_directory_is_a_candidate_too(tmp_path: Path) -> None:
    log = _log(tmp_path, record_input=True, calls=CALLS)
    (tmp_path / "wider.yaml").write_text(WIDER)
    compiled = CliRunner().invoke(main, ["compile", str(tmp_path / "wider.yaml"), "-o", str(tmp_path / "out")])
    assert compiled.exit_code == 0, compiled.output
    result = CliRunner().invoke(main, ["replay", str(log), "--policy", str(tmp_path / "out"), "--format", "json"])
    assert result.exit_code == 3 and json.loads(result.output)["loosens"] is True


class _Broken:
    name = "broken"

    def decide(self, call: Any) -> dict[str, Any]:
        raise EngineError("the candidate exploded")


def test_a_failing_candidate_is_recorded_and_never_changes_the_call(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    log = tmp_path / "decisions.jsonl"
    with Guard.from_policy([tmp_path / "policy.yaml"], engine="embedded", log_file=log, candidate=_Broken()) as g:
        assert g.check(CALLS[0]).allow
    [record] = [json.loads(line) for line in log.read_text().splitlines() if '"decision"' in line]
    assert (record["diverged"], record["candidate_error"]) == (False, "the candidate exploded")


def test_divergence_compares_the_policy_answer() -> None:
    engine = EmbeddedEngine.from_policy_paths([Path("examples/support_agent.yaml")])
    call = {"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/1"}
    rate_limited = {"decision": "deny", "reasons": [{"code": "rate_limit_exceeded"}]}
    suspended = {"decision": "deny", "reasons": [{"code": "agent_suspended"}]}
    assert candidate_verdict(engine, call, rate_limited)["diverged"] is False
    assert candidate_verdict(engine, call, suspended)["diverged"] is False  # not comparable: the switch answered
    assert candidate_verdict(engine, call, {"decision": "deny", "reasons": [{"code": "endpoint_denied"}]})["diverged"]
    engine.close()


def test_hostile_record_fields_are_escaped_in_the_report(tmp_path: Path) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    log = _log(tmp_path, record_input=False, calls=[{"agent_id": hostile, "method": "GET", "path": "/x"}])
    since = parse_when("2000-01-01")
    result = build_evidence(EvidenceInputs(since, parse_when("2100-01-01", end=True), logs=[log]), tmp_path / "ev")
    page = result.report.read_text()
    assert hostile not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: (d / "raw" / "extra.txt").write_text("x"), "raw/extra.txt: a file that is not in the manifest"),
        (lambda d: (d / "report.html").unlink(), "report.html: listed in the manifest but missing"),
        (
            lambda d: (d / "manifest.sig").write_text("AAAA\n"),
            "the manifest's signature does not verify with the given key",
        ),
    ],
    ids=["added-file", "removed-file", "forged-signature"],
)
def test_the_manifest_catches_changes(tmp_path: Path, change: Any, message: str) -> None:
    log = _log(tmp_path, record_input=False, calls=CALLS[:1])
    key = tmp_path / "key"
    key.write_bytes(b"k" * 32)
    runner = CliRunner()
    out = tmp_path / "ev"
    args = ["evidence", "--from", "2000-01-01", "--to", "2100-01-01", "-o", str(out), "--log", str(log)]
    assert runner.invoke(main, [*args, "--signing-key", str(key)]).exit_code == 0
    change(out)
    checked = runner.invoke(main, ["evidence", "verify", str(out), "--verification-key", str(key)])
    assert (checked.exit_code, checked.output) == (1, f"error: {message}\n")


def test_evidence_without_its_period_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["evidence", "-o", str(tmp_path / "ev")])
    assert (result.exit_code, result.output) == (2, "error: missing --from, --to\n")


def test_a_bundle_is_a_candidate_too(tmp_path: Path) -> None:
    log = _log(tmp_path, record_input=True, calls=CALLS)
    (tmp_path / "wider.yaml").write_text(WIDER)
    bundle = tmp_path / "wider.tar.gz"
    built = CliRunner().invoke(main, ["bundle", str(tmp_path / "wider.yaml"), "-o", str(bundle), "--revision", "v2"])
    assert built.exit_code == 0, built.output
    result = CliRunner().invoke(main, ["replay", str(log), "--policy", str(bundle), "--format", "json"])
    assert result.exit_code == 3, result.output
    report = json.loads(result.output)
    assert (report["candidate_policy_version"], report["flips"][0]["count"]) == ("v2", 2)
