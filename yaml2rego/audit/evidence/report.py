"""``yaml2rego evidence``: one self-contained HTML report and the raw files, one section per SOC 2 control.

Each section answers the auditor's question for its control with what was *verified*, not only what was found:

* CC6.1: the boundary files as enforced, per agent (mode, endpoint rules, tools), with the compiled policy version;
* CC7.1: the decision log, verified up to its last signed checkpoint: counts by outcome, denials with time, agent,
  call, reason and action (blocked, or would-block for a shadow-mode agent);
* CC7.2: every call monitored: calls per agent, enforcement rate, shadow would-blocks, policy versions seen, shadow
  divergences against a candidate policy, budget consumption;
* CC7.3: the alert history (verified): severity, detection time, who was notified, who acknowledged it and when;
* CC7.4: kill-switch activations (suspensions and resumptions) and the forensic trail of each suspended agent;
* CC8.1: the signed policy history (verified): each revision with author, reviewer, approval id and comment.

The raw files (boundary YAML, decision logs, alert history, policy history, ``summary.json``) are copied beside the
report, and ``manifest.json`` lists every file with its sha256, signed (:mod:`yaml2rego.audit.evidence.manifest`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from yaml2rego._version import __version__
from yaml2rego.audit.evidence.charts import bar_chart, line_chart
from yaml2rego.audit.evidence.manifest import write_manifest
from yaml2rego.errors import EvidenceError, Yaml2RegoError
from yaml2rego.runtime.records import CheckpointKey, parse_timestamp, rfc3339_now, verify_log
from yaml2rego.text import count_of

__all__ = ["EvidenceInputs", "EvidenceResult", "build_evidence", "parse_when"]

_TOP = 10
_TRAIL = 20  # records shown before each suspension


def parse_when(text: str, *, end: bool = False) -> datetime:
    """``2026-11-01`` (the day's start, or with ``end`` its end) or an RFC 3339 time, as an aware UTC datetime."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1) - timedelta(microseconds=1) if end else day
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise EvidenceError(f"{text!r} is not a date (YYYY-MM-DD) or an RFC 3339 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class EvidenceInputs:
    """What the report is built from; every key verifies what it is given (None: reported as not verified)."""

    since: datetime
    until: datetime
    policies: Sequence[str | os.PathLike[str]] = ()
    logs: Sequence[str | os.PathLike[str]] = ()
    log_key: CheckpointKey | None = None
    history: str | os.PathLike[str] | None = None
    history_key: bytes | None = None
    history_algorithm: str = "RS256"
    alerts: str | os.PathLike[str] | None = None
    alerts_key: CheckpointKey | None = None
    signing_key: CheckpointKey | None = None


@dataclass
class EvidenceResult:
    directory: Path
    report: Path
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return all(section["status"] != "failed" for section in self.sections.values())


def build_evidence(inputs: EvidenceInputs, out_dir: str | os.PathLike[str]) -> EvidenceResult:
    """Write the evidence directory; the result says per control whether everything it rests on verified."""
    if inputs.until < inputs.since:
        raise EvidenceError("--to is before --from")
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        raise EvidenceError(f"{root} is not empty: evidence goes into a new directory")
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    window = (inputs.since.timestamp(), inputs.until.timestamp())
    records, log_section = _decision_log(inputs, window, raw)
    sections = {
        "CC6.1": _policies(inputs, raw),
        "CC7.1": log_section,
        "CC7.2": _monitoring(records, log_section),
        "CC7.3": _alerts(inputs, window, raw),
        "CC7.4": _incidents(records, log_section),
        "CC8.1": _changes(inputs, raw),
    }
    summary = {key: {k: v for k, v in value.items() if k != "charts"} for key, value in sections.items()}
    (raw / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str), encoding="utf-8")
    about = {
        "generator": f"yaml2rego {__version__}",
        "generated_at": rfc3339_now(),
        "from": inputs.since.isoformat(),
        "to": inputs.until.isoformat(),
    }
    report = root / "report.html"
    report.write_text(_render(sections, about), encoding="utf-8")
    write_manifest(root, inputs.signing_key, about)
    return EvidenceResult(root, report, sections)


# -- CC6.1 -----------------------------------------------------------------------------------------------------------


def _policies(inputs: EvidenceInputs, raw: Path) -> dict[str, Any]:
    from yaml2rego.compile.compiler import compile_policy_set
    from yaml2rego.dsl.loader import load_policies

    section: dict[str, Any] = {"question": "How do you restrict which systems and data each agent can access?"}
    if not inputs.policies:
        return {**section, "status": "missing", "finding": "no boundary files were given (--policy)", "agents": []}
    try:
        policy_set = load_policies(inputs.policies)
        version = compile_policy_set(policy_set).data_document()["boundaries"].get("policy_version")
    except Yaml2RegoError as exc:
        return {**section, "status": "failed", "finding": f"the boundary files do not load: {exc}", "agents": []}
    target = raw / "policy"
    target.mkdir()
    for source in _yaml_files(inputs.policies):
        shutil.copy2(source, target / source.name)
    agents = [
        {
            "agent_id": agent.agent_id,
            "mode": str(getattr(agent.mode, "value", agent.mode)),
            "file": Path(agent.source_file).name,
            "allowed": [f"{rule.method} {rule.path}" for rule in agent.allowed_endpoints],
            "denied": [f"{rule.method} {rule.path}" for rule in agent.denied_endpoints],
            "tools": [tool.name for tool in agent.tools],
            "rate_limits": len(agent.rate_limits),
            "budget": agent.budget is not None,
        }
        for agent in policy_set
    ]
    return {
        **section,
        "status": "verified",
        "finding": f"{count_of(len(agents), 'agent')}, each with an explicit boundary enforced on every call; "
        f"compiled policy version {version}",
        "policy_version": version,
        "agents": agents,
    }


def _yaml_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        found += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
    return found


# -- CC7.1 / CC7.2 / CC7.4 -------------------------------------------------------------------------------------------


def _decision_log(
    inputs: EvidenceInputs, window: tuple[float, float], raw: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    section: dict[str, Any] = {"question": "How do you detect anomalous behaviour of your agents?"}
    if not inputs.logs:
        return [], {**section, "status": "missing", "finding": "no decision log was given (--log)", "rows": []}
    report = verify_log(inputs.logs, key=inputs.log_key)
    target = raw / "decisions"
    target.mkdir()
    for name in inputs.logs:
        shutil.copy2(name, target / Path(name).name)
    if not report.ok:
        where = f" at {report.file}:{report.line}" if report.line else ""
        status, integrity = "failed", f"the decision log does NOT verify{where}: {report.problem}"
    elif inputs.log_key is None:
        status, integrity = (
            "unsigned",
            f"hash chain intact ({count_of(report.records, 'record')}), no key to check checkpoints",
        )
    else:
        status = "verified"
        integrity = (
            f"hash chain intact and signed up to the {'closing' if report.closed else 'last'} checkpoint: "
            f"{report.signed_records} of {count_of(report.records, 'record')} covered by "
            f"{count_of(report.checkpoints, 'signed checkpoint')} "
            f"(key {inputs.log_key.key_id})"
        )
    records = [r for r in _read_records(inputs.logs) if window[0] <= _when(r) <= window[1]]
    decisions = [r for r in records if "decision" in r]
    outcomes = Counter(str(r.get("decision")) for r in decisions)
    denials = [r for r in decisions if r.get("decision") != "allow"]
    rows = [
        {
            "timestamp": r.get("timestamp"),
            "agent_id": r.get("agent_id"),
            "call": f"{r.get('method')} {r.get('path')}" + (f" tool {r['tool']}" if r.get("tool") else ""),
            "verdict": r.get("decision"),
            "reason": ", ".join(str(x.get("code")) for x in r.get("reasons") or []),
            "action": "blocked" if r.get("enforced") else "would block (shadow)",
        }
        for r in denials[-50:]
    ]
    hours = _hour_labels(window)
    denied_by_hour = Counter(_hour(r) for r in denials if r.get("enforced"))
    shadow_by_hour = Counter(_hour(r) for r in denials if not r.get("enforced"))
    charts = [
        line_chart(
            "Denials over time (per hour)",
            hours,
            {"blocked": [denied_by_hour[h] for h in hours], "would block (shadow)": [shadow_by_hour[h] for h in hours]},
        ),
        bar_chart("Top offending agents", Counter(str(r.get("agent_id")) for r in denials).most_common(_TOP)),
        bar_chart(
            "Top denied endpoints",
            Counter(f"{r.get('method')} {r.get('path')}" for r in denials).most_common(_TOP),
        ),
    ]
    return records, {
        **section,
        "status": status,
        "integrity": integrity,
        "finding": f"{count_of(len(decisions), 'decision')} in the period: {_counted(outcomes)}; "
        "every entry has its timestamp, agent, verdict, reasons and the action taken",
        "decisions": len(decisions),
        "outcomes": dict(outcomes),
        "denials": len(denials),
        "rows": rows,
        "charts": charts,
    }


def _monitoring(records: list[dict[str, Any]], log_section: Mapping[str, Any]) -> dict[str, Any]:
    section: dict[str, Any] = {
        "question": "How do you monitor your agents in production?",
        "status": log_section["status"],
        "integrity": log_section.get("integrity"),
    }
    decisions = [r for r in records if "decision" in r]
    if not decisions:
        return {**section, "finding": "no decisions in the period", "agents": []}
    per_agent: dict[str, Counter[str]] = defaultdict(Counter)
    for r in decisions:
        counts = per_agent[str(r.get("agent_id"))]
        counts["calls"] += 1
        counts["enforced"] += int(bool(r.get("enforced")))
        counts["blocked"] += int(r.get("decision") != "allow" and bool(r.get("enforced")))
        counts["would_block"] += int(r.get("decision") != "allow" and not r.get("enforced"))
        counts["diverged"] += int(bool(r.get("diverged")))
    enforced = sum(counts["enforced"] for counts in per_agent.values())
    compared = [r for r in decisions if "diverged" in r]
    diverged = [r for r in compared if r.get("diverged")]
    spend: dict[str, float] = {}
    for r in decisions:
        budget = r.get("budget")
        if isinstance(budget, Mapping) and isinstance(budget.get("spent_usd"), (int, float)):
            agent = str(r.get("agent_id"))
            spend[agent] = max(spend.get(agent, 0.0), float(budget["spent_usd"]))
    shadow = [(agent, counts["would_block"]) for agent, counts in per_agent.items() if counts["would_block"]]
    charts = [
        bar_chart(
            "Enforcement rate per agent (% of calls enforced)",
            [(agent, round(100.0 * n["enforced"] / n["calls"], 1)) for agent, n in sorted(per_agent.items())],
            series="% enforced",
        ),
        bar_chart(
            "Would-block counts of shadow-mode agents", sorted(shadow, key=lambda x: -x[1]), series="would block"
        ),
    ]
    if spend:
        charts.append(
            bar_chart(
                "Budget consumption (USD spent, highest of the period)",
                sorted(spend.items(), key=lambda item: -item[1]),
                series="USD",
            )
        )
    versions = Counter(str(r.get("policy_version")) for r in decisions)
    candidates = Counter(str(r.get("candidate_policy_version")) for r in compared)
    return {
        **section,
        "finding": f"{count_of(len(decisions), 'call')} of {count_of(len(per_agent), 'agent')} decided and recorded, "
        "none unmonitored; "
        f"enforcement rate {100.0 * enforced / len(decisions):.1f}%; "
        f"{count_of(len(diverged), 'divergence')} of {count_of(len(compared), 'call')} compared with a candidate "
        "policy",
        "calls": len(decisions),
        "enforcement_rate": round(enforced / len(decisions), 4),
        "divergences": len(diverged),
        "compared": len(compared),
        "policy_versions": dict(versions),
        "candidate_versions": dict(candidates),
        "agents": [{"agent_id": agent, **counts} for agent, counts in sorted(per_agent.items())],
        "budget_spent_usd": dict(spend),
        "charts": charts,
    }


def _incidents(records: list[dict[str, Any]], log_section: Mapping[str, Any]) -> dict[str, Any]:
    events = [r for r in records if r.get("event") in ("agent_suspended", "agent_resumed")]
    rows = []
    for event in events:
        trail = []
        if event["event"] == "agent_suspended":
            before = [r for r in records if r.get("agent_id") == event["agent_id"] and "decision" in r]
            before = [r for r in before if _when(r) <= _when(event)][-_TRAIL:]
            trail = [
                f"{r.get('timestamp')} {r.get('decision')} {r.get('method')} {r.get('path')} "
                f"({', '.join(str(x.get('code')) for x in r.get('reasons') or []) or 'allowed'})"
                for r in before
            ]
        rows.append(
            {
                "timestamp": event.get("timestamp"),
                "event": event["event"],
                "agent_id": event.get("agent_id"),
                "reason": event.get("reason") or "",
                "trail": trail,
            }
        )
    blocked = sum(
        1
        for r in records
        if any(isinstance(x, Mapping) and x.get("code") == "agent_suspended" for x in r.get("reasons") or [])
    )
    suspensions = sum(1 for r in rows if r["event"] == "agent_suspended")
    resumptions = len(rows) - suspensions
    return {
        "question": "What is your incident response process, and can you stop an agent now?",
        "status": log_section["status"],
        "integrity": log_section.get("integrity"),
        "finding": f"{count_of(suspensions, 'kill-switch activation')} and {count_of(resumptions, 'resumption')} "
        "in the period; "
        f"{count_of(blocked, 'call')} refused while an agent was suspended",
        "suspensions": suspensions,
        "resumptions": resumptions,
        "blocked_while_suspended": blocked,
        "rows": rows,
    }


# -- CC7.3 -----------------------------------------------------------------------------------------------------------


def _alerts(inputs: EvidenceInputs, window: tuple[float, float], raw: Path) -> dict[str, Any]:
    from yaml2rego.runtime.alerts import SEVERITIES, read_alerts

    section: dict[str, Any] = {"question": "How do you evaluate and respond to security events?"}
    if inputs.alerts is None:
        return {**section, "status": "missing", "finding": "no alert history was given (--alerts)", "rows": []}
    shutil.copy2(inputs.alerts, raw / "alerts.jsonl")
    try:
        alerts = read_alerts(inputs.alerts, inputs.alerts_key)
    except Yaml2RegoError as exc:
        return {**section, "status": "failed", "finding": str(exc), "rows": []}
    alerts = [a for a in alerts if window[0] <= _when(a) <= window[1]]
    by_severity = Counter(str(a.get("severity")) for a in alerts)
    open_alerts = [a for a in alerts if not a["acks"]]
    rows = [
        {
            "alert_id": a["alert_id"],
            "timestamp": a.get("timestamp"),
            "severity": a.get("severity"),
            "rule": a.get("rule"),
            "agent_id": a.get("agent_id"),
            "summary": a.get("summary"),
            "notified": ", ".join(
                f"{n.get('channel')} ({n.get('format')}: {'delivered' if n.get('ok') else 'FAILED'})"
                for n in a.get("notified") or []
            )
            or "nobody (no channel)",
            "handled": "; ".join(
                f"acknowledged by {k.get('by')} at {k.get('timestamp')}" + (f": {k['note']}" if k.get("note") else "")
                for k in a["acks"]
            )
            or "OPEN",
        }
        for a in sorted(alerts, key=lambda a: (-SEVERITIES.index(str(a.get("severity"))), str(a.get("timestamp"))))
    ]
    signed = "verified, signed" if inputs.alerts_key is not None else "hash chain intact, unsigned"
    return {
        **section,
        "status": "verified" if inputs.alerts_key is not None else "unsigned",
        "integrity": f"alert history {signed}",
        "finding": f"{count_of(len(alerts), 'alert')} in the period ({_counted(by_severity, order=SEVERITIES[::-1])}); "
        f"{len(alerts) - len(open_alerts)} acknowledged, {len(open_alerts)} open",
        "by_severity": dict(by_severity),
        "open": len(open_alerts),
        "rows": rows,
        "charts": [bar_chart("Alerts by severity", [(s, by_severity[s]) for s in SEVERITIES[::-1]], series="alerts")],
    }


# -- CC8.1 -----------------------------------------------------------------------------------------------------------


def _changes(inputs: EvidenceInputs, raw: Path) -> dict[str, Any]:
    from yaml2rego.bundles.history import read_history, verify_history

    section: dict[str, Any] = {"question": "How do you manage changes to agent policies, and who approved them?"}
    if inputs.history is None:
        return {**section, "status": "missing", "finding": "no policy history was given (--history)", "rows": []}
    shutil.copy2(inputs.history, raw / "policy-history.jsonl")
    status, integrity = "unsigned", "not verified: no --history-key given"
    try:
        if inputs.history_key is not None:
            entries = verify_history(Path(inputs.history), inputs.history_key, algorithm=inputs.history_algorithm)
            status, integrity = "verified", "every entry's hash, signature, link and sequence number verified"
        else:
            entries = read_history(Path(inputs.history))
    except Yaml2RegoError as exc:
        return {**section, "status": "failed", "finding": f"the policy history does NOT verify: {exc}", "rows": []}
    rows = [
        {
            "seq": e.seq,
            "timestamp": e.timestamp,
            "revision": e.revision,
            "author": e.author or "",
            "reviewer": e.reviewer or "NONE",
            "approval_id": e.approval_id or "NONE",
            "comment": e.comment or "",
            "agents": ", ".join(e.changed_agent_ids),
        }
        for e in entries
    ]
    unreviewed = [row for row in rows if row["reviewer"] == "NONE"]
    return {
        **section,
        "status": status,
        "integrity": integrity,
        "finding": f"{count_of(len(rows), 'policy revision')}, {len(rows) - len(unreviewed)} with a reviewer and "
        "approval id, "
        f"{len(unreviewed)} without",
        "revisions": len(rows),
        "unreviewed": len(unreviewed),
        "rows": rows,
    }


# -- helpers ---------------------------------------------------------------------------------------------------------


def _read_records(files: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    from yaml2rego.runtime.records import log_lines

    # A line that holds no record was named by verify_log already; checkpoints are not decisions.
    return [
        record
        for name in files
        for _, _, record in log_lines(name)
        if record is not None and "checkpoint" not in record
    ]


def _when(record: Mapping[str, Any]) -> float:
    try:
        return float(parse_timestamp(str(record.get("timestamp"))))
    except (ValueError, TypeError):
        return float("nan")  # outside every window


def _hour(record: Mapping[str, Any]) -> str:
    return datetime.fromtimestamp(_when(record), UTC).strftime("%m-%d %H:00")


def _hour_labels(window: tuple[float, float]) -> list[str]:
    start = datetime.fromtimestamp(window[0], UTC).replace(minute=0, second=0, microsecond=0)
    end = datetime.fromtimestamp(window[1], UTC)
    labels: list[str] = []
    while start <= end and len(labels) < 24 * 62:
        labels.append(start.strftime("%m-%d %H:00"))
        start += timedelta(hours=1)
    return labels


def _counted(counts: Mapping[str, int], order: Sequence[str] = ()) -> str:
    keys = [k for k in order if counts.get(k)] or sorted(counts)
    return ", ".join(f"{counts[k]} {k}" for k in keys) or "none"


def _render(sections: Mapping[str, Mapping[str, Any]], about: Mapping[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("yaml2rego.audit.evidence", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),  # every record field is hostile
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("evidence_report.html.j2").render(sections=sections, about=about)
