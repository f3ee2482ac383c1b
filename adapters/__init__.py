"""Framework adapters, installed as ``yaml2rego.adapters``, and the runtime's public names (from
:mod:`yaml2rego.runtime`).

>>> from yaml2rego.adapters import Guard, JsonlFileSink  # doctest: +SKIP
>>> guard = Guard.from_policy(["boundaries/"], sinks=[JsonlFileSink("decisions.jsonl")])  # doctest: +SKIP
>>> guard.enforce({"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"})  # doctest: +SKIP

Framework adapters (``yaml2rego.adapters.langgraph`` and friends) are imported on their own, so this package never
pulls in a framework.
"""

from yaml2rego.runtime import (
    ApprovalRequest,
    ApprovalService,
    Decision,
    Guard,
    HashChain,
    JsonFileApprovalStore,
    JsonlFileSink,
    MemoryApprovalStore,
    MemoryBudgetStore,
    MemoryRateLimitStore,
    MemorySink,
    OtelSink,
    PolicyDenied,
    RateLimitStore,
    RedisBudgetStore,
    RedisRateLimitStore,
    Sink,
    SlackWebhookNotifier,
    SplunkHecSink,
    VerifyResult,
    WebhookNotifier,
    sanitize_call,
    sanitize_result,
    verify_file,
    verify_records,
)

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
