"""Decision records: one plain dict per decision, chained by SHA-256 so an edited or deleted record shows.

Every record carries ``prev_hash`` (the previous record's ``hash``, or 64 zeros for the first) and ``hash``, the
SHA-256 of the record's canonical JSON (sorted keys, compact separators, UTF-8) without its own ``hash`` key.

>>> chain = HashChain()
>>> first = chain.seal({"decision_id": "d-1", "decision": "allow"})
>>> second = chain.seal({"decision_id": "d-2", "decision": "deny"})
>>> second["prev_hash"] == first["hash"]
True
>>> verify_records([first, second]).ok
True
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "GENESIS_HASH",
    "HashChain",
    "VerifyResult",
    "build_record",
    "canonical_json",
    "input_digest",
    "parse_timestamp",
    "record_hash",
    "rfc3339_now",
    "verify_file",
    "verify_records",
]

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept as is: the one text every digest is computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def input_digest(call: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical input the engine was asked about (bodies included)."""
    return "sha256:" + hashlib.sha256(canonical_json(call).encode("utf-8")).hexdigest()


def record_hash(record: Mapping[str, Any]) -> str:
    body = {key: value for key, value in record.items() if key != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


_second_cache: tuple[int, str] = (0, "")


def rfc3339_now() -> str:
    """Now, as ``2026-11-21T10:00:00.250000Z``. The part up to the second is formatted once per second (strftime
    costs more than everything else here, and this runs on every call)."""
    global _second_cache
    now = time.time()
    second = int(now)
    cached_second, prefix = _second_cache
    if cached_second != second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second_cache = (second, prefix)
    return f"{prefix}.{int((now - second) * 1_000_000):06d}Z"


def parse_timestamp(text: str) -> float:
    """Seconds since the epoch for an RFC 3339 timestamp, nanoseconds included (OPA writes nine digits)."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    main, _, rest = text.partition(".")
    fraction, offset = "", rest
    if rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, offset = rest[:digits], rest[digits:]
    if not rest:
        # No fraction: the offset is still at the end of `main`.
        return datetime.fromisoformat(main).timestamp()
    stamp = datetime.fromisoformat(main + offset).timestamp()
    return stamp + (float("0." + fraction) if fraction else 0.0)


class HashChain:
    """Adds ``prev_hash`` and ``hash`` to records, in the order they are sealed. Thread-safe."""

    def __init__(self, last_hash: str = GENESIS_HASH) -> None:
        self.last_hash = last_hash
        self._lock = threading.Lock()

    def seal(self, record: dict[str, Any]) -> dict[str, Any]:
        self.seal_encoded(record)
        return record

    def seal_encoded(self, record: dict[str, Any]) -> bytes:
        """Seal ``record`` and return it as one JSON line: the canonical text the hash covers, then ``hash``.

        Sinks that write text reuse this line instead of serialising the record again (keys sorted, ``hash`` last).
        """
        record.pop("hash", None)
        with self._lock:
            record["prev_hash"] = self.last_hash
            text = canonical_json(record)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            record["hash"] = self.last_hash = digest
        return f'{text[:-1]},"hash":"{digest}"}}\n'.encode()


def build_record(
    call: Mapping[str, Any],
    decision: Any,
    *,
    digest: str,
    timestamp: str | None = None,
    trace: tuple[str, str] | None = None,
    log_body: bool = False,
) -> dict[str, Any]:
    """The record for one decision (not yet chained). ``decision`` is a :class:`~yaml2rego.adapters.Decision`."""
    record: dict[str, Any] = {
        "timestamp": timestamp or rfc3339_now(),
        "decision_id": decision.decision_id,
    }
    if trace is not None:
        record["trace_id"], record["span_id"] = trace
    record["agent_id"] = call.get("agent_id")
    record["method"] = call.get("method")
    record["path"] = call.get("path")
    # A tool call's who, what and where (never its arguments: those follow the body rule below).
    for key in ("tool", "action", "environment", "requester_role"):
        if call.get(key) is not None:
            record[key] = call[key]
    record.update(
        decision=decision.decision,
        allow=decision.allow,
        enforced=decision.enforced,
        reasons=decision.reasons,
        decision_reason=decision.decision_reason,
        controls=decision.controls,
        policy_version=decision.policy_version,
        mode=decision.mode,
    )
    if decision.approval_id is not None:
        record["approval_id"] = decision.approval_id
    details = getattr(decision, "details", None) or {}
    # What was redacted (field, detector, rule, count: never the value) and what the call cost against the budget.
    for key in ("redactions", "budget"):
        if details.get(key):
            record[key] = details[key]
    record.update(engine=decision.engine, latency_us=decision.latency_us, input_sha256=digest)
    if log_body:
        # The body or a tool call's arguments as the caller sent them (opt-in: they may hold personal data).
        for key in ("body", "args"):
            if key in call:
                record[key] = call[key]
    return record


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking a chain: ``ok``, how many records were checked, and the first problem found."""

    ok: bool
    records: int
    last_hash: str | None = None
    line: int | None = None
    decision_id: str | None = None
    problem: str | None = None


def verify_records(records: Iterable[Mapping[str, Any]], prev_hash: str | None = None) -> VerifyResult:
    """Check each record's hash and its link to the one before. ``prev_hash=None`` accepts the first link as is."""
    count = 0
    last = prev_hash
    for count, record in enumerate(records, start=1):
        problem = _record_problem(record, last)
        if problem:
            return VerifyResult(False, count - 1, last, count, _id_of(record), problem)
        last = str(record["hash"])
    return VerifyResult(True, count, last)


def verify_file(path: str | os.PathLike[str], prev_hash: str | None = None) -> VerifyResult:
    """Check a JSON-lines record file; ``line`` in the result counts from 1, as editors do."""
    last = prev_hash
    count = 0
    for number, text, record in _lines(path):
        problem = "the line is not a JSON object" if record is None else None
        if record is not None:
            problem = _record_problem(record, last)
        if problem and not text.endswith("\n"):
            problem = "the last line is incomplete (a write was cut short)"
        if problem:
            return VerifyResult(False, count, last, number, _id_of(record), problem)
        assert record is not None
        last = str(record["hash"])
        count += 1
    return VerifyResult(True, count, last)


def _lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str, dict[str, Any] | None]]:
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            yield number, text, value if isinstance(value, dict) else None


def _record_problem(record: Mapping[str, Any], expected_prev: str | None) -> str | None:
    if not isinstance(record.get("hash"), str) or not isinstance(record.get("prev_hash"), str):
        return "the record has no hash or prev_hash"
    if record_hash(record) != record["hash"]:
        return "the record's hash does not match its content (the record was altered)"
    if expected_prev is not None and record["prev_hash"] != expected_prev:
        return "prev_hash does not match the previous record's hash (a record was removed, reordered or inserted)"
    return None


def _id_of(record: Mapping[str, Any] | None) -> str | None:
    value = record.get("decision_id") if record is not None else None
    return str(value) if value is not None else None
