"""The signed policy history: one JSON line per built bundle, each hash-chained to the one before and signed.

An auditor asks which policy was active on a date, who approved it and whether the record was altered (SOC 2 CC8.1).
Each entry records the bundle's revision and digest, its parent revision, when it was recorded, the author, reviewer,
approval id and comment, and which agents changed. ``hash`` covers every other field, including ``prev_hash`` (the
previous entry's hash), and ``signature`` is a JWS over ``{"hash", "seq"}`` made with the bundle signing key. So an
edited entry fails its hash or signature, and a reordered, inserted or deleted one breaks the chain or the sequence.
Cutting entries off the end leaves a valid shorter chain: pass the head hash kept elsewhere (``expected_head``) to
catch that too.

>>> entry_hash({"seq": 1, "revision": "v1", "prev_hash": GENESIS_HASH})[:7]
'sha256:'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from yaml2rego.bundles.bundle import Bundle
from yaml2rego.bundles.signing import encode_canonical_json, sign_jws, verify_jws
from yaml2rego.errors import BundleError, HistoryError, SignatureError

__all__ = [
    "GENESIS_HASH",
    "HistoryEntry",
    "active_at",
    "append_entry",
    "describe",
    "entry_hash",
    "format_timestamp",
    "parse_timestamp",
    "read_history",
    "verify_history",
]

GENESIS_HASH = "sha256:" + "0" * 64
_UNHASHED = ("hash", "signature")


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the history file."""

    seq: int
    revision: str
    parent_revision: str | None
    bundle_digest: str
    timestamp: str
    author: str | None
    reviewer: str | None
    approval_id: str | None
    comment: str | None
    agents_changed: Mapping[str, list[str]]
    agent_digests: Mapping[str, str]
    key_id: str | None
    prev_hash: str
    hash: str = ""
    signature: str = ""
    line: int = field(default=0, compare=False)

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record.pop("line")
        return record

    @property
    def changed_agent_ids(self) -> list[str]:
        return sorted({agent for agents in self.agents_changed.values() for agent in agents})


