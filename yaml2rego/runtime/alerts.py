"""Alerts (SOC 2 CC7.3): severity rules evaluated on the record stream, an alert history, and acknowledgements.

An alerts file holds one ``alerts:`` section for every agent (docs/runtime.md, "Alerts")::

    alerts:
      channels:
        - {name: secops, url: "https://hooks.slack.com/services/…", format: slack}
      rules:
        - {name: admin-probe, severity: critical, codes: [endpoint_denied], path: "/api/admin/*"}
        - {name: repeated-denials, severity: medium, decision: deny, count: 5, window_s: 300}
        - {name: kill-switch, severity: high, event: agent_suspended}

:class:`AlertSink` is a record sink: it ships from the record log like Splunk does (at least once, on a committed
cursor), so the rules see exactly the records the log holds, in chain order. A rule fires on a record that matches
every condition it names; with ``count``, on the ``count``-th match of one agent within ``window_s`` seconds of
record time. Each alert is delivered to every channel (Slack's or Microsoft Teams' incoming-webhook format) and then
appended to the alert history with who was notified and how that went. The history is a chained log of its own,
closed after each entry by a signed checkpoint, so ``yaml2rego logs verify alerts.jsonl --verification-key KEY``
proves it like the decision log; ``yaml2rego alerts ack ID --by NAME`` appends who handled an alert and when.

A boundary may declare its own ``alerts:`` rules (the same keys, checked by the schema and compiled into the agent's
data): ``AlertRules.with_boundaries(data)`` adds them, each watching that agent only and named ``agent/rule``.
Alert rules never change a decision: they read records after the fact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import fnmatch
import hashlib
import json
import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yaml2rego.dsl.model import AlertRule
from yaml2rego.errors import EvidenceError, PolicyValidationError
from yaml2rego.runtime.records import (
    CheckpointKey,
    HashChain,
    checkpoint_record,
    parse_timestamp,
    rfc3339_now,
    verify_log,
)

__all__ = [
    "SEVERITIES",
    "AlertRule",
    "AlertRules",
    "AlertSink",
    "AlertState",
    "WebhookChannel",
    "acknowledge",
    "append_alert_entry",
    "boundary_rules",
    "load_alert_rules",
    "read_alerts",
    "rule_matches",
    "slack_payload",
    "teams_payload",
]

log = logging.getLogger("yaml2rego.adapters")

SEVERITIES = ("low", "medium", "high", "critical")
FORMATS = ("slack", "teams")
_COLOURS = {"low": "2EB886", "medium": "DAA038", "high": "E8732A", "critical": "A30200"}
_RULE_KEYS = {"name", "severity", "codes", "path", "decision", "event", "enforced", "count", "window_s", "quiet_s"}
_CHANNEL_KEYS = {"name", "url", "format"}


def rule_matches(rule: AlertRule, record: Mapping[str, Any]) -> bool:
    """Whether ``record`` (a decision or an event record) is one ``rule`` names."""
    if rule.agent_id is not None and record.get("agent_id") != rule.agent_id:
        return False
    if rule.event is not None:
        return record.get("event") == rule.event
    if "decision" not in record:  # an event record, or a checkpoint
        return False
    if rule.decision is not None and record.get("decision") != rule.decision:
        return False
    if rule.enforced is not None and bool(record.get("enforced")) is not rule.enforced:
        return False
    if rule.codes:
        codes = {reason.get("code") for reason in record.get("reasons") or [] if isinstance(reason, Mapping)}
        if not codes & set(rule.codes):
            return False
    path = record.get("path")
    # fnmatch on the recorded (canonical) path: `*` spans segments, as an auditor reading "/api/admin/*" expects.
    return rule.path is None or (isinstance(path, str) and fnmatch.fnmatchcase(path, rule.path))


@dataclass(frozen=True)
class WebhookChannel:
    """An incoming webhook: Slack's (``{"text", "blocks"}``) or Microsoft Teams' (a ``MessageCard``)."""

    name: str
    url: str
    format: str = "slack"

    def payload(self, alert: Mapping[str, Any]) -> dict[str, Any]:
        return slack_payload(alert) if self.format == "slack" else teams_payload(alert)

    def send(self, alert: Mapping[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Post ``alert``; the outcome (never the URL, which is a credential) is what the history keeps."""
        import requests

        outcome: dict[str, Any] = {"channel": self.name, "format": self.format, "at": rfc3339_now()}
        try:
            response = requests.post(self.url, json=self.payload(alert), timeout=timeout)
        except requests.RequestException as exc:
            return {**outcome, "ok": False, "error": type(exc).__name__}
        return {**outcome, "ok": 200 <= response.status_code < 300, "status": response.status_code}


