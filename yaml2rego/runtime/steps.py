"""The guard's side of the enforcement table: override tokens and approval requests, budgets, destination hosts and
redaction (``docs/enforcement.md``). :class:`~yaml2rego.runtime.Guard` runs these steps around the policy's answer;
adapters use :func:`sanitize_call` and :func:`sanitize_result` on what they forward and return.

>>> decision = guard.check({"agent_id": "clinical_agent", "method": "POST", "path": "/ehr/notes",
...                         "body": {"note": "call bob@example.com"}})  # doctest: +SKIP
>>> sanitize_call(decision, call)["body"]  # doctest: +SKIP
{'note': 'call [REDACTED:email]'}
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from yaml2rego.canonical_json import compact
from yaml2rego.errors import first_line
from yaml2rego.runtime.approvals import ApprovalService, call_digest
from yaml2rego.runtime.budgets import BudgetOutcome, charge_from_decision
from yaml2rego.runtime.decision import RATE_LIMITED, STORE_UNAVAILABLE, deny_with, make_reason
from yaml2rego.runtime.limits import limit_key
from yaml2rego.semantics.detectors import redact_text, redact_value
from yaml2rego.semantics.hosts import NonCanonicalHost, split_url

__all__ = [
    "APPROVAL_TOKEN_HEADER",
    "BUDGET_EXCEEDED",
    "TOKEN_CONTROLS",
    "Enforcement",
    "answer_token",
    "apply_redactions",
    "fill_destination",
    "redacted_body",
    "redeem_approval",
    "sanitize_call",
    "sanitize_result",
    "without_token",
]

# Budgets protect the capacity (and money) the agent's targets rely on, like rate limits: availability, A1.1.
BUDGET_EXCEEDED = ("budget_exceeded", "A1.1")
# A refused override token is a refused authorisation: logical access control.
TOKEN_CONTROLS = "CC6.1"


def fill_destination(call: Mapping[str, Any]) -> dict[str, Any]:
    """The call with ``host`` (and ``port``, ``path``) taken from its absolute ``url`` when it gives no ``host``.

    A URL the egress check refuses (a user name, an IP literal) becomes a ``host`` the policy refuses with its own
    ``egress_denied`` reason, so the policy stays the one place that decides.
    """
    request = dict(call)
    url = request.get("url")
    if not isinstance(url, str) or "host" in request:
        return request
    try:
        host, port, path = split_url(url)
    except NonCanonicalHost:
        # Hand the policy something it refuses for the same reason: the raw authority of the URL.
        parts = urlsplit(url)
        request["host"] = parts.netloc or url
        request.setdefault("path", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        return request
    request["host"] = host
    if port is not None:
        request.setdefault("port", port)
    request.setdefault("path", path)
    return request


def without_token(request: Any) -> Any:
    """The engine's input: the request without ``approval_token`` (a bearer secret the policy has no use for)."""
    if (type(request) is dict or isinstance(request, Mapping)) and "approval_token" in request:
        return {key: value for key, value in request.items() if key != "approval_token"}
    return request


def _has(node: Any, step: Any) -> bool:
    if isinstance(node, dict):
        return step in node
    return isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)


def _walk_to(document: Any, path: Sequence[Any]) -> tuple[Any, Any] | None:
    """The container holding ``path``'s last step, and that step; ``None`` when the path is not there."""
    node = document
    for step in path[:-1]:
        if not _has(node, step):
            return None
        node = node[step]
    return (node, path[-1]) if path and _has(node, path[-1]) else None


