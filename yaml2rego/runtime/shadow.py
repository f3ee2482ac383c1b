"""Shadow divergence and replay: comparing what the active policy answered with what a candidate policy would answer.

A decision's final outcome mixes the policy's answer with the guard's own steps (rate limits, budgets, the record log,
an unreachable engine, the kill switch). Only the policy part can be compared with a candidate policy, so
:func:`policy_outcome` takes those runtime reasons back out: a call denied only for its rate limit was *allowed by the
policy*. The same rule decides shadow divergence in the guard and flips in ``yaml2rego replay``.

>>> policy_outcome({"decision": "deny", "reasons": [{"code": "rate_limit_exceeded"}]})
'allow'
>>> policy_outcome({"decision": "deny", "reasons": [{"code": "endpoint_denied"}]})
'deny'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yaml2rego.errors import first_line

__all__ = ["RUNTIME_CODES", "UNREPLAYABLE_CODES", "candidate_verdict", "policy_outcome"]

# Reason codes the guard adds after the policy answered (docs/runtime.md): the policy's own answer was "allow".
RUNTIME_CODES = frozenset(
    {"rate_limit_exceeded", "rate_limit_store_unavailable", "budget_exceeded", "decision_record_unavailable"}
)
# Reasons that say nothing about the policy at all: the engine never answered, or the kill switch answered for it.
UNREPLAYABLE_CODES = frozenset({"policy_engine_unavailable", "agent_suspended"})


def policy_outcome(result: Mapping[str, Any]) -> str:
    """The policy's own outcome behind ``result`` (a decision or a record): runtime-only denials count as allow."""
    decision = str(result.get("decision"))
    codes = {str(reason.get("code")) for reason in result.get("reasons") or [] if isinstance(reason, Mapping)}
    if decision == "deny" and codes and codes <= RUNTIME_CODES:
        return "allow"
    return decision


def candidate_verdict(engine: Any, call: Mapping[str, Any], active: Mapping[str, Any]) -> dict[str, Any]:
    """What ``engine`` (the candidate) answers for ``call``, and whether it diverges from ``active``'s policy answer.

    Never raises: a candidate that fails is reported (``error``), never allowed to change or break the call.
    """
    try:
        answer = engine.decide(call)
    except Exception as exc:  # the candidate is an observer; its failure is evidence, not an outage
        return {"policy_version": None, "decision": None, "diverged": False, "error": first_line(exc)}
    if not isinstance(answer, Mapping):
        return {"policy_version": None, "decision": None, "diverged": False, "error": "the answer is not an object"}
    decision = str(answer.get("decision"))
    codes = {str(reason.get("code")) for reason in active.get("reasons") or [] if isinstance(reason, Mapping)}
    comparable = not codes & UNREPLAYABLE_CODES
    return {
        "policy_version": answer.get("policy_version"),
        "decision": decision,
        "diverged": comparable and decision != policy_outcome(active),
    }
