"""What every framework adapter shares: the decision input for a tool call, the text a model reads when a call is
refused, the approval request an adapter hands to a human, and the error for a framework that is not installed.

>>> context = ToolCallContext("infra_review_agent", environment="prod", actions={"slack_risk_notifier": "write"})
>>> context.call("slack_risk_notifier", {"channel": "#infra-risk"})["action"]
'write'
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from yaml2rego.runtime.decision import Decision

__all__ = [
    "APPROVED_ANSWERS",
    "ToolCallContext",
    "approval_request",
    "is_approved",
    "refusal_text",
    "require",
]

# What a human may answer to an approval request to let the call run; anything else refuses it.
APPROVED_ANSWERS = (True, "approve", "approved", "yes")


@dataclass(frozen=True)
class ToolCallContext:
    """Who makes tool calls and where: the agent, its target environment, the requester's role, and the action
    each tool performs (a tool without one is decided on every action its registry entry declares).

    ``extra`` keys are added to every call (``trace_id``, ``approval_id``, …).
    """

    agent_id: str
    environment: str | None = None
    requester_role: str | None = None
    actions: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def call(self, tool: str, args: Any, **overrides: Any) -> dict[str, Any]:
        """The decision input for calling ``tool`` with ``args``; ``overrides`` win over the context."""
        call: dict[str, Any] = {**self.extra, "agent_id": self.agent_id, "tool": tool}
        # An unset optional argument (None) is left out, as the policy would read it, so every framework sends the
        # same input for the same call whether or not it fills in defaults.
        if isinstance(args, Mapping):
            call["args"] = {name: value for name, value in args.items() if value is not None}
        else:
            call["args"] = {} if args is None else args
        for key, value in (
            ("action", self.actions.get(tool)),
            ("environment", self.environment),
            ("requester_role", self.requester_role),
        ):
            if value is not None:
                call[key] = value
        call.update({key: value for key, value in overrides.items() if value is not None})
        return call


def refusal_text(decision: Decision) -> str:
    """What the model reads instead of the tool's output: the outcome, each reason with its code, and the decision id
    (so a person can find the record)."""
    if decision.decision == "approval_needed":
        head = "This tool call needs a human's approval and was not approved"
    else:
        head = "This tool call was refused by the agent boundary"
    reasons = "; ".join(f"{reason.get('message')} [{reason.get('code')}]" for reason in decision.reasons)
    return f"{head}: {reasons or decision.decision_reason} (decision {decision.decision_id})"


def approval_request(decision: Decision, call: Mapping[str, Any], tool_call_id: str | None = None) -> dict[str, Any]:
    """The request a human sees: the call, why it needs approval, and the decision that asked for it."""
    return {
        "type": "approval_request",
        "agent_id": call.get("agent_id"),
        "tool": call.get("tool"),
        "action": call.get("action"),
        "args": call.get("args"),
        "environment": call.get("environment"),
        "tool_call_id": tool_call_id,
        "decision_id": decision.decision_id,
        "approval_id": decision.approval_id,
        "reasons": decision.reasons,
        "answers": "resume with True or 'approve' to run the call; anything else refuses it",
    }


def is_approved(answer: Any) -> bool:
    """``True``, ``"approve"``, ``{"approved": True}`` or ``{"type": "approve"}`` (the shape LangChain's
    human-in-the-loop middleware uses) approve; everything else refuses."""
    if isinstance(answer, Mapping):
        return answer.get("approved") is True or answer.get("type") in ("approve", "accept")
    if isinstance(answer, str):
        return answer.strip().lower() in APPROVED_ANSWERS
    return answer is True


def require(module: str, extra: str) -> ModuleType:
    """Import a framework, or raise an ``ImportError`` that says which extra installs it (as httpx does for h2)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{module} is not installed: pip install 'yaml2rego[{extra}]'") from exc
