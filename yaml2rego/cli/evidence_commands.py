"""``evidence``, ``replay`` and ``alerts``: SOC 2 evidence after the fact, change review on real traffic, alerts.

Exit codes: ``evidence`` 0 when everything it rests on verified, 1 when a log, history or alert file does not;
``replay`` 3 when the candidate would let through a call that was not let through (anything → allow), else 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from yaml2rego.bundles.signing import load_key
from yaml2rego.cli._base import count_of, fail, main, tenant_name

__all__ = ["alerts", "evidence", "replay"]

EXIT_LOOSENS = 3
_KEY = click.Path(exists=True, dir_okay=False)


def _key(path: str | None) -> Any:
    from yaml2rego.runtime.records import CheckpointKey

    return CheckpointKey(Path(path)) if path else None  # it reads the file itself


@main.group(invoke_without_command=True)
@click.option("--from", "since", metavar="DATE", help="First day (YYYY-MM-DD) or time (RFC 3339) of the period.")
@click.option("--to", "until", metavar="DATE", help="Last day (inclusive) or time of the period.")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="A new directory for the package.")
@click.option("--policy", "policies", multiple=True, type=click.Path(exists=True), help="Boundary YAML (repeat).")
@click.option("--log", "logs", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Decision log.")
@click.option("--log-key", type=_KEY, help="The record log's checkpoint key (Ed25519 public key or HMAC secret).")
@click.option("--history", type=click.Path(exists=True, dir_okay=False), help="The signed policy history.")
@click.option("--history-key", type=_KEY, help="The policy history's verification key (PEM).")
@click.option("--history-algorithm", default="RS256", show_default=True, help="The history's JWS algorithm.")
@click.option("--alerts", "alerts_file", type=click.Path(exists=True, dir_okay=False), help="The alert history.")
@click.option("--alerts-key", type=_KEY, help="The alert history's checkpoint key.")
@click.option("--signing-key", type=_KEY, help="Signs manifest.json (Ed25519 private key or HMAC secret).")
@click.option(
    "--tenant",
    callback=tenant_name,
    help="Only this tenant's agents, records, alerts and policy history; other tenants' log entries become "
    "redacted links (digests only), so the chains still verify.",
)
@click.pass_context
def evidence(ctx: click.Context, /, **options: Any) -> None:
    """Build a SOC 2 evidence package: report.html, the raw files, and a signed manifest of their sha256.

    \b
    Example:
      yaml2rego evidence --from 2026-11-01 --to 2026-11-30 -o evidence/ --policy policies/ \\
        --log decisions.jsonl --log-key checkpoint.pub --history policy-history.jsonl --history-key pub.pem \\
        --alerts alerts.jsonl --alerts-key checkpoint.pub --signing-key evidence.key
      yaml2rego evidence --tenant acme --from 2026-11-01 --to 2026-11-30 -o evidence-acme/ --policy tenants/acme/ \
        --log decisions.jsonl --log-key checkpoint.pub --history acme-history.jsonl --history-key pub.pem
    """
    if ctx.invoked_subcommand is not None:
        return
    from yaml2rego.audit.evidence import EvidenceInputs, build_evidence, parse_when

    missing = [name for name in ("since", "until", "output") if not options[name]]
    if missing:
        flags = {"since": "--from", "until": "--to", "output": "-o/--output"}
        fail(f"error: missing {', '.join(flags[name] for name in missing)}", exit_code=2)
    inputs = EvidenceInputs(
        since=parse_when(options["since"]),
        until=parse_when(options["until"], end=True),
        policies=options["policies"],
        logs=options["logs"],
        log_key=_key(options["log_key"]),
        history=options["history"],
        history_key=load_key(Path(options["history_key"])) if options["history_key"] else None,
        history_algorithm=options["history_algorithm"],
        alerts=options["alerts_file"],
        alerts_key=_key(options["alerts_key"]),
        signing_key=_key(options["signing_key"]),
        tenant=options["tenant"],
    )
    result = build_evidence(inputs, options["output"])
    for control, section in result.sections.items():
        click.echo(f"{control:6} {section['status']:9} {section['finding']}")
    click.echo(f"wrote {result.report}")
    if not result.verified:
        fail("error: some evidence does not verify (see the sections marked failed)")


@evidence.command("verify")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--verification-key", type=_KEY, help="The key the manifest was signed with (public key or secret).")
@click.option("--log-key", type=_KEY, help="A tenant's package: check the decision log's checkpoints with this key.")
@click.option("--alerts-key", type=_KEY, help="A tenant's package: check the alert history's checkpoints too.")
def verify_evidence(directory: str, verification_key: str | None, log_key: str | None, alerts_key: str | None) -> None:
    """Check an evidence package: the manifest's signature, every file's sha256, nothing added or removed.

    A tenant's package also has its views of the decision log and alert history checked: the hash chain end to end
    through the redacted links, none of them the tenant's own, and the counts the manifest states.
    """
    from yaml2rego.audit.evidence import verify_manifest, verify_tenant_views

    manifest = verify_manifest(directory, _key(verification_key))
    signed = "signature verified" if verification_key else "unsigned check"
    click.echo(f"ok: {count_of(len(manifest['files']), 'file')} match the manifest ({signed})")
    for line in verify_tenant_views(directory, manifest, _key(log_key), _key(alerts_key)):
        click.echo(f"ok: {line}")


@main.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--policy", "candidate", required=True, type=click.Path(exists=True), help="Candidate: YAML, dir, bundle."
)
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option("--no-verify", is_flag=True, help="Replay a log whose hash chain does not verify.")
def replay(logs: tuple[str, ...], candidate: str, fmt: str, no_verify: bool) -> None:
    """Re-decide every recorded input against a candidate policy; report the decisions that would flip.

    Exit code 3 when any decision loosens (anything -> allow), 0 otherwise.

    \b
    Example:
      yaml2rego replay decisions.jsonl --policy policies/ --format markdown
    """
    from yaml2rego.audit.replay import candidate_engine, format_report
    from yaml2rego.audit.replay import replay as run_replay

    engine = candidate_engine(candidate)
    try:
        report = run_replay(logs, engine, verify=not no_verify)
    finally:
        engine.close()
    click.echo(format_report(report, fmt))
    if report.loosens:
        raise click.exceptions.Exit(EXIT_LOOSENS)


@main.group()
def alerts() -> None:
    """List and acknowledge alerts (SOC 2 CC7.3)."""


_history_option = click.option(
    "--alerts", "history", default="alerts.jsonl", show_default=True, type=click.Path(dir_okay=False)
)


@alerts.command("list")
@_history_option
@click.option("--verification-key", type=_KEY, help="Checks every checkpoint of the alert history.")
@click.option("--open", "only_open", is_flag=True, help="Only alerts nobody acknowledged.")
def list_alerts(history: str, verification_key: str | None, only_open: bool) -> None:
    """Show the alert history (verified first), newest last."""
    from yaml2rego.runtime.alerts import read_alerts

    for alert in read_alerts(history, _key(verification_key)):
        if only_open and alert["acks"]:
            continue
        handled = "; ".join(f"ack {a['by']} {a['timestamp']}" for a in alert["acks"]) or "OPEN"
        click.echo(f"{alert['alert_id']} {alert['timestamp']} {alert['severity']:8} {alert['summary']} [{handled}]")


@alerts.command("ack")
@click.argument("alert_id")
@click.option("--by", required=True, help="Who handled the alert.")
@click.option("--note", help="What was done.")
@_history_option
@click.option("--signing-key", type=_KEY, help="The alert history's checkpoint key (signs the acknowledgement).")
def ack(alert_id: str, by: str, note: str | None, history: str, signing_key: str | None) -> None:
    """Record that an alert was handled, by whom and when.

    \b
    Example:
      yaml2rego alerts ack al-1f2e3d4c5b6a7980 --by alice --note "agent suspended, token rotated"
    """
    from yaml2rego.runtime.alerts import acknowledge

    entry = acknowledge(history, alert_id, by, note, _key(signing_key))
    click.echo(f"acknowledged {alert_id} by {entry['by']} at {entry['timestamp']}")