@dataclass(frozen=True)
class AlertRules:
    """The ``alerts:`` section: rules and the channels every alert goes to."""

    rules: tuple[AlertRule, ...]
    channels: tuple[WebhookChannel, ...] = ()

    def with_boundaries(self, data: Mapping[str, Any]) -> AlertRules:
        """These rules plus each boundary's own ``alerts:`` from a compiled data document (``data.boundaries``)."""
        return AlertRules((*self.rules, *boundary_rules(data)), self.channels)


def boundary_rules(data: Mapping[str, Any]) -> tuple[AlertRule, ...]:
    """The ``alerts:`` rules of every boundary in a compiled data document, each scoped to its agent: those of
    ``data.boundaries`` and of every tenant's ``data.tenants.<tenant>`` (agent ids are unique across them).

    Read from the compiled data (what a bundle ships), so the sink watches exactly the rules that were reviewed.
    """
    documents = [data.get("boundaries")] if isinstance(data, Mapping) else []
    tenants = data.get("tenants") if isinstance(data, Mapping) else None
    documents += list(tenants.values()) if isinstance(tenants, Mapping) else []
    agents: dict[str, Any] = {}
    for document in documents:
        found = document.get("agents") if isinstance(document, Mapping) else None
        agents.update(found if isinstance(found, Mapping) else {})
    rules = []
    for agent_id, agent in sorted(agents.items()):
        for item in agent.get("alerts") or [] if isinstance(agent, Mapping) else []:
            rule = _rule(f"agent {agent_id}: alerts", {k: v for k, v in item.items() if k != "source"})
            rules.append(dataclasses.replace(rule, name=f"{agent_id}/{rule.name}", agent_id=agent_id))
    return tuple(rules)


def load_alert_rules(path: str | os.PathLike[str]) -> AlertRules:
    """Read and check an alerts file; a mistake is a :class:`~yaml2rego.errors.PolicyValidationError` naming it."""
    import yaml

    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyValidationError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    section = document.get("alerts") if isinstance(document, Mapping) else None
    if not isinstance(section, Mapping):
        raise PolicyValidationError(f"{path}: expected a top-level 'alerts:' mapping")
    unknown = set(section) - {"rules", "channels"}
    if unknown:
        raise PolicyValidationError(f"{path}: alerts: unknown key {sorted(unknown)[0]!r} (expected rules, channels)")
    rules = tuple(_rule(f"{path}: alerts.rules[{n}]", item) for n, item in enumerate(_list(path, section, "rules")))
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise PolicyValidationError(f"{path}: alerts.rules: rule names must be unique")
    channels = tuple(
        _channel(f"{path}: alerts.channels[{n}]", item) for n, item in enumerate(_list(path, section, "channels"))
    )
    return AlertRules(rules, channels)


def _list(path: Any, section: Mapping[str, Any], key: str) -> list[Any]:
    value = section.get(key) or []
    if not isinstance(value, list):
        raise PolicyValidationError(f"{path}: alerts.{key} must be a list")
    return value


