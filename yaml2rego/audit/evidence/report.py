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

With a tenant (``EvidenceInputs.tenant``, ``yaml2rego evidence --tenant``) the package is that tenant's alone: its
boundaries, its records, its alerts, its policy history. The decision log and the alert history are single hash
chains holding every tenant's entries, so the package holds each one's *tenant view*
(:func:`~yaml2rego.runtime.records.write_tenant_view`): the tenant's entries and the signed checkpoints as written,
every other entry as a redacted link (digests only). The view verifies end to end with the log's key, proves that none
of the tenant's own entries was left out, and shows no byte of another tenant's records; ``manifest.json`` states
how many entries of each kind it holds. See docs/runtime.md, "Evidence for one tenant".
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
from yaml2rego.runtime.records import (
    CheckpointKey,
    TenantView,
    is_redacted,
    parse_timestamp,
    rfc3339_now,
    verify_log,
    write_tenant_view,
)
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
    tenant: str | None = None  # one tenant's package (see the module's text)


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
    views: dict[str, TenantView] = {}
    policy_section, tenant_agents = _policies(inputs, raw)
    records, log_section = _decision_log(inputs, window, raw, views)
    sections = {
        "CC6.1": policy_section,
        "CC7.1": log_section,
        "CC7.2": _monitoring(records, log_section),
        "CC7.3": _alerts(inputs, window, raw, views),
        "CC7.4": _incidents(records, log_section),
        "CC8.1": _changes(inputs, raw, tenant_agents),
    }
    summary = {key: {k: v for k, v in value.items() if k != "charts"} for key, value in sections.items()}
    (raw / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str), encoding="utf-8")
    about = {
        "generator": f"yaml2rego {__version__}",
        "generated_at": rfc3339_now(),
        "from": inputs.since.isoformat(),
        "to": inputs.until.isoformat(),
    }
    if inputs.tenant is not None:
        about.update(_tenant_about(inputs, views))
    report = root / "report.html"
    report.write_text(_render(sections, about), encoding="utf-8")
    write_manifest(root, inputs.signing_key, about)
    return EvidenceResult(root, report, sections)


# -- CC6.1 -----------------------------------------------------------------------------------------------------------


def _policies(inputs: EvidenceInputs, raw: Path) -> tuple[dict[str, Any], set[str] | None]:
    """The CC6.1 section, and (for a tenant's package) the ids of the tenant's agents."""
    from yaml2rego.compile.compiler import compile_policy_set
    from yaml2rego.dsl.loader import load_policies

    section: dict[str, Any] = {"question": "How do you restrict which systems and data each agent can access?"}
    if not inputs.policies:
        missing = {**section, "status": "missing", "finding": "no boundary files were given (--policy)", "agents": []}
        return missing, None
    try:
        policy_set = load_policies(inputs.policies)
        compiled = compile_policy_set(policy_set)
    except Yaml2RegoError as exc:
        failed = {**section, "status": "failed", "finding": f"the boundary files do not load: {exc}", "agents": []}
        return failed, None
    target = raw / "policy"
    target.mkdir()
    if inputs.tenant is None:
        version = compiled.data_document()["boundaries"].get("policy_version")
        for source in _yaml_files(inputs.policies):
            shutil.copy2(source, target / source.name)
        tenant_agents = None
    else:
        if inputs.tenant not in compiled.tenants:
            finding = f"no boundary of tenant {inputs.tenant} in the given files"
            return {**section, "status": "failed", "finding": finding, "agents": []}, set()
        version = compiled.tenants[inputs.tenant].get("policy_version")
        tenant_agents = {agent.agent_id for agent in policy_set if agent.tenant == inputs.tenant}
        left_out = _copy_tenant_files(inputs, compiled.policy_set, target)
        if left_out:
            section["note"] = (
                f"{count_of(left_out, 'file')} holding this tenant's boundaries beside other tenants' are not copied "
                "(keep each tenant's boundaries in files of their own)"
            )
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
        if tenant_agents is None or agent.agent_id in tenant_agents
    ]
    return {
        **section,
        "status": "verified",
        "finding": f"{count_of(len(agents), 'agent')}, each with an explicit boundary enforced on every call; "
        f"compiled policy version {version}",
        "policy_version": version,
        "agents": agents,
    }, tenant_agents


def _copy_tenant_files(inputs: EvidenceInputs, policy_set: Any, target: Path) -> int:
    """Copy the files of the tenant's boundaries (and the ``_tenant.yaml`` files above them, inside the given
    directories) under their paths relative to the given path; return how many were left out because they also hold
    another tenant's boundaries."""
    from yaml2rego.dsl.tenant_directory import TENANT_FILE

    owners: dict[Path, set[str | None]] = defaultdict(set)
    for agent in policy_set:
        owners[Path(agent.source_file).resolve()].add(agent.tenant)
    mine = {path for path, tenants in owners.items() if tenants == {inputs.tenant}}
    shared = sum(1 for tenants in owners.values() if inputs.tenant in tenants and len(tenants) > 1)
    for given in map(Path, inputs.policies):
        base = given.resolve() if given.is_dir() else given.resolve().parent
        for path in sorted(mine):
            if not path.is_relative_to(base):
                continue
            folder = path.parent
            copies = [path]
            while folder.is_relative_to(base):
                if (folder / TENANT_FILE).is_file():
                    copies.append(folder / TENANT_FILE)
                if folder == base:
                    break
                folder = folder.parent
            for source in copies:
                destination = target / source.relative_to(base)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)
    return shared


