"""Compile time and embedded decision latency as the number of agents grows.

Prints, for 10, 1,000 and 10,000 agents: the time to load the YAML, to compile it, and the embedded engine's decision
latency (p50/p99 over many calls to one agent). Targets: 10,000 agents compile in under 10 s; p99 at 10,000 agents
within 1.3x of p99 at 10.

    python benchmarks/compile_and_decide.py [--agents 10 1000 10000] [--calls 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.dsl.loader import load_policies
from yaml2rego.engines import EmbeddedEngine

# The seed boundary, exactly as shipped, with one agent id per copy.
SEED = Path(__file__).resolve().parent.parent / "examples" / "support_agent.yaml"
SEED_AGENT_ID = '"support_agent_1"'

CALLS = [
    {"method": "GET", "path": "/api/customer/v1/42"},
    {"method": "DELETE", "path": "/api/customer/v1/42"},
    {
        "method": "POST",
        "path": "/api/ticket/v1/",
        "body": {"customer_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "priority": "urgent"},
    },
]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def run(agent_count: int, calls: int) -> dict[str, float]:
    seed = SEED.read_text()
    assert SEED_AGENT_ID in seed
    with tempfile.TemporaryDirectory() as directory:
        # One file per agent, as a platform team keeps them in a repository.
        for index in range(agent_count):
            text = seed.replace(SEED_AGENT_ID, f'"support_agent_{index}"')
            (Path(directory) / f"agent_{index:05d}.yaml").write_text(text)
        started = time.perf_counter()
        policy_set = load_policies([directory])
        loaded = time.perf_counter()
        compiled = compile_policy_set(policy_set)
        compiled_at = time.perf_counter()
    engine = EmbeddedEngine.from_compiled(compiled)
    agent_id = f"support_agent_{agent_count // 2}"
    latencies = []
    for index in range(calls):
        request = {"agent_id": agent_id, **CALLS[index % len(CALLS)]}
        before = time.perf_counter()
        engine.decide(request)
        latencies.append((time.perf_counter() - before) * 1e6)
    return {
        "load_s": loaded - started,
        "compile_s": compiled_at - loaded,
        "p50_us": statistics.median(latencies),
        "p99_us": percentile(latencies, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    print(f"{'agents':>8} {'load s':>8} {'compile s':>10} {'total s':>8} {'p50 us':>8} {'p99 us':>8}")
    results = {}
    for count in args.agents:
        result = results[count] = run(count, args.calls)
        total = result["load_s"] + result["compile_s"]
        print(
            f"{count:>8} {result['load_s']:>8.2f} {result['compile_s']:>10.2f} {total:>8.2f} "
            f"{result['p50_us']:>8.0f} {result['p99_us']:>8.0f}"
        )
    smallest, largest = min(results), max(results)
    if smallest != largest:
        ratio = results[largest]["p99_us"] / results[smallest]["p99_us"]
        total = results[largest]["load_s"] + results[largest]["compile_s"]
        print(f"p99 at {largest} agents / p99 at {smallest} agents: {ratio:.2f}x (target <= 1.3x)")
        print(f"{largest} agents load + compile: {total:.1f} s (target < 10 s)")


if __name__ == "__main__":
    main()
