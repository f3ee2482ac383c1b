"""What the adapter tests share: a guard on the infrastructure-review example, real tools that count their runs, and
the table of tool calls every adapter must decide alike."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import EXAMPLES
from yaml2rego.adapters import ApprovalService, Guard, MemorySink

POLICY = EXAMPLES / "infra_review_agent.yaml"
AGENT = "infra_review_agent"
APPROVAL_SECRET = "infra-review-approval-secret-0123456789abcdef"
# Keys that differ between two records of the same decision: when and how fast it was made, the chain links, and
# the id of the approval request each guard opened.
VOLATILE = {
    "timestamp",
    "decision_id",
    "latency_us",
    "hash",
    "prev_hash",
    "content_sha256",
    "trace_id",
    "span_id",
    "seq",
    "approval_id",
}

RUNS: Counter[str] = Counter()


def new_guard() -> tuple[Guard, MemorySink]:
    sink = MemorySink()
    return Guard.from_policy([POLICY], sinks=[sink], approvals=ApprovalService(secret=APPROVAL_SECRET)), sink


def grant(guard: Guard, approval_id: str, approver: str = "alice") -> str:
    """Approve the request as a human would (``yaml2rego approve``) and return the override token."""
    assert guard.approvals is not None
    token = guard.approvals.approve(approval_id, approver=approver).token
    assert token is not None
    return token


def records_of(guard: Guard, sink: MemorySink) -> list[dict[str, Any]]:
    assert guard.flush(5.0)
    return [{key: value for key, value in record.items() if key not in VOLATILE} for record in sink.records]


# The tools' real work: each returns a string and counts its runs, so a test can tell whether a call went through.
def jira_ticket_reader(project_key: str, ticket_id: str | None = None) -> str:
    """Read a ticket, or the open findings of a project."""
    RUNS["jira_ticket_reader"] += 1
    return f"{ticket_id or project_key}: 2 open findings"


def github_pr_inspector(repo: str, pr_number: int) -> str:
    """Summarise the risky changes of a pull request."""
    RUNS["github_pr_inspector"] += 1
    return f"{repo}#{pr_number}: opens port 22 to 0.0.0.0/0"


def slack_risk_notifier(channel: str, message: str) -> str:
    """Post a risk summary to a channel."""
    RUNS["slack_risk_notifier"] += 1
    return f"posted to {channel}"


TOOL_FUNCTIONS = {f.__name__: f for f in (jira_ticket_reader, github_pr_inspector, slack_risk_notifier)}


@dataclass(frozen=True)
class Case:
    """A tool call in environment ``prod`` with role ``engineer``, and the decision it must get."""

    id: str
    tool: str
    args: dict[str, Any]
    decision: str
    codes: tuple[str, ...] = ()
    action: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case("allowed-read", "jira_ticket_reader", {"project_key": "SEC-INFRA", "ticket_id": "SEC-42"}, "allow"),
    Case("out-of-scope", "jira_ticket_reader", {"project_key": "HR-PAYROLL"}, "deny", ("scope_violation",)),
    Case(
        "undeclared-argument",
        "jira_ticket_reader",
        {"project_key": "SEC-1", "jql": "*"},
        "deny",
        ("invalid_arguments",),
    ),
    Case(
        "bad-argument",
        "github_pr_inspector",
        {"repo": "org/infra-core", "pr_number": 0},
        "deny",
        ("invalid_arguments",),
    ),
    Case(
        "wrong-action", "jira_ticket_reader", {"project_key": "SEC-1"}, "deny", ("action_not_allowed",), action="write"
    ),
    Case("unknown-tool", "shell_exec", {"cmd": "id"}, "deny", ("unknown_tool",)),
    Case(
        "needs-approval",
        "slack_risk_notifier",
        {"channel": "#infra-risk", "message": "PR 17 is risky"},
        "approval_needed",
        ("approval_required",),
        action="write",
    ),
]
ENVIRONMENT = "prod"
ROLE = "engineer"
