"""The answer the guard gives for one call: the decision contract's fields as attributes.

>>> decision = Decision(decision="allow", allow=True, reasons=[], decision_reason="allowed by allowed_endpoints[0]",
...                     policy_version="sha256:ab", agent_id="a1", mode="enforce", decision_id="d-1")
>>> decision.blocked
False
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from yaml2rego.canonical_json import compact_lenient
from yaml2rego.errors import PolicyDenied
from yaml2rego.semantics.paths import NonCanonicalPath, canonical_path

__all__ = [
    "ENGINE_UNAVAILABLE",
    "OUTCOMES",
    "RATE_LIMITED",
    "STORE_UNAVAILABLE",
    "Decision",
    "PolicyDenied",
    "Reason",
    "deny_with",
    "make_reason",
    "malformed",
    "new_decision_id",
    "prepare_input",
    "suspended",
]

Reason = dict[str, Any]

# What the policy may answer. Anything but "allow" keeps the call from going ahead unless something downstream acts
# on it (an approval granted, fields redacted); an unknown outcome is a malformed result and fails closed.
OUTCOMES = ("allow", "deny", "approval_needed", "sanitize")
_CONTRACT_KEYS = frozenset(
    {"decision", "allow", "reasons", "decision_reason", "policy_version", "agent_id", "mode", "rate_limits",
     "decision_id", "fail_closed"}
)  # fmt: skip

# Controls for the guard's own reason codes (docs/runtime.md): refusing a call that cannot be authorised is logical
# access control (CC6.1); rate limits protect the capacity the agent's targets rely on (A1.1).
ENGINE_UNAVAILABLE = ("policy_engine_unavailable", "CC6.1")
RATE_LIMITED = ("rate_limit_exceeded", "A1.1")
STORE_UNAVAILABLE = ("rate_limit_store_unavailable", "A1.1")


@dataclass(frozen=True)
class Decision:
    """One decision, as returned by :meth:`Guard.check <yaml2rego.runtime.Guard.check>`.

    ``decision``/``allow``/``reasons``/``decision_reason``/``policy_version``/``agent_id``/``mode``/``rate_limits``
    are the fields of ``data.agent_boundary.decision`` (see ``docs/architecture.md``), after the guard's own checks
    (rate limits, fail-closed). ``enforced`` is false for a shadow-mode agent: its would-be denials are recorded but
    the call goes ahead. Adapters decide with :attr:`blocked`, not with ``allow``. ``details`` holds any other keys
    of the policy's answer (for example ``redactions`` with a ``sanitize`` decision).
    """

    decision: str
    allow: bool
    reasons: list[Reason]
    decision_reason: str
    policy_version: str | None
    agent_id: str | None
    mode: str
    decision_id: str
    enforced: bool = True
    engine: str = ""
    rate_limits: list[dict[str, Any]] = field(default_factory=list)
    approval_id: str | None = None
    latency_us: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def blocked(self) -> bool:
        """Whether the call must not go ahead: an enforced denial or pending approval (never true in shadow mode).

        A ``sanitize`` decision is not blocked: the call goes ahead once redacted
        (:func:`yaml2rego.runtime.steps.sanitize_call`)."""
        return self.decision != "sanitize" and not self.allow and self.enforced

    @property
    def codes(self) -> list[str]:
        """The reason codes, in the reasons' order."""
        return [str(reason.get("code")) for reason in self.reasons]

    @property
    def controls(self) -> list[str]:
        """The SOC 2 controls named by the reasons, sorted and without repeats."""
        return sorted({str(reason["control"]) for reason in self.reasons if reason.get("control")})

    def raise_if_blocked(self) -> Decision:
        """Raise :class:`PolicyDenied` when :attr:`blocked`; otherwise return ``self``."""
        if self.blocked:
            raise PolicyDenied(self)
        return self

    @classmethod
    def from_result(cls, result: Mapping[str, Any], **extra: Any) -> Decision:
        """Build a decision from an engine result that has already been checked for shape.

        ``extra`` holds the guard's own fields (``decision_id``, and any of ``enforced``, ``engine``, ``approval_id``,
        ``latency_us``). Filled in through ``__dict__`` rather than the frozen dataclass's ``__init__``, which sets
        each of its 14 fields with ``object.__setattr__``: the same object, at less than half the cost, on every
        call. The decision stays frozen to its users."""
        unknown = extra.keys() - _GUARD_FIELDS.keys()
        if unknown or "decision_id" not in extra:
            raise TypeError(
                f"Decision.from_result takes {', '.join(_GUARD_FIELDS)} (decision_id needed), got {sorted(extra)}"
            )
        fields = {**_GUARD_FIELDS, **extra}
        return cls._build(
            result, fields["decision_id"], fields["enforced"], fields["engine"], fields["approval_id"],
            fields["latency_us"],
        )  # fmt: skip

    @classmethod
    def _build(
        cls,
        result: Mapping[str, Any],
        decision_id: str,
        enforced: bool,
        engine: str,
        approval_id: str | None,
        latency_us: int,
    ) -> Decision:
        """:meth:`from_result` with every guard field given, in order: what the guard calls for every decision."""
        decision = object.__new__(cls)
        reasons = result.get("reasons")
        limits = result.get("rate_limits")
        extra = not _CONTRACT_KEYS.issuperset(result)
        decision.__dict__.update(
            decision=str(result["decision"]),
            allow=bool(result["allow"]),
            reasons=[dict(reason) for reason in reasons] if reasons else [],
            decision_reason=str(result.get("decision_reason") or ""),
            policy_version=result.get("policy_version"),
            agent_id=result.get("agent_id"),
            mode=str(result.get("mode") or "enforce"),
            decision_id=decision_id,
            enforced=enforced,
            engine=engine,
            rate_limits=[dict(rule) for rule in limits] if limits else [],
            approval_id=approval_id,
            latency_us=latency_us,
            details={key: value for key, value in result.items() if key not in _CONTRACT_KEYS} if extra else {},
        )
        return decision


