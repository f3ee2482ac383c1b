"""End to end: two tenants' traffic through one guard into one signed record log and alert history, then the evidence
package of one tenant: only its agents, records, alerts and policy history, no byte of the other's, and a chain that
still verifies end to end (rendered in headless Chromium like the whole package)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.test_evidence_e2e import CHROMIUM, _chromium, _Text
from yaml2rego.adapters import Guard
from yaml2rego.bundles.bundle import bundle_policies
from yaml2rego.bundles.history import append_entry
from yaml2rego.canonical_json import canonical_lenient
from yaml2rego.cli import main
from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.dsl.loader import load_policies
from yaml2rego.errors import EvidenceError
from yaml2rego.runtime.alerts import AlertSink, load_alert_rules
from yaml2rego.runtime.records import GENESIS_HASH, CheckpointKey, record_hash
from yaml2rego.runtime.sinks.file import JsonlFileSink

pytest.importorskip("pygal", reason="the evidence report's charts need pygal: pip install 'yaml2rego[evidence]'")

DAY = datetime(2026, 11, 3, tzinfo=UTC)
ACME = """\
agent_boundary:
  agent_id: acme_support
  allowed_endpoints:
    - {method: GET, path: "/api/tickets/*"}
  denied_endpoints:
    - {method: "*", path: "/api/admin/*"}
  alerts:
    - {name: admin-probe, severity: critical, codes: [endpoint_denied], path: "/api/admin/*"}
"""
# Everything of the other tenant that must never reach acme's package: its name, agent id, paths, reasons.
GLOBEX = """\
agent_boundary:
  agent_id: globex_ledger_bot
  allowed_endpoints:
    - {method: GET, path: "/api/globex-ledger/*"}
  denied_endpoints:
    - {method: "*", path: "/api/globex-vault/*"}
  alerts:
    - {name: vault-probe, severity: critical, codes: [endpoint_denied], path: "/api/globex-vault/*"}
"""
SECRETS = (b"globex", b"ledger", b"vault", b"INC-GX-9")
ALERTS = """\
alerts:
  rules:
    - {name: kill-switch, severity: high, event: agent_suspended}
