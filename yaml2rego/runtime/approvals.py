"""Approval workflows: requests for a human's go-ahead, their notifications, and single-use override tokens.

When the policy answers ``approval_needed``, the guard opens an :class:`ApprovalRequest` (id, agent, call digest,
reasons, expiry) and notifies approvers. An approver grants or refuses it (``yaml2rego approve REQUEST_ID`` /
``yaml2rego deny REQUEST_ID``, or :meth:`ApprovalService.approve`). A grant issues an *override token*: a JWT signed
with the service's key (HS256 with a shared secret, or RS256), bound to the agent, the exact call digest and the
request, expiring, and usable once. Presenting it (``call["approval_token"]``) lets that same call through once.

>>> service = ApprovalService(MemoryApprovalStore(), secret="s3cret-at-least-32-bytes-long-....")
>>> request = service.request("finance_agent", "sha256:ab", [{"code": "approval_required", "message": "amount"}])
>>> granted = service.approve(request.request_id, approver="alice")
>>> service.redeem(granted.token or "", "finance_agent", "sha256:ab").ok
True
>>> service.redeem(granted.token or "", "finance_agent", "sha256:ab").code
'approval_token_reused'
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import jwt

from yaml2rego.canonical_json import canonical_lenient
from yaml2rego.errors import ApprovalError

__all__ = [
    "TOKEN_EXPIRED",
    "TOKEN_INVALID",
    "TOKEN_MISMATCH",
    "TOKEN_REUSED",
    "ApprovalRequest",
    "ApprovalService",
    "ApprovalStore",
    "JsonFileApprovalStore",
    "MemoryApprovalStore",
    "Notifier",
    "Redemption",
    "SlackWebhookNotifier",
    "WebhookNotifier",
    "call_digest",
    "policy_asks_for_approval",
]

logger = logging.getLogger("yaml2rego.adapters")

# Reason codes of a refused override token (docs/enforcement.md). All are logical access control (CC6.1).
TOKEN_REUSED = "approval_token_reused"
TOKEN_EXPIRED = "approval_token_expired"
TOKEN_INVALID = "approval_token_invalid"
TOKEN_MISMATCH = "approval_token_mismatch"

_ISSUER = "yaml2rego"
_AUDIENCE = "yaml2rego-guard"
# Keys of a call that are not part of what was approved: the token itself and the approval it refers to.
_UNBOUND_KEYS = frozenset({"approval_token", "approval_id"})


def policy_asks_for_approval(data: Any) -> bool:
    """Whether a compiled policy's data can answer ``approval_needed``: a condition with that outcome, a tool that
    requires approval, or an environment that requires it for some actions. Without an approval service such a
    decision could only be "approved" by whatever an adapter is resumed with, so the guard refuses to start."""
    if isinstance(data, Mapping):
        if data.get("outcome") == "approval_needed" or data.get("requires_approval") is True:
            return True
        if data.get("requires_approval_for"):
            return True
        return any(policy_asks_for_approval(value) for value in data.values())
    if isinstance(data, list):
        return any(policy_asks_for_approval(value) for value in data)
    return False


def call_digest(call: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the call as approved: canonical JSON (sorted keys, compact, UTF-8), without the
    ``approval_token`` and ``approval_id`` keys, so the call with its token attached has the same digest."""
    body = {key: value for key, value in call.items() if key not in _UNBOUND_KEYS}
    text = canonical_lenient(body)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApprovalRequest:
    """One request for approval. ``status`` is ``pending``, ``approved``, ``denied``, ``used`` (its token let the call
    through) or ``expired`` (a pending request past ``expires_at``). Times are seconds since the epoch."""

    request_id: str
    agent_id: str
    call_digest: str
    reasons: list[dict[str, Any]]
    created_at: float
    expires_at: float
    status: str = "pending"
    summary: str = ""
    approver: str | None = None
    comment: str | None = None
    decided_at: float | None = None
    token: str | None = field(default=None, repr=False)
    token_expires_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ApprovalRequest:
        return cls(**{key: value[key] for key in cls.__dataclass_fields__ if key in value})


@dataclass(frozen=True)
class Redemption:
    """The outcome of presenting an override token: ``ok``, or a reason ``code`` and ``message``."""

    ok: bool
    code: str | None = None
    message: str = ""
    request_id: str | None = None
    approver: str | None = None


