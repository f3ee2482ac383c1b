"""Replay: re-decide every recorded input against a candidate policy and report the decisions that would flip.

Change review with evidence: before a policy change is merged, ``yaml2rego replay decisions.jsonl --policy new.yaml``
says which real calls of the last days it would have decided differently, grouped by agent and by the rule that
decided them. A record can be replayed only when the guard kept its input (``Guard(..., record_input=True)``); records
without it, records decided by the runtime rather than the policy (an unreachable engine, the kill switch), and
records whose input was redacted by a ``sanitize`` decision (the redacted input is not what the policy saw) are
counted as not replayable, each with its reason. The log's hash chain is checked first: a broken log is refused.

>>> flip_kind("deny", "allow")
'loosens'
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yaml2rego.errors import EngineError, EvidenceError
from yaml2rego.runtime.records import input_digest, verify_log
from yaml2rego.runtime.shadow import UNREPLAYABLE_CODES, policy_outcome

__all__ = ["Flip", "ReplayReport", "candidate_engine", "flip_kind", "format_report", "replay"]

_NOT_REPLAYABLE = {
    "no_input": "no input recorded (only its digest): run the guard with record_input=True",
    "redacted": "the input was redacted by a sanitize decision, so it is not what the policy saw",
    "runtime": "decided by the runtime, not the policy (engine unavailable or agent suspended)",
    "digest": "the kept input does not match the record's input_sha256",
}


def flip_kind(before: str, after: str) -> str:
    """``loosens`` when the candidate lets through what was not let through (anything → allow), else ``tightens``."""
    return "loosens" if after == "allow" and before != "allow" else "tightens"


@dataclass(frozen=True)
class Flip:
    """One recorded call the candidate decides differently."""

    decision_id: str
    agent_id: str
    rule: str  # the candidate's rule that decides it now: the changed rule a reviewer looks for
    was: str  # the rule that decided it when it was recorded
    before: str
    after: str
    method: Any
    path: Any
    timestamp: Any

    @property
    def kind(self) -> str:
        return flip_kind(self.before, self.after)


@dataclass
class ReplayReport:
    records: int = 0
    replayed: int = 0
    unchanged: int = 0
    flips: list[Flip] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    candidate_version: str | None = None

    @property
    def loosens(self) -> bool:
        return any(flip.kind == "loosens" for flip in self.flips)

    def groups(self) -> dict[tuple[str, str, str, str], list[Flip]]:
        """Flips by (agent, rule, before, after), in a stable order."""
        grouped: dict[tuple[str, str, str, str], list[Flip]] = {}
        for flip in sorted(self.flips, key=lambda f: (f.agent_id, f.rule, f.before, f.after)):
            grouped.setdefault((flip.agent_id, flip.rule, flip.before, flip.after), []).append(flip)
        return grouped

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "replayed": self.replayed,
            "unchanged": self.unchanged,
            "candidate_policy_version": self.candidate_version,
            "loosens": self.loosens,
            "not_replayed": [
                {"reason": key, "count": count, "why": _NOT_REPLAYABLE[key]}
                for key, count in sorted(self.skipped.items())
            ],
            "flips": [
                {
                    "agent_id": agent, "rule": rule, "before": before, "after": after, "kind": flips[0].kind,
                    "count": len(flips), "decision_ids": [flip.decision_id for flip in flips],
                    "was": sorted({flip.was for flip in flips}),
                }
                for (agent, rule, before, after), flips in self.groups().items()
            ],
        }  # fmt: skip


def candidate_engine(source: str | os.PathLike[str]) -> Any:
    """The embedded (regorus) engine for a candidate: boundary YAML (file or folder), a compiled folder, or a bundle."""
    from yaml2rego.engines.embedded import EmbeddedEngine, decision_modules

    path = Path(source)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        from yaml2rego.bundles.bundle import read_bundle

        bundle = read_bundle(path)
        modules = {
            name: content.decode("utf-8")
            for name, content in bundle.files.items()
            if name.endswith(".rego") and not name.endswith("_test.rego")
        }
        if not modules:
            raise EngineError(f"no Rego modules in the bundle {path}")
        return EmbeddedEngine(decision_modules(modules), {"boundaries": bundle.data()})
    if path.is_dir() and any(path.rglob("*.rego")):
        return EmbeddedEngine.from_directory(path)
    return EmbeddedEngine.from_policy_paths([path])


def _decided_rule(record: Mapping[str, Any]) -> str:
    reasons = [reason for reason in record.get("reasons") or [] if isinstance(reason, Mapping)]
    if reasons:
        first = reasons[0]
        return str(first.get("rule") or first.get("code") or "-")
    reason = str(record.get("decision_reason") or "")
    # An allow names its rule in the reason ("allowed by allowed_endpoints[0] (…)"): the rule that let it through.
    marker = " by "
    return reason.split(marker, 1)[1].split(" ", 1)[0] if marker in reason else "-"


def replay(files: Sequence[str | os.PathLike[str]], engine: Any, *, verify: bool = True) -> ReplayReport:
    """Re-decide every replayable record of ``files`` (oldest first) with ``engine``."""
    if verify:
        checked = verify_log(files)
        if not checked.ok:
            raise EvidenceError(
                f"{checked.file}:{checked.line}: the record log does not verify ({checked.problem}); "
                "pass --no-verify to replay it anyway"
            )
    report = ReplayReport()
    for record in _records(files):
        report.records += 1
        why = _unreplayable(record)
        if why:
            report.skipped[why] += 1
            continue
        answer = engine.decide(record["input"])
        report.candidate_version = report.candidate_version or answer.get("policy_version")
        report.replayed += 1
        before, after = policy_outcome(record), str(answer.get("decision"))
        if before == after:
            report.unchanged += 1
            continue
        report.flips.append(
            Flip(
                decision_id=str(record.get("decision_id")), agent_id=str(record.get("agent_id")),
                rule=_decided_rule(answer), was=_decided_rule(record),
                before=before, after=after, method=record.get("method"), path=record.get("path"),
                timestamp=record.get("timestamp"),
            )
        )  # fmt: skip
    return report


def _unreplayable(record: Mapping[str, Any]) -> str | None:
    kept = record.get("input")
    if not isinstance(kept, Mapping):
        return "no_input"
    codes = {str(r.get("code")) for r in record.get("reasons") or [] if isinstance(r, Mapping)}
    if codes & UNREPLAYABLE_CODES:
        return "runtime"
    if record.get("input_redacted"):
        return "redacted"
    expected = record.get("input_kept_sha256") or record.get("input_sha256")
    if expected and input_digest(kept) != expected:
        return "digest"  # the kept input is not the one the record says was decided on
    return None


def _records(files: Iterable[str | os.PathLike[str]]) -> Iterable[dict[str, Any]]:
    from yaml2rego.runtime.records import log_lines

    for name in files:
        for number, _, record in log_lines(name):
            if record is None:
                raise EvidenceError(f"{name}:{number}: not a JSON record")
            if "decision" in record:  # decisions only: no checkpoints, no events
                yield record


def format_report(report: ReplayReport, fmt: str = "text") -> str:
    """The report as ``text``, ``markdown`` or ``json``."""
    if fmt == "json":
        return json.dumps(report.as_dict(), indent=2, sort_keys=True)
    data = report.as_dict()
    lines: list[str] = []
    head = (
        f"{report.records} decision records, {report.replayed} replayed against "
        f"{report.candidate_version or 'the candidate'}: {len(report.flips)} would flip, {report.unchanged} unchanged"
    )
    if fmt == "markdown":
        lines += ["# Replay", "", head, ""]
        if data["flips"]:
            lines += ["| agent | rule | flip | kind | calls |", "|---|---|---|---|---|"]
            lines += [
                f"| {g['agent_id']} | {g['rule']} | {g['before']} → {g['after']} | {g['kind']} | {g['count']} |"
                for g in data["flips"]
            ]
        for item in data["not_replayed"]:
            lines.append(f"\n{item['count']} not replayed: {item['why']}")
        return "\n".join(lines)
    lines.append(head)
    for group in data["flips"]:
        lines.append(
            f"  {group['kind'].upper():9} {group['agent_id']} {group['rule']}: {group['before']} -> {group['after']} "
            f"({group['count']} call{'s' if group['count'] != 1 else ''}, e.g. {group['decision_ids'][0]})"
        )
    for item in data["not_replayed"]:
        lines.append(f"  {item['count']} not replayed: {item['why']}")
    return "\n".join(lines)
