"""``check``, ``compile``, ``eval`` and ``test``: from boundary YAML to decisions."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import Any

import click

from yaml2rego._batch import Forked
from yaml2rego.canonical_json import readable
from yaml2rego.cli._base import count_of, fail, main
from yaml2rego.compile.compiler import CompiledPolicy, compile_policy_set
from yaml2rego.compile.native_program import native_support
from yaml2rego.dsl.loader import load_policies
from yaml2rego.dsl.model import PolicySet
from yaml2rego.dsl.tenancy import TENANTS_ROOT
from yaml2rego.errors import CompileError, PolicyError, Yaml2RegoError

__all__ = ["check", "compile_command", "eval_command", "test_command"]

# The folders `compile` writes; stale files inside them (an agent or a tenant that was removed) are deleted on the
# next run.
_OUTPUT_ROOTS = ("agent_boundary", "agents", "boundaries", TENANTS_ROOT)

policy_paths = click.argument("policies", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=True))


def _load(policies: tuple[str, ...]) -> PolicySet:
    try:
        return load_policies(policies)
    except PolicyError as error:
        fail(str(error))
        raise  # unreachable: fail() exits


@main.command()
@policy_paths
def check(policies: tuple[str, ...]) -> None:
    """Validate boundary files; print errors as file:line:col: message.

    \b
    Example:
      yaml2rego check examples/support_agent.yaml
    """
    policy_set = _load(policies)
    click.echo(f"ok: {len(policy_set)} agent boundar{'y' if len(policy_set) == 1 else 'ies'} valid")


@main.command("compile")
@policy_paths
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--policy-version", help="Version stamped in every decision (default: a content digest).")
def compile_command(policies: tuple[str, ...], out_dir: str, policy_version: str | None) -> None:
    """Write Rego modules, data and tests into a directory loadable by `opa run --server DIR` and `opa test DIR`.

    \b
    Example:
      yaml2rego compile examples/support_agent.yaml -o build/policy
      opa test build/policy
    """
    policy_set = _load(policies)
    processes = _processes_for(policy_set)
    compiled = compile_policy_set(policy_set, policy_version=policy_version, processes=processes)
    # Which agents the guard's native engine decides itself, and which it leaves to regorus (and why): the programs
    # are built from the written data, in a second process while this one writes the files.
    with Forked(lambda: native_support(compiled.data_document()), fork=processes > 1) as native:
        _refuse_foreign_policy_files(Path(out_dir))
        removed = _remove_stale_files(Path(out_dir), compiled)
        compiled.write(out_dir)
        click.echo(
            f"wrote {count_of(len(compiled.files), 'file')} for {count_of(len(compiled.policy_set), 'agent')} to "
            f"{out_dir} (policy_version {compiled.policy_version})"
            + (f"; removed {count_of(removed, 'stale file')}" if removed else "")
        )
        support = native.result()
    refused = {agent_id: reason for agent_id, reason in support.items() if reason is not None}
    click.echo(f"native decision programs: {len(support) - len(refused)} of {len(support)} agents")
    for agent_id, reason in refused.items():
        click.echo(f"  {agent_id}: decided by regorus ({reason})")


# From this many agents on, `compile` renders most generated tests in a second process when there is a second core;
# below it the whole compile takes a few tenths of a second and a second process would not pay for itself.
_AGENTS_WORTH_A_SECOND_PROCESS = 100


def _processes_for(policy_set: PolicySet) -> int:
    return 2 if len(policy_set) >= _AGENTS_WORTH_A_SECOND_PROCESS and (os.cpu_count() or 1) > 1 else 1


@main.command("eval")
@policy_paths
@click.option(
    "-i",
    "--input",
    "input_file",
    required=True,
    type=click.File("r"),
    help="A JSON object, a JSON array of objects, or JSON lines; '-' reads stdin.",
)
@click.option(
    "--opa-url", help="Evaluate on a running OPA (e.g. http://127.0.0.1:8181) instead of the embedded engine."
)
@click.option("--timeout", default=2.0, show_default=True, help="Seconds to wait for OPA.")
def eval_command(policies: tuple[str, ...], input_file: Any, opa_url: str | None, timeout: float) -> None:
    """Print one decision per input as JSON lines, in input order.

    \b
    Example:
      echo '{"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"}' \\
        | yaml2rego eval examples/support_agent.yaml --input -
    """
    from yaml2rego.engines import EmbeddedEngine, OpaEngine

    calls = list(_read_inputs(input_file.read(), getattr(input_file, "name", "<input>")))
    engine: Any
    if opa_url:
        _load(policies)  # still validate the files the user named
        engine = OpaEngine(opa_url, timeout=timeout)
    else:
        engine = EmbeddedEngine.from_compiled(compile_policy_set(_load(policies)))
    try:
        for call in calls:
            click.echo(readable(engine.decide(call)))
    finally:
        engine.close()


@main.command("test")
@policy_paths
@click.option(
    "--engine",
    type=click.Choice(["auto", "opa", "embedded"]),
    default="auto",
    show_default=True,
    help="auto uses `opa test` when an opa binary is on PATH (or OPA_BIN), else the embedded engine.",
)
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json", "junit"]), default="text", show_default=True
)
@click.option("--coverage/--no-coverage", default=True, show_default=True, help="Report coverage of the Rego.")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 100),
    default=0.0,
    help="Fail when coverage (percent, 0 to 100) is below this.",
)
@click.option("-v", "--verbose", is_flag=True, help="List every test, not only failures.")
def test_command(
    policies: tuple[str, ...], engine: str, output_format: str, coverage: bool, threshold: float, verbose: bool
) -> None:
    """Run the generated tests, the tests written in the YAML, and the library's own tests.

    Exit code 0 when every test passes (and coverage meets --threshold), 1 otherwise.

    \b
    Example:
      yaml2rego test examples/support_agent.yaml
    """
    from yaml2rego.engines import test_report, test_runner

    compiled = compile_policy_set(_load(policies))
    report = test_runner.run(compiled, engine=engine, coverage=coverage)
    click.echo(test_report.render(report, output_format, verbose=verbose))
    if not report.passed:
        sys.exit(1)
    if coverage and report.coverage is not None and report.coverage < threshold:
        fail(f"coverage {report.coverage:.1f}% is below the threshold of {threshold:.1f}%")


def _read_inputs(text: str, name: str) -> Iterator[dict[str, Any]]:
    """Parse a JSON object, a JSON array, or JSON lines; errors name the line."""
    stripped = text.strip()
    if not stripped:
        return
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError:
        document = None
        lines = stripped.splitlines()
    else:
        lines = []
    if isinstance(document, list):
        yield from document
        return
    if isinstance(document, dict):
        yield document
        return
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as error:
            raise Yaml2RegoError(f"{name}:{number}:{error.colno}: not JSON: {error.msg}") from error


# The files `opa run DIR`, `opa test DIR` and `opa check DIR` load from a directory tree.
_FILES_OPA_LOADS = (".rego", ".json", ".yaml", ".yml")


def _refuse_foreign_policy_files(out_dir: Path) -> None:
    """Refuse an output directory holding policy or data files of something else (an older `-o DIR/policy`, say).

    OPA loads every Rego and data file below the directory, so they would be compiled together with this output:
    duplicate packages or conflicting data, and nothing loads.
    """
    if not out_dir.is_dir():
        return
    root = os.fspath(out_dir)
    foreign = []
    # The output's own folders hold only its files (stale ones are removed next), so they are not walked: at 10,000
    # agents they hold 20,000 files.
    for folder, folders, names in os.walk(root):
        if folder == root:
            folders[:] = [name for name in folders if name not in _OUTPUT_ROOTS]
            names = [name for name in names if name not in _OUTPUT_ROOTS]
        for name in names:
            path = os.path.join(folder, name)
            if name.endswith(_FILES_OPA_LOADS) and PurePath(name).suffix in _FILES_OPA_LOADS and os.path.isfile(path):
                foreign.append(Path(os.path.relpath(path, root)).as_posix())
    foreign.sort()
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise CompileError(
            f"{out_dir} already holds files that are not part of this output ({shown}); OPA would load them "
            "together with it: choose an empty directory or remove them"
        )


def _remove_stale_files(out_dir: Path, compiled: CompiledPolicy) -> int:
    """Delete the files below the output's folders that this compilation does not write, then the emptied folders.

    Each folder's entries are taken in reverse name order, a subfolder's contents before the subfolder itself, so a
    folder is looked at after everything in it (an agent's folder goes with its files). The directory listing
    says what each entry is, so 20,000 files cost no stat each.
    """
    removed = 0

    def sweep(folder: str, prefix: str) -> None:
        nonlocal removed
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name, reverse=True)
        except PermissionError:  # left as it is; removing the folder below then says why it cannot be
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                sweep(entry.path, f"{prefix}{entry.name}/")
            if entry.is_file():
                if prefix + entry.name not in compiled.files:
                    os.unlink(entry.path)
                    removed += 1
            elif entry.is_dir() and not os.listdir(entry.path):
                os.rmdir(entry.path)

    for root in _OUTPUT_ROOTS:
        folder = os.path.join(out_dir, root)
        if os.path.isdir(folder):
            sweep(folder, f"{root}/")
    return removed


@main.command("show")
@policy_paths
@click.option("--agent", "agent_id", required=True, help="The agent_id whose boundary to show.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["rego", "markdown"]),
    default="rego",
    show_default=True,
    help="rego: the generated review module; markdown: a table of rules with their controls and sources.",
)
def show_command(policies: tuple[str, ...], agent_id: str, output_format: str) -> None:
    """Show the policy for one agent, as reviewers and auditors read it.

    \b
    Example:
      yaml2rego show examples/support_agent.yaml --agent support_agent_1 --format markdown
    """
    from yaml2rego.compile.compiler import agent_module_name

    policy_set = _load(policies)
    agent = policy_set.get(agent_id)
    if agent is None:
        known = ", ".join(policy_set.agent_ids) or "none"
        fail(f"error: no boundary for agent {agent_id!r} (agents: {known})")
        return
    if output_format == "rego":
        compiled = compile_policy_set(policy_set)
        click.echo(compiled.files[f"agents/{agent_module_name(agent_id)}/policy.rego"].decode(), nl=False)
        return
    click.echo(_markdown_rules(agent))


def _markdown_rules(agent: Any) -> str:
    def where(location: Any) -> str:
        return f"{location.file}:{location.line}" if location else ""

    lines = [
        f"### Boundary of `{agent.agent_id}` ({agent.mode.value})",
        "",
        "| rule | effect | what | control | source |",
        "|---|---|---|---|---|",
    ]
    for rule in agent.denied_endpoints:
        lines.append(f"| `{rule.rule_id}` | deny | `{rule.describe()}` | CC6.1 | {where(rule.source)} |")
    for rule in agent.allowed_endpoints:
        lines.append(f"| `{rule.rule_id}` | allow | `{rule.describe()}` | CC6.1 | {where(rule.source)} |")
    for entry in agent.input_validation:
        for field in entry.fields:
            required = "" if field.required else " (optional)"
            kind = f"one of {', '.join(map(str, field.values))}" if field.values else field.type.value
            what = f"`{entry.method} {entry.endpoint.text}` field `{field.field}` is {kind}{required}"
            lines.append(f"| `{field.rule_id}` | validate | {what} | CC6.1 | {where(field.source)} |")
    for limit in agent.rate_limits:
        what = f"`{limit.method} {limit.endpoint.text}` at most {limit.requests_per_minute}/min"
        lines.append(f"| `{limit.rule_id}` | limit | {what} | A1.1 | {where(limit.source)} |")
    if agent.max_payload_size_kb is not None:
        what = f"payload at most {agent.max_payload_size_kb} KiB"
        lines.append(f"| `max_payload_size_kb` | limit | {what} | CC6.1 | {where(agent.max_payload_source)} |")
    lines.append("")
    lines.append("Anything not allowed above is denied (default deny); deny rules win over allow rules.")
    return "\n".join(lines)
