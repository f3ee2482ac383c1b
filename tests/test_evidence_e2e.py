"""End to end: a day of synthetic traffic through a guard with alerts and a shadow candidate, then the evidence
package (verified manifest, rendered in headless Chromium), and replay of the day against the candidate."""

from __future__ import annotations

import html.parser
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from yaml2rego.adapters import Guard
from yaml2rego.bundles.bundle import build_bundle
from yaml2rego.bundles.history import append_entry
from yaml2rego.cli import main
from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.dsl.loader import load_policies
from yaml2rego.engines.embedded import EmbeddedEngine
from yaml2rego.runtime.alerts import AlertSink, load_alert_rules, read_alerts
from yaml2rego.runtime.sinks.file import JsonlFileSink

pytest.importorskip("pygal", reason="the evidence report's charts need pygal: pip install 'yaml2rego[evidence]'")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DAY = datetime(2026, 11, 3, tzinfo=UTC)

ACTIVE = """\
agent_boundary:
  agent_id: support_agent
  allowed_endpoints:
    - {method: GET, path: "/api/customer/v1/*"}
    - {method: POST, path: "/api/ticket/v1/"}
  denied_endpoints:
    - {method: "*", path: "/api/admin/*"}
  alerts:
    - {name: admin-probe, severity: critical, codes: [endpoint_denied], path: "/api/admin/*"}
---
agent_boundary:
  agent_id: research_agent
  mode: shadow
  allowed_endpoints:
    - {method: GET, path: "/api/papers/*"}
---
agent_boundary:
  agent_id: llm_agent
  allowed_endpoints:
    - {method: POST, path: "/v1/chat/completions"}
  budget: {daily_usd: 1, default_cost_usd: 0.01}
"""
# The candidate changes one rule each way: support_agent may read reports (loosens), and loses customer exports
# (tightens, a deny rule before the allow).
CANDIDATE = ACTIVE.replace(
    '    - {method: POST, path: "/api/ticket/v1/"}\n',
    '    - {method: POST, path: "/api/ticket/v1/"}\n    - {method: GET, path: "/api/reports/v1/*"}\n',
).replace(
    '    - {method: "*", path: "/api/admin/*"}\n',
    '    - {method: "*", path: "/api/admin/*"}\n    - {method: GET, path: "/api/customer/v1/export/*"}\n',
)
ALERTS = """\
alerts:
  channels:
    - {name: secops-slack, url: "http://{host}/slack", format: slack}
    - {name: secops-teams, url: "http://{host}/teams", format: teams}
  rules:
    - {name: repeated-denials, severity: medium, decision: deny, enforced: true, count: 5, window_s: 600, quiet_s: 3600}
    - {name: kill-switch, severity: high, event: agent_suspended}
    - {name: budget-exhausted, severity: high, codes: [budget_exceeded], quiet_s: 86400}
"""