class ApprovalStore(Protocol):
    """Keeps requests and the ids (``jti``) of tokens already used. ``update`` applies ``change`` atomically."""

    def get(self, request_id: str) -> ApprovalRequest | None: ...

    def put(self, request: ApprovalRequest) -> None: ...

    def update(
        self, request_id: str, change: Callable[[ApprovalRequest], ApprovalRequest]
    ) -> ApprovalRequest | None: ...

    def find_pending(self, agent_id: str, digest: str, now: float) -> ApprovalRequest | None: ...

    def list(self) -> list[ApprovalRequest]: ...

    def use_token(self, jti: str, expires_at: float) -> bool:
        """Mark token ``jti`` used; ``False`` if it already was (the check and the mark are one step)."""
        ...


class MemoryApprovalStore:
    """Requests held in this process (tests, single-process agents)."""

    def __init__(self) -> None:
        self._requests: dict[str, ApprovalRequest] = {}
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, request_id: str) -> ApprovalRequest | None:
        with self._lock:
            return self._requests.get(request_id)

    def put(self, request: ApprovalRequest) -> None:
        with self._lock:
            self._requests[request.request_id] = request

    def update(self, request_id: str, change: Callable[[ApprovalRequest], ApprovalRequest]) -> ApprovalRequest | None:
        with self._lock:
            current = self._requests.get(request_id)
            if current is None:
                return None
            self._requests[request_id] = changed = change(current)
            return changed

    def find_pending(self, agent_id: str, digest: str, now: float) -> ApprovalRequest | None:
        with self._lock:
            return _pending_match(self._requests.values(), agent_id, digest, now)

    def list(self) -> list[ApprovalRequest]:
        with self._lock:
            return sorted(self._requests.values(), key=lambda r: (r.created_at, r.request_id))

    def use_token(self, jti: str, expires_at: float) -> bool:
        with self._lock:
            if jti in self._used:
                return False
            self._used[jti] = expires_at
            return True


