"""Sinks: the HEC receiver speaks HEC; the Splunk sink batches, retries, spools and resumes; OTel spans; the queue."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from tests.hec_receiver import HecReceiver
from yaml2rego.adapters import Guard, JsonlFileSink, MemorySink, OtelSink, SplunkHecSink, verify_file
from yaml2rego.cli import main
from yaml2rego.errors import SinkError
from yaml2rego.runtime.records import HashChain
from yaml2rego.runtime.sinks import RecordPipeline, Spool

ROOT = Path(__file__).resolve().parent.parent

TOKEN = "00000000-0000-0000-0000-000000000001"
FAST = {"backoff": (0.02, 0.1), "timeout": 2.0}


@pytest.fixture
def hec() -> Iterator[HecReceiver]:
    with HecReceiver(TOKEN) as receiver:
        yield receiver


def records(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"timestamp": "2026-11-21T10:00:00.250000Z", "decision_id": f"d-{n:04d}"} for n in range(start, count)]


def post(url: str, body: bytes, token: str | None = TOKEN, scheme: str = "Splunk") -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    response = requests.post(url + "/services/collector/event", data=body, headers=headers, timeout=5)
    return response.status_code, response.json()


# -- the receiver speaks HEC -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "token", "scheme", "status", "answer"),
    [
        pytest.param(
            b'{"event":{"a":1}} {"event":"x"}\n', TOKEN, "Splunk", 200, {"text": "Success", "code": 0}, id="ok"
        ),
        pytest.param(b'{"event":1}', None, "Splunk", 401, {"text": "Token is required", "code": 2}, id="no-token"),
        pytest.param(b'{"event":1}', TOKEN, "Bearer", 401, {"text": "Invalid authorization", "code": 3}, id="scheme"),
        pytest.param(b'{"event":1}', "wrong", "Splunk", 403, {"text": "Invalid token", "code": 4}, id="bad-token"),
        pytest.param(b"  ", TOKEN, "Splunk", 400, {"text": "No data", "code": 5}, id="no-data"),
        pytest.param(
            b'{"event":1}{"event":',
            TOKEN,
            "Splunk",
            400,
            {"text": "Invalid data format", "code": 6, "invalid-event-number": 1},
            id="bad-json",
        ),
        pytest.param(
            b'{"time":1}',
            TOKEN,
            "Splunk",
            400,
            {"text": "Event field is required", "code": 12, "invalid-event-number": 0},
            id="no-event",
        ),
    ],
)
def test_receiver_answers_as_hec(
    hec: HecReceiver, body: bytes, token: str | None, scheme: str, status: int, answer: dict[str, Any]
) -> None:
    assert post(hec.url, body, token, scheme) == (status, answer)


def test_receiver_indexes_events_before_a_malformed_one(hec: HecReceiver) -> None:
    post(hec.url, b'{"event":"first"}{"event":"second"}[1]{"event":"never"}')
    assert [event["event"] for event in hec.events] == ["first", "second"]


# -- the Splunk sink -------------------------------------------------------------------------------------------------


def test_sink_posts_concatenated_envelopes_with_metadata(hec: HecReceiver, tmp_path: Path) -> None:
    sink = SplunkHecSink(
        hec.url, TOKEN, spool_dir=tmp_path, index="audit", source="guard", sourcetype="yaml2rego:decision"
    )
    sink.write(records(3))
    assert sink.flush(5)
    sink.close()
    assert hec.decision_ids() == ["d-0000", "d-0001", "d-0002"]
    stamp = datetime(2026, 11, 21, 10, 0, 0, 250000, tzinfo=UTC).timestamp()
    assert hec.events[0] == {
        "time": stamp, "index": "audit", "source": "guard", "sourcetype": "yaml2rego:decision", "event": records(1)[0],
    }  # fmt: skip
    request = hec.requests[-1]
    assert request["path"] == "/services/collector/event" and request["headers"]["Authorization"] == f"Splunk {TOKEN}"
    assert request["body"].count(b"\n") == 3 and not request["body"].startswith(b"[")


def test_sink_batches_records(hec: HecReceiver, tmp_path: Path) -> None:
    sink = SplunkHecSink(hec.url, TOKEN, spool_dir=tmp_path, batch_size=10)
    sink.write(records(35))
    assert sink.flush(5)
    sink.close()
    assert len(hec.decision_ids()) == 35 and len(hec.requests) == 4


def test_while_splunk_is_down_records_spool_and_arrive_in_order_when_it_returns(
    hec: HecReceiver, tmp_path: Path
) -> None:
    hec.stop()
    sink = SplunkHecSink(hec.url, TOKEN, spool_dir=tmp_path, batch_size=7, **FAST)
    for n in range(0, 40, 5):
        sink.write(records(n + 5, start=n))
    assert not sink.flush(0.3)
    assert sink.spool.pending() == 40
    hec.start()
    assert sink.flush(10)
    sink.close()
    assert hec.decision_ids() == [f"d-{n:04d}" for n in range(40)]


def test_busy_splunk_is_retried(hec: HecReceiver, tmp_path: Path) -> None:
    hec.busy = True
    sink = SplunkHecSink(hec.url, TOKEN, spool_dir=tmp_path, **FAST)
    sink.write(records(2))
    assert not sink.flush(0.3)
    hec.busy = False
    assert sink.flush(10)
    sink.close()
    assert hec.decision_ids() == ["d-0000", "d-0001"]
    assert sum(json.loads(r["body"].splitlines()[0])["event"]["decision_id"] == "d-0000" for r in hec.requests) >= 2


def test_an_invalid_token_is_not_retried_and_is_a_clear_error(hec: HecReceiver, tmp_path: Path) -> None:
    sink = SplunkHecSink(hec.url, "wrong-token", spool_dir=tmp_path, **FAST)
    sink.write(records(3))
    assert not sink.flush(1)
    time.sleep(0.2)
    sink.close()
    assert len(hec.requests) == 1 and hec.events == []
    assert isinstance(sink.error, SinkError)
    assert (
        str(sink.error)
        == f"Splunk HEC at {hec.url}/services/collector/event refused 3 events: HTTP 403 Invalid token (code 4)"
    )
    # Nothing is lost: a sink with the right token on the same spool delivers everything.
    fixed = SplunkHecSink(hec.url, TOKEN, spool_dir=tmp_path, **FAST)
    assert fixed.flush(5)
    fixed.close()
    assert hec.decision_ids() == ["d-0000", "d-0001", "d-0002"]


def test_a_batch_splunk_rejects_as_malformed_is_set_aside(hec: HecReceiver, tmp_path: Path) -> None:
    sink = SplunkHecSink(hec.url, TOKEN, spool_dir=tmp_path, envelope=lambda record: {"fields": record}, **FAST)
    sink.write(records(2))
    assert sink.flush(5)
    sink.close()
    rejected = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert [entry["envelope"]["fields"]["decision_id"] for entry in rejected] == ["d-0000", "d-0001"]
    assert "Event field is required (code 12)" in rejected[0]["error"]


def test_a_new_sink_on_the_same_spool_resumes_after_a_kill(hec: HecReceiver, tmp_path: Path) -> None:
    """Kill mid-way, restart on the same spool: every record arrives, in order, duplicates only by decision_id."""
    first = SplunkHecSink(hec.url, TOKEN, spool_dir=tmp_path, batch_size=5, **FAST)
    first.write(records(200))
    while len(hec.events) < 20:
        time.sleep(0.001)
    first.close()  # stops between batches, like a killed process; no flush
    hec.stop()
    hec.start()
    second = SplunkHecSink(hec.url, TOKEN, spool_dir=tmp_path, batch_size=5, **FAST)
    assert second.flush(10)
    second.close()
    ids = hec.decision_ids()
    assert list(dict.fromkeys(ids)) == [f"d-{n:04d}" for n in range(200)]
    assert len(ids) - len(set(ids)) <= 5  # at most the one batch in flight at the kill


def test_guard_records_reach_splunk_through_the_guard(hec: HecReceiver, tmp_path: Path) -> None:
    from tests.test_records import CALL, AllowAll

    with Guard(AllowAll(), sinks=[SplunkHecSink(hec.url, TOKEN, spool_dir=tmp_path)]) as guard:
        ids = [guard.check(CALL).decision_id for _ in range(5)]
        assert guard.flush(5)
    assert hec.decision_ids() == ids


# -- spool and queue -------------------------------------------------------------------------------------------------


def test_spool_survives_reopen_and_cuts_a_torn_last_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=200)
    spool.append(records(10))
    _, position = spool.peek(4)
    spool.ack(position)
    spool.close()
    segments = sorted(tmp_path.glob("segment-*.jsonl"))
    with open(segments[-1], "ab") as handle:
        handle.write(b'{"decision_id": "half')
    reopened = Spool(tmp_path, segment_bytes=200)
    assert reopened.pending() == 6
    rest, _ = reopened.peek(100)
    assert [record["decision_id"] for record in rest] == [f"d-{n:04d}" for n in range(4, 10)]


def test_a_stuck_sink_holds_up_neither_the_log_nor_the_other_sinks(tmp_path: Path) -> None:
    """Each sink ships from the log on its own cursor: a sink that blocks only delays itself."""
    gate = threading.Event()

    class GatedSink(MemorySink):
        def write(self, batch: Any) -> None:
            gate.wait(10)
            super().write(batch)

    stuck, free = GatedSink(), MemorySink()
    pipeline = RecordPipeline([stuck, free], chain=HashChain(), queue_size=5, spool_dir=tmp_path, batch_size=3)
    for n in range(100):
        pipeline.record({"n": n})
    assert pipeline.pending() == 0  # every record is in the log when record() returns (durability "logged")
    assert pipeline.shippers[1].flush(5) and [record["n"] for record in free.records] == list(range(100))
    assert stuck.records == []
    gate.set()
    assert pipeline.flush(10)
    pipeline.close()
    assert [record["n"] for record in stuck.records] == list(range(100))


def test_file_sink_rejects_an_unknown_fsync_policy(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fsync must be one of always, interval, never"):
        JsonlFileSink(tmp_path / "x.jsonl", fsync="sometimes")


# -- OpenTelemetry ---------------------------------------------------------------------------------------------------


def test_otel_sink_makes_one_span_per_decision_as_a_child_of_the_callers_span() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = OtelSink(tracer_provider=provider, extra={"deployment": "test"})
    record = {
        "timestamp": "2026-11-21T10:00:00Z", "decision_id": "d-1", "agent_id": "a1", "tool": "crm_lookup",
        "policy_version": "sha256:ab", "decision": "deny", "decision_reason": "no rule", "enforced": True,
        "reasons": [{"code": "endpoint_not_allowed"}], "latency_us": 250,
        "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331",
    }  # fmt: skip
    sink.write([record, {**record, "trace_id": None, "span_id": None, "tool": None}])
    first, second = exporter.get_finished_spans()
    assert first.name == "agent_boundary.decision"
    assert {key: first.attributes[key] for key in ("agent_id", "tool_name", "policy_version", "decision_reason")} == {
        "agent_id": "a1", "tool_name": "crm_lookup", "policy_version": "sha256:ab", "decision_reason": "no rule",
    }  # fmt: skip
    assert first.attributes["deployment"] == "test" and tuple(first.attributes["reason_codes"]) == (
        "endpoint_not_allowed",
    )
    assert format(first.context.trace_id, "032x") == record["trace_id"]
    assert format(first.parent.span_id, "016x") == record["span_id"]
    assert first.end_time - first.start_time == 250_000
    assert second.parent is None and second.attributes["tool_name"] == ""


# -- logs ship -------------------------------------------------------------------------------------------------------


def test_logs_ship_backfills_a_file(hec: HecReceiver, tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_text("".join(json.dumps(record) + "\n" for record in records(12)))
    result = CliRunner().invoke(
        main,
        ["logs", "ship", str(log), "--splunk-url", hec.url, "--token", TOKEN, "--batch-size", "5", "--index", "audit"],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"shipped 12 records to {hec.url}/services/collector/event"
    assert hec.decision_ids() == [f"d-{n:04d}" for n in range(12)] and hec.events[0]["index"] == "audit"


def test_logs_ship_stops_with_a_clear_error_on_a_refused_token(hec: HecReceiver, tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_text(json.dumps(records(1)[0]) + "\n")
    result = CliRunner().invoke(main, ["logs", "ship", str(log), "--splunk-url", hec.url, "--token", "nope"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: Splunk HEC at {hec.url}/services/collector/event refused 1 events: HTTP 403 Invalid token (code 4)"
    )
    assert len(hec.requests) == 1


def test_records_logged_before_a_crash_reach_the_sink_after_a_restart(tmp_path: Path) -> None:
    """The process dies while a sink is stuck: the next pipeline on the same log resumes that sink's cursor."""
    gate = threading.Event()

    class StuckSink(MemorySink):
        def write(self, batch: Any) -> None:
            gate.wait(0.5)
            raise OSError("unreachable")

    stuck = RecordPipeline([StuckSink()], spool_dir=tmp_path, batch_size=1)
    for n in range(10):
        stuck.record({"n": n})
    stuck._closed.set()  # the process dies: no flush, no close
    sink = MemorySink()
    restarted = RecordPipeline([sink], spool_dir=tmp_path)
    restarted.record({"n": "new"})
    assert restarted.flush(5)
    restarted.close()
    gate.set()
    for shipper in stuck.shippers:  # the dead process's thread, still retrying in this one
        shipper.close(1)
    assert [record["n"] for record in sink.records] == [*range(10), "new"]
    # Sealed once: one chain through the log, the restart continuing it.
    assert verify_file(tmp_path / "records.jsonl").records == 11


