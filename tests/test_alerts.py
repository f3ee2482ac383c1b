"""Alert rules on the record stream, their webhook formats, and the signed alert history with acknowledgements."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from yaml2rego.cli import main
from yaml2rego.errors import EvidenceError, PolicyValidationError
from yaml2rego.runtime.alerts import (
    AlertRule,
    AlertRules,
    AlertSink,
    AlertState,
    append_alert_entry,
    load_alert_rules,
    read_alerts,
    slack_payload,
    teams_payload,
)
from yaml2rego.runtime.records import CheckpointKey, HashChain

KEY = CheckpointKey(b"s" * 32)


def _record(second: int = 0, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "timestamp": f"2026-11-03T10:{second // 60:02d}:{second % 60:02d}.000000Z",
        "decision_id": f"d-{second}",
        "agent_id": "a1",
        "method": "GET",
        "path": "/api/customer/v1/1",
        "decision": "deny",
        "enforced": True,
        "reasons": [{"code": "endpoint_not_allowed"}],
        "hash": f"h-{second}",
    }
    record.update(fields)
    return record


@pytest.mark.parametrize(
    ("rule", "record", "fires"),
    [
        (AlertRule("r", "high", codes=("endpoint_denied",)), _record(reasons=[{"code": "endpoint_denied"}]), True),
        (AlertRule("r", "high", codes=("endpoint_denied",)), _record(), False),
        (AlertRule("r", "critical", path="/api/admin/*"), _record(path="/api/admin/users/7"), True),
        (AlertRule("r", "critical", path="/api/admin/*"), _record(path="/api/administrator"), False),
        (AlertRule("r", "low", decision="deny", enforced=False), _record(enforced=False), True),
        (AlertRule("r", "low", decision="deny", enforced=False), _record(), False),
        (AlertRule("r", "high", event="agent_suspended"), {"event": "agent_suspended", "agent_id": "a1"}, True),
        (AlertRule("r", "high", event="agent_suspended"), _record(), False),
        (AlertRule("r", "low", decision="deny"), {"checkpoint": {}, "timestamp": "x"}, False),
    ],
    ids=[
        "code-matches", "code-differs", "path-glob-matches", "path-glob-is-not-a-prefix", "shadow-only-matches-shadow",
        "shadow-only-skips-enforced", "event-matches", "event-rule-skips-decisions", "checkpoint-never-matches",
    ],
)  # fmt: skip
def test_a_rule_fires_on_the_records_it_names(rule: AlertRule, record: dict[str, Any], fires: bool) -> None:
    assert bool(AlertState(AlertRules((rule,))).evaluate(record)) is fires


def test_a_repetition_rule_fires_on_the_countth_match_within_its_window() -> None:
    state = AlertState(AlertRules((AlertRule("rep", "medium", decision="deny", count=3, window_s=60),)))
    fired = [bool(state.evaluate(_record(second))) for second in (0, 10, 100, 110, 120, 130, 140)]
    # 0 and 10 fall out of the window by 100; 100, 110, 120 fire; then three new matches are needed.
    assert fired == [False, False, False, False, True, False, False]
    alert = state.evaluate(_record(150))[0]
    assert alert["decision_ids"] == ["d-130", "d-140", "d-150"] and "3 times within 60s" in alert["summary"]


def test_quiet_s_keeps_a_rule_quiet_for_one_agent_only() -> None:
    state = AlertState(AlertRules((AlertRule("budget", "high", decision="deny", quiet_s=60),)))
    assert [bool(state.evaluate(_record(s))) for s in (0, 30, 61)] == [True, False, True]
    assert state.evaluate(_record(62, agent_id="a2"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: []", "expected a top-level 'alerts:' mapping"),
        ("alerts: {rules: [{name: r, severity: urgent}]}", "severity must be one of low, medium, high, critical"),
        ("alerts: {rules: [{name: r, severity: low, colour: red}]}", "unknown key 'colour'"),
        ("alerts: {rules: [{name: r, severity: low, count: 0}]}", "count must be a positive integer"),
        ("alerts: {rules: [{name: r, severity: low}, {name: r, severity: high}]}", "rule names must be unique"),
        ("alerts: {channels: [{name: c, url: 'ftp://x', format: slack}]}", "url must be an http(s) URL"),
        ("alerts: {channels: [{name: c, url: 'https://x', format: email}]}", "format must be slack or teams"),
        ('alerts: {rules: [{name: "a\\nb", severity: low}]}', "name must be a non-empty single-line string"),
    ],
    ids=[
        "no-section",
        "bad-severity",
        "unknown-key",
        "zero-count",
        "duplicate-name",
        "bad-url",
        "bad-format",
        "newline",
    ],
)
def test_a_wrong_alerts_file_names_its_mistake(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    with pytest.raises(PolicyValidationError, match=re.escape(message)):
        load_alert_rules(path)


ALERT: dict[str, Any] = {
    "alert_id": "al-1",
    "severity": "critical",
    "rule": "admin-probe",
    "agent_id": "a1",
    "timestamp": "2026-11-03T10:00:00Z",
    "summary": "[critical] admin-probe: agent a1: deny GET /api/<!channel>&x",
    "codes": ["endpoint_denied"],
    "decision_ids": ["d-1"],
}


def test_slack_gets_escaped_markup_and_teams_a_message_card() -> None:
    slack = slack_payload(ALERT)
    assert slack["text"] == ALERT["summary"]  # the notification text is plain text
    assert "&lt;!channel&gt;&amp;x" in slack["blocks"][1]["text"]["text"]  # mrkdwn must not mention @channel
    teams = teams_payload(ALERT)
    assert (teams["@type"], teams["themeColor"], teams["title"]) == ("MessageCard", "A30200", "CRITICAL: admin-probe")
    assert {"name": "acknowledge", "value": "yaml2rego alerts ack al-1 --by NAME"} in teams["sections"][0]["facts"]


def test_an_alert_shipped_twice_is_kept_once(tmp_path: Path) -> None:
    history = tmp_path / "alerts.jsonl"
    sink = AlertSink(AlertRules((AlertRule("any", "low", decision="deny"),)), history, key=KEY)
    sink.write([_record(1)])
    sink.write([_record(1)])  # at least once: the shipper may deliver a record again
    restarted = AlertSink(AlertRules((AlertRule("any", "low", decision="deny"),)), history, key=KEY)
    restarted.write([_record(1)])  # or a restarted process
    assert [a["decision_ids"] for a in read_alerts(history, KEY)] == [["d-1"]]
    assert (sink.raised, restarted.raised) == (1, 0)


def test_acks_are_recorded_and_a_tampered_history_is_refused(tmp_path: Path) -> None:
    history = tmp_path / "alerts.jsonl"
    append_alert_entry(history, {"kind": "alert", **ALERT}, KEY)
    runner = CliRunner()
    unknown = runner.invoke(main, ["alerts", "ack", "al-9", "--by", "bob", "--alerts", str(history)])
    assert (unknown.exit_code, unknown.output) == (1, f"error: no alert 'al-9' in {history}\n")
    secret = tmp_path / "key"
    secret.write_bytes(b"s" * 32)
    done = runner.invoke(
        main, ["alerts", "ack", "al-1", "--by", "bob", "--note", "blocked", "--alerts", str(history),
               "--signing-key", str(secret)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    [alert] = read_alerts(history, KEY)
    assert [(a["by"], a["note"]) for a in alert["acks"]] == [("bob", "blocked")]
    listed = runner.invoke(main, ["alerts", "list", "--alerts", str(history), "--verification-key", str(secret)])
    assert "al-1" in listed.output and "ack bob" in listed.output
    history.write_text(history.read_text().replace("critical", "low", 1))
    with pytest.raises(EvidenceError, match="does not verify at line 1"):
        read_alerts(history, KEY)


def test_an_unsigned_append_after_a_signed_one_is_caught(tmp_path: Path) -> None:
    history = tmp_path / "alerts.jsonl"
    append_alert_entry(history, {"kind": "alert", **ALERT}, KEY)
    last = [line for line in history.read_text().splitlines() if line][-1]
    chain = HashChain(json.loads(last)["hash"])
    with history.open("ab") as handle:  # a forged alert, correctly chained, but without the key's checkpoint
        handle.write(chain.seal_encoded({"kind": "alert", **ALERT, "alert_id": "al-forged"}))
    with pytest.raises(EvidenceError, match="not covered by a signature"):
        read_alerts(history, KEY)


BOUNDARY = """\
agent_boundary:
  agent_id: a1
  allowed_endpoints:
    - {method: GET, path: "/api/*"}
  alerts:
