"""Decision-record sinks: small objects that receive plain-dict records, in chain order, from one background thread.

* :class:`JsonlFileSink` — an append-only JSON-lines audit log (rotation, fsync policy);
* :class:`SplunkHecSink` — Splunk HTTP Event Collector, through a disk spool (nothing is lost while Splunk is down);
* :class:`OtelSink` — one OpenTelemetry span per decision;
* :class:`MemorySink` — a list, for tests and tools.

Any object with ``name``, ``write(records)``, ``flush(timeout)`` and ``close()`` is a sink (:class:`Sink`).
"""

from yaml2rego.runtime.sinks.base import MemorySink, Record, Sink
from yaml2rego.runtime.sinks.file import JsonlFileSink
from yaml2rego.runtime.sinks.otel import OtelSink
from yaml2rego.runtime.sinks.pipeline import RecordPipeline
from yaml2rego.runtime.sinks.splunk import HecClient, SplunkHecSink
from yaml2rego.runtime.sinks.spool import Spool

__all__ = [
    "HecClient",
    "JsonlFileSink",
    "MemorySink",
    "OtelSink",
    "Record",
    "RecordPipeline",
    "Sink",
    "SplunkHecSink",
    "Spool",
]