def test_records_still_queued_at_close_are_kept_for_the_next_start(tmp_path: Path) -> None:
    gate = threading.Event()

    class GatedSink(MemorySink):
        def write(self, batch: Any) -> None:
            gate.wait(10)
            super().write(batch)

    first = GatedSink()
    pipeline = RecordPipeline([first], queue_size=100, spool_dir=tmp_path, batch_size=1)
    for n in range(10):
        pipeline.submit({"n": n})
    threading.Timer(0.3, gate.set).start()
    pipeline.close(timeout=0.1)  # gives up before the sink accepts more than the record in hand
    second = MemorySink()
    restarted = RecordPipeline([second], spool_dir=tmp_path)
    assert restarted.flush(5)
    restarted.close()
    delivered = [record["n"] for record in first.records + second.records]
    assert sorted(delivered) == list(range(10)) and delivered == list(range(10))


def test_nothing_is_lost_under_load_with_a_tiny_queue_and_a_splunk_outage(hec: HecReceiver, tmp_path: Path) -> None:
    """20 threads, 1,000 decisions, a queue of 8, Splunk down for part of it: the file holds every record once and
    Splunk every record in the same (chain) order, and the chain verifies."""
    from tests.test_records import CALL, AllowAll
    from yaml2rego.adapters import verify_file

    log = tmp_path / "decisions.jsonl"
    sinks = [JsonlFileSink(log), SplunkHecSink(hec.url, TOKEN, spool_dir=tmp_path / "hec", batch_size=50, **FAST)]
    ids: list[str] = []
    lock = threading.Lock()
    with Guard(AllowAll(), sinks=sinks, queue_size=8, spool_dir=tmp_path / "overflow") as guard:

        def agent(n: int) -> None:
            for step in range(50):
                decision = guard.check({**CALL, "path": f"/api/ticket/v1/{n}/{step}"})
                with lock:
                    ids.append(decision.decision_id)
                if n == 0 and step == 10:
                    hec.stop()
                if n == 0 and step == 40:
                    hec.start()

        threads = [threading.Thread(target=agent, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert guard.flush(30)
    written = [json.loads(line)["decision_id"] for line in log.read_text().splitlines()]
    assert sorted(written) == sorted(ids) and len(set(written)) == 1000
    # The outage cuts connections: a batch Splunk took just before may be sent again, whole and in place.
    assert list(dict.fromkeys(hec.decision_ids())) == written
    assert verify_file(log).ok


def test_the_own_log_of_a_guard_without_a_file_sink_is_pruned_once_shipped(tmp_path: Path) -> None:
    """No file sink: the log lives in spool_dir, rotates, and a rotated file goes once every sink has read past it."""
    import yaml2rego.runtime.sinks.pipeline as pipeline_module

    sink = MemorySink()
    original = pipeline_module._OWN_LOG_BYTES
    pipeline_module._OWN_LOG_BYTES = 2000
    try:
        pipeline = RecordPipeline([sink], spool_dir=tmp_path)
        for n in range(200):
            pipeline.record({"n": n, "pad": "x" * 50})
            if n % 5 == 0:
                assert pipeline.flush(5)  # the sink has read everything: at the next rotation the older files go
        assert pipeline.flush(5)
        rotations = pipeline.log.rotations if pipeline.log is not None else 0
        pipeline.close()
    finally:
        pipeline_module._OWN_LOG_BYTES = original
    assert [record["n"] for record in sink.records] == list(range(200))
    assert rotations > 10 and len(list(tmp_path.glob("records.jsonl.*"))) <= 2


def test_concurrent_calls_share_one_write_of_the_log(tmp_path: Path) -> None:
    """Group commit: while one caller writes, the others' records wait and go out together in the next write."""
    from tests.test_records import CALL, AllowAll

    class SlowLog(JsonlFileSink):
        writes = 0

        def append(self, lines: Any, *, sync: bool = False) -> None:
            SlowLog.writes += 1
            time.sleep(0.005)  # a slow disk: the other callers queue up meanwhile
            super().append(lines, sync=sync)

    log = tmp_path / "decisions.jsonl"
    with Guard(AllowAll(), sinks=[SlowLog(log)]) as guard:

        def agent(n: int) -> None:
            for step in range(25):
                decision = guard.check({**CALL, "path": f"/api/ticket/v1/{n}/{step}"})
                if step % 5 == 0:
                    assert decision.decision_id in log.read_text()  # written before check() returned

        threads = [threading.Thread(target=agent, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert verify_file(log).records == 200
    assert SlowLog.writes < 150  # one write per record without group commit


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"durability": "sometimes"}, "durability must be one of logged, fsync, async", id="durability"),
        pytest.param({"checkpoint_key": b"short"}, "at least 32 bytes", id="short-secret"),
    ],
)
def test_bad_record_options_are_clear_errors(options: dict[str, Any], message: str) -> None:
    from tests.test_records import AllowAll

    with pytest.raises(Exception, match=message):
        Guard(AllowAll(), sinks=[MemorySink()], **options)


