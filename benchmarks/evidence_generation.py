"""Wall time of a day of traffic through a guard with alerts and a shadow candidate, then of the evidence package and
of replay over that day.

One call every ``86400 / calls`` seconds of record time (default 86,400 calls: one a second), through the embedded
engine with ``record_input=True``, a candidate policy beside the active one, signed checkpoints and an alert sink.
Then ``build_evidence`` over the day (report, charts, manifest) and ``replay`` against the candidate.

    python benchmarks/evidence_generation.py [--calls 86400]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_evidence_e2e import ACTIVE, ALERTS, CANDIDATE  # noqa: E402  (the same day as the end-to-end test)
from yaml2rego.adapters import Guard  # noqa: E402
from yaml2rego.audit.evidence import EvidenceInputs, build_evidence  # noqa: E402
from yaml2rego.audit.replay import replay  # noqa: E402
from yaml2rego.engines.embedded import EmbeddedEngine  # noqa: E402
from yaml2rego.runtime.alerts import AlertSink, load_alert_rules  # noqa: E402
from yaml2rego.runtime.records import CheckpointKey  # noqa: E402
from yaml2rego.runtime.sinks.file import JsonlFileSink  # noqa: E402

DAY = datetime(2026, 11, 3, tzinfo=UTC)
PATHS = ["/api/customer/v1/{n}", "/api/customer/v1/export/all.csv", "/api/reports/v1/{n}", "/api/admin/users"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=86_400)
    calls = parser.parse_args().calls
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "policy.yaml").write_text(ACTIVE)
        (tmp / "candidate.yaml").write_text(CANDIDATE)
        # The end-to-end test's rules, without its webhook channels (nothing listens here).
        (tmp / "alerts.yaml").write_text("alerts:\n  rules:" + ALERTS.split("  rules:")[1])
        key = CheckpointKey(b"k" * 32)
        log, alerts = tmp / "decisions.jsonl", tmp / "alerts.jsonl"
        now = {"at": DAY}
        step = timedelta(seconds=86_400 / calls)
        candidate = EmbeddedEngine.from_policy_paths([tmp / "candidate.yaml"])
        sink = AlertSink(load_alert_rules(tmp / "alerts.yaml"), alerts, key=key)
        started = time.perf_counter()
        guard = Guard.from_policy(
            [tmp / "policy.yaml"], engine="embedded", sinks=[JsonlFileSink(log), sink], checkpoint_key=key,
            record_input=True, candidate=candidate, clock=lambda: now["at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        )  # fmt: skip
        for n in range(calls):
            now["at"] = DAY + step * n
            path = PATHS[n % len(PATHS)].format(n=n)
            guard.check({"agent_id": "support_agent", "method": "DELETE" if "admin" in path else "GET", "path": path})
        guard.close()
        traffic = time.perf_counter() - started
        started = time.perf_counter()
        inputs = EvidenceInputs(
            DAY, DAY + timedelta(days=1), policies=[tmp / "policy.yaml"], logs=[log], log_key=key,
            alerts=alerts, alerts_key=key, signing_key=key,
        )  # fmt: skip
        build_evidence(inputs, tmp / "evidence")
        evidence = time.perf_counter() - started
        started = time.perf_counter()
        report = replay([log], candidate)
        replayed = time.perf_counter() - started
        candidate.close()
        size = log.stat().st_size / 1e6
        print(f"{calls} calls ({size:.1f} MB of records): traffic {traffic:.2f}s, evidence {evidence:.2f}s, "
              f"replay {replayed:.2f}s ({len(report.flips)} flips)")  # fmt: skip


if __name__ == "__main__":
    main()