"""


def _pem_pair(path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    (path / "checkpoint.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (path / "checkpoint.pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _history(tmp_path: Path, policies: Path, name: str, tenant: str | None) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / f"{name}.pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    path = tmp_path / f"{name}.jsonl"
    bundle = bundle_policies([policies], tenant=tenant, reviewer="alice", approval_id="PR-7")
    append_entry(path, bundle, key=private, author="dev", timestamp=DAY - timedelta(days=1))
    return path


@pytest.fixture
def tenants(tmp_path: Path) -> dict[str, Any]:
    """Both tenants' calls through one guard serving both (the tenant of each call named beside it, as Envoy's
    route configuration does): one record log, one alert history, a kill switch pulled on each tenant's agent."""
    policies = tmp_path / "tenants"
    for tenant, text in (("acme", ACME), ("globex", GLOBEX)):
        (policies / tenant).mkdir(parents=True)
        (policies / tenant / "_tenant.yaml").write_text(f"tenant: {tenant}\n")
        (policies / tenant / "agents.yaml").write_text(text)
    (tmp_path / "alerts.yaml").write_text(ALERTS)
    _pem_pair(tmp_path)
    key = CheckpointKey((tmp_path / "checkpoint.key").read_bytes())
    compiled = compile_policy_set(load_policies([policies])).data_document()
    rules = load_alert_rules(tmp_path / "alerts.yaml").with_boundaries(compiled)
    log, alerts = tmp_path / "decisions.jsonl", tmp_path / "alerts.jsonl"
    now = {"at": DAY}
    guard = Guard.from_policy(
        [policies], engine="embedded", sinks=[JsonlFileSink(log), AlertSink(rules, alerts, key=key)],
        checkpoint_key=key, checkpoint_every=25, clock=lambda: now["at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )  # fmt: skip
    for minute in range(240):
        now["at"] = DAY + timedelta(minutes=minute)
        if minute == 100:
            guard.suspend("globex_ledger_bot", "vault probing: incident INC-GX-9", tenant="globex")
            guard.suspend("acme_support", "admin probing: incident INC-AC-1", tenant="acme")
        if minute == 130:
            guard.resume("acme_support", tenant="acme")
        if minute % 2:
            path = "/api/admin/users" if minute % 10 == 1 else f"/api/tickets/{minute}"
            guard.check({"agent_id": "acme_support", "method": "GET", "path": path}, tenant="acme")
        else:
            path = "/api/globex-vault/keys" if minute % 10 == 0 else f"/api/globex-ledger/{minute}"
            guard.check({"agent_id": "globex_ledger_bot", "method": "GET", "path": path}, tenant="globex")
    guard.close()
    return {
        "dir": tmp_path,
        "policies": policies,
        "log": log,
        "alerts": alerts,
        "acme_history": _history(tmp_path, policies, "acme-history", "acme"),
        "whole_history": _history(tmp_path, policies, "whole-history", None),
    }


def _evidence(t: dict[str, Any], out: Path, *extra: str, history: str = "acme_history") -> Any:
    tmp = t["dir"]
    return CliRunner().invoke(
        main,
        ["evidence", "--tenant", "acme", "--from", "2026-11-03", "--to", "2026-11-03", "-o", str(out),
         "--policy", str(t["policies"]), "--log", str(t["log"]), "--log-key", str(tmp / "checkpoint.pub"),
         "--alerts", str(t["alerts"]), "--alerts-key", str(tmp / "checkpoint.pub"),
         "--history", str(t[history]), "--history-key", str(tmp / f"{history.replace('_', '-')}.pub"),
         "--signing-key", str(tmp / "checkpoint.key"), *extra],
    )  # fmt: skip


def _verify(t: dict[str, Any], out: Path) -> Any:
    key = str(t["dir"] / "checkpoint.pub")
    return CliRunner().invoke(
        main, ["evidence", "verify", str(out), "--verification-key", key, "--log-key", key, "--alerts-key", key]
    )


def test_one_tenants_evidence_holds_only_that_tenant_and_verifies(tenants: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "evidence-acme"
    built = _evidence(tenants, out)
    assert built.exit_code == 0, built.output
    assert "failed" not in built.output

    # Not a byte of the other tenant's records, boundaries, alerts or history anywhere in the package.
    for path in out.rglob("*"):
        if path.is_file():
            content = path.read_bytes().lower()
            assert not [secret for secret in SECRETS if secret.lower() in content], path
    copied = out / "raw" / "policy"
    assert sorted(p.relative_to(copied).as_posix() for p in copied.rglob("*.yaml")) == [
        "acme/_tenant.yaml",
        "acme/agents.yaml",
    ]

    # The manifest states what each view holds; `evidence verify` checks the chains against it, with the log's key.
    manifest = json.loads((out / "manifest.json").read_text())
    whole = [json.loads(line) for line in tenants["log"].read_text().splitlines()]
    acme = [r for r in whole if r.get("tenant") == "acme" and "checkpoint" not in r]
    checkpoints = sum(1 for r in whole if "checkpoint" in r)
    assert manifest["tenant"] == "acme"
    assert manifest["records"] == {
        "tenant": len(acme),
        "redacted": len(whole) - len(acme) - checkpoints,
        "checkpoints": checkpoints,
        "files": ["decisions.jsonl"],
        "first_prev_hash": GENESIS_HASH,
    }
    assert manifest["alerts"]["tenant"] >= 2 and manifest["alerts"]["redacted"] >= 1
    verified = _verify(tenants, out)
    assert verified.exit_code == 0, verified.output
    redacted = manifest["records"]["redacted"]
    assert (
        f"tenant acme's view of the decision log: hash chain intact through {redacted} redacted links, "
        f"{len(acme)} records of the tenant, {checkpoints} checkpoints, signed checkpoints verified"
    ) in verified.output
    assert "tenant acme's view of the alert history" in verified.output

    summary = json.loads((out / "raw" / "summary.json").read_text())
    assert [agent["agent_id"] for agent in summary["CC6.1"]["agents"]] == ["acme_support"]
    assert [agent["agent_id"] for agent in summary["CC7.2"]["agents"]] == ["acme_support"]
    assert (summary["CC7.4"]["suspensions"], summary["CC7.4"]["resumptions"]) == (1, 1)
    assert {row["rule"] for row in summary["CC7.3"]["rows"]} == {"acme_support/admin-probe", "kill-switch"}
    assert summary["CC8.1"]["status"] == "verified"

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium): the report was not rendered")
    dom = _chromium(tmp_path, out / "report.html", "--dump-dom").stdout
    assert "Tenant acme only: its agents, records, alerts and policy revisions." in " ".join(
        re.sub(r"<[^>]+>", "", dom).split()
    )
    parser = _Text()
    parser.feed(dom)
    text = {key: " ".join(value) for key, value in parser.sections.items()}
    assert "verified 1 agent" in text["cc6-1"]
    assert f"{redacted} redacted links of other tenants" in text["cc7-1"]
    assert "admin probing: incident INC-AC-1" in text["cc7-4"]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _rewrite(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(canonical_lenient(line) + "\n" for line in lines))


def _change_own_record(lines: list[dict[str, Any]]) -> None:
    own = next(line for line in lines if line.get("tenant") == "acme")
    own["path"] = "/api/tickets/forged"


def _rewrite_the_chain_after_a_change(lines: list[dict[str, Any]]) -> None:
    """A forger without the key: change a record, then recompute every link after it (checkpoints included)."""
    _change_own_record(lines)
    previous = GENESIS_HASH
    for line in lines:
        line["prev_hash"] = previous
        line["hash"] = previous = record_hash(line)


def _drop_redacted_link(lines: list[dict[str, Any]]) -> None:
    """One of the links between the tenant's records (the first line of a log may be a rotated file's: see below)."""
    lines.remove([line for line in lines if line.get("redacted")][5])


def _drop_redacted_links_back_to_a_checkpoint(lines: list[dict[str, Any]]) -> None:
    """Remove the redacted link just before a checkpoint and point the checkpoint at the line before it."""
    at = next(i for i, line in enumerate(lines) if "checkpoint" in line and i > 3 and lines[i - 1].get("redacted"))
    del lines[at - 1]
    lines[at - 1]["prev_hash"] = lines[at - 2]["hash"]


def _hide_own_record(lines: list[dict[str, Any]]) -> None:
    from yaml2rego.runtime.records import redacted_link

    index = next(i for i, line in enumerate(lines) if line.get("tenant") == "acme")
    lines[index] = redacted_link(lines[index])


TAMPERING = [
    pytest.param(_change_own_record, "the record's hash does not match its content", id="own-record-changed"),
    pytest.param(_rewrite_the_chain_after_a_change, "signature does not verify", id="chain-rewritten-without-key"),
    pytest.param(_drop_redacted_link, "prev_hash does not match", id="redacted-link-removed"),
    pytest.param(_drop_redacted_links_back_to_a_checkpoint, "altered", id="link-removed-and-checkpoint-relinked"),
    pytest.param(_hide_own_record, "a record of tenant acme is redacted", id="own-record-hidden"),
]


@pytest.mark.parametrize(("tamper", "problem"), TAMPERING)
def test_a_tampered_view_in_the_package_fails_verification(
    tenants: dict[str, Any], tmp_path: Path, tamper: Any, problem: str
) -> None:
    out = tmp_path / "evidence-acme"
    assert _evidence(tenants, out).exit_code == 0
    view = out / "raw" / "decisions" / "decisions.jsonl"
    lines = _lines(view)
    tamper(lines)
    _rewrite(view, lines)
    # The manifest's digest catches any change; the chain itself shows which, and it proves it without the manifest.
    assert "its sha256 does not match the manifest" in _verify(tenants, out).output
    key = str(tenants["dir"] / "checkpoint.pub")
    checked = CliRunner().invoke(main, ["logs", "verify", str(view), "--tenant", "acme", "--verification-key", key])
    assert checked.exit_code == 1
    assert problem in checked.output


def test_a_shared_policy_history_is_refused_and_not_copied(tenants: dict[str, Any], tmp_path: Path) -> None:
    """History entries are signed whole, so nothing can be left out of them: a tenant's package takes its own."""
    out = tmp_path / "evidence-acme"
    built = _evidence(tenants, out, history="whole_history")
    assert built.exit_code == 1
    assert "CC8.1  failed    the policy history names agents that are not tenant acme's (entries 1)" in built.output
    assert not (out / "raw" / "policy-history.jsonl").exists()


def test_a_log_written_before_links_cannot_become_a_tenant_view(tenants: dict[str, Any], tmp_path: Path) -> None:
    """Fail closed: another tenant's record whose hash covers its whole content is never copied into the package."""
    old = tmp_path / "old.jsonl"
    previous, lines = GENESIS_HASH, []
    for tenant in ("acme", "globex"):
        record: dict[str, Any] = {"timestamp": "2026-11-03T10:00:00Z", "tenant": tenant, "agent_id": f"{tenant}_x"}
        record["prev_hash"] = previous
        record["hash"] = previous = record_hash(record)
        lines.append(record)
    _rewrite(old, lines)
    out = tmp_path / "evidence-acme"
    built = CliRunner().invoke(
        main, ["evidence", "--tenant", "acme", "--from", "2026-11-03", "--to", "2026-11-03", "-o", str(out),
               "--log", str(old)],
    )  # fmt: skip
    assert built.exit_code == 1
    assert "old.jsonl:2: the record was written before redactable links" in built.output
    assert not (out / "raw" / "decisions").exists()
    assert b"globex" not in b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())


def test_evidence_without_tenant_copies_the_whole_log(tenants: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    built = CliRunner().invoke(
        main, ["evidence", "--from", "2026-11-03", "--to", "2026-11-03", "-o", str(out), "--log", str(tenants["log"])]
    )
    assert built.exit_code == 0, built.output
    assert (out / "raw" / "decisions" / "decisions.jsonl").read_bytes() == tenants["log"].read_bytes()
    assert "tenant" not in json.loads((out / "manifest.json").read_text())
    shutil.rmtree(out)


def test_a_view_cut_at_its_start_fails_against_the_manifest(tenants: dict[str, Any], tmp_path: Path) -> None:
    """A log that does not start at the chain's first link reads as a rotated file's tail, so the chain alone cannot
    show lines cut off its start; the signed manifest says where the view starts."""
    from yaml2rego.audit.evidence import verify_tenant_views

    out = tmp_path / "evidence-acme"
    assert _evidence(tenants, out).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    view = out / "raw" / "decisions" / "decisions.jsonl"
    _rewrite(view, _lines(view)[1:])
    key = CheckpointKey((tenants["dir"] / "checkpoint.pub").read_bytes())
    with pytest.raises(EvidenceError, match="does not start where the manifest says: lines were cut off"):
        verify_tenant_views(out, manifest, key, key)


BAD_TENANT_OPTIONS = [
    pytest.param(["evidence", "--from", "2026-11-03", "--to", "2026-11-03", "-o", "x"], id="evidence"),
    pytest.param(["logs", "verify", "decisions.jsonl"], id="logs-verify"),
    pytest.param(["diff", "a.yaml", "a.yaml"], id="diff"),
    pytest.param(["bundle", "a.yaml", "-o", "b.tar.gz"], id="bundle"),
]


@pytest.mark.parametrize("command", BAD_TENANT_OPTIONS)
@pytest.mark.parametrize(
    "tenant", ["Acme", "../acme", "acme\u202e", "acme\n"], ids=["upper", "dots", "bidi", "newline"]
)
def test_a_tenant_option_that_is_no_tenant_name_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], tenant: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text("agent_boundary: {agent_id: a, tenant: acme}\n")
    (tmp_path / "decisions.jsonl").write_text("")
    result = CliRunner().invoke(main, [*command, "--tenant", tenant])
    assert result.exit_code == 2, result.output
    assert "must be a tenant name" in result.output