# The fields of a Decision the guard gives (Decision.from_result), with their defaults.
_GUARD_FIELDS: dict[str, Any] = {
    "decision_id": None, "enforced": True, "engine": "", "approval_id": None, "latency_us": 0
}  # fmt: skip


def prepare_input(call: Mapping[str, Any], *, copy: bool = True) -> dict[str, Any]:
    """The engine input for ``call``: canonical path (a non-canonical one is passed as is, for the policy to refuse)
    and ``payload_size_bytes``: the larger of the declared size and the UTF-8 bytes of the body as sent (str/bytes as
    is, anything else as compact JSON). A declared size that is not a non-negative integer is passed on unchanged, for
    the policy to refuse (``invalid_request``), never replaced by the measured one.

    ``copy=False`` prepares ``call`` itself, when it is a dict the caller made for this (the guard's own copy)."""
    request = call if not copy and type(call) is dict else dict(call)
    path = request.get("path")
    if isinstance(path, str):
        # Not contextlib.suppress: its object and calls cost more than the check, on every call.
        try:  # noqa: SIM105
            request["path"] = canonical_path(path)
        except NonCanonicalPath:
            pass
    if "body" not in request:
        return request
    declared = request.get("payload_size_bytes")
    valid = declared is None or (isinstance(declared, int) and not isinstance(declared, bool) and 0 <= declared < 2**53)
    if valid:
        body = request["body"]
        measured: int | None = None
        if isinstance(body, (bytes, bytearray)):
            measured = len(body)
            request["body"] = bytes(body).decode("utf-8", errors="replace")
        elif isinstance(body, str):
            measured = len(body) if body.isascii() else len(body.encode("utf-8"))
        elif body is not None:
            text = compact_lenient(body)
            measured = len(text) if text.isascii() else len(text.encode("utf-8"))
        if measured is not None:
            request["payload_size_bytes"] = max(measured, declared or 0)
    return request