class _Receiver(BaseHTTPRequestHandler):
    posts: ClassVar[list[tuple[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    _Receiver.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", _Receiver.posts
    server.shutdown()
    server.server_close()


def _traffic() -> Iterator[tuple[datetime, dict[str, Any], str]]:
    """One call a minute for a day; the label says what the candidate does with it."""
    for minute in range(24 * 60):
        at = DAY + timedelta(minutes=minute)
        kind = minute % 12
        if kind in (0, 1, 2, 3):
            yield at, {"agent_id": "support_agent", "method": "GET", "path": f"/api/customer/v1/{minute}"}, "same"
        elif kind == 4:
            yield (
                at,
                {"agent_id": "support_agent", "method": "GET", "path": "/api/customer/v1/export/all.csv"},
                "tighten",
            )
        elif kind == 5:
            yield at, {"agent_id": "support_agent", "method": "GET", "path": f"/api/reports/v1/{minute}"}, "loosen"
        elif kind == 6 and minute % 120 == 6:
            yield at, {"agent_id": "support_agent", "method": "DELETE", "path": "/api/admin/users"}, "same"
        elif kind in (6, 7):
            yield at, {"agent_id": "research_agent", "method": "GET", "path": f"/api/other/{minute}"}, "same"
        elif kind == 8:
            yield at, {"agent_id": "research_agent", "method": "GET", "path": f"/api/papers/{minute}"}, "same"
        else:
            yield at, {"agent_id": "llm_agent", "method": "POST", "path": "/v1/chat/completions"}, "same"


@pytest.fixture
def day(tmp_path: Path, receiver: tuple[str, list[Any]]) -> dict[str, Any]:
    """Run the day through a guard; return the files and what each call was expected to do under the candidate."""
    host, posts = receiver
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "agents.yaml").write_text(ACTIVE)
    (tmp_path / "candidate.yaml").write_text(CANDIDATE)
    (tmp_path / "alerts.yaml").write_text(ALERTS.replace("{host}", host))
    signing = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "checkpoint.key").write_bytes(
        signing.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "checkpoint.pub").write_bytes(
        signing.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    now = {"at": DAY}
    clock = lambda: now["at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: E731
    log, alerts = tmp_path / "decisions.jsonl", tmp_path / "alerts.jsonl"
    candidate = EmbeddedEngine.from_policy_paths([tmp_path / "candidate.yaml"])
    # The global rules of the alerts file, and the support agent's own rule from its compiled boundary.
    compiled = compile_policy_set(load_policies([tmp_path / "policies"])).data_document()
    rules = load_alert_rules(tmp_path / "alerts.yaml").with_boundaries(compiled)
    sink = AlertSink(rules, alerts, key=_checkpoint_key(tmp_path))
    guard = Guard.from_policy(
        [tmp_path / "policies"], engine="embedded", sinks=[JsonlFileSink(log), sink],
        checkpoint_key=signing, checkpoint_every=200, record_input=True, candidate=candidate, clock=clock,
    )  # fmt: skip
    expected: dict[str, list[str]] = {"loosen": [], "tighten": []}
    for at, call, label in _traffic():
        now["at"] = at
        if at == DAY + timedelta(hours=15):
            guard.suspend("support_agent", "admin endpoint probing: incident INC-7")
        if at == DAY + timedelta(hours=16):
            guard.resume("support_agent")
        decision = guard.check(call)
        if label != "same" and not (15 <= at.hour < 16):
            expected[label].append(decision.decision_id)
    guard.close()
    candidate.close()
    history = _history(tmp_path)
    return {"dir": tmp_path, "log": log, "alerts": alerts, "expected": expected, "posts": posts, **history}


def _checkpoint_key(tmp_path: Path) -> Any:
    from yaml2rego.runtime.records import CheckpointKey

    return CheckpointKey((tmp_path / "checkpoint.key").read_bytes())


def _history(tmp_path: Path) -> dict[str, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = tmp_path / "history.pub"
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    path = tmp_path / "policy-history.jsonl"
    for day, revision, reviewer, approval in ((1, "v1", "alice", "PR-101"), (2, "v2", "bob", "PR-117")):
        data = {"policy_version": revision, "agents": {"support_agent": {"agent_id": "support_agent", "v": day}}}
        bundle = build_bundle(
            {"boundaries/data.json": json.dumps(data).encode()}, revision=revision, reviewer=reviewer,
            approval_id=approval,
        )  # fmt: skip
        append_entry(path, bundle, key=private, author="dev", timestamp=DAY - timedelta(days=3 - day))
    return {"history": path, "history_key": public}


class _Text(html.parser.HTMLParser):
    """The text of each <section id=…> of the rendered DOM, as a reader sees it (no <style>, no SVG)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[str]] = {}
        self._current: str | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self._current = dict(attrs).get("id")
            self.sections[str(self._current)] = []
        if tag in ("style", "svg"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "svg"):
            self._skip -= 1
        if tag == "section":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._current and not self._skip and data.strip():
            self.sections[self._current].append(" ".join(data.split()))


def _chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", *args, page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


def test_a_day_of_traffic_becomes_verified_evidence(day: dict[str, Any], tmp_path: Path) -> None:
    """Alerts are raised, delivered and acknowledged; the package verifies and each control's section says so."""
    runner = CliRunner()
    alerts = read_alerts(day["alerts"], _checkpoint_key(tmp_path))
    severities = {a["rule"]: a["severity"] for a in alerts}
    assert severities == {
        "support_agent/admin-probe": "critical", "repeated-denials": "medium", "kill-switch": "high",
        "budget-exhausted": "high",
    }  # fmt: skip
    # Every alert went to both channels, each in its own format.
    slack = [body for path, body in day["posts"] if path == "/slack"]
    teams = [body for path, body in day["posts"] if path == "/teams"]
    assert len(slack) == len(teams) == len(alerts)
    assert slack[0]["text"].startswith("[") and slack[0]["blocks"][0]["type"] == "header"
    assert teams[0]["@type"] == "MessageCard" and teams[0]["sections"][0]["facts"][0]["name"] == "alert"
    kill = next(a for a in alerts if a["rule"] == "kill-switch")
    acked = runner.invoke(
        main,
        ["alerts", "ack", kill["alert_id"], "--by", "alice", "--note", "agent resumed after token rotation",
         "--alerts", str(day["alerts"]), "--signing-key", str(tmp_path / "checkpoint.key")],
    )  # fmt: skip
    assert acked.exit_code == 0, acked.output

    out = tmp_path / "evidence"
    built = runner.invoke(
        main,
        ["evidence", "--from", "2026-11-03", "--to", "2026-11-03", "-o", str(out),
         "--policy", str(tmp_path / "policies"), "--log", str(day["log"]),
         "--log-key", str(tmp_path / "checkpoint.pub"),
         "--history", str(day["history"]), "--history-key", str(day["history_key"]),
         "--alerts", str(day["alerts"]), "--alerts-key", str(tmp_path / "checkpoint.pub"),
         "--signing-key", str(tmp_path / "checkpoint.key")],
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    verified = runner.invoke(
        main, ["evidence", "verify", str(out), "--verification-key", str(tmp_path / "checkpoint.pub")]
    )
    assert verified.exit_code == 0 and verified.output.startswith("ok: "), verified.output
    html_text = (out / "report.html").read_text()
    assert "<script" not in html_text and 'href="http' not in html_text and "src=" not in html_text

    summary = json.loads((out / "raw" / "summary.json").read_text())
    diverging = len(day["expected"]["loosen"]) + len(day["expected"]["tighten"])
    assert summary["CC7.2"]["divergences"] == diverging
    # Each agent's enforced calls are counted once: never more than its calls (the shadow agent enforces none).
    per_agent = {agent["agent_id"]: agent for agent in summary["CC7.2"]["agents"]}
    assert [(a, per_agent[a]["enforced"] == per_agent[a]["calls"]) for a in ("llm_agent", "support_agent")] == [
        ("llm_agent", True),
        ("support_agent", True),
    ]
    assert per_agent["research_agent"]["enforced"] == 0

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium): the report was not rendered")
    dom = _chromium(tmp_path, out / "report.html", "--dump-dom").stdout
    _chromium(tmp_path, out / "report.html", f"--screenshot={tmp_path / 'report.png'}", "--window-size=1200,5000")
    parser = _Text()
    parser.feed(dom)
    text = {key: " ".join(value) for key, value in parser.sections.items()}
    assert "verified 3 agents" in text["cc6-1"] and "research_agent shadow" in text["cc6-1"]
    assert "signed up to the closing checkpoint" in text["cc7-1"] and "would block (shadow)" in text["cc7-1"]
    assert f"{diverging} divergences of 1440 calls compared" in text["cc7-2"]
    assert "1440 calls of 3 agents decided and recorded" in text["cc7-2"]
    assert "critical support_agent/admin-probe" in text["cc7-3"] and "acknowledged by alice" in text["cc7-3"]
    assert "secops-teams (teams: delivered)" in text["cc7-3"]
    assert "1 kill-switch activation and 1 resumption" in text["cc7-4"]
    assert "admin endpoint probing: incident INC-7" in text["cc7-4"]
    assert "2 policy revisions, 2 with a reviewer and approval id" in text["cc8-1"]
    assert "bob PR-117" in text["cc8-1"]
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_a_changed_file_fails_the_manifest(day: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    runner = CliRunner()
    built = runner.invoke(
        main,
        ["evidence", "--from", "2026-11-03", "--to", "2026-11-03", "-o", str(out), "--log", str(day["log"]),
         "--signing-key", str(tmp_path / "checkpoint.key")],
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    raw = out / "raw" / "decisions" / "decisions.jsonl"
    raw.write_text(raw.read_text().replace('"decision":"deny"', '"decision":"allow"', 1))
    checked = runner.invoke(
        main, ["evidence", "verify", str(out), "--verification-key", str(tmp_path / "checkpoint.pub")]
    )
    assert checked.exit_code == 1
    assert "raw/decisions/decisions.jsonl: its sha256 does not match the manifest" in checked.output


def test_replay_flags_exactly_the_calls_the_changed_rules_flip(day: dict[str, Any], tmp_path: Path) -> None:
    """Loosened calls (deny -> allow) make exit code 3; the suspended hour is not replayable and says why."""
    result = CliRunner().invoke(
        main, ["replay", str(day["log"]), "--policy", str(tmp_path / "candidate.yaml"), "--format", "json"]
    )
    assert result.exit_code == 3, result.output
    report = json.loads(result.output)
    flips = {(g["before"], g["after"], g["rule"]): sorted(g["decision_ids"]) for g in report["flips"]}
    assert flips == {
        ("deny", "allow", "allowed_endpoints[2]"): sorted(day["expected"]["loosen"]),
        ("allow", "deny", "denied_endpoints[1]"): sorted(day["expected"]["tighten"]),
    }
    assert [g["was"] for g in report["flips"]] == [["allowed_endpoints"], ["allowed_endpoints[0]"]]
    assert {g["agent_id"] for g in report["flips"]} == {"support_agent"}
    suspended = sum(1 for r in _decisions(day["log"]) if r["reasons"] and r["reasons"][0]["code"] == "agent_suspended")
    assert suspended == 30  # the support agent's calls in the suspended hour
    assert [(item["reason"], item["count"]) for item in report["not_replayed"]] == [("runtime", suspended)]
    assert report["replayed"] == 1440 - suspended


def _decisions(log: Path) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, log.read_text().splitlines()) if "decision" in r]