def test_async_durability_writes_everything_by_flush(tmp_path: Path) -> None:
    from tests.test_records import CALL, AllowAll

    log = tmp_path / "decisions.jsonl"
    with Guard(AllowAll(), sinks=[JsonlFileSink(log)], durability="async", queue_size=16) as guard:
        ids = [guard.check(CALL).decision_id for _ in range(100)]
        assert guard.flush(5)
        written = [json.loads(line)["decision_id"] for line in log.read_text().splitlines()]
    assert written == ids


def test_the_async_record_thread_keeps_up_with_a_busy_caller(tmp_path: Path) -> None:
    """The record thread takes its turns of the interpreter lock as they come: a caller checking calls back to back
    never finds the backlog full (it would then write the records itself, on its own time)."""
    log = tmp_path / "decisions.jsonl"
    calls = [
        {"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"},
        {"agent_id": "support_agent_1", "method": "DELETE", "path": "/api/admin/users/7"},
    ]
    guard = Guard.from_policy([ROOT / "examples/support_agent.yaml"], log_file=log, durability="async", queue_size=3000)
    with guard:
        backlog = 0
        for n in range(9000):
            guard.check(calls[n % 2])
            backlog = max(backlog, guard.pipeline.pending())
        assert guard.flush(10)
    assert backlog < 3000
    assert sum(1 for _ in log.open(encoding="utf-8")) == 9000


def test_a_call_whose_record_cannot_be_written_is_refused(tmp_path: Path) -> None:
    """Under durability "logged" a call goes ahead only with its record in the log (a full disk, a read-only file)."""
    from tests.test_records import CALL, AllowAll

    class FullDisk(JsonlFileSink):
        full = False

        def append(self, lines: Any, *, sync: bool = False) -> None:
            if self.full:
                raise OSError(28, "No space left on device")
            super().append(lines, sync=sync)

    log = FullDisk(tmp_path / "decisions.jsonl")
    with Guard(AllowAll(), sinks=[log]) as guard:
        assert guard.check(CALL).allow
        log.full = True
        refused = guard.check(CALL)
        log.full = False
        again = guard.check(CALL)
    assert refused.blocked and refused.codes == ["decision_record_unavailable"] and refused.controls == ["CC7.2"]
    assert again.allow
    assert verify_file(tmp_path / "decisions.jsonl").records == 2