def _text(where: str, item: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or "\n" in value or len(value) > 512:
        raise PolicyValidationError(f"{where}: {key} must be a non-empty single-line string")
    return value


def _rule(where: str, item: Any) -> AlertRule:
    if not isinstance(item, Mapping):
        raise PolicyValidationError(f"{where}: a rule is a mapping")
    unknown = set(item) - _RULE_KEYS
    if unknown:
        raise PolicyValidationError(
            f"{where}: unknown key {sorted(unknown)[0]!r} (expected {', '.join(sorted(_RULE_KEYS))})"
        )
    severity = _text(where, item, "severity", required=True)
    if severity not in SEVERITIES:
        raise PolicyValidationError(f"{where}: severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    codes = item.get("codes") or []
    if not isinstance(codes, list) or not all(isinstance(code, str) and code for code in codes):
        raise PolicyValidationError(f"{where}: codes must be a list of reason codes")
    count, window, quiet = item.get("count", 1), item.get("window_s", 60), item.get("quiet_s", 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise PolicyValidationError(f"{where}: count must be a positive integer")
    if isinstance(window, bool) or not isinstance(window, (int, float)) or window <= 0:
        raise PolicyValidationError(f"{where}: window_s must be a positive number of seconds")
    if isinstance(quiet, bool) or not isinstance(quiet, (int, float)) or quiet < 0:
        raise PolicyValidationError(f"{where}: quiet_s must be a number of seconds (0 or more)")
    enforced = item.get("enforced")
    if enforced is not None and not isinstance(enforced, bool):
        raise PolicyValidationError(f"{where}: enforced must be true or false")
    return AlertRule(
        name=str(_text(where, item, "name", required=True)),
        severity=severity,
        codes=tuple(codes),
        path=_text(where, item, "path"),
        decision=_text(where, item, "decision"),
        event=_text(where, item, "event"),
        enforced=enforced,
        count=count,
        window_s=float(window),
        quiet_s=float(quiet),
    )


def _channel(where: str, item: Any) -> WebhookChannel:
    if not isinstance(item, Mapping) or set(item) - _CHANNEL_KEYS:
        raise PolicyValidationError(f"{where}: a channel has name, url and format (slack or teams)")
    url = str(_text(where, item, "url", required=True))
    if not url.startswith(("https://", "http://")):
        raise PolicyValidationError(f"{where}: url must be an http(s) URL")
    fmt = _text(where, item, "format") or "slack"
    if fmt not in FORMATS:
        raise PolicyValidationError(f"{where}: format must be slack or teams, not {fmt!r}")
    return WebhookChannel(str(_text(where, item, "name", required=True)), url, fmt)


# -- evaluation ------------------------------------------------------------------------------------------------------


@dataclass
class AlertState:
    """The rules' memory: recent matches per (rule, agent) for repetition rules, and when each last fired."""

    rules: AlertRules
    _recent: dict[tuple[str, str], deque[tuple[float, str]]] = field(default_factory=dict)
    _fired: dict[tuple[str, str], float] = field(default_factory=dict)

    def evaluate(self, record: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The alerts ``record`` raises (not yet delivered or chained)."""
        alerts = []
        for rule in self.rules.rules:
            if not rule_matches(rule, record):
                continue
            triggering = self._triggering(rule, record)
            if triggering and not self._quiet(rule, record):
                alerts.append(_alert(rule, record, triggering))
        return alerts

    def _quiet(self, rule: AlertRule, record: Mapping[str, Any]) -> bool:
        if rule.quiet_s <= 0:
            return False
        try:
            at = parse_timestamp(str(record.get("timestamp")))
        except (ValueError, TypeError):
            return False  # no readable time: better one alert too many than one too few
        key = (rule.name, str(record.get("agent_id")))
        last = self._fired.get(key)
        if last is not None and at - last < rule.quiet_s:
            return True
        self._fired[key] = at
        return False

    def _triggering(self, rule: AlertRule, record: Mapping[str, Any]) -> list[str]:
        decision_id = str(record.get("decision_id") or record.get("hash") or "")
        if rule.count == 1:
            return [decision_id]
        try:
            at = parse_timestamp(str(record.get("timestamp")))
        except (ValueError, TypeError):
            return []  # a record without a readable time cannot be placed in a window
        recent = self._recent.setdefault((rule.name, str(record.get("agent_id"))), deque())
        recent.append((at, decision_id))
        while recent and recent[0][0] <= at - rule.window_s:
            recent.popleft()
        if len(recent) < rule.count:
            return []
        ids = [item for _, item in recent]
        recent.clear()  # the next alert needs `count` new matches
        return ids


def _alert(rule: AlertRule, record: Mapping[str, Any], triggering: list[str]) -> dict[str, Any]:
    # The id is derived from the rule and the record that completed it: a record shipped twice (at least once)
    # raises the same alert id, which the history then refuses to add again.
    seed = f"{rule.name}\0{record.get('hash') or triggering[-1]}"
    codes = sorted({str(r.get("code")) for r in record.get("reasons") or [] if isinstance(r, Mapping)})
    what = record.get("event") or f"{record.get('decision')} {record.get('method')} {record.get('path')}"
    repeated = f" ({len(triggering)} times within {rule.window_s:g}s)" if rule.count > 1 else ""
    alert: dict[str, Any] = {
        "kind": "alert",
        "alert_id": "al-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:16],
        "timestamp": record.get("timestamp"),
        "rule": rule.name,
        "severity": rule.severity,
        "agent_id": record.get("agent_id"),
        "summary": f"[{rule.severity}] {rule.name}: agent {record.get('agent_id')}: {what}{repeated}",
        "codes": codes,
        "decision_ids": triggering,
        "record_hash": record.get("hash"),
        "policy_version": record.get("policy_version"),
    }
    if isinstance(record.get("tenant"), str):
        alert["tenant"] = record["tenant"]  # the alert belongs to the tenant's view of the history, as its record
    return alert


def slack_payload(alert: Mapping[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook body: ``text`` (the notification) and Block Kit ``blocks`` (the message)."""
    facts = _facts(alert)
    return {
        "text": str(alert["summary"]),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"{alert['severity'].upper()}: {alert['rule']}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _escape_slack(str(alert["summary"]))}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{_escape_slack(v)}"} for k, v in facts]},
        ],
    }


def teams_payload(alert: Mapping[str, Any]) -> dict[str, Any]:
    """Microsoft Teams' incoming-webhook body: a legacy ``MessageCard`` (what connectors and Workflows accept)."""
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": str(alert["summary"]),
        "themeColor": _COLOURS.get(str(alert["severity"]), "808080"),
        "title": f"{str(alert['severity']).upper()}: {alert['rule']}",
        "text": str(alert["summary"]),
        "sections": [{"facts": [{"name": k, "value": v} for k, v in _facts(alert)]}],
    }