def _tenant_about(inputs: EvidenceInputs, views: Mapping[str, TenantView]) -> dict[str, Any]:
    """What the manifest says of a tenant's package: whose it is, and what its views of the logs hold."""
    about: dict[str, Any] = {"tenant": inputs.tenant}
    for name, view in views.items():
        about[name] = {
            "tenant": view.records,
            "redacted": view.redacted,
            "checkpoints": view.checkpoints,
            "files": [path.name for path in view.files],
            "first_prev_hash": view.first_prev_hash,
        }
    about.setdefault("records", {"tenant": 0, "redacted": 0, "checkpoints": 0, "files": []})
    return about


def _yaml_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        found += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
    return found


# -- CC7.1 / CC7.2 / CC7.4 -------------------------------------------------------------------------------------------


def _decision_log(
    inputs: EvidenceInputs, window: tuple[float, float], raw: Path, views: dict[str, TenantView]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    section: dict[str, Any] = {"question": "How do you detect anomalous behaviour of your agents?"}
    if not inputs.logs:
        return [], {**section, "status": "missing", "finding": "no decision log was given (--log)", "rows": []}
    report = verify_log(inputs.logs, key=inputs.log_key)
    target = raw / "decisions"
    logs: Sequence[str | os.PathLike[str]] = inputs.logs
    if inputs.tenant is None:
        target.mkdir()
        for name in inputs.logs:
            shutil.copy2(name, target / Path(name).name)
    else:
        try:
            view = views["records"] = write_tenant_view(inputs.logs, inputs.tenant, target)
        except Yaml2RegoError as exc:
            shutil.rmtree(target, ignore_errors=True)  # half a view is no evidence, and may hold what it must not
            finding = f"no view of tenant {inputs.tenant} can be made of the decision log: {exc}"
            return [], {**section, "status": "failed", "finding": finding, "rows": []}
        logs = view.files
        viewed = verify_log(logs, key=inputs.log_key, tenant=inputs.tenant)
        if report.ok and not viewed.ok:  # cannot happen unless the view was written wrong: never hide it
            report = viewed
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
    if inputs.tenant is not None and "records" in views:
        view = views["records"]
        integrity += (
            f"; this package holds tenant {inputs.tenant}'s view of it: {count_of(view.records, 'record')} of the "
            f"tenant, {count_of(view.redacted, 'redacted link')} of other tenants (digests only), which verifies "
            "the same way"
        )
    records = [r for r in _read_records(logs) if window[0] <= _when(r) <= window[1]]
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


def _alerts(
    inputs: EvidenceInputs, window: tuple[float, float], raw: Path, views: dict[str, TenantView]
) -> dict[str, Any]:
    from yaml2rego.runtime.alerts import SEVERITIES, read_alerts

    section: dict[str, Any] = {"question": "How do you evaluate and respond to security events?"}
    if inputs.alerts is None:
        return {**section, "status": "missing", "finding": "no alert history was given (--alerts)", "rows": []}
    try:
        alerts = read_alerts(inputs.alerts, inputs.alerts_key)
        if inputs.tenant is None:
            shutil.copy2(inputs.alerts, raw / "alerts.jsonl")
        else:
            # The history's own name in the view, as for the decision log: raw/alerts/<name>.
            view = views["alerts"] = write_tenant_view([inputs.alerts], inputs.tenant, raw / "alerts")
            alerts = read_alerts(view.files[0], inputs.alerts_key)
            report = verify_log(view.files, key=inputs.alerts_key, tenant=inputs.tenant)
            if not report.ok:
                raise EvidenceError(f"the tenant's view of the alert history does not verify: {report.problem}")
    except Yaml2RegoError as exc:
        shutil.rmtree(raw / "alerts", ignore_errors=True)
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


def _changes(inputs: EvidenceInputs, raw: Path, tenant_agents: set[str] | None) -> dict[str, Any]:
    from yaml2rego.bundles.history import read_history, verify_history

    section: dict[str, Any] = {"question": "How do you manage changes to agent policies, and who approved them?"}
    if inputs.history is None:
        return {**section, "status": "missing", "finding": "no policy history was given (--history)", "rows": []}
    status, integrity = "unsigned", "not verified: no --history-key given"
    try:
        if inputs.history_key is not None:
            entries = verify_history(Path(inputs.history), inputs.history_key, algorithm=inputs.history_algorithm)
            status, integrity = "verified", "every entry's hash, signature, link and sequence number verified"
        else:
            entries = read_history(Path(inputs.history))
    except Yaml2RegoError as exc:
        return {**section, "status": "failed", "finding": f"the policy history does NOT verify: {exc}", "rows": []}
    if inputs.tenant is not None:
        # Each entry is signed whole, so nothing can be left out of it: a tenant's package takes the history of the
        # tenant's own bundles (`bundle --tenant T --history`), whose entries name the tenant's agents only.
        foreign = [e.seq for e in entries if not set(e.agent_digests) <= (tenant_agents or set())]
        if tenant_agents is None or foreign:
            finding = (
                f"the policy history names agents that are not tenant {inputs.tenant}'s (entries "
                f"{', '.join(map(str, foreign[:10]))}), so it is not copied: give the history of the tenant's own "
                "bundles (yaml2rego bundle --tenant ... --history)"
                if foreign
                else "a tenant's policy history is checked against the tenant's boundaries: give them (--policy)"
            )
            return {**section, "status": "failed", "finding": finding, "rows": []}
    shutil.copy2(inputs.history, raw / "policy-history.jsonl")
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
        if record is not None and "checkpoint" not in record and not is_redacted(record)
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
