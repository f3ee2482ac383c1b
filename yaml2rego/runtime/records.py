"""Decision records: one plain dict per decision, chained by SHA-256 so an edited or deleted record shows.

Every record carries ``prev_hash`` (the previous record's ``hash``, or 64 zeros for the first), ``content_sha256``
(the SHA-256 of the record's canonical JSON, sorted keys, compact separators, UTF-8, without its chain keys) and
``hash``, the *link*: the SHA-256 of the canonical JSON of ``{"content_sha256", "prev_hash", "tenant_sha256"}``,
where ``tenant_sha256`` commits to the record's ``tenant`` (:func:`tenant_commitment`). Because a link covers the
content only through its digest, a record can be *redacted* (:func:`redacted_link`: the content left out, those three
digests kept) and the chain still verifies end to end: a log holding several tenants' records becomes one tenant's
log (``yaml2rego evidence --tenant``) without a byte of the others' content, and :func:`verify_log` with ``tenant``
proves that none of that tenant's own records is among the redacted ones. Records written before links existed
(``hash`` over the whole record, no ``content_sha256``) still verify; they cannot be redacted.

An unkeyed chain shows an edit in the middle, not a cut at the end nor a forged record appended after the last one
(anyone can compute a SHA-256). So the log also holds *checkpoints*: chained lines whose ``hash`` is signed with a
key the writer holds (Ed25519, or HMAC-SHA256 with a shared secret). A checkpoint's signature vouches for every
line before it; :func:`verify_log` with the key reports what comes after the last one, and a head kept elsewhere
(``expected_head``) proves nothing was cut before it.

>>> chain = HashChain()
>>> first = chain.seal({"decision_id": "d-1", "decision": "allow"})
>>> second = chain.seal({"decision_id": "d-2", "decision": "deny"})
>>> second["prev_hash"] == first["hash"]
True
>>> verify_records([first, second]).ok
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from yaml2rego.canonical_json import canonical_lenient
from yaml2rego.errors import SignatureError

__all__ = [
    "GENESIS_HASH",
    "CheckpointKey",
    "HashChain",
    "LogReport",
    "TenantView",
    "VerifyResult",
    "build_record",
    "checkpoint_record",
    "content_sha256",
    "event_record",
    "input_digest",
    "is_redacted",
    "log_lines",
    "parse_timestamp",
    "record_hash",
    "redacted_link",
    "rfc3339_now",
    "tenant_commitment",
    "verify_file",
    "verify_log",
    "verify_records",
    "write_tenant_view",
]

GENESIS_HASH = "0" * 64


def input_digest(call: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical input the engine was asked about (bodies included)."""
    return "sha256:" + hashlib.sha256(canonical_lenient(call).encode("utf-8")).hexdigest()


# Keys a line's hash does not cover: the hash itself, and a checkpoint's signature (which is made over the hash).
_UNHASHED = ("hash", "signature")
# Keys outside a record's content: what chains it, not what it says.
_CHAIN_KEYS = frozenset(("hash", "signature", "prev_hash", "content_sha256", "tenant_sha256", "redacted"))
# The whole of a redacted link.
_REDACTED_KEYS = frozenset(("redacted", "content_sha256", "tenant_sha256", "prev_hash", "hash"))


def content_sha256(record: Mapping[str, Any]) -> str:
    """The SHA-256 of a record's content: its canonical JSON without the chain keys."""
    body = {key: value for key, value in record.items() if key not in _CHAIN_KEYS}
    return hashlib.sha256(canonical_lenient(body).encode("utf-8")).hexdigest()


def tenant_commitment(tenant: Any, content: str) -> str:
    """The digest a link carries for the record's tenant: of the tenant's name and the record's own content digest.

    Salted by the content digest, so redacted links of one tenant cannot be told apart from another's (nor counted
    per tenant); anyone who knows a tenant's name and a link can still tell whether the link is that tenant's, which
    is how a tenant's evidence proves that none of its own records was redacted.
    """
    name = tenant if isinstance(tenant, str) else ""
    return hashlib.sha256(f"yaml2rego-tenant\0{name}\0{content}".encode()).hexdigest()


