"""The OPA decision-log relay: gzip'd JSON arrays in, one HEC event per decision out, nothing lost."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.hec_receiver import HecReceiver
from yaml2rego.runtime.relay import DecisionLogRelay
from yaml2rego.runtime.sinks import SplunkHecSink

TOKEN = "relay-token"


def opa_event(n: int) -> dict[str, Any]:
    """A decision event as OPA's decision-log plugin writes it (nanosecond timestamps)."""
    return {
        "labels": {"id": "opa-1", "version": "1.4.2"},
        "decision_id": f"opa-{n:04d}",
        "path": "agent_boundary/decision",
        "input": {"agent_id": "support_agent_1", "method": "GET", "path": f"/api/customer/v1/{n}"},
        "result": {"decision": "allow", "allow": True},
        "requested_by": "127.0.0.1:51234",
        "timestamp": "2026-11-21T10:00:00.123456789Z",
        "metrics": {"timer_server_handler_ns": 81234},
    }


@pytest.fixture
def hec() -> Iterator[HecReceiver]:
    with HecReceiver(TOKEN) as receiver:
        yield receiver


@pytest.fixture
def relay(hec: HecReceiver, tmp_path: Path) -> Iterator[DecisionLogRelay]:
    sink = SplunkHecSink(hec.url, TOKEN, spool_dir=tmp_path / "spool", source="opa", fsync=True, backoff=(0.02, 0.1))
    relay = DecisionLogRelay(sink, port=0).start()
    yield relay
    relay.stop(timeout=1)


def upload(relay: DecisionLogRelay, events: Any, *, gzipped: bool = True, path: str = "/logs") -> requests.Response:
    """Post a batch the way OPA's decision-log plugin does."""
    body = json.dumps(events).encode()
    headers = {"Content-Type": "application/json"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return requests.post(f"http://127.0.0.1:{relay.port}{path}", data=body, headers=headers, timeout=5)


def test_each_opa_event_becomes_one_hec_event(relay: DecisionLogRelay, hec: HecReceiver) -> None:
    response = upload(relay, [opa_event(n) for n in range(3)])
    assert response.status_code == 200
    assert relay.sink.flush(5)
    assert [event["event"]["decision_id"] for event in hec.events] == ["opa-0000", "opa-0001", "opa-0002"]
    stamp = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC).timestamp() + 0.123457
    assert hec.events[0]["time"] == pytest.approx(stamp, abs=1e-6)
    assert hec.events[0]["source"] == "opa" and hec.events[0]["event"] == opa_event(0)


def test_a_partition_path_under_the_resource_is_accepted(relay: DecisionLogRelay) -> None:
    assert upload(relay, [opa_event(1)], path="/logs/partition-a").status_code == 200


def test_uploads_are_accepted_and_kept_while_splunk_is_down(relay: DecisionLogRelay, hec: HecReceiver) -> None:
    hec.stop()
    for batch in range(4):
        assert upload(relay, [opa_event(batch * 5 + n) for n in range(5)]).status_code == 200
    assert relay.sink.spool.pending() == 20
    hec.start()
    assert relay.sink.flush(10)
    assert [event["event"]["decision_id"] for event in hec.events] == [f"opa-{n:04d}" for n in range(20)]


def test_a_restarted_relay_delivers_what_the_last_one_accepted(hec: HecReceiver, tmp_path: Path) -> None:
    hec.stop()
    first = DecisionLogRelay(SplunkHecSink(hec.url, TOKEN, spool_dir=tmp_path, fsync=True), port=0).start()
    assert upload(first, [opa_event(n) for n in range(7)]).status_code == 200
    first.stop(timeout=0.1)
    hec.start()
    second = DecisionLogRelay(SplunkHecSink(hec.url, TOKEN, spool_dir=tmp_path, fsync=True), port=0).start()
    assert second.sink.flush(5)
    second.stop()
    assert [event["event"]["decision_id"] for event in hec.events] == [f"opa-{n:04d}" for n in range(7)]