def apply_redactions(
    call: Mapping[str, Any], redactions: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A copy of ``call`` with each flagged field redacted, and what was redacted (``{field, detector, rule, count}``,
    never the value). A body that is a JSON string is parsed, redacted and written back compact. A flag whose
    candidates are not confirmed (a number that fails the Luhn check) redacts nothing and is left out."""
    result = copy.deepcopy(dict(call))
    body_was_text = isinstance(result.get("body"), str)
    if body_was_text:
        try:
            result["body"] = json.loads(result["body"])
        except ValueError:
            body_was_text = False
    applied: list[dict[str, Any]] = []
    # Values first, then keys: renaming a key must not move a path still to redact.
    for redaction in sorted(redactions, key=lambda redaction: redaction.get("keys") is True):
        path = list(redaction.get("path") or [])
        found = _walk_to(result, path) if path else None
        if found is None:
            continue
        container, key = found
        value = container[key]
        detector = str(redaction.get("detector"))
        if redaction.get("keys") is True:
            # A key below this field holds a match (a PII value used as a key): every key and string below it is
            # redacted, since the policy names no key (it would echo the value).
            redacted_members, counts = redact_value(value, [(detector, redaction.get("regex"))])
            count = counts.get(detector, 0)
            if count:
                container[key] = redacted_members
                applied.append(
                    {
                        "field": redaction.get("field"),
                        "detector": detector,
                        "rule": redaction.get("rule"),
                        "count": count,
                    }
                )
            continue
        if not isinstance(value, str):
            continue
        redacted, count = redact_text(value, detector, redaction.get("regex"))
        if count:
            container[key] = redacted
            applied.append(
                {"field": redaction.get("field"), "detector": detector, "rule": redaction.get("rule"), "count": count}
            )
    if body_was_text and applied:
        result["body"] = compact(result["body"])
    elif body_was_text:
        result["body"] = call["body"]
    return result, applied


def sanitize_call(decision: Any, call: Mapping[str, Any]) -> dict[str, Any]:
    """``call`` as it may be forwarded: with the decision's redactions applied, whatever lets the call run (a
    ``sanitize`` decision, or an ``approval_needed`` one that a human approved), otherwise unchanged. In shadow mode
    nothing is redacted (the record says what would have been)."""
    details = getattr(decision, "details", {}) or {}
    if not getattr(decision, "enforced", True):
        return dict(call)
    return apply_redactions(call, details.get("redaction_flags") or [])[0]


def sanitize_result(decision: Any, value: Any) -> Any:
    """A tool's result with the decision's ``result_redactions`` applied to every string inside it (enforced
    decisions only)."""
    from yaml2rego.semantics.detectors import redact_value

    details = getattr(decision, "details", {}) or {}
    rules = details.get("result_redactions") or []
    if not rules or not getattr(decision, "enforced", True):
        return value
    return redact_value(value, [(str(rule["detector"]), rule.get("regex")) for rule in rules])[0]


class Enforcement:
    """The guard's steps around the policy's answer: approvals, rate limits with budgets, redaction."""

    def __init__(self, store: Any, approvals: ApprovalService | None = None, window_s: float = 60.0) -> None:
        self.store = store
        self.approvals = approvals
        self.window_s = window_s

    def apply(self, request: Mapping[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        """The final result for ``request``: approvals first, then counting (rate limits and budget, only for a call
        that is about to go ahead), then redaction."""
        enforced = result.get("mode") != "shadow"
        if result["decision"] == "approval_needed":
            result = self._approval(request, result, enforced)
        agent_id = result.get("agent_id")
        going_ahead = result["decision"] in ("allow", "sanitize") or not enforced
        budget = result.get("budget")
        counted = result.get("rate_limits") or (budget is not None and isinstance(budget, Mapping))
        if result["decision"] != "deny" and going_ahead and counted and isinstance(agent_id, str):
            result = self._admit(agent_id, result)
        # Redactions are worked out for every call that may still run: a sanitize decision now, an approval_needed
        # one after a human approves it (so an approved call is redacted too), and in shadow mode for the record.
        if result.get("redactions") and (result["decision"] in ("sanitize", "approval_needed") or not enforced):
            result = self._redact(request, result)
        return result

    # -- approvals ---------------------------------------------------------------------------------------------------

    def _approval(self, request: Mapping[str, Any], result: dict[str, Any], enforced: bool) -> dict[str, Any]:
        agent_id = result.get("agent_id")
        if result["decision"] != "approval_needed" or self.approvals is None or not isinstance(agent_id, str):
            return result
        if not enforced:
            return result  # shadow mode blocks nothing, so nobody is asked to approve anything
        digest = call_digest(request)
        token = request.get("approval_token")
        if isinstance(token, str) and token:
            redemption = self.approvals.redeem(token, agent_id, digest)
            if not redemption.ok:
                reason = make_reason((str(redemption.code), TOKEN_CONTROLS), redemption.message, "approval_token")
                return {**deny_with(result, [reason]), "approval_id": redemption.request_id}
            outcome = "sanitize" if result.get("redactions") else "allow"
            return {
                **result,
                "decision": outcome,
                "allow": outcome == "allow",
                "reasons": [],
                "decision_reason": f"{result['decision_reason']}; {redemption.message}",
                "approval_id": redemption.request_id,
                "approver": redemption.approver,
                "approved_reasons": result["reasons"],
            }
        summary = _summary(request)
        opened = self.approvals.request(agent_id, digest, result["reasons"], summary=summary)
        return {**result, "approval_id": opened.request_id, "approval_expires_at": opened.expires_at}

    # -- rate limits and budgets -------------------------------------------------------------------------------------

    def _admit(self, agent_id: str, result: dict[str, Any]) -> dict[str, Any]:
        rules = result.get("rate_limits") or []
        limits = [
            (limit_key(agent_id, str(r["rule"]), str(r.get("pattern"))), int(r["requests_per_minute"])) for r in rules
        ]
        budget = result.get("budget")
        charge = charge_from_decision(agent_id, budget) if budget is not None else None
        try:
            if charge is not None and hasattr(self.store, "admit"):
                outcome: BudgetOutcome = self.store.admit(limits, self.window_s, charge)
            elif charge is not None:
                name = type(self.store).__name__
                raise TypeError(f"{name} cannot count budgets; use MemoryBudgetStore or RedisBudgetStore")
            else:
                full = self.store.acquire(limits, self.window_s)
                if not full:
                    return result  # room under every limit (and no budget): the common case, without an outcome
                outcome = BudgetOutcome(full=full)
        except Exception as exc:
            message = f"the rate-limit store is unavailable: {first_line(exc)}"
            return deny_with(result, [make_reason(STORE_UNAVAILABLE, message)])
        if charge is not None:
            budget = dict(result["budget"])
            budget["spent_usd"] = outcome.spent_micro_usd / 1_000_000
            result = {**result, "budget": budget}
        if outcome.ok:
            return result
        reasons = []
        for index in outcome.full:
            rule = rules[index]
            message = (
                f"rate limit exceeded: more than {rule['requests_per_minute']} requests per minute "
                f"to {rule.get('pattern')} ({rule['rule']})"
            )
            reasons.append(make_reason(RATE_LIMITED, message, str(rule["rule"]), rule.get("source")))
        budget = result.get("budget") or {}
        if outcome.rps_exceeded and charge is not None:
            message = f"rate limit exceeded: more than {charge.requests_per_second} requests per second (budget)"
            reasons.append(make_reason(RATE_LIMITED, message, "budget.requests_per_second", charge.source))
        if outcome.budget_exhausted and charge is not None:
            message = (
                f"daily budget of ${charge.daily_usd:.2f} exhausted: ${budget.get('spent_usd', 0):.2f} spent today, "
                f"this call costs ${charge.cost_usd:.2f}"
            )
            reasons.append(make_reason(BUDGET_EXCEEDED, message, "budget.daily_usd", charge.source))
        return deny_with(result, reasons)

    # -- redaction ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _redact(request: Mapping[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        flags = list(result.get("redactions") or [])
        _, applied = apply_redactions(request, flags)
        result = {**result, "redactions": applied, "redaction_flags": flags}
        if result["decision"] == "sanitize" and not applied:
            # Every candidate failed its confirmation (e.g. the Luhn check): there is nothing to redact.
            return {
                **result,
                "decision": "allow",
                "allow": True,
                "reasons": [],
                "decision_reason": "allowed: the flagged fields hold nothing to redact after confirmation",
            }
        return result


def _summary(request: Mapping[str, Any]) -> str:
    if isinstance(request.get("tool"), str):
        return f"tool {request['tool']}"
    return f"{request.get('method')} {request.get('path')}"


# The header an HTTP client sets to present an override token; the HTTP adapters take it off before sending.
APPROVAL_TOKEN_HEADER = "X-Approval-Token"


def redacted_body(decision: Any, call: Mapping[str, Any]) -> bytes | None:
    """The UTF-8 body to send instead of the call's own, when an enforced ``sanitize`` decision redacted it; else
    ``None`` (send the body as it is)."""
    if getattr(decision, "decision", None) != "sanitize" or "body" not in call:
        return None
    body = sanitize_call(decision, call).get("body")
    if body == call.get("body"):
        return None
    text = body if isinstance(body, str) else compact(body)
    return text.encode("utf-8")


def answer_token(answer: Any) -> str | None:
    """The override token in a LangGraph resume value (``{"approved": True, "approval_token": "…"}``), if any."""
    if isinstance(answer, Mapping) and isinstance(answer.get("approval_token"), str):
        return str(answer["approval_token"])
    return None


def redeem_approval(guard: Any, call: Mapping[str, Any], decision: Any, answer: Any) -> Any:
    """After a human approved an ``approval_needed`` call (the resume value ``answer``): the call decided again with
    the override token — from ``answer``, or the one the approver's grant put in the guard's approval store, so the
    call that runs is recorded with its approver and approval id. Without an approval service nothing can grant it:
    the decision stays blocked (a resume value alone approves nothing)."""
    approvals = getattr(guard, "approvals", None)
    if approvals is None:
        return decision
    token = answer_token(answer)
    if token is None and decision.approval_id is not None:
        token = approvals.token(decision.approval_id)
    if token is None:
        return decision  # resumed as approved, but nobody granted the request: still blocked
    return guard.check({**call, "approval_token": token})
