"""A producer process for the crash tests: threads deciding through one guard, each writing down what it was told.

Run as ``python -m tests.record_producer RUN_DIR RUN THREADS STEPS HEC_URL TOKEN``. Every thread calls
``guard.check`` STEPS times with ``path=/p/<run>-<thread>/<step>`` and, after each call returns, appends
``<decision_id> <run>-<thread> <step>`` to ``RUN_DIR/returned-<run>-<thread>.txt`` (one unbuffered write), so the
test can compare what callers were told with what the log and Splunk hold after the process is killed.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.fake_engine import ScriptedEngine
from yaml2rego.adapters import Guard, JsonlFileSink, Sink, SplunkHecSink

CHECKPOINT_SECRET = b"crash-test-checkpoint-secret-0123456789"


class AllowAll(ScriptedEngine):
    def decide(self, call: Any) -> dict[str, Any]:
        return {"decision": "allow", "allow": True, "reasons": [], "decision_reason": "allowed by test",
                "policy_version": "sha256:00", "agent_id": call.get("agent_id"), "mode": "enforce"}  # fmt: skip


def main(run_dir: Path, run: int, threads: int, steps: int, hec_url: str, token: str) -> None:
    sinks: list[Sink] = [
        JsonlFileSink(run_dir / "decisions.jsonl", fsync="never"),
        SplunkHecSink(hec_url, token, spool_dir=run_dir / "hec", batch_size=50, backoff=(0.02, 0.2), timeout=2.0),
    ]
    guard = Guard(AllowAll(), sinks=sinks, durability="logged", checkpoint_key=CHECKPOINT_SECRET, checkpoint_every=200)

    def produce(thread: int) -> None:
        producer = f"{run}-{thread}"
        descriptor = os.open(run_dir / f"returned-{producer}.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        for step in range(steps):
            decision = guard.check({"agent_id": "a1", "method": "GET", "path": f"/p/{producer}/{step}"})
            os.write(descriptor, f"{decision.decision_id} {producer} {step}\n".encode())
            time.sleep(0.001)
        os.close(descriptor)

    workers = [threading.Thread(target=produce, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print("decided", flush=True)
    delivered = guard.flush(30)
    guard.close(timeout=10)
    print("delivered" if delivered else "not delivered", flush=True)


if __name__ == "__main__":
    directory, run, threads, steps, url, token = sys.argv[1:7]
    main(Path(directory), int(run), int(threads), int(steps), url, token)
