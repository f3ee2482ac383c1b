"""Guard overhead: what the guard adds on top of the engine's own decision time, at 10 to 10,000 agents.

Run: ``python benchmarks/guard_overhead.py [--calls 3000] [--agents 10,100,1000,10000] [--extra-rules 0,50]
[--rows embedded,durability,daemon] [--sustained 30000]``

* Embedded engine: per call, the guard's time minus the engine's ``decide`` time (prepare the input, rate limits,
  build, seal and write the record under the default ``durability="logged"``), next to the engine's decision time
  and the total. Shown with no sinks and with a file sink plus a Splunk sink whose Splunk is down (the Splunk sink
  ships from the file on its own thread, so the two should be close).
* Endpoint rules per agent: the same at 10 agents whose boundary has extra allowed endpoints that the calls do not
  match (most rules are ruled out by a string test, so the decision grows little with them).
* Decision cache (``Guard.from_policy(..., decision_cache=N)``): at 10 agents, where nearly every call repeats an
  earlier one, and at the largest size, where almost none does (what a miss costs). The rows above are uncached.
* Durability: a sustained loop under ``async``, ``logged`` and ``fsync``: the overhead per call, how many records
  were not yet in the log when the loop ended, and how long the final close took.
* OPA daemon (when ``opa`` is on PATH or ``OPA_BIN`` is set): the guard's full latency next to a raw keep-alive
  ``http.client`` loop posting the same input to the same ``opa run --server`` (the least any Python client can do).
  Without an opa binary the same rows run against a stand-in in another process that serves OPA's Data API from the
  embedded engine (labelled ``stand-in``).

Targets: embedded overhead p99 < 0.5 ms; daemon p50 and p99 within 1.25x of the raw loop; both flat from 10 to 10,000
agents; no record behind at the end of a sustained loop under ``logged``.
This is a benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from yaml2rego.adapters import Guard, JsonlFileSink, SplunkHecSink
from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.dsl.loader import load_policy_text
from yaml2rego.engines import EmbeddedEngine

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "support_agent.yaml"
BODY = {"customer_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "priority": "low"}


class TimedEngine:
    """Wraps an engine and remembers how long the last ``decide`` took, per thread."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.name = engine.name
        self.local = threading.local()

    def decide(self, call: Mapping[str, Any]) -> dict[str, Any]:
        started = time.perf_counter_ns()
        try:
            return self.engine.decide(call)  # type: ignore[no-any-return]
        finally:
            self.local.last = time.perf_counter_ns() - started

    def suspend(self, agent_id: str, reason: str) -> None:
        self.engine.suspend(agent_id, reason)

    def resume(self, agent_id: str) -> None:
        self.engine.resume(agent_id)

    def close(self) -> None:
        self.engine.close()


def policy_for(agents: int, extra_rules: int = 0) -> tuple[dict[str, str], dict[str, Any], list[str]]:
    """The example's compiled modules with its agent's facts copied to ``agents`` agent ids (one keyed lookup), and
    ``extra_rules`` more allowed endpoints that the benchmark's calls never match."""
    text = EXAMPLE.read_text(encoding="utf-8")
    extra = "".join(f'    - method: GET\n      path: "/api/service{n}/v1/*"\n' for n in range(extra_rules))
    text = text.replace("  denied_endpoints:\n", extra + "  denied_endpoints:\n", 1)
    compiled = compile_policy_set(load_policy_text(text, str(EXAMPLE)))
    data = copy.deepcopy(compiled.data_document())
    template = next(iter(data["boundaries"]["agents"].values()))
    template["rate_limits"][0]["requests_per_minute"] = 10**9  # measure the counting, never hit the limit
    ids = [f"agent_{n:05d}" for n in range(agents)]
    data["boundaries"]["agents"] = {agent_id: {**copy.deepcopy(template), "agent_id": agent_id} for agent_id in ids}
    return compiled.modules(include_tests=False), data, ids


def calls(ids: list[str], count: int) -> list[dict[str, Any]]:
    picks = random.Random(7)
    shapes = [
        {"method": "GET", "path": "/api/customer/v1/42/orders"},
        {"method": "POST", "path": "/api/ticket/v1/", "body": BODY},
        {"method": "DELETE", "path": "/api/admin/users/7"},
    ]
    return [{"agent_id": picks.choice(ids), **picks.choice(shapes)} for _ in range(count)]


def percentiles(samples_ns: list[int]) -> str:
    ordered = sorted(samples_ns)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    return f"p50 {p50 / 1000:8.1f} us   p99 {p99 / 1000:8.1f} us"


