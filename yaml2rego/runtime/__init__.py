"""The runtime around a policy's answer: the :class:`Guard` that checks every agent call, the decision it returns, the
steps around it (approvals, rate limits, budgets, redaction) and the decision records and their sinks.

>>> from yaml2rego.runtime import Guard, JsonlFileSink  # doctest: +SKIP
>>> guard = Guard.from_policy(["boundaries/"], sinks=[JsonlFileSink("decisions.jsonl")])  # doctest: +SKIP
>>> guard.enforce({"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"})  # doctest: +SKIP

The same names are importable from :mod:`yaml2rego.adapters`, next to the framework adapters.
"""

from yaml2rego.errors import PolicyDenied
from yaml2rego.runtime.approvals import (
    ApprovalRequest,
    ApprovalService,
    JsonFileApprovalStore,
    MemoryApprovalStore,
    SlackWebhookNotifier,
    WebhookNotifier,
)
from yaml2rego.runtime.budgets import MemoryBudgetStore, RedisBudgetStore
from yaml2rego.runtime.decision import Decision
from yaml2rego.runtime.guard import Guard
from yaml2rego.runtime.limits import MemoryRateLimitStore, RateLimitStore, RedisRateLimitStore
from yaml2rego.runtime.records import HashChain, VerifyResult, verify_file, verify_records
from yaml2rego.runtime.sinks import JsonlFileSink, MemorySink, OtelSink, Sink, SplunkHecSink
from yaml2rego.runtime.steps import sanitize_call, sanitize_result

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
