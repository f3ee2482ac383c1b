"""The guard next to a peer policy engine on the seed boundary (examples/support_agent.yaml), in one process.

Run: ``python benchmarks/peer_comparison.py [--rounds 3000] [--seconds 2] [--agents 10,10000]``
(the peer is an optional benchmark dependency: ``pip install 'yaml2rego[bench]'``; without it the peer rows are
skipped with a message).

The peer is Microsoft's Agent Governance Toolkit 5.0 (``agent-governance-toolkit-core``): its ``PolicyEvaluator``
over rules that express the same boundary, called through a small caller adapter that turns a call into the flat
context its rules read (the route, whether the path is canonical, the ticket fields). Both sides see the same calls,
interleaved call by call, and every allow/deny of every row is checked against the Rego reference.

Rows:

* latency p50/p99: the peer's adapter + evaluate; ``Guard.check`` on the native engine with no sinks, with a
  file sink (durability "logged", the default) and with a file sink written by the record thread (durability
  "async", with the most records it ever had waiting); ``Guard.check`` on regorus (``engine="embedded"``); the
  native engine's ``decide`` alone.
* throughput at 1, 4 and 16 threads, one shared guard (and one shared peer evaluator).
* 10 against 10,000 agents (the native guard, calls spread over every agent, once every agent has called once; its
  first calls are shown apart).
* the first call in a new thread (regorus builds an engine per thread).
* peak RSS at 10,000 agents with 1 and with 16 threads, each in a fresh process.

This is a benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guard_overhead import BODY, policy_for  # the same policy and agent copies as guard_overhead

from yaml2rego.adapters import Guard, JsonlFileSink
from yaml2rego.engines import EmbeddedEngine
from yaml2rego.engines.native import NativeEngine

SHAPES: list[dict[str, Any]] = [
    {"method": "GET", "path": "/api/customer/v1/42"},
    {"method": "GET", "path": "/api/customer/v1/42/orders?page=2"},
    {"method": "POST", "path": "/api/ticket/v1/", "body": BODY},
    {"method": "POST", "path": "/api/ticket/v1/", "body": {**BODY, "priority": "urgent"}},
    {"method": "POST", "path": "/api/ticket/v1/", "body": {**BODY, "customer_id": "42"}},
    {"method": "DELETE", "path": "/api/admin/users/7"},
    {"method": "DELETE", "path": "/api/customer/v1/42"},
]
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


# -- the peer ----------------------------------------------------------------------------------------------------


class Peer:
    """The seed boundary as Agent Governance Toolkit rules, and the caller adapter that feeds them a call."""

    _NON_CANONICAL = re.compile(r"^$|^[^/]|[\x00-\x1f\x7f]|\\|%(?i:2e|2f|5c|25)|//|/\.\.?(?:/|$)")

    def __init__(self, agent_id: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from agent_os.policies import PolicyEvaluator
            from agent_os.policies.schema import PolicyDocument

        def rule(name: str, field: str, operator: str, value: Any, action: str, priority: int) -> dict[str, Any]:
            condition = {"field": field, "operator": operator, "value": value}
            return {"name": name, "condition": condition, "action": action, "priority": priority}

        document = PolicyDocument.model_validate(
            {
                "name": "support_agent_1",
                "rules": [
                    rule("canonical_path", "canonical", "eq", False, "deny", 100),
                    rule("agent_id", "agent_id", "ne", agent_id, "deny", 95),
                    rule("denied_endpoints[0]", "route", "matches", r"^[A-Z]+ /api/admin(?:/|$)", "deny", 90),
                    rule("denied_endpoints[1]", "route", "matches", r"^DELETE /api(?:/|$)", "deny", 85),
                    rule("max_payload_size_kb", "payload_size_bytes", "gt", 1024 * 1024, "deny", 80),
                    rule("priority", "ticket_priority", "not_in", ["low", "medium", "high"], "deny", 70),
                    rule("customer_id", "ticket_customer_id", "matches", rf"^(?!{_UUID}$)", "deny", 70),
                    rule("allowed_endpoints[0]", "route", "matches", r"^GET /api/customer/v1(?:/[^/]+)*$", "allow", 10),
                    rule("allowed_endpoints[1]", "route", "eq", "POST /api/ticket/v1", "allow", 10),
                ],
                "defaults": {"action": "deny"},
            }
        )
        self.evaluator = PolicyEvaluator([document])

    def check(self, call: Mapping[str, Any]) -> bool:
        """The caller adapter and the evaluation: whether the peer allows ``call``."""
        path = str(call.get("path", "")).split("?", 1)[0].split("#", 1)[0]
        target = path[:-1] if path.endswith("/") and path != "/" else path
        route = f"{str(call.get('method', '')).upper()} {target}"
        context: dict[str, Any] = {
            "agent_id": call.get("agent_id"),
            "route": route,
            "canonical": self._NON_CANONICAL.search(path) is None,
            "payload_size_bytes": call.get("payload_size_bytes", 0),
        }
        if route == "POST /api/ticket/v1":
            body = call.get("body")
            body = body if isinstance(body, dict) else {}
            context["ticket_priority"] = str(body.get("priority", ""))
            context["ticket_customer_id"] = str(body.get("customer_id", ""))
        return bool(self.evaluator.evaluate(context).allowed)


def load_peer(agent_id: str) -> Peer | None:
    try:
        return Peer(agent_id)
    except ImportError:
        print(
            "peer rows skipped: agent-governance-toolkit-core is not installed "
            "(pip install 'yaml2rego[bench]' or pip install agent-governance-toolkit-core==5.0.0)"
        )
        return None


# -- measuring ---------------------------------------------------------------------------------------------------


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    return ordered[len(ordered) // 2] / 1000, ordered[int(len(ordered) * 0.99)] / 1000


def guard_on(engine: Any, sink_dir: Path | None = None, durability: str = "logged") -> Guard:
    sinks = [JsonlFileSink(sink_dir / f"decisions-{durability}.jsonl")] if sink_dir is not None else []
    return Guard(engine, sinks=sinks, durability=durability)


def latency(agents: int, rounds: int, peer: Peer | None) -> None:
    """One pass per guard row, each interleaved call by call with the peer: only that guard's own record thread
    runs beside it, so no row pays for another row's background work."""
    modules, data, ids = policy_for(agents)
    workload = [{"agent_id": ids[n % len(ids)], **SHAPES[n % len(SHAPES)]} for n in range(rounds * len(SHAPES))]
    reference = EmbeddedEngine(modules, data)
    expected = [bool(reference.decide(call)["allow"]) for call in workload[: len(SHAPES) * len(ids)]]
    workdir = Path(tempfile.mkdtemp(prefix="yaml2rego-peer-"))
    rows: dict[str, Callable[[], Any]] = {
        "Guard.check, native, no sinks": lambda: guard_on(NativeEngine(modules, data)),
        "Guard.check, native, file sink": lambda: guard_on(NativeEngine(modules, data), workdir),
        "Guard.check, native, file sink, async": lambda: guard_on(NativeEngine(modules, data), workdir, "async"),
        "Guard.check, embedded (regorus), no sinks": lambda: guard_on(EmbeddedEngine(modules, data)),
        "native engine decide alone": lambda: NativeEngine(modules, data),
    }
    print(f"\nLatency, {agents} agent(s), {len(workload):,} decisions per row, each row interleaved with the peer")
    print(f"  {'row':<42} {'p50 us':>7} {'p99 us':>7} | {'peer p50':>8} {'p99':>6} | ratio p50  p99 | wrong")
    notes: list[str] = []
    for label, make in rows.items():
        subject = make()
        contenders = {"row": _allows(subject), **({"peer": peer.check} if peer is not None else {})}
        samples: dict[str, list[int]] = {name: [] for name in contenders}
        wrong = dict.fromkeys(contenders, 0)
        backlog = 0  # the most records a record thread had still to write (async), seen after any call
        for index, call in enumerate(workload[:700] + workload):  # the first 700 warm up
            for name, decide in contenders.items():
                started = time.perf_counter_ns()
                allowed = decide(call)
                elapsed = time.perf_counter_ns() - started
                if index >= 700:
                    samples[name].append(elapsed)
                    wrong[name] += allowed != expected[(index - 700) % len(expected)]
            if isinstance(subject, Guard) and subject.pipeline.durability == "async":
                backlog = max(backlog, subject.pipeline.pending())
        if isinstance(subject, Guard):
            subject.close(timeout=5)
        if backlog:
            queue = subject.pipeline.queue_size  # type: ignore[union-attr]
            notes.append(
                f"{label}: the record thread's backlog peaked at {backlog:,} records (callers write at {queue:,})"
            )
        p50, p99 = percentiles(samples["row"])
        line = f"  {label:<42} {p50:7.1f} {p99:7.1f}"
        if peer is not None:
            peer_p50, peer_p99 = percentiles(samples["peer"])
            line += f" | {peer_p50:8.1f} {peer_p99:6.1f} | {p50 / peer_p50:8.2f} {p99 / peer_p99:5.2f}"
            line += f" | {wrong['row']}/{wrong['peer']}"
        else:
            line += f" | {'-':>8} {'-':>6} | {'-':>8} {'-':>5} | {wrong['row']}"
        print(line)
    print("  (ratio = row / peer, target <= 1.0; wrong = allow/deny that differ from regorus, row/peer)")
    for note in notes:
        print(f"  {note}")