def bench_embedded(
    agents: int, count: int, with_sinks: bool, extra_rules: int = 0, cache_size: int = 0, durability: str = "logged"
) -> dict[str, Any]:
    """Per-call nanoseconds: ``total`` (the guard's whole check), ``decision`` (the engine) and ``overhead``."""
    modules, data, ids = policy_for(agents, extra_rules)
    engine = TimedEngine(EmbeddedEngine(modules, data, cache_size=cache_size))
    workdir = Path(tempfile.mkdtemp(prefix="yaml2rego-bench-"))
    sinks: list[Any] = []
    if with_sinks:
        down = f"http://127.0.0.1:{_free_port()}"  # nothing listens: the Splunk sink spools and retries
        sinks = [JsonlFileSink(workdir / "decisions.jsonl"), SplunkHecSink(down, "t", spool_dir=workdir / "hec")]
    guard = Guard(engine, sinks=sinks, spool_dir=workdir / "overflow", durability=durability)
    workload = calls(ids, count)
    for call in workload[:200]:  # warm up: regorus caches, the record thread
        guard.check(call)
    totals, decisions, overheads = [], [], []
    for call in workload:
        started = time.perf_counter_ns()
        guard.check(call)
        total = time.perf_counter_ns() - started
        totals.append(total)
        decisions.append(engine.local.last)
        overheads.append(total - engine.local.last)
    behind = guard.pipeline.pending()
    started = time.perf_counter()
    guard.close(timeout=1)
    close_s = time.perf_counter() - started
    shutil.rmtree(workdir, ignore_errors=True)
    return {"total": totals, "decision": decisions, "overhead": overheads, "behind": behind,
            "close_s": close_s}  # fmt: skip


def bench_daemon(url: str, ids: list[str], count: int, log_file: Path | None = None) -> tuple[list[int], list[int]]:
    """Per-call nanoseconds against a daemon at ``url``: a raw keep-alive ``http.client`` loop (the least a Python
    client can do: one connection, encode, post, read, decode) and the guard, on the same calls."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    raw_connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 8181, timeout=5)
    for _ in range(200):
        try:
            raw_connection.request("GET", "/health")
            if raw_connection.getresponse().read() is not None:
                break
        except OSError:
            raw_connection.close()
            time.sleep(0.05)
    raw_connection.connect()
    raw_connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    headers = {"Content-Type": "application/json"}
    workload = calls(ids, count)
    guard = Guard.from_opa(url, timeout=5, **({"log_file": log_file} if log_file is not None else {}))
    raw, guarded = [], []
    # Interleaved, call by call: both loops see the same machine, so a busy moment cannot favour one of them.
    for call in workload[:200] + workload:
        started = time.perf_counter_ns()
        raw_connection.request("POST", "/v1/data/agent_boundary/decision", json.dumps({"input": call}), headers)
        json.loads(raw_connection.getresponse().read())
        raw.append(time.perf_counter_ns() - started)
        started = time.perf_counter_ns()
        guard.check(call)
        guarded.append(time.perf_counter_ns() - started)
    raw_connection.close()
    guard.close(timeout=1)
    return raw[200:], guarded[200:]


def bench_opa(opa: str, agents: int, count: int, log_file: Path | None = None) -> tuple[list[int], list[int]]:
    """The daemon rows against a real ``opa run --server`` holding the compiled policy."""
    modules, data, ids = policy_for(agents)
    workdir = Path(tempfile.mkdtemp(prefix="yaml2rego-bench-opa-"))
    for name, text in modules.items():
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_text(text, encoding="utf-8")
    (workdir / "boundaries").mkdir(exist_ok=True)
    (workdir / "boundaries" / "data.json").write_text(json.dumps(data["boundaries"]), encoding="utf-8")
    port = _free_port()
    process = subprocess.Popen([opa, "run", "--server", "--addr", f"127.0.0.1:{port}", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        return bench_daemon(f"http://127.0.0.1:{port}", ids, count, log_file)
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def bench_stand_in(agents: int, count: int) -> tuple[list[int], list[int]]:
    """The daemon rows against a stand-in for OPA in another process: OPA's Data API (``POST /v1/data/...`` answering
    ``{"result": …}``, ``GET /health``) served by the embedded engine. Where no OPA can run, this still measures what
    the ratio is about: the guard's HTTP client and bookkeeping next to a bare keep-alive loop to the same server."""
    _, _, ids = policy_for(agents)
    port = _free_port()
    server = multiprocessing.get_context("spawn").Process(target=_serve_data_api, args=(agents, port), daemon=True)
    server.start()
    try:
        return bench_daemon(f"http://127.0.0.1:{port}", ids, count)
    finally:
        server.terminate()
        server.join(10)


