"""Wall time of `yaml2rego compile` and `yaml2rego bundle` (signed) for many agents, as a user runs them.

Generates N boundaries (default 10,000), one file each: copies of the seed boundary, or with ``--mix mixed`` a cycle
of the seed and boundaries with a tool registry, conditions and sanitize rules. Then runs both commands as
subprocesses (interpreter start-up and imports included) and prints each time next to the target of 5 s.

    python benchmarks/compile_and_bundle_cli.py [--agents 10000] [--repeat 3] [--profile compile|bundle]

``--profile`` runs the command once under cProfile instead and prints the 30 functions with the most own time.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 5.0
SEED_AGENT_ID = '"support_agent_1"'
EXAMPLES = [
    (ROOT / "examples" / "support_agent.yaml", SEED_AGENT_ID),
    (ROOT / "tests" / "golden" / "tool_registry" / "policy.yaml", "ops_agent"),
    (ROOT / "examples" / "clinical_agent.yaml", None),
]


def _agent_texts(count: int, mix: str = "seed") -> list[str]:
    """``count`` boundaries, each with its own agent id: copies of the seed, or a mix of three kinds."""
    templates = []
    for path, agent_id in EXAMPLES if mix == "mixed" else EXAMPLES[:1]:
        text = path.read_text()
        if agent_id is None:  # take the file's own id
            agent_id = next(line.split(":", 1)[1].strip() for line in text.splitlines() if "agent_id:" in line)
        assert agent_id in text, (path, agent_id)
        templates.append((text, agent_id))
    texts = []
    for index in range(count):
        text, agent_id = templates[index % len(templates)]
        texts.append(text.replace(agent_id, f"bench_agent_{index}", 1))
    return texts


# What the `yaml2rego` console script runs; the profiled variant prints the costliest functions after the command.
_RUN = "import sys; from yaml2rego.cli import main; sys.argv[0] = 'yaml2rego'; main()"
_PROFILE = (
    "import cProfile, pstats, sys; from yaml2rego.cli import main; sys.argv[0] = 'yaml2rego'\n"
    "profiler = cProfile.Profile()\n"
    "try:\n    profiler.runcall(main, standalone_mode=False)\n"
    "finally:\n    pstats.Stats(profiler).sort_stats('tottime').print_stats(30)"
)


def _run(command: list[str], profile: bool, code_root: Path = ROOT) -> tuple[float, float, float]:
    """Wall time, user CPU time and system CPU time of one run of the command."""
    environment = {**os.environ, "PYTHONPATH": str(code_root)}
    code = _PROFILE if profile else _RUN
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(  # from another folder: `python -c` puts the current folder first on sys.path
        [sys.executable, "-c", code, *command],
        env=environment,
        capture_output=True,
        text=True,
        cwd=Path(command[1]).parent,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    if profile:
        print("\n".join(result.stdout.splitlines()[:60]))
    return elapsed, user, system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per command; the best is reported")
    parser.add_argument("--profile", choices=["compile", "bundle"])
    parser.add_argument(
        "--code", type=Path, default=ROOT, help="the yaml2rego source tree to run (e.g. an older checkout, to compare)"
    )
    parser.add_argument(
        "--mix",
        choices=["seed", "mixed"],
        default="seed",
        help="seed: copies of examples/support_agent.yaml (as compile_and_decide.py); mixed: also tool registry and "
        "clinical boundaries (conditions, sanitize), about twice the rules per agent",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        policies = work / "policies"
        policies.mkdir()
        for index, text in enumerate(_agent_texts(args.agents, args.mix)):
            (policies / f"agent_{index:05d}.yaml").write_text(text)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_file = work / "private.pem"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        commands = {
            "compile": ["compile", str(policies), "-o", str(work / "out")],
            "bundle": [
                "bundle",
                str(policies),
                "-o",
                str(work / "bundle.tar.gz"),
                "--signing-key",
                str(key_file),
                "--signed-at",
                "1700000000",
            ],
        }
        if args.profile:
            _run(commands[args.profile], profile=True, code_root=args.code)
            return
        print(f"{args.agents:,} agents ({args.mix}), best of {args.repeat} runs (target < {TARGET_S:.0f} s each)")
        # On a shared machine the wall time also counts other processes' turns; user CPU is the Python work, system
        # CPU mostly the file system (compile writes 20,000 files).
        for name, command in commands.items():
            wall, user, system = min(_run(command, profile=False, code_root=args.code) for _ in range(args.repeat))
            verdict = "ok" if wall < TARGET_S else "over"
            print(
                f"  yaml2rego {name:<8} {wall:6.2f} s wall  ({user:5.2f} s user, {system:5.2f} s system)"
                f"   target {TARGET_S:.1f} s   {verdict}"
            )


if __name__ == "__main__":
    main()
