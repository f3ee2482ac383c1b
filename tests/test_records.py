"""Decision records: fields, digest, hash chain, tamper detection, rotation, and ``yaml2rego logs verify``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.fake_engine import ScriptedEngine
from yaml2rego.adapters import Decision, Guard, JsonlFileSink, MemorySink, verify_file
from yaml2rego.cli import main
from yaml2rego.errors import SignatureError
from yaml2rego.runtime.records import (
    GENESIS_HASH,
    HashChain,
    build_record,
    content_sha256,
    input_digest,
    is_redacted,
    parse_timestamp,
    record_hash,
    redacted_link,
    verify_log,
    verify_records,
    write_tenant_view,
)

CALL = {"agent_id": "a1", "method": "POST", "path": "/api/ticket/v1", "tool": "open_ticket", "body": {"p": "low"}}


class AllowAll(ScriptedEngine):
    def decide(self, call: Any) -> dict[str, Any]:
        return {"decision": "allow", "allow": True, "reasons": [], "decision_reason": "allowed by test",
                "policy_version": "sha256:00", "agent_id": call.get("agent_id"), "mode": "enforce"}  # fmt: skip


def decision(**overrides: Any) -> Decision:
    fields: dict[str, Any] = {
        "decision": "deny",
        "allow": False,
        "reasons": [{"code": "endpoint_denied", "message": "m", "control": "CC6.1", "rule": "r", "source": "s"}],
        "decision_reason": "m",
        "policy_version": "sha256:ab",
        "agent_id": "a1",
        "mode": "enforce",
        "decision_id": "d-1",
        "engine": "embedded",
        "latency_us": 120,
    }
    return Decision(**{**fields, **overrides})


def write_log(path: Path, count: int, **sink_options: Any) -> None:
    with Guard(AllowAll(), sinks=[JsonlFileSink(path, **sink_options)]) as guard:
        for n in range(count):
            guard.check({**CALL, "path": f"/api/ticket/v1/{n}"})


def test_record_has_the_documented_fields() -> None:
    record = build_record(CALL, decision(approval_id="apr-1"), digest=input_digest(CALL), trace=("t" * 32, "s" * 16))
    assert list(record) == [
        "timestamp", "decision_id", "trace_id", "span_id", "agent_id", "method", "path", "tool", "decision", "allow",
        "enforced", "reasons", "decision_reason", "controls", "policy_version", "mode", "approval_id", "engine",
        "latency_us", "input_sha256",
    ]  # fmt: skip
    assert record["timestamp"].endswith("Z") and record["controls"] == ["CC6.1"]
    assert "body" not in record


def test_bodies_are_logged_only_when_asked() -> None:
    assert build_record(CALL, decision(), digest="x", log_body=True)["body"] == {"p": "low"}


TOOL_CALL = {
    "agent_id": "a1", "tool": "make_payment", "action": "write", "environment": "prod", "requester_role": "treasurer",
    "args": {"amount": 7500, "memo": "ann@example.com"}, "approval_token": "eyJ.secret",
}  # fmt: skip


def test_tool_call_records_name_the_action_environment_and_role_but_not_the_arguments() -> None:
    record = build_record(TOOL_CALL, decision(), digest="x")
    assert list(record)[2:9] == ["agent_id", "method", "path", "tool", "action", "environment", "requester_role"]
    assert (record["action"], record["environment"], record["requester_role"]) == ("write", "prod", "treasurer")
    assert "args" not in record and "eyJ.secret" not in json.dumps(record)


def test_tool_call_fields_that_are_absent_or_null_are_left_out() -> None:
    record = build_record({"agent_id": "a1", "tool": "t", "action": None}, decision(), digest="x")
    assert {"action", "environment", "requester_role"}.isdisjoint(record)


def test_tool_arguments_are_logged_only_when_bodies_are() -> None:
    record = build_record(TOOL_CALL, decision(), digest="x", log_body=True)
    assert record["args"] == {"amount": 7500, "memo": "ann@example.com"}
    assert "eyJ.secret" not in json.dumps(record)


def test_the_guard_records_what_the_tool_call_named() -> None:
    """Through a real guard: the record of a tool call carries its action and environment."""
    sink = MemorySink()
    with Guard(AllowAll(), sinks=[sink]) as guard:
        guard.check({"agent_id": "a1", "tool": "make_payment", "action": "write", "environment": "prod"})
        assert guard.flush(5.0)
    [record] = sink.records
    assert (record["tool"], record["action"], record["environment"]) == ("make_payment", "write", "prod")
    assert "requester_role" not in record


def test_input_digest_ignores_key_order_but_not_content() -> None:
    reordered = dict(reversed(list(CALL.items())))
    assert input_digest(CALL) == input_digest(reordered)
    assert input_digest(CALL) != input_digest({**CALL, "body": {"p": "high"}})


def test_timestamps_parse_to_the_epoch_with_nanosecond_fractions() -> None:
    assert parse_timestamp("1970-01-01T00:00:01.500000000Z") == 1.5
    assert parse_timestamp("1970-01-01T01:00:00+01:00") == 0.0


def test_chain_starts_at_genesis_and_links_each_record() -> None:
    chain = HashChain()
    first, second = chain.seal({"n": 1}), chain.seal({"n": 2})
    assert first["prev_hash"] == GENESIS_HASH and second["prev_hash"] == first["hash"]


def test_a_written_log_verifies(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 5, fsync="always")
    result = verify_file(log)
    assert (result.ok, result.records) == (True, 5)


def tamper(log: Path, index: int, change: Any) -> None:
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    change(lines, index)
    log.write_text("".join(lines), encoding="utf-8")


def edit_decision(lines: list[str], index: int) -> None:
    record = json.loads(lines[index])
    record["decision"] = "deny"
    lines[index] = json.dumps(record) + "\n"


@pytest.mark.parametrize(
    ("change", "line", "problem"),
    [
        pytest.param(edit_decision, 3, "hash does not match", id="edited"),
        pytest.param(lambda lines, i: lines.pop(i), 3, "prev_hash does not match", id="deleted"),
        pytest.param(lambda lines, i: lines.insert(i + 1, lines.pop(i)), 3, "prev_hash", id="reordered"),
        pytest.param(lambda lines, i: lines.__setitem__(i, "{oops\n"), 3, "not a JSON object", id="garbage"),
        pytest.param(lambda lines, i: lines.__setitem__(-1, lines[-1][:-9]), 5, "incomplete", id="torn-last-line"),
    ],
)
def test_verify_names_the_first_broken_record(tmp_path: Path, change: Any, line: int, problem: str) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 5)
    tamper(log, 2, change)
    result = verify_file(log)
    assert not result.ok and result.line == line and problem in str(result.problem)


def test_a_restarted_guard_continues_the_chain_in_the_same_file(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 3)
    write_log(log, 2)
    result = verify_file(log)
    assert (result.ok, result.records) == (True, 5)


def test_rotation_keeps_one_chain_across_files(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 20, max_bytes=4000)
    rotated = sorted(tmp_path.glob("decisions.jsonl.*"), key=lambda p: int(p.suffix[1:]))
    assert len(rotated) >= 2
    files = [str(p) for p in [*rotated, log]]
    result = CliRunner().invoke(main, ["logs", "verify", *files])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 20 records, hash chain intact")
    # Out of order, the link between files breaks.
    result = CliRunner().invoke(main, ["logs", "verify", files[1], files[0]])
    assert result.exit_code == 1 and "prev_hash does not match" in result.output


def test_logs_verify_cli_names_the_broken_record(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 4)
    broken_id = json.loads(log.read_text().splitlines()[1])["decision_id"]
    tamper(log, 1, edit_decision)
    result = CliRunner().invoke(main, ["logs", "verify", str(log)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"{log}:2: broken chain at record 2 (decision_id {broken_id}): "
        "the record's hash does not match its content (the record was altered)"
    )


def test_logs_verify_cli_accepts_an_intact_file(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 1)
    result = CliRunner().invoke(main, ["logs", "verify", str(log)])
    assert result.exit_code == 0 and result.output.startswith("ok: 1 record, hash chain intact")


def test_the_file_holds_the_same_records_as_every_other_sink(tmp_path: Path) -> None:
    memory = MemorySink()
    log = tmp_path / "decisions.jsonl"
    with Guard(AllowAll(), sinks=[JsonlFileSink(log), memory]) as guard:
        for n in range(3):
            guard.check({**CALL, "path": f"/api/ticket/v1/{n}", "body": {"note": "é\u2028"}})
    lines = log.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == memory.records
    assert all(
        line.endswith(f'"hash":"{record["hash"]}"}}') for line, record in zip(lines, memory.records, strict=True)
    )


# -- signed checkpoints ----------------------------------------------------------------------------------------------

SECRET = b"checkpoint-secret-for-the-tests-0123456789"


def ed25519_pair(tmp_path: Path) -> tuple[bytes, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    public = tmp_path / "checkpoint.pub"
    public.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    return pem, public


def signed_log(path: Path, count: int, key: Any, every: int = 4) -> None:
    with Guard(AllowAll(), sinks=[JsonlFileSink(path)], checkpoint_key=key, checkpoint_every=every) as guard:
        for n in range(count):
            guard.check({**CALL, "path": f"/api/ticket/v1/{n}"})


def forge_append(lines: list[str]) -> None:
    """A record copied from the log, given a new id and linked to the last line: a valid unkeyed chain."""
    forged = json.loads(lines[0])
    forged.update(decision_id="forged", prev_hash=json.loads(lines[-1])["hash"])
    forged.pop("hash")
    forged["hash"] = HashChain(forged["prev_hash"]).seal(dict(forged))["hash"]
    lines.append(json.dumps(forged) + "\n")


def rewrite_with_new_hashes(lines: list[str]) -> None:
    """Edit the first record and recompute every hash after it: the unkeyed chain verifies, the signatures do not."""
    chain = HashChain()
    for index, line in enumerate(lines):
        record = json.loads(line)
        if index == 0:
            record["decision"] = "deny"
        signature = record.pop("signature", None)
        chain.seal(record)
        if signature is not None:
            record["signature"] = signature
        lines[index] = json.dumps(record) + "\n"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(lambda lines: lines.pop(), "not a closing one", id="closing-checkpoint-cut"),
        pytest.param(lambda lines: [lines.pop() for _ in range(3)], "not covered by a signature", id="records-cut"),
        pytest.param(forge_append, "1 record after the last signed checkpoint", id="forged-append"),
        pytest.param(rewrite_with_new_hashes, "signature does not verify", id="rewritten"),
    ],
)
@pytest.mark.parametrize("kind", ["hmac", "ed25519"])
def test_a_key_shows_what_an_unkeyed_chain_cannot(tmp_path: Path, change: Any, problem: str, kind: str) -> None:
    """Cutting the end, appending a well-linked forgery, or rewriting every hash: the chain alone passes, the key
    does not."""
    log = tmp_path / "decisions.jsonl"
    if kind == "hmac":
        signing: Any = SECRET
        key_file = tmp_path / "secret"
        key_file.write_bytes(SECRET)
    else:
        signing, key_file = ed25519_pair(tmp_path)
    signed_log(log, 12, signing)
    ok = CliRunner().invoke(main, ["logs", "verify", str(log), "--verification-key", str(key_file)])
    assert ok.exit_code == 0 and "signed up to the closing checkpoint (4 checkpoints" in ok.output, ok.output
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    change(lines)
    log.write_text("".join(lines), encoding="utf-8")
    assert CliRunner().invoke(main, ["logs", "verify", str(log)]).exit_code == 0  # unkeyed: nothing to see
    result = CliRunner().invoke(main, ["logs", "verify", str(log), "--verification-key", str(key_file)])
    assert result.exit_code == 1 and problem in result.output, result.output


def test_an_expected_head_kept_elsewhere_shows_a_cut_back_to_a_checkpoint(tmp_path: Path) -> None:
    """Cut back to an earlier checkpoint and drop the closing one: only an anchor kept outside the log shows it."""
    log = tmp_path / "decisions.jsonl"
    signed_log(log, 10, SECRET)
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    head = json.loads(lines[-1])["hash"]
    cut = max(n for n, line in enumerate(lines[:-1]) if '"checkpoint"' in line)
    log.write_text("".join(lines[: cut + 1]), encoding="utf-8")
    result = CliRunner().invoke(main, ["logs", "verify", str(log), "--expected-head", head])
    assert result.exit_code == 1 and f"the expected head {head} is not in the log" in result.output
    intact = tmp_path / "intact.jsonl"
    intact.write_text("".join(lines), encoding="utf-8")
    assert CliRunner().invoke(main, ["logs", "verify", str(intact), "--expected-head", head]).exit_code == 0


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param(b"short", "at least 32 bytes", id="short-secret"),
        pytest.param(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n", "not a usable PEM", id="bad-pem"),
    ],
)
def test_a_bad_verification_key_is_a_clear_error(tmp_path: Path, key: bytes, message: str) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 1)
    key_file = tmp_path / "key"
    key_file.write_bytes(key)
    result = CliRunner().invoke(main, ["logs", "verify", str(log), "--verification-key", str(key_file)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_record_files_are_private_to_their_owner(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 1)
    assert log.stat().st_mode & 0o777 == 0o600


# --- links and redaction -------------------------------------------------------------------------------------------


def _tenant_chain() -> list[dict[str, Any]]:
    chain = HashChain()
    return [
        chain.seal({"decision_id": f"d-{n}", "tenant": tenant, "agent_id": f"{tenant}_agent", "path": f"/{tenant}/x"})
        for n, tenant in enumerate(["acme", "globex", "globex", "acme", "globex"])
    ]


def test_a_link_covers_the_content_only_through_its_digest() -> None:
    [first, *_] = _tenant_chain()
    assert first["content_sha256"] == content_sha256(first)
    assert first["hash"] == record_hash(first)
    assert verify_records(_tenant_chain()).ok


def test_a_sealed_line_is_the_record() -> None:
    record = {"decision_id": "d-1", "tenant": "acme"}
    line = HashChain().seal_encoded(record)
    assert json.loads(line) == record and line.endswith(b"\n")
    assert HashChain().seal_encoded({}).startswith(b'{"content_sha256":')


def test_records_written_before_links_still_verify_but_cannot_be_redacted() -> None:
    old = {"decision_id": "d-1", "tenant": "globex", "prev_hash": GENESIS_HASH}
    old["hash"] = hashlib.sha256(json.dumps(old, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert verify_records([old]).ok
    with pytest.raises(SignatureError, match="written before redactable links"):
        redacted_link(old)


def test_redacted_links_keep_the_chain_and_show_no_content() -> None:
    records = _tenant_chain()
    view = [r if r["tenant"] == "acme" else redacted_link(r) for r in records]
    assert verify_records(view).ok
    assert [is_redacted(r) for r in view] == [False, True, True, False, True]
    assert "globex" not in json.dumps([r for r in view if is_redacted(r)])


# How one tenant's view of a log can be tampered with, and what verify_log says (with tenant="acme").
def _alter_own(view: list[dict[str, Any]]) -> None:
    view[0]["path"] = "/acme/other"


def _relink_after_altering(view: list[dict[str, Any]]) -> None:
    """Change a record, then recompute its link and point the next (redacted) link at it."""
    view[0]["path"] = "/acme/other"
    view[0]["hash"] = record_hash(view[0])
    view[1]["prev_hash"] = view[0]["hash"]


def _hide_own(view: list[dict[str, Any]]) -> None:
    view[3] = redacted_link(view[3])


def _disguise_redacted(view: list[dict[str, Any]]) -> None:
    view[1]["tenant_sha256"] = "0" * 64


def _show_other(view: list[dict[str, Any]]) -> None:
    view[1] = _tenant_chain()[1]


VIEW_TAMPERING = [
    pytest.param(_alter_own, "altered", id="own-record-changed"),
    pytest.param(_relink_after_altering, "altered", id="own-record-changed-and-relinked"),
    pytest.param(lambda view: view.pop(1), "prev_hash does not match", id="redacted-link-removed"),
    pytest.param(lambda view: view.pop(3), "prev_hash does not match", id="own-record-removed"),
    pytest.param(_hide_own, "a record of tenant acme is redacted", id="own-record-hidden-as-redacted"),
    pytest.param(_disguise_redacted, "altered", id="redacted-link-changed"),
    pytest.param(_show_other, "not tenant acme's is shown in full", id="other-tenants-record-in-full"),
]


@pytest.mark.parametrize(("tamper", "problem"), VIEW_TAMPERING)
def test_a_tampered_tenant_view_fails(tmp_path: Path, tamper: Any, problem: str) -> None:
    records = _tenant_chain()
    view = [dict(r) if r["tenant"] == "acme" else redacted_link(r) for r in records]
    tamper(view)
    log = tmp_path / "view.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in view))
    report = verify_log([log], tenant="acme")
    assert not report.ok and problem in str(report.problem), report


def test_an_intact_tenant_view_verifies_and_counts_its_redacted_links(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in _tenant_chain()))
    view = write_tenant_view([log], "acme", tmp_path / "view")
    assert (view.records, view.redacted, view.checkpoints) == (2, 3, 0)
    report = verify_log(view.files, tenant="acme")
    assert (report.ok, report.records, report.redacted) == (True, 5, 3)
    assert b"globex" not in view.files[0].read_bytes()
    result = CliRunner().invoke(main, ["logs", "verify", str(view.files[0]), "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    assert "5 records (3 redacted: their links verified, content left out; none of tenant acme's)" in result.output
    # The whole log is no tenant's view: the other tenants' records are shown in full.
    whole = CliRunner().invoke(main, ["logs", "verify", str(log), "--tenant", "acme"])
    assert whole.exit_code == 1 and "not tenant acme's is shown in full" in whole.output