@pytest.mark.parametrize(
    ("body", "gzipped", "message"),
    [
        pytest.param({"not": "an array"}, True, "must be a JSON array", id="object"),
        pytest.param([1, 2], True, "must be a JSON array of decision events", id="scalars"),
    ],
)
def test_malformed_uploads_are_refused_so_opa_keeps_them(
    relay: DecisionLogRelay, body: Any, gzipped: bool, message: str
) -> None:
    response = upload(relay, body, gzipped=gzipped)
    assert response.status_code == 400 and message in response.json()["message"]


def test_broken_gzip_is_refused(relay: DecisionLogRelay) -> None:
    response = requests.post(
        f"http://127.0.0.1:{relay.port}/logs", data=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"}, timeout=5
    )
    assert response.status_code == 400 and "not valid gzip" in response.json()["message"]


def test_plain_json_uploads_are_accepted_too(relay: DecisionLogRelay, hec: HecReceiver) -> None:
    assert upload(relay, [opa_event(9)], gzipped=False).status_code == 200
    assert relay.sink.flush(5) and hec.events[0]["event"]["decision_id"] == "opa-0009"


def test_other_paths_are_not_found(relay: DecisionLogRelay) -> None:
    assert upload(relay, [opa_event(1)], path="/v1/data").status_code == 404


def test_the_logs_relay_command_forwards_uploads(hec: HecReceiver, tmp_path: Path) -> None:
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-c", "from yaml2rego.cli import main; main()", "logs", "relay", "--splunk-url", hec.url,
               "--token", TOKEN, "--listen", f"127.0.0.1:{port}", "--spool-dir", str(tmp_path)]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            try:
                response = requests.post(f"http://127.0.0.1:{port}/logs", data=gzip.compress(b"[]"), timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        assert response.status_code == 200
        body = gzip.compress(json.dumps([opa_event(1), opa_event(2)]).encode())
        assert requests.post(f"http://127.0.0.1:{port}/logs", data=body, timeout=5).status_code == 200
        for _ in range(200):
            if len(hec.events) == 2:
                break
            time.sleep(0.05)
        assert [event["event"]["decision_id"] for event in hec.events] == ["opa-0001", "opa-0002"]
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert stderr.startswith(f"relaying OPA decision logs from http://127.0.0.1:{port}/logs to {hec.url}")


@pytest.mark.opa
def test_a_real_opa_uploads_its_decision_logs_through_the_relay(
    relay: DecisionLogRelay, hec: HecReceiver, opa_binary: str, tmp_path: Path
) -> None:
    """OPA configured as opa/decision-logs.md describes: its decisions arrive in HEC, one event each."""
    import time

    from tests.opa_server import running_opa
    from yaml2rego.compile.compiler import compile_policy_set
    from yaml2rego.dsl.loader import load_policies

    from .conftest import SEED_POLICY

    compile_policy_set(load_policies([SEED_POLICY])).write(tmp_path / "policy")
    settings = [
        f"services.relay.url=http://127.0.0.1:{relay.port}",
        "decision_logs.service=relay",
        "decision_logs.reporting.min_delay_seconds=1",
        "decision_logs.reporting.max_delay_seconds=2",
    ]
    arguments = [argument for setting in settings for argument in ("--set", setting)]
    with running_opa(opa_binary, [*arguments, str(tmp_path / "policy")]) as url:
        call = {"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"}
        answer = requests.post(f"{url}/v1/data/agent_boundary/decision", json={"input": call}, timeout=5).json()
        deadline = time.monotonic() + 30
        while not hec.events and time.monotonic() < deadline:
            time.sleep(0.2)
    assert hec.events, "OPA uploaded nothing to the relay within 30s"
    event = hec.events[0]["event"]
    assert event["decision_id"] == answer["decision_id"] and event["input"] == call
    assert event["result"]["decision"] == "allow"
