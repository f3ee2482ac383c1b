"""The OpenTelemetry sink: one span per decision, named ``agent_boundary.decision``.

Attributes: ``agent_id``, ``tool_name``, ``policy_version``, ``decision_reason`` (always), plus ``decision``,
``decision_id``, ``enforced``, ``reason_codes`` and whatever ``extra`` adds. When the guard recorded the caller's
trace (``trace_id``/``span_id`` in the record), the span is a child of the caller's span, so it shows up inside the
agent's own trace; its start and end are the decision's timestamp and latency.

>>> from opentelemetry.sdk.trace import TracerProvider  # doctest: +SKIP
>>> sink = OtelSink(tracer_provider=TracerProvider())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from yaml2rego.errors import SinkError
from yaml2rego.runtime.records import parse_timestamp
from yaml2rego.runtime.sinks.base import Record

__all__ = ["OtelSink", "current_trace"]

SPAN_NAME = "agent_boundary.decision"


def current_trace() -> tuple[str, str] | None:
    """The active span's (trace_id, span_id) as lower-case hex, or ``None`` (no span, or OpenTelemetry missing)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


class OtelSink:
    """Turns each record into a finished span on ``tracer_provider`` (the global provider by default)."""

    name = "otel"

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        extra: Mapping[str, Any] | Callable[[Record], Mapping[str, Any]] | None = None,
    ) -> None:
        try:
            from opentelemetry import trace
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise SinkError("the OpenTelemetry sink needs: pip install 'yaml2rego[otel]'") from exc
        self._trace = trace
        self._tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("yaml2rego")
        self._extra = extra

    def write(self, records: Sequence[Record]) -> None:
        for record in records:
            if "checkpoint" not in record:  # the log's signed checkpoints are not decisions
                self._span(record)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self) -> None:
        pass

    def _span(self, record: Record) -> None:
        start = int(parse_timestamp(str(record["timestamp"])) * 1e9) if record.get("timestamp") else None
        span = self._tracer.start_span(
            SPAN_NAME, context=self._parent(record), attributes=self._attributes(record), start_time=start
        )
        end = start + int(record.get("latency_us") or 0) * 1000 if start is not None else None
        span.end(end_time=end)

    def _parent(self, record: Record) -> Any:
        trace_id, span_id = record.get("trace_id"), record.get("span_id")
        if not (isinstance(trace_id, str) and isinstance(span_id, str)):
            return None
        parent = self._trace.SpanContext(
            trace_id=int(trace_id, 16),
            span_id=int(span_id, 16),
            is_remote=False,
            trace_flags=self._trace.TraceFlags(self._trace.TraceFlags.SAMPLED),
        )
        return self._trace.set_span_in_context(self._trace.NonRecordingSpan(parent))

    def _attributes(self, record: Record) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "agent_id": str(record.get("agent_id")),
            "tool_name": str(record.get("tool") or ""),
            "policy_version": str(record.get("policy_version")),
            "decision_reason": str(record.get("decision_reason")),
            "decision": str(record.get("decision")),
            "decision_id": str(record.get("decision_id")),
            "enforced": bool(record.get("enforced")),
            "reason_codes": [str(reason.get("code")) for reason in record.get("reasons") or []],
        }
        if record.get("approval_id") is not None:
            attributes["approval_id"] = str(record["approval_id"])
        extra = self._extra(record) if callable(self._extra) else self._extra
        attributes.update(extra or {})
        return attributes