def _allows(subject: Any) -> Callable[[Mapping[str, Any]], bool]:
    """Whether a guard (its whole check) or an engine (its decision alone) allows a call."""
    if isinstance(subject, Guard):
        return lambda call: subject.check(call).allow
    return lambda call: bool(subject.decide(call)["allow"])


def throughput(threads: int, seconds: float, check: Callable[[Mapping[str, Any]], Any], ids: list[str]) -> float:
    """Decisions per second with ``threads`` threads sharing one ``check``."""
    stop = time.perf_counter() + seconds
    counts = [0] * threads

    def work(slot: int) -> None:
        n = slot
        while time.perf_counter() < stop:
            check({"agent_id": ids[n % len(ids)], **SHAPES[n % len(SHAPES)]})
            n += threads
            counts[slot] += 1

    workers = [threading.Thread(target=work, args=(slot,)) for slot in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


def throughputs(seconds: float, peer: Peer | None, with_embedded: bool) -> None:
    modules, data, ids = policy_for(1)
    rows: dict[str, Callable[[Mapping[str, Any]], Any]] = {}
    if peer is not None:
        rows["peer: adapter + evaluate"] = peer.check
    native = guard_on(NativeEngine(modules, data))
    rows["Guard.check, native, no sinks"] = native.check
    embedded = guard_on(EmbeddedEngine(modules, data)) if with_embedded else None
    if embedded is not None:
        rows["Guard.check, embedded, no sinks"] = embedded.check
    print(f"\nThroughput, decisions/s ({seconds:g} s per cell, one shared guard or evaluator, seed calls)")
    print(f"  {'row':<36} {'1 thread':>10} {'4 threads':>10} {'16 threads':>10}   16/1")
    for label, check in rows.items():
        figures = [throughput(threads, seconds, check, ids) for threads in (1, 4, 16)]
        cells = " ".join(f"{figure:10,.0f}" for figure in figures)
        print(f"  {label:<36} {cells}   {figures[2] / figures[0]:.2f}x")
    native.close(timeout=5)
    if embedded is not None:
        embedded.close(timeout=5)


def first_calls(agents: int) -> None:
    """The first decision of a new thread: regorus builds an engine per thread, the native programs are shared."""
    modules, data, ids = policy_for(agents)
    print(f"\nFirst call in a new thread, {agents:,} agents (the guard was built and used on the main thread)")
    for label, engine in (("native", NativeEngine(modules, data)), ("embedded", EmbeddedEngine(modules, data))):
        guard = guard_on(engine)
        guard.check({"agent_id": ids[0], **SHAPES[0]})
        took: list[float] = []

        def first(guard: Guard = guard, took: list[float] = took) -> None:
            started = time.perf_counter()
            guard.check({"agent_id": ids[-1], **SHAPES[0]})
            took.append(time.perf_counter() - started)

        worker = threading.Thread(target=first)
        worker.start()
        worker.join()
        guard.close(timeout=5)
        print(f"  {label:<9} {took[0] * 1000:8.1f} ms")


def agent_counts(counts: list[int], rounds: int) -> None:
    print(f"\nAgents: Guard.check on the native engine, no sinks ({rounds * len(SHAPES):,} decisions per row)")
    figures = {}
    for agents in counts:
        modules, data, ids = policy_for(agents)
        engine = NativeEngine(modules, data)
        guard = guard_on(engine)
        workload = [{"agent_id": ids[(n * 7919) % len(ids)], **SHAPES[n % len(SHAPES)]} for n in range(rounds * 7)]
        # Steady state: every agent has called once (its rate-limit window exists), as in a guard that has run a
        # while; otherwise nearly every call of the 10,000-agent row is its agent's first. First calls are timed apart.
        firsts = []
        for agent_id in ids:
            started = time.perf_counter_ns()
            guard.check({"agent_id": agent_id, **SHAPES[0]})
            firsts.append(time.perf_counter_ns() - started)
        for call in workload[:700]:
            guard.check(call)
        checks, decides = [], []
        for call in workload:  # interleaved: the guard, then the engine alone, on the same call
            started = time.perf_counter_ns()
            guard.check(call)
            checks.append(time.perf_counter_ns() - started)
            started = time.perf_counter_ns()
            engine.decide(call)
            decides.append(time.perf_counter_ns() - started)
        guard.close(timeout=5)
        figures[agents] = (*percentiles(checks), *percentiles(decides))
        check_p50, check_p99, decide_p50, decide_p99 = figures[agents]
        first_p50, first_p99 = percentiles(firsts)
        print(
            f"  {agents:>6,} agents   Guard.check p50 {check_p50:6.1f} p99 {check_p99:6.1f} us"
            f"   decide alone p50 {decide_p50:5.1f} p99 {decide_p99:6.1f} us"
            f"   (an agent's first call p50 {first_p50:5.1f} p99 {first_p99:6.1f} us)"
        )
    low, high = figures[min(counts)], figures[max(counts)]
    print(
        f"  ratio {max(counts):,} / {min(counts):,} agents: Guard.check p50 {high[0] / low[0]:.2f}, "
        f"p99 {high[1] / low[1]:.2f}; decide alone p50 {high[2] / low[2]:.2f}, p99 {high[3] / low[3]:.2f}"
    )


def rss(agents: int) -> None:
    print(f"\nPeak RSS at {agents:,} agents (a fresh process per cell; each thread makes 2,000 calls)")
    for kind in ("native", "embedded"):
        cells = {}
        for threads in (1, 16):
            command = [sys.executable, __file__, "--rss-child", kind, str(agents), str(threads)]
            answer = subprocess.run(command, capture_output=True, text=True, check=True, env=os.environ.copy())
            cells[threads] = float(answer.stdout.strip().splitlines()[-1])
        print(f"  {kind:<9} 1 thread {cells[1]:7.0f} MB   16 threads {cells[16]:7.0f} MB   {cells[16] / cells[1]:.2f}x")


def _rss_child(kind: str, agents: int, threads: int) -> None:
    modules, data, ids = policy_for(agents)
    engine = NativeEngine(modules, data) if kind == "native" else EmbeddedEngine(modules, data)
    guard = guard_on(engine)

    def work(slot: int) -> None:
        for n in range(2000):
            guard.check({"agent_id": ids[(slot * 2000 + n) % len(ids)], **SHAPES[n % len(SHAPES)]})

    workers = [threading.Thread(target=work, args=(slot,)) for slot in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    guard.close(timeout=5)
    status = Path("/proc/self/status").read_text(encoding="utf-8")
    peak_kb = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    print(peak_kb / 1024)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        found = re.search(r"model name\s*:\s*(.+)", info)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3000, help="calls per shape in the latency rows (7 shapes)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per throughput cell")
    parser.add_argument("--agents", default="10,10000", help="agent counts for the flatness rows")
    parser.add_argument("--no-embedded-throughput", action="store_true", help="skip regorus in the throughput rows")
    parser.add_argument("--rss-child", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.rss_child:
        kind, agents, threads = options.rss_child
        _rss_child(kind, int(agents), int(threads))
        return
    counts = [int(part) for part in options.agents.split(",")]
    print(f"machine: {machine()}")
    _, _, ids = policy_for(1)
    peer = load_peer(ids[0])
    latency(1, options.rounds, peer)
    throughputs(options.seconds, peer, not options.no_embedded_throughput)
    agent_counts(counts, max(1, options.rounds // 3))
    first_calls(max(counts))
    rss(max(counts))


if __name__ == "__main__":
    main()
