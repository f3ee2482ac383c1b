"""What the adapters' redaction and approval tests share: a guard with an approval service on the finance example
(``make_payment``: an e-mail address in ``memo`` is redacted, card numbers in results are redacted, payments above
5000 need approval), and a real payment tool that remembers what it was given."""

from __future__ import annotations

from typing import Any

from tests.conftest import EXAMPLES
from yaml2rego.adapters import ApprovalService, Guard, MemorySink

POLICY = EXAMPLES / "finance_agent.yaml"
AGENT = "finance_agent"
SECRET = "test-approval-secret-of-at-least-32-bytes"
CARD = "4111 1111 1111 1111"  # passes the Luhn check, so the card detector confirms it

# Every argument set make_payment received, in order: a test reads what actually reached the tool.
PAYMENTS: list[dict[str, Any]] = []


def make_payment(amount: float, currency: str, memo: str | None = None) -> str:
    """Pay a supplier invoice."""
    PAYMENTS.append({"amount": amount, "currency": currency, "memo": memo})
    return f"paid {amount:g} {currency} with card {CARD}"


def payment_guard() -> tuple[Guard, MemorySink]:
    sink = MemorySink()
    guard = Guard.from_policy([POLICY], sinks=[sink], approvals=ApprovalService(secret=SECRET))
    return guard, sink


def grant(guard: Guard, approval_id: str) -> str:
    """Approve the request as a human would and return the override token."""
    assert guard.approvals is not None
    token = guard.approvals.approve(approval_id, approver="alice").token
    assert token is not None
    return token


def records(guard: Guard, sink: MemorySink) -> list[dict[str, Any]]:
    assert guard.flush(5.0)
    return list(sink.records)