def _link(prev_hash: Any, content: str, tenant: str) -> str:
    """The SHA-256 of the canonical JSON of ``{"content_sha256", "prev_hash", "tenant_sha256"}``."""
    digests = prev_hash + content + tenant if isinstance(prev_hash, str) else ""
    if digests.isascii() and digests.isalnum():
        # Hex digests need no escaping: the canonical text, written out (this runs for every record sealed).
        text = f'{{"content_sha256":"{content}","prev_hash":"{prev_hash}","tenant_sha256":"{tenant}"}}'
    else:
        text = canonical_lenient({"content_sha256": content, "prev_hash": prev_hash, "tenant_sha256": tenant})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_redacted(record: Mapping[str, Any]) -> bool:
    """Whether ``record`` is a redacted link (its content left out), not a record."""
    return record.get("redacted") is True and record.keys() <= _REDACTED_KEYS


def record_hash(record: Mapping[str, Any]) -> str:
    """The ``hash`` a line must carry: its link (records with ``content_sha256``, redacted links), else, for records
    written before links, the SHA-256 of the whole record without ``hash`` and ``signature``."""
    if "content_sha256" not in record:
        body = {key: value for key, value in record.items() if key not in _UNHASHED}
        return hashlib.sha256(canonical_lenient(body).encode("utf-8")).hexdigest()
    if is_redacted(record):
        return _link(record.get("prev_hash"), str(record.get("content_sha256")), str(record.get("tenant_sha256")))
    content = content_sha256(record)
    return _link(record.get("prev_hash"), content, tenant_commitment(record.get("tenant"), content))