def _facts(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        ("alert", str(alert["alert_id"])),
        ("agent", str(alert.get("agent_id"))),
        ("detected", str(alert.get("timestamp"))),
        ("reasons", ", ".join(alert.get("codes") or []) or "-"),
        ("decisions", ", ".join(alert.get("decision_ids") or [])[:300]),
        ("acknowledge", f"yaml2rego alerts ack {alert['alert_id']} --by NAME"),
    ]


def _escape_slack(text: str) -> str:
    # Slack reads &, < and > as markup (links, mentions): a hostile path must not become a link or an @channel.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- the alert history -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # the guard's sink and `alerts ack` may append at the same time
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _scan(lines: Iterable[bytes]) -> tuple[set[str], str | None]:
    """One pass over the history: the ids of the alerts in it, and the hash its next entry chains to."""
    ids: set[str] = set()
    last = None
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if not isinstance(value, dict):
            continue
        if value.get("kind") == "alert":
            ids.add(str(value.get("alert_id")))
        if isinstance(value.get("hash"), str):
            last = value["hash"]
    return ids, last


def append_alert_entry(path: str | os.PathLike[str], entry: dict[str, Any], key: CheckpointKey | None) -> bool:
    """Append ``entry`` (an alert or an ack) to the history, chained, then a closing checkpoint signed with ``key``.

    Returns ``False`` (and writes nothing) for an alert whose id is already in the history.
    """
    target = Path(path)
    with _locked(target) as handle:
        handle.seek(0)
        ids, last = _scan(handle)
        if entry.get("kind") == "alert" and str(entry.get("alert_id")) in ids:
            return False
        chain = HashChain(last) if last else HashChain()
        data = chain.seal_encoded(dict(entry))
        if key is not None:
            data += chain.seal_checkpoint(checkpoint_record(key, 1, closing=True), key)
        handle.seek(0, os.SEEK_END)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def acknowledge(
    path: str | os.PathLike[str], alert_id: str, by: str, note: str | None, key: CheckpointKey | None
) -> dict[str, Any]:
    """Record that ``by`` handled ``alert_id``: the history then shows who, when and what was done."""
    if not by.strip() or "\n" in by:
        raise EvidenceError("--by must name who handled the alert (one line)")
    known = {alert["alert_id"]: alert for alert in read_alerts(path)}
    if alert_id not in known:
        raise EvidenceError(f"no alert {alert_id!r} in {path}")
    entry: dict[str, Any] = {"kind": "ack", "alert_id": alert_id, "by": by, "timestamp": rfc3339_now()}
    if isinstance(known[alert_id].get("tenant"), str):
        entry["tenant"] = known[alert_id]["tenant"]
    if note:
        entry["note"] = note
    append_alert_entry(path, entry, key)
    return entry


def read_alerts(path: str | os.PathLike[str], key: CheckpointKey | None = None) -> list[dict[str, Any]]:
    """Every alert in the history with its acknowledgements (``acks``), oldest first; the chain is checked first."""
    report = verify_log([path], key=key)
    if not report.ok:
        where = f" at line {report.line}" if report.line else ""
        raise EvidenceError(f"the alert history {path} does not verify{where}: {report.problem}")
    alerts: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            if entry.get("kind") == "alert":
                alerts[entry["alert_id"]] = {**entry, "acks": []}
            elif entry.get("kind") == "ack" and entry.get("alert_id") in alerts:
                alerts[entry["alert_id"]]["acks"].append(entry)
    return list(alerts.values())


def _alert_ids(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    with path.open("rb") as handle:
        return _scan(handle)[0]


class AlertSink:
    """A record sink that raises alerts: evaluate, deliver to every channel, append to the history."""

    name = "alerts"

    def __init__(self, rules: AlertRules, history: str | os.PathLike[str], *, key: CheckpointKey | None = None) -> None:
        self.state = AlertState(rules)
        self.history = Path(history)
        self.key = key
        self.raised = 0
        # Alerts already in the history: a record shipped again after a restart must not page anyone twice.
        self._known = _alert_ids(self.history)

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        for record in records:
            if "checkpoint" in record:
                continue
            for alert in self.state.evaluate(record):
                if alert["alert_id"] in self._known:
                    continue
                alert["notified"] = [channel.send(alert) for channel in self.state.rules.channels]
                if append_alert_entry(self.history, alert, self.key):
                    self.raised += 1
                    log.warning("alert %s: %s", alert["alert_id"], alert["summary"])
                self._known.add(alert["alert_id"])

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self) -> None:
        pass