def _serve_data_api(agents: int, port: int) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    modules, data, _ = policy_for(agents)
    engine = EmbeddedEngine(modules, data)

    class DataApi(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as OPA
        disable_nagle_algorithm = True  # headers and body go out at once, as OPA's: no delayed-ACK stalls

        def do_GET(self) -> None:
            self._answer(200, {} if self.path == "/health" else {"code": "not_found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            self._answer(200, {"result": engine.decide(body.get("input"))})

        def _answer(self, status: int, document: Mapping[str, Any]) -> None:
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), DataApi).serve_forever()


def _row(run: dict[str, Any]) -> str:
    return (f"overhead {percentiles(run['overhead'])}   | decision {percentiles(run['decision'])}"
            f"   | total {percentiles(run['total'])}")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--agents", default="10,100,1000,10000")
    parser.add_argument("--extra-rules", default="0,50", help="extra allowed endpoints per agent, for the rules rows")
    parser.add_argument("--rows", default="embedded,durability,daemon", help="which groups of rows to run")
    parser.add_argument("--sustained", type=int, default=30000, help="calls in each durability row")
    options = parser.parse_args()
    rows = set(options.rows.split(","))
    logging.getLogger("yaml2rego").setLevel(logging.ERROR)  # the Splunk sink's "unreachable, retrying" warnings
    sizes = [int(size) for size in options.agents.split(",")]
    if "embedded" in rows:
        print(f"guard overhead, {options.calls} calls per row (target: embedded overhead p99 < 500 us); the engine's")
        print("own decision time and the guard's total are shown beside it (durability: logged, the default)")
        for agents in sizes:
            for with_sinks in (False, True):
                run = bench_embedded(agents, options.calls, with_sinks)
                label = "file+splunk-down" if with_sinks else "no sinks"
                print(f"embedded {agents:>6} agents {label:>16}: {_row(run)}")
        for extra in (int(n) for n in options.extra_rules.split(",")):
            run = bench_embedded(10, options.calls, False, extra_rules=extra)
            rules = f"{6 + extra} endpoint rules"  # the example's 2 allowed, 2 denied, 1 validation, 1 rate limit
            print(f"embedded     10 agents {rules:>16}: {_row(run)}")
        for agents in (10, sizes[-1]):
            # 3 call shapes per agent: at 10 agents nearly every call repeats one seen before, at 10,000 almost none.
            run = bench_embedded(agents, options.calls, False, cache_size=10_000)
            print(f"embedded {agents:>6} agents {'decision cache':>16}: {_row(run)}")
    if "durability" in rows:
        print(f"durability: {options.sustained} calls in a sustained loop, 10 agents, file + Splunk (down) sinks;")
        print("the guard's overhead per call, records not yet in the log at the end, and the final close")
        for durability in ("async", "logged", "fsync"):
            count = options.sustained if durability != "fsync" else min(options.sustained, 3000)
            run = bench_embedded(10, count, True, durability=durability)
            print(f"durability {durability:>6} ({count} calls): {_row(run)}"
                  f"   | behind at the end: {run['behind']}   | close {run['close_s']:.2f}s")  # fmt: skip
    if "daemon" in rows:
        opa = os.environ.get("OPA_BIN") or shutil.which("opa")
        if opa is None:
            print("opa daemon: no opa on PATH and OPA_BIN is unset; rows against a stand-in serving OPA's Data API")
        print("daemon: the guard against a raw keep-alive http.client loop posting the same input to the same server")
        runs: list[tuple[int, str, Path | None]] = [(agents, "", None) for agents in sizes]
        if opa:
            # The same with the record written to a file before each call returns (durability "logged").
            runs.append((sizes[0], " +log", Path(tempfile.mkdtemp(prefix="yaml2rego-bench-")) / "decisions.jsonl"))
        for agents, label, log_file in runs:
            if opa:
                raw, guarded = bench_opa(opa, agents, options.calls, log_file)
            else:
                raw, guarded = bench_stand_in(agents, options.calls)
            raw_p50, guard_p50 = sorted(raw)[len(raw) // 2], sorted(guarded)[len(guarded) // 2]
            raw_p99, guard_p99 = sorted(raw)[int(len(raw) * 0.99)], sorted(guarded)[int(len(guarded) * 0.99)]
            print(f"{'opa' if opa else 'stand-in':<8} {agents:>6} agents{label} raw loop: {percentiles(raw)}"
                  f"   | guard: {percentiles(guarded)}   | ratio p50 {guard_p50 / raw_p50:.2f}x"
                  f" p99 {guard_p99 / raw_p99:.2f}x (target <= 1.25x),"
                  f" the guard adds {(guard_p50 - raw_p50) / 1000:.0f} us at p50")  # fmt: skip


if __name__ == "__main__":
    main()