"""


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            "    - {name: r, severity: urgent}",
            "<string>:6:27: severity must be 'low', 'medium', 'high' or 'critical', got 'urgent'",
        ),
        ("    - {name: r, severity: low, colour: red}", "colour"),
        ("    - {name: r, severity: low}\n    - {name: r, severity: high}", "an alert rule named 'r' already exists"),
        ("    - {name: r, severity: low, event: agent_suspended, codes: [x]}", "codes does not apply to an event rule"),
        ('    - {name: "a\\u202eb", severity: low}', "must be one line of printable text"),
    ],
    ids=["bad-severity", "unknown-key", "duplicate-name", "event-with-codes", "bidi-control-in-name"],
)
def test_a_wrong_boundary_alerts_section_is_a_located_policy_error(rules: str, message: str) -> None:
    from yaml2rego.dsl.loader import load_policy_text

    with pytest.raises(PolicyValidationError, match=re.escape(message)):
        load_policy_text(BOUNDARY + rules + "\n")


def test_boundary_rules_come_from_the_compiled_data_and_watch_their_agent_only() -> None:
    from yaml2rego.compile.compiler import compile_policy_set
    from yaml2rego.dsl.loader import load_policy_text

    policy = load_policy_text(BOUNDARY + "    - {name: any-deny, severity: high, decision: deny}\n")
    data = compile_policy_set(policy).data_document()
    state = AlertState(AlertRules(()).with_boundaries(data))
    assert [a["rule"] for a in state.evaluate(_record(1))] == ["a1/any-deny"]
    assert state.evaluate(_record(2, agent_id="a2")) == []


def test_boundary_rules_of_a_tenants_agent_are_watched_too() -> None:
    """A tenant's agents compile under data.tenants.<tenant>; their own alert rules are read from there."""
    from yaml2rego.compile.compiler import compile_policy_set
    from yaml2rego.dsl.loader import load_policy_text

    tenant_boundary = BOUNDARY.replace("  agent_id: a1\n", "  agent_id: a1\n  tenant: acme\n")
    policy = load_policy_text(tenant_boundary + "    - {name: any-deny, severity: high, decision: deny}\n")
    data = compile_policy_set(policy).data_document()
    state = AlertState(AlertRules(()).with_boundaries(data))
    [alert] = state.evaluate(_record(1, tenant="acme"))
    assert (alert["rule"], alert["tenant"]) == ("a1/any-deny", "acme")