class JsonFileApprovalStore:
    """Requests in one JSON file, shared by processes on one host (the guard and ``yaml2rego approve``).

    Every change holds an exclusive ``flock`` on ``<file>.lock`` and replaces the file atomically, so a reader never
    sees half a file and two processes never both use one token.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(f"{self.path}.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = self._read()
                before = canonical_lenient(state)
                yield state
                if canonical_lenient(state) != before:
                    self._write(state)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"requests": {}, "used_tokens": {}}
        try:
            state = json.loads(text)
        except ValueError as exc:
            raise ApprovalError(f"the approval store {self.path} is not valid JSON") from exc
        state.setdefault("requests", {})
        state.setdefault("used_tokens", {})
        return dict(state)

    def _write(self, state: dict[str, Any]) -> None:
        now = time.time()
        # Used-token ids are kept only while their token could still be presented.
        state["used_tokens"] = {k: v for k, v in state["used_tokens"].items() if v > now - 3600}
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(state, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)

    def get(self, request_id: str) -> ApprovalRequest | None:
        with self._locked() as state:
            value = state["requests"].get(request_id)
        return ApprovalRequest.from_json(value) if value else None

    def put(self, request: ApprovalRequest) -> None:
        with self._locked() as state:
            state["requests"][request.request_id] = request.to_json()

    def update(self, request_id: str, change: Callable[[ApprovalRequest], ApprovalRequest]) -> ApprovalRequest | None:
        with self._locked() as state:
            value = state["requests"].get(request_id)
            if value is None:
                return None
            changed = change(ApprovalRequest.from_json(value))
            state["requests"][request_id] = changed.to_json()
            return changed

    def find_pending(self, agent_id: str, digest: str, now: float) -> ApprovalRequest | None:
        with self._locked() as state:
            requests = [ApprovalRequest.from_json(v) for v in state["requests"].values()]
        return _pending_match(requests, agent_id, digest, now)

    def list(self) -> list[ApprovalRequest]:
        with self._locked() as state:
            requests = [ApprovalRequest.from_json(v) for v in state["requests"].values()]
        return sorted(requests, key=lambda r: (r.created_at, r.request_id))

    def use_token(self, jti: str, expires_at: float) -> bool:
        with self._locked() as state:
            if jti in state["used_tokens"]:
                return False
            state["used_tokens"][jti] = expires_at
            return True


def _pending_match(
    requests: Iterable[ApprovalRequest], agent_id: str, digest: str, now: float
) -> ApprovalRequest | None:
    """The open request for this call: pending, or granted with a token not yet used nor expired (a LangGraph node
    re-runs from its start when resumed, and must find the request its approver granted)."""
    for request in requests:
        if (request.agent_id, request.call_digest) != (agent_id, digest):
            continue
        if request.status == "pending" and request.expires_at > now:
            return request
        if request.status == "approved" and (request.token_expires_at or 0) > now:
            return request
    return None


class Notifier(Protocol):
    """Tells approvers about a new request. A failing notifier is logged; the request stays open."""

    def notify(self, request: ApprovalRequest) -> None: ...


def _message(request: ApprovalRequest) -> str:
    reasons = "; ".join(str(reason.get("message", reason.get("code"))) for reason in request.reasons)
    what = f" {request.summary}" if request.summary else ""
    return (
        f"Approval needed ({request.request_id}): agent `{request.agent_id}`{what}: {reasons}. "
        f"Approve with `yaml2rego approve {request.request_id}` or refuse with `yaml2rego deny {request.request_id}`."
    )


class SlackWebhookNotifier:
    """Posts ``{"text": …}`` to a Slack incoming webhook (``https://hooks.slack.com/services/…``)."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout

    def notify(self, request: ApprovalRequest) -> None:
        import requests

        response = requests.post(self.url, json={"text": _message(request)}, timeout=self.timeout)
        response.raise_for_status()


class WebhookNotifier:
    """Posts the request as JSON (``{"event": "approval_requested", "request": {…}, "text": …}``), token excluded."""

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.timeout = timeout

    def notify(self, request: ApprovalRequest) -> None:
        import requests

        body = {"event": "approval_requested", "request": _public(request), "text": _message(request)}
        response = requests.post(self.url, json=body, headers=self.headers, timeout=self.timeout)
        response.raise_for_status()


def _public(request: ApprovalRequest) -> dict[str, Any]:
    value = request.to_json()
    value.pop("token", None)
    return value


class ApprovalService:
    """Opens approval requests, decides them, and issues and redeems single-use override tokens.

    Keys: ``secret`` (HS256; at least 32 bytes) or ``private_key`` + ``public_key`` (PEM, RS256). A guard that only
    redeems tokens needs just the ``public_key``. ``request_ttl``: how long a request may wait for an approver;
    ``token_ttl``: how long a granted token stays usable. ``clock`` returns seconds since the epoch.

    >>> service = ApprovalService(JsonFileApprovalStore("/var/lib/yaml2rego/approvals.json"),
    ...                           secret=os.environ["YAML2REGO_APPROVAL_SECRET"])  # doctest: +SKIP
    """

    def __init__(
        self,
        store: ApprovalStore | None = None,
        *,
        secret: str | bytes | None = None,
        private_key: str | bytes | None = None,
        public_key: str | bytes | None = None,
        notifiers: Sequence[Notifier] = (),
        request_ttl: float = 3600.0,
        token_ttl: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if secret is None and private_key is None and public_key is None:
            raise ApprovalError("an approval service needs a secret (HS256) or an RSA key pair (RS256)")
        if secret is not None and len(secret) < 32:
            raise ApprovalError("the approval secret must be at least 32 bytes long")
        self.store: ApprovalStore = store if store is not None else MemoryApprovalStore()
        self.algorithm = "HS256" if secret is not None else "RS256"
        self._signing_key = secret if secret is not None else private_key
        self._verify_key = secret if secret is not None else public_key
        self.notifiers = list(notifiers)
        self.request_ttl = request_ttl
        self.token_ttl = token_ttl
        self._clock = clock

    # -- requests ----------------------------------------------------------------------------------------------------

    def request(
        self, agent_id: str, digest: str, reasons: Sequence[Mapping[str, Any]], *, summary: str = ""
    ) -> ApprovalRequest:
        """Open a request for this exact call, or return the one still open for it (pending, or granted and not yet
        used), so a retry sends no second notification."""
        now = self._clock()
        pending = self.store.find_pending(agent_id, digest, now)
        if pending is not None:
            return pending
        request = ApprovalRequest(
            request_id="apr-" + uuid.uuid4().hex[:20],
            agent_id=agent_id,
            call_digest=digest,
            reasons=[dict(reason) for reason in reasons],
            created_at=now,
            expires_at=now + self.request_ttl,
            summary=summary,
        )
        self.store.put(request)
        for notifier in self.notifiers:
            try:
                notifier.notify(request)
            except Exception as exc:  # an approver not being told must not break the agent's call
                name = type(notifier).__name__
                logger.warning("approval notifier %s failed for %s: %s", name, request.request_id, exc)
        return request

    def get(self, request_id: str) -> ApprovalRequest:
        """The request, with ``status`` ``expired`` once a pending request is past its expiry."""
        request = self.store.get(request_id)
        if request is None:
            raise ApprovalError(f"no approval request {request_id!r}")
        if request.status == "pending" and request.expires_at <= self._clock():
            return replace(request, status="expired")
        return request

    def pending(self) -> list[ApprovalRequest]:
        now = self._clock()
        return [r for r in self.store.list() if r.status == "pending" and r.expires_at > now]

    def approve(self, request_id: str, *, approver: str, comment: str | None = None) -> ApprovalRequest:
        """Grant a pending request: the returned request carries the override ``token``."""
        if self._signing_key is None:
            raise ApprovalError("this approval service has no signing key (give secret= or private_key=)")
        now = self._clock()
        jti = uuid.uuid4().hex

        def grant(request: ApprovalRequest) -> ApprovalRequest:
            self._check_open(request, now)
            expires = min(now + self.token_ttl, now + self.request_ttl)
            claims = {
                "iss": _ISSUER,
                "aud": _AUDIENCE,
                "sub": request.agent_id,
                "call": request.call_digest,
                "rid": request.request_id,
                "iat": int(now),
                "exp": int(expires),
                "jti": jti,
            }
            token = jwt.encode(claims, self._signing_key, algorithm=self.algorithm)  # type: ignore[arg-type]
            return replace(
                request,
                status="approved",
                approver=approver,
                comment=comment,
                decided_at=now,
                token=token,
                token_expires_at=float(int(expires)),
            )

        return self._decide(request_id, grant)

    def deny(self, request_id: str, *, approver: str, comment: str | None = None) -> ApprovalRequest:
        """Refuse a pending request; the call stays blocked."""
        now = self._clock()

        def refuse(request: ApprovalRequest) -> ApprovalRequest:
            self._check_open(request, now)
            return replace(request, status="denied", approver=approver, comment=comment, decided_at=now)

        return self._decide(request_id, refuse)

    def token(self, request_id: str) -> str | None:
        """The override token of a granted request (``None`` while pending or when refused)."""
        request = self.get(request_id)
        return request.token if request.status == "approved" else None

    # -- tokens ------------------------------------------------------------------------------------------------------

    def redeem(self, token: str, agent_id: str, digest: str) -> Redemption:
        """Check an override token for this agent's call and use it up. Refusals name their reason code."""
        if self._verify_key is None:
            return Redemption(False, TOKEN_INVALID, "no key to verify approval tokens is configured")
        try:
            claims = jwt.decode(
                token,
                self._verify_key,
                algorithms=[self.algorithm],
                audience=_AUDIENCE,
                issuer=_ISSUER,
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "jti", "sub", "call", "rid"]},
            )
        except jwt.InvalidTokenError as exc:
            return Redemption(False, TOKEN_INVALID, f"the approval token is not valid: {exc}")
        request_id = str(claims["rid"])
        # Expiry is checked against the service's clock (not PyJWT's), so every process agrees on one notion of now.
        if float(claims["exp"]) <= self._clock():
            return Redemption(False, TOKEN_EXPIRED, f"the approval token of {request_id} has expired", request_id)
        if claims["sub"] != agent_id or claims["call"] != digest:
            other = "another agent" if claims["sub"] != agent_id else "another call"
            return Redemption(
                False, TOKEN_MISMATCH, f"the approval token of {request_id} was granted for {other}", request_id
            )
        request = self.store.get(request_id)
        if request is None or request.status not in ("approved", "used"):
            return Redemption(False, TOKEN_INVALID, f"approval request {request_id} is not granted", request_id)
        if not self.store.use_token(str(claims["jti"]), float(claims["exp"])):
            return Redemption(False, TOKEN_REUSED, f"the approval token of {request_id} was already used", request_id)
        self.store.update(request_id, lambda granted: replace(granted, status="used"))
        return Redemption(True, None, f"approved by {request.approver} ({request_id})", request_id, request.approver)

    # -- internals ---------------------------------------------------------------------------------------------------

    def _decide(self, request_id: str, change: Callable[[ApprovalRequest], ApprovalRequest]) -> ApprovalRequest:
        decided = self.store.update(request_id, change)
        if decided is None:
            raise ApprovalError(f"no approval request {request_id!r}")
        return decided

    @staticmethod
    def _check_open(request: ApprovalRequest, now: float) -> None:
        if request.status != "pending":
            raise ApprovalError(f"approval request {request.request_id} is already {request.status}")
        if request.expires_at <= now:
            raise ApprovalError(f"approval request {request.request_id} has expired")