def redacted_link(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` without its content: the link that keeps the chain verifiable through it (see the module's text).

    Raises :class:`~yaml2rego.errors.SignatureError` for a record written before links (its hash covers its whole
    content, so no part of it can be left out).
    """
    if "content_sha256" not in record or is_redacted(record):
        if is_redacted(record):
            return dict(record)
        raise SignatureError("the record was written before redactable links (it has no content_sha256)")
    content = content_sha256(record)
    return {
        "redacted": True,
        "content_sha256": content,
        "tenant_sha256": tenant_commitment(record.get("tenant"), content),
        "prev_hash": record.get("prev_hash"),
        "hash": record.get("hash"),
    }


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
        """Seal ``record`` and return it as one JSON line: the canonical text of its content, then its chain keys.

        Sinks that write text reuse this line instead of serialising the record again (content keys sorted, then
        ``content_sha256``, ``prev_hash`` and ``hash``).
        """
        if not _CHAIN_KEYS.isdisjoint(record):  # a record sealed before: its old chain keys are not content
            for key in _CHAIN_KEYS:
                record.pop(key, None)
        # The content and its digests do not depend on the chain: computed before taking the lock.
        text = canonical_lenient(record)
        content = hashlib.sha256(text.encode("utf-8")).hexdigest()
        tenant = tenant_commitment(record.get("tenant"), content)
        with self._lock:
            prev = self.last_hash
            digest = self.last_hash = _link(prev, content, tenant)
        record["content_sha256"], record["prev_hash"], record["hash"] = content, prev, digest
        shown_prev = f'"{prev}"' if isinstance(prev, str) and prev.isascii() and prev.isalnum() else json.dumps(prev)
        chain = f'"content_sha256":"{content}","prev_hash":{shown_prev},"hash":"{digest}"}}\n'
        return (f"{text[:-1]},{chain}" if len(text) > 2 else "{" + chain).encode()

    def seal_checkpoint(self, record: dict[str, Any], key: CheckpointKey) -> bytes:
        """Seal a checkpoint line: chained like a record, then ``signature`` over its ``hash`` (after ``hash``)."""
        line = self.seal_encoded(record)
        record["signature"] = key.sign(record["hash"])
        return line[:-2] + f',"signature":"{record["signature"]}"}}\n'.encode()


def build_record(
    call: Mapping[str, Any],
    decision: Any,
    *,
    digest: str,
    timestamp: str | None = None,
    trace: tuple[str, str] | None = None,
    log_body: bool = False,
    kept_input: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The record for one decision (not yet chained). ``decision`` is a :class:`~yaml2rego.runtime.Decision`.

    ``kept_input`` (the guard's ``record_input=True``) is the engine input as the decision let it through, redacted
    where the decision redacted and without an override token, kept for ``yaml2rego replay``; ``input_sha256`` stays the
    digest of the input as sent, and ``input_kept_sha256`` is the kept input's when the two differ.
    """
    record: dict[str, Any] = {
        "timestamp": timestamp or rfc3339_now(),
        "decision_id": decision.decision_id,
    }
    if trace is not None:
        record["trace_id"], record["span_id"] = trace
    record["agent_id"] = call.get("agent_id")
    if isinstance(call.get("tenant"), str):
        record["tenant"] = call["tenant"]  # stamped by the guard from its own identity (never the call's own)
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
    details = getattr(decision, "details", None) or {}
    if decision.approval_id is not None:
        record["approval_id"] = decision.approval_id
        if details.get("approver"):
            record["approver"] = details["approver"]  # who granted the approval this call ran under
    # What was redacted (field, detector, rule, count: never the value), what the call cost against the budget, and
    # the region its data went to (agents with data residency).
    for key in ("redactions", "budget", "region"):
        if details.get(key):
            record[key] = details[key]
    candidate = details.get("candidate")
    if isinstance(candidate, Mapping):
        # Shadow divergence: what the candidate policy beside the active one would have answered.
        record["candidate_policy_version"] = candidate.get("policy_version")
        record["candidate_decision"] = candidate.get("decision")
        record["diverged"] = bool(candidate.get("diverged"))
        if candidate.get("error"):
            record["candidate_error"] = candidate["error"]
    record.update(engine=decision.engine, latency_us=decision.latency_us, input_sha256=digest)
    if kept_input is not None:
        record["input"] = dict(kept_input)
        kept_digest = input_digest(kept_input)
        if kept_digest != digest:  # redacted, or an override token left out: replay checks the kept input by this
            record["input_kept_sha256"] = kept_digest
        record["input_redacted"] = bool(details.get("redaction_flags")) and decision.enforced
    if log_body:
        # The body or a tool call's arguments as the caller sent them (opt-in: they may hold personal data).
        for key in ("body", "args"):
            if key in call:
                record[key] = call[key]
    return record


def event_record(
    event: str,
    agent_id: str,
    reason: str | None,
    *,
    engine: str = "",
    timestamp: str | None = None,
    tenant: str | None = None,
) -> dict[str, Any]:
    """A record that is not a decision: the kill switch acting (``agent_suspended``/``agent_resumed``, CC7.4).

    ``tenant`` is the guard's own (as on its decisions), so the event is in that tenant's view of the log.

    It has no ``decision`` field, so tools that count decisions skip it; ``event`` says what happened.
    """
    record: dict[str, Any] = {"timestamp": timestamp or rfc3339_now(), "event": event, "agent_id": agent_id}
    if tenant is not None:
        record["tenant"] = tenant
    record["engine"] = engine
    if reason is not None:
        record["reason"] = reason
    record["controls"] = ["CC7.4"]
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
    for number, text, record in log_lines(path):
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


def log_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str, dict[str, Any] | None]]:
    """Each non-blank line of a JSON-lines log: its number (from 1), its text, and the object it holds (None when it
    holds no JSON object). The one reader of record logs: verify, ship, replay and evidence all read through it."""
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


# -- checkpoints -----------------------------------------------------------------------------------------------------

_PEM = b"-----BEGIN"


class CheckpointKey:
    """The key that signs (or only checks) checkpoints: Ed25519 (PEM, or a ``cryptography`` key object) or an HMAC
    secret (any other bytes, at least 32). A public Ed25519 key can only verify.

    >>> key = CheckpointKey(b"k" * 32)
    >>> key.verify("ab" * 32, key.sign("ab" * 32))
    True
    """

    def __init__(self, key: Any, key_id: str | None = None) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        self._private: ed25519.Ed25519PrivateKey | None = None
        self._public: ed25519.Ed25519PublicKey | None = None
        self._secret: bytes | None = None
        if isinstance(key, (str, Path)) and Path(key).is_file():
            key = Path(key).read_bytes()
        elif isinstance(key, str):
            key = key.encode("utf-8")
        if isinstance(key, bytes) and key.lstrip().startswith(_PEM):
            try:
                loaded: Any = (
                    serialization.load_pem_private_key(key, password=None)
                    if b"PRIVATE KEY-----" in key
                    else serialization.load_pem_public_key(key)
                )
            except (ValueError, TypeError) as exc:
                raise SignatureError(f"the checkpoint key is not a usable PEM key: {type(exc).__name__}") from None
            key = loaded
        if isinstance(key, ed25519.Ed25519PrivateKey):
            self._private, self._public = key, key.public_key()
            self.algorithm = "ed25519"
        elif isinstance(key, ed25519.Ed25519PublicKey):
            self._public = key
            self.algorithm = "ed25519"
        elif isinstance(key, bytes):
            if len(key) < 32:
                raise SignatureError("an HMAC checkpoint secret must be at least 32 bytes")
            self._secret = key
            self.algorithm = "hmac-sha256"
        else:
            raise SignatureError(
                f"a checkpoint key is an Ed25519 key (PEM or object) or an HMAC secret, not {type(key).__name__}"
            )
        self.key_id = key_id or self._fingerprint()

    @property
    def can_sign(self) -> bool:
        return self._private is not None or self._secret is not None

    def sign(self, digest: str) -> str:
        if self._private is not None:
            return base64.b64encode(self._private.sign(digest.encode("ascii"))).decode("ascii")
        if self._secret is None:
            raise SignatureError("a public key cannot sign checkpoints")
        return hmac.new(self._secret, digest.encode("ascii"), hashlib.sha256).hexdigest()

    def verify(self, digest: str, signature: str) -> bool:
        if self._secret is not None:
            expected = hmac.new(self._secret, digest.encode("ascii"), hashlib.sha256).hexdigest()
            return hmac.compare_digest(expected, signature)
        from cryptography.exceptions import InvalidSignature

        assert self._public is not None
        try:
            self._public.verify(base64.b64decode(signature, validate=True), digest.encode("ascii"))
        except (InvalidSignature, ValueError):
            return False
        return True

    def _fingerprint(self) -> str:
        # Names the key in each checkpoint without revealing it: a digest of the public key, or of the secret.
        from cryptography.hazmat.primitives import serialization

        if self._public is not None:
            material = self._public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        else:
            assert self._secret is not None
            material = hashlib.sha256(b"yaml2rego-checkpoint-key:" + self._secret).digest()
        return hashlib.sha256(material).hexdigest()[:16]


def checkpoint_record(key: CheckpointKey, records: int, *, closing: bool = False) -> dict[str, Any]:
    """A checkpoint, not yet chained: how many records since the previous one, and whether the writer closed here."""
    return {
        "timestamp": rfc3339_now(),
        "checkpoint": {"algorithm": key.algorithm, "key_id": key.key_id, "records": records, "closing": closing},
    }


@dataclass
class LogReport:
    """What :func:`verify_log` found. ``ok`` only when nothing is wrong and, with a key, nothing is unproven."""

    ok: bool = True
    records: int = 0
    checkpoints: int = 0
    last_hash: str | None = None
    problem: str | None = None
    file: str | None = None
    line: int | None = None
    decision_id: str | None = None
    broken_at: int | None = None
    # With a key: records covered by the last valid checkpoint, those after it, and whether the writer closed.
    signed_records: int = 0
    unsigned_tail: int = 0
    closed: bool = False
    notes: list[str] = field(default_factory=list)
    # Records left out (their links kept) by a tenant's view of the log; counted among ``records``.
    redacted: int = 0


def verify_log(
    files: Sequence[str | os.PathLike[str]],
    *,
    key: CheckpointKey | None = None,
    expected_head: str | None = None,
    tenant: str | None = None,
) -> LogReport:
    """Check the chain across ``files`` (oldest first); with ``key``, every checkpoint's signature, and what follows
    the last one; with ``expected_head``, that this hash (kept elsewhere) is in the log, at or before the last
    checkpoint when a key is given.

    Redacted links (:func:`redacted_link`) verify as links and are counted in ``redacted``. With ``tenant`` the log
    is that tenant's view (:func:`write_tenant_view`): every record in full is the tenant's, and no redacted link
    hides one of its records."""
    report = LogReport()
    last: str | None = None
    head_at: int | None = None  # how many lines (records and checkpoints) the chain had at the expected head
    lines_seen = 0
    signed_lines = 0
    for name in files:
        for in_file, (number, text, record) in enumerate(log_lines(name)):
            problem = "the line is not a JSON object" if record is None else _record_problem(record, last)
            if problem and not text.endswith("\n"):
                problem = "the last line is incomplete (a write was cut short)"
            if problem is None and record is not None and "checkpoint" in record and key is not None:
                problem = _checkpoint_problem(record, key)
            if problem is None and record is not None and tenant is not None:
                problem = _tenant_problem(record, tenant)
            if problem:
                report.ok, report.problem, report.file, report.line = False, problem, str(name), number
                report.decision_id, report.broken_at = _id_of(record), in_file + 1
                report.last_hash = last
                return report
            assert record is not None
            last = str(record["hash"])
            lines_seen += 1
            if "checkpoint" in record:
                report.checkpoints += 1
                signed_lines = lines_seen
                report.signed_records = report.records
                report.closed = bool((record.get("checkpoint") or {}).get("closing"))
            else:
                report.records += 1
                report.redacted += is_redacted(record)
                report.closed = False
            if expected_head is not None and last == expected_head:
                head_at = lines_seen
    report.last_hash = last
    report.unsigned_tail = report.records - report.signed_records
    if expected_head is not None:
        if head_at is None:
            report.ok = False
            report.problem = (
                f"the expected head {expected_head} is not in the log: records were removed from its end "
                "(or the head belongs to another log)"
            )
        elif key is not None and head_at > signed_lines:
            report.notes.append("the expected head is after the last signed checkpoint")
    if key is not None and report.ok:
        if report.checkpoints == 0:
            report.ok, report.problem = False, "no signed checkpoint: nothing in the log is proven by the key"
        elif report.unsigned_tail:
            report.ok = False
            report.problem = (
                f"{report.unsigned_tail} record{'s' if report.unsigned_tail != 1 else ''} after the last signed "
                "checkpoint are not covered by a signature: written after it by a writer that stopped before its "
                "next checkpoint, or appended by someone else"
            )
        elif not report.closed:
            report.ok = False
            report.problem = (
                "the log ends at a checkpoint that is not a closing one: records after it may have been removed "
                "(or the writer was killed right after it); pass --expected-head to prove nothing was cut"
            )
    return report


def _tenant_problem(record: Mapping[str, Any], tenant: str) -> str | None:
    if "checkpoint" in record:
        return None
    if is_redacted(record):
        if record.get("tenant_sha256") == tenant_commitment(tenant, str(record.get("content_sha256"))):
            return f"a record of tenant {tenant} is redacted: the tenant's view of the log hides one of its own records"
        return None
    if record.get("tenant") != tenant:
        return f"a record that is not tenant {tenant}'s is shown in full in the tenant's view of the log"
    return None


@dataclass
class TenantView:
    """What :func:`write_tenant_view` wrote: the tenant's records, the redacted links, the checkpoints kept."""

    files: list[Path] = field(default_factory=list)
    records: int = 0
    redacted: int = 0
    checkpoints: int = 0
    first_prev_hash: str | None = None  # where the view's chain starts: a cut at its start shows against this


def write_tenant_view(files: Sequence[str | os.PathLike[str]], tenant: str, target: Path) -> TenantView:
    """Write one tenant's view of a log (``files``, oldest first) into the directory ``target``, file by file.

    The tenant's records and every checkpoint are copied as they are; every other line becomes its
    :func:`redacted_link`, so the chain and the checkpoints' signatures still verify end to end, and nothing of the
    other records (agent ids, paths, reasons, times) is written. Raises :class:`~yaml2rego.errors.SignatureError`
    when a line is not a record, or another tenant's record predates redactable links.
    """
    view = TenantView()
    target.mkdir(parents=True, exist_ok=True)
    for name in files:
        out = target / Path(name).name
        lines: list[str] = []
        for number, text, record in log_lines(name):
            if record is None:
                raise SignatureError(f"{name}:{number}: not a JSON record, so no view of the log can be made")
            if view.first_prev_hash is None:
                view.first_prev_hash = str(record.get("prev_hash"))
            if "checkpoint" in record:
                view.checkpoints += 1
                lines.append(text if text.endswith("\n") else text + "\n")
            elif record.get("tenant") == tenant and not is_redacted(record):
                view.records += 1
                lines.append(text if text.endswith("\n") else text + "\n")
            else:
                try:
                    link = redacted_link(record)
                except SignatureError as exc:
                    raise SignatureError(
                        f"{name}:{number}: {exc}, so it cannot be left out of a tenant's view"
                    ) from None
                view.redacted += 1
                lines.append(canonical_lenient(link) + "\n")
        out.write_text("".join(lines), encoding="utf-8")
        view.files.append(out)
    return view


def _checkpoint_problem(record: Mapping[str, Any], key: CheckpointKey) -> str | None:
    details = record.get("checkpoint")
    signature = record.get("signature")
    if not isinstance(details, Mapping) or not isinstance(signature, str):
        return "the checkpoint has no signature"
    if details.get("key_id") != key.key_id:
        return f"the checkpoint is signed with key {details.get('key_id')!r}, not with the given key ({key.key_id})"
    if not key.verify(str(record["hash"]), signature):
        return "the checkpoint's signature does not verify with the given key (the log was rewritten)"
    return None
