"""Crash and outage: real producer processes killed with SIGKILL mid-stream, a Splunk receiver that goes down and
comes back. Every decision a caller was told about is in the log, every logged record reaches Splunk (duplicates
only as the same record again), each producer's order is kept, and the signed chain verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.hec_receiver import HecReceiver
from tests.record_producer import CHECKPOINT_SECRET
from yaml2rego.cli import main
from yaml2rego.runtime.records import CheckpointKey, verify_log

TOKEN = "00000000-0000-0000-0000-00000000c0de"
ROOT = Path(__file__).resolve().parent.parent
THREADS, STEPS = 4, 250


def start_producer(run_dir: Path, run: int, hec: HecReceiver) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.record_producer", str(run_dir), str(run), str(THREADS), str(STEPS)]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [*command, hec.url, TOKEN], cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def logged_lines(log: Path) -> int:
    try:
        return log.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_after(process: subprocess.Popen[str], log: Path, more: int, limit: float = 30.0) -> None:
    """SIGKILL ``process`` once the log has grown by ``more`` lines (mid-stream, while records are being written)."""
    start = logged_lines(log)
    deadline = time.monotonic() + limit
    while logged_lines(log) < start + more:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the producer wrote too slowly"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def read_records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.slow
def test_kills_and_receiver_outages_lose_nothing_and_duplicate_only_whole_records(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    with HecReceiver(TOKEN) as hec:
        # Three runs killed mid-stream; Splunk is down during the second (and across its kill) and the fourth.
        first = start_producer(tmp_path, 0, hec)
        kill_after(first, log, 450)
        second = start_producer(tmp_path, 1, hec)
        hec.stop()
        kill_after(second, log, 550)
        third = start_producer(tmp_path, 2, hec)
        kill_after(third, log, 350)
        hec.start()
        last = start_producer(tmp_path, 3, hec)
        time.sleep(0.3)
        hec.stop()
        time.sleep(0.5)
        hec.start()
        out, err = last.communicate(timeout=60)
        assert last.returncode == 0, err
        assert out.split() == ["decided", "delivered"], err
        received = [event["event"] for event in hec.events]

    returned: dict[str, tuple[str, int]] = {}
    for path in tmp_path.glob("returned-*.txt"):
        for line in path.read_text().splitlines():
            decision_id, producer, step = line.split()
            returned[decision_id] = (producer, int(step))
    records = read_records(log)
    decisions = [record for record in records if "checkpoint" not in record]
    logged_ids = [record["decision_id"] for record in decisions]

    assert len(returned) >= 2000
    # Each record sealed once: no decision twice in the log.
    assert len(logged_ids) == len(set(logged_ids))
    # Every decision a caller was told about (durability "logged") is in the log.
    assert set(returned) <= set(logged_ids)
    # Every logged line reached Splunk; what arrived twice is the same line again, never a re-sealed copy.
    by_hash = {record["hash"]: record for record in received}
    assert {record["hash"] for record in records} <= set(by_hash)
    assert {record.get("decision_id") for record in received} <= {*logged_ids, None}
    first_copy: dict[str, dict[str, Any]] = {}
    for record in received:
        if "decision_id" in record:
            assert first_copy.setdefault(record["decision_id"], record) == record
    # Each producer's order is kept in the log and in what Splunk received first.
    for sequence in (decisions, list(first_copy.values())):
        steps: dict[str, list[int]] = defaultdict(list)
        for record in sequence:
            _, _, producer, step = record["path"].split("/")
            steps[producer].append(int(step))
        assert all(found == sorted(found) for found in steps.values())
    # The chain holds across the kills and ends at the last run's closing checkpoint.
    report = verify_log([log], key=CheckpointKey(CHECKPOINT_SECRET))
    assert report.ok, report.problem
    assert (report.records, report.unsigned_tail, report.closed) == (len(decisions), 0, True)
    key_file = tmp_path / "checkpoint.key"
    key_file.write_bytes(CHECKPOINT_SECRET)
    result = CliRunner().invoke(main, ["logs", "verify", str(log), "--verification-key", str(key_file)])
    assert result.exit_code == 0, result.output
