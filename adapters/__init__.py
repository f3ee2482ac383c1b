"""Runtime guard and framework adapters, installed as ``yaml2rego.adapters``.

>>> from yaml2rego.adapters import Guard, JsonlFileSink  # doctest: +SKIP
>>> guard = Guard.from_policy(["boundaries/"], sinks=[JsonlFileSink("decisions.jsonl")])  # doctest: +SKIP
>>> guard.enforce({"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"})  # doctest: +SKIP

Framework adapters (``yaml2rego.adapters.langgraph`` and friends) are imported on their own, so this package never
pulls in a framework.
"""

from yaml2rego.adapters.approvals import (
    ApprovalRequest,
    ApprovalService,
    JsonFileApprovalStore,
    MemoryApprovalStore,
    SlackWebhookNotifier,
    WebhookNotifier,
)
from yaml2rego.adapters.budgets import MemoryBudgetStore, RedisBudgetStore
from yaml2rego.adapters.decision import Decision
from yaml2rego.adapters.enforcement import sanitize_call, sanitize_result
from yaml2rego.adapters.guard import Guard
from yaml2rego.adapters.limits import MemoryRateLimitStore, RateLimitStore, RedisRateLimitStore
from yaml2rego.adapters.records import HashChain, VerifyResult, verify_file, verify_records
from yaml2rego.adapters.sinks import JsonlFileSink, MemorySink, OtelSink, Sink, SplunkHecSink
from yaml2rego.errors import PolicyDenied

__all__ = [
    "ApprovalRequest",
    "ApprovalService",
    "Decision",
    "Guard",
    "HashChain",
    "JsonFileApprovalStore",
    "JsonlFileSink",
    "MemoryApprovalStore",
    "MemoryBudgetStore",
    "MemoryRateLimitStore",
    "MemorySink",
    "OtelSink",
    "PolicyDenied",
    "RateLimitStore",
    "RedisBudgetStore",
    "RedisRateLimitStore",
    "Sink",
    "SlackWebhookNotifier",
    "SplunkHecSink",
    "VerifyResult",
    "WebhookNotifier",
    "sanitize_call",
    "sanitize_result",
    "verify_file",
    "verify_records",
]