def entry_hash(record: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of every field except ``hash`` and ``signature``."""
    body = {key: value for key, value in record.items() if key not in _UNHASHED}
    return "sha256:" + hashlib.sha256(encode_canonical_json(body).encode("utf-8")).hexdigest()


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 time (``2026-11-01T12:00:00Z``) or a date; a time without offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError as exc:
        raise HistoryError(f"not a timestamp: {text!r} (use RFC 3339, e.g. 2026-11-01T12:00:00Z)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryError(f"cannot read history {path}: {exc}") from exc
    return [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _entry_from(record: Mapping[str, Any], line: int) -> HistoryEntry:
    names = HistoryEntry.__dataclass_fields__
    missing = [name for name in names if name not in ("line",) and name not in record]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    return HistoryEntry(**{key: value for key, value in record.items() if key in names and key != "line"}, line=line)


def read_history(path: str | Path) -> list[HistoryEntry]:
    """The entries of a history file, unchecked (see :func:`verify_history`). A missing file is an empty history."""
    entries = []
    for number, line in _read_lines(Path(path)):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            entries.append(_entry_from(record, number))
        except (ValueError, TypeError) as exc:
            raise HistoryError(f"{path}:{number}: not a history entry ({exc})") from exc
    return entries


def _check_entry(entry: HistoryEntry, previous: HistoryEntry | None, key: bytes, algorithm: str) -> list[str]:
    where = f"line {entry.line} (seq {entry.seq}, revision {entry.revision})"
    problems = []
    if entry_hash(entry.as_dict()) != entry.hash:
        problems.append(f"{where}: content does not match its hash (entry edited)")
    try:
        payload = verify_jws(entry.signature, key, algorithm)
        if payload.get("hash") != entry.hash or payload.get("seq") != entry.seq:
            problems.append(f"{where}: signature is for another entry (signature copied or entry edited)")
    except (SignatureError, BundleError) as exc:
        problems.append(f"{where}: bad signature: {exc}")
    expected_prev = previous.hash if previous else GENESIS_HASH
    if entry.prev_hash != expected_prev:
        before = f"line {previous.line}" if previous else "the start of the history"
        problems.append(f"{where}: does not chain to {before} (an entry was inserted, deleted or reordered here)")
    # Counted from the previous entry, not the line number, so one deleted entry is reported once, where it was.
    expected_seq = previous.seq + 1 if previous else 1
    if entry.seq != expected_seq:
        problems.append(
            f"{where}: sequence number {entry.seq}, expected {expected_seq} (entry deleted, inserted or moved)"
        )
    if previous is not None:
        try:
            if parse_timestamp(entry.timestamp) < parse_timestamp(previous.timestamp):
                problems.append(f"{where}: recorded before line {previous.line} (entries reordered)")
        except HistoryError as exc:
            problems.append(f"{where}: {exc}")
        if entry.parent_revision != previous.revision:
            problems.append(
                f"{where}: parent revision {entry.parent_revision!r} but the previous entry is {previous.revision!r}"
            )
    return problems


def verify_history(
    path: str | Path, key: bytes, *, algorithm: str = "RS256", expected_head: str | None = None
) -> list[HistoryEntry]:
    """The entries of ``path`` after checking every hash, signature, link and sequence number.

    Raises :class:`HistoryError` listing each problem with its line. ``key`` is the verification key (for RS/ES/PS
    algorithms the public key; a private key also works). ``expected_head`` is the last entry's hash as kept
    elsewhere (e.g. in a ticket or a CI log), which also catches entries cut off the end.
    """
    entries = read_history(path)
    problems: list[str] = []
    previous: HistoryEntry | None = None
    for entry in entries:
        problems.extend(_check_entry(entry, previous, key, algorithm))
        previous = entry
    if expected_head is not None:
        head = entries[-1].hash if entries else GENESIS_HASH
        if head != expected_head:
            known = [entry.line for entry in entries if entry.hash == expected_head]
            detail = f"entries after line {known[0]} were removed" if known else "the expected head is not in the file"
            problems.append(f"history head is {head}, expected {expected_head} ({detail})")
    if problems:
        raise HistoryError(f"policy history {path} does not verify:\n" + "\n".join(f"  - {p}" for p in problems))
    return entries


def _agents_changed(previous: Mapping[str, str], current: Mapping[str, str]) -> dict[str, list[str]]:
    return {
        "added": sorted(set(current) - set(previous)),
        "removed": sorted(set(previous) - set(current)),
        "modified": sorted(agent for agent in set(current) & set(previous) if current[agent] != previous[agent]),
    }


def append_entry(
    path: str | Path,
    bundle: Bundle,
    *,
    key: bytes,
    algorithm: str = "RS256",
    key_id: str | None = None,
    author: str | None = None,
    comment: str | None = None,
    timestamp: datetime | None = None,
) -> HistoryEntry:
    """Record ``bundle`` as the newest entry of the history at ``path`` (created if missing) and return the entry.

    The existing history is verified first with ``key``: appending to a tampered history would hide the tampering.
    Reviewer and approval id come from the bundle's manifest metadata; the comment defaults to its ``note``.

    >>> append_entry("policy-history.jsonl", bundle, key=private_pem, author="alice")  # doctest: +SKIP
    """
    history_path = Path(path)
    entries = verify_history(history_path, key, algorithm=algorithm)
    previous = entries[-1] if entries else None
    moment = timestamp or datetime.now(UTC)
    if previous is not None and moment < parse_timestamp(previous.timestamp):
        raise HistoryError(f"cannot record at {format_timestamp(moment)}: the last entry is {previous.timestamp}")
    metadata = bundle.metadata
    digests = {str(k): str(v) for k, v in (metadata.get("agent_digests") or {}).items()}
    record: dict[str, Any] = {
        "seq": len(entries) + 1,
        "revision": bundle.revision,
        "parent_revision": previous.revision if previous else None,
        "bundle_digest": bundle.digest,
        "timestamp": format_timestamp(moment),
        "author": author,
        "reviewer": metadata.get("reviewer"),
        "approval_id": metadata.get("approval_id"),
        "comment": comment if comment is not None else metadata.get("note"),
        "agents_changed": _agents_changed(previous.agent_digests if previous else {}, digests),
        "agent_digests": digests,
        "key_id": key_id,
        "prev_hash": previous.hash if previous else GENESIS_HASH,
    }
    record["hash"] = entry_hash(record)
    record["signature"] = sign_jws({"hash": record["hash"], "seq": record["seq"]}, key, algorithm, key_id)
    history_path.parent.mkdir(parents=True, exist_ok=True)
    with history_path.open("a", encoding="utf-8") as stream:
        stream.write(encode_canonical_json(record) + "\n")
    return _entry_from(record, len(_read_lines(history_path)))


def active_at(entries: Sequence[HistoryEntry], moment: datetime | str) -> HistoryEntry | None:
    """The entry in force at ``moment``: the last one recorded at or before it (None before the first).

    >>> active_at([], "2026-11-01T12:00:00Z") is None
    True
    """
    when = parse_timestamp(moment) if isinstance(moment, str) else moment
    active = None
    for entry in entries:
        if parse_timestamp(entry.timestamp) <= when:
            active = entry
    return active


def describe(entries: Iterable[HistoryEntry]) -> list[str]:
    """Human-readable lines for ``history show``."""
    lines = []
    for entry in entries:
        changed = ", ".join(f"{kind}: {' '.join(agents)}" for kind, agents in entry.agents_changed.items() if agents)
        lines.append(
            f"#{entry.seq} {entry.timestamp} revision {entry.revision}"
            f" (parent {entry.parent_revision or '-'})\n"
            f"    bundle {entry.bundle_digest}\n"
            f"    author {entry.author or '-'}, reviewer {entry.reviewer or '-'}, approval {entry.approval_id or '-'}\n"
            f"    agents {changed or 'unchanged'}\n"
            f"    comment {entry.comment or '-'}\n"
            f"    hash {entry.hash}"
        )
    return lines