def malformed(result: Any) -> str | None:
    """What is wrong with an engine result, or ``None`` if it has the decision contract's shape."""
    if not isinstance(result, dict):
        return f"expected an object, got {type(result).__name__}"
    if result.get("decision") not in OUTCOMES:
        return f"decision is {result.get('decision')!r}, not one of {', '.join(OUTCOMES)}"
    if result.get("allow") is not (result["decision"] == "allow"):
        return "allow does not agree with decision"
    reasons = result.get("reasons")
    if not isinstance(reasons, list):
        return "reasons is not a list of objects"
    for reason in reasons:  # loops, not all(...): this runs on every call, and most lists are empty
        if not isinstance(reason, dict):
            return "reasons is not a list of objects"
    if result["decision"] in ("deny", "approval_needed") and not reasons:
        return f"a {result['decision']} decision without reasons"
    limits = result.get("rate_limits", [])
    if not isinstance(limits, list):
        return "rate_limits is not a list of {rule, pattern, requests_per_minute}"
    for limit in limits:
        if not _valid_limit(limit):
            return "rate_limits is not a list of {rule, pattern, requests_per_minute}"
    return None


def _valid_limit(limit: Any) -> bool:
    rpm = limit.get("requests_per_minute") if isinstance(limit, dict) else None
    return isinstance(rpm, (int, float)) and not isinstance(rpm, bool) and isinstance(limit.get("rule"), str)


def make_reason(kind: tuple[str, str], message: str, rule: str = "guard", source: Any = None) -> dict[str, Any]:
    code, control = kind
    return {"code": code, "message": message, "control": control, "rule": rule, "source": source or "yaml2rego guard"}


def deny_with(result: Mapping[str, Any], reasons: list[dict[str, Any]]) -> dict[str, Any]:
    reasons = sorted(reasons, key=lambda reason: json.dumps(reason, sort_keys=True))
    return {
        **result,
        "decision": "deny",
        "allow": False,
        "reasons": reasons,
        "decision_reason": "; ".join(reason["message"] for reason in reasons),
    }


def suspended(result: Mapping[str, Any]) -> bool:
    # The kill switch is an operator's explicit stop: it blocks shadow-mode agents too.
    return any(reason.get("code") == "agent_suspended" for reason in result.get("reasons") or [])


class _Ids(threading.local):
    """Each thread's own supply of decision ids: the keyed BLAKE2b of a counter, with a 32-byte key drawn once per
    thread from ``os.urandom``.

    ``os.urandom`` lets go of the interpreter lock for its system call, and a thread that does so on the call path
    wins the lock straight back, again and again, before a waiting thread's turn comes: drawn every 16 calls, it kept
    the record thread from writing for 25 to 90 ms at a time, and drawn on every call, throughput fell as threads were
    added. Keyed BLAKE2b is a pseudorandom function, so ids stay as unpredictable from earlier ones as the operating
    system's bytes, and hashing 8 bytes keeps the interpreter lock. One hash per id costs the same on every call
    (hashing a pool for several ids made every few calls pay for them all). No two threads share a key."""

    def __init__(self) -> None:
        self.take = _id_stream(os.urandom(32)).__next__


def _id_stream(key: bytes) -> Iterator[str]:
    keyed = hashlib.blake2b(key=key, digest_size=16)
    for counter in itertools.count():
        digest = keyed.copy()
        digest.update(counter.to_bytes(8, "big"))
        text = digest.hexdigest()
        # RFC 9562, section 5.4: `4`, the version, as the first digit of byte 6; the variant in byte 8's top bits.
        yield f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{_VARIANT[text[16]]}{text[17:20]}-{text[20:]}"


_ids = _Ids()


def _new_supply() -> None:
    # A forked child must never hand out the ids its parent still holds: it starts a supply (and a key) of its own.
    global _ids
    _ids = _Ids()


os.register_at_fork(after_in_child=_new_supply)

# RFC 9562, section 4.1: the variant is `10` in the top two bits of byte 8, so its first hex digit keeps only the two
# low bits of the random one: 0-3 -> 8-b.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_decision_id() -> str:
    """A random (version 4) UUID: decision ids are handed to callers and join records across systems, so they must not
    be predictable from earlier ones, as ids from a seeded generator such as ``random`` are. Its 122 random bits come
    from a stream keyed by the operating system's generator (see :class:`_Ids`), written out as
    ``str(uuid.uuid4())`` writes them, at a fraction of its cost (it runs on every call)."""
    return _ids.take()
