"""``logs verify``, ``logs ship`` and ``logs relay``: decision records after the fact, and OPA's own logs to Splunk."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from yaml2rego.cli._base import count_of, fail, main, tenant_name

__all__ = ["logs"]

splunk_options = [
    click.option("--splunk-url", required=True, help="Splunk HEC, e.g. https://splunk:8088 (the event endpoint)."),
    click.option("--token", required=True, envvar="SPLUNK_HEC_TOKEN", help="HEC token (or SPLUNK_HEC_TOKEN)."),
    click.option("--index", help="Splunk index (default: the token's)."),
    click.option("--source", help="Splunk source."),
    click.option("--sourcetype", default="_json", show_default=True, help="Splunk sourcetype."),
]


def _with_splunk_options(command: Any) -> Any:
    for option in reversed(splunk_options):
        command = option(command)
    return command


@main.group()
def logs() -> None:
    """Check, back-fill and relay decision records."""


@logs.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--verification-key",
    type=click.Path(exists=True, dir_okay=False),
    help="The checkpoint key: an Ed25519 public key (PEM) or the HMAC secret file. Checks every signed checkpoint "
    "and reports records after the last one (a cut or a forged append).",
)
@click.option(
    "--expected-head",
    metavar="HASH",
    help="A hash kept elsewhere (a checkpoint's hash in Splunk, a ticket): the log must contain it, so nothing up "
    "to it was cut off.",
)
@click.option(
    "--tenant",
    callback=tenant_name,
    help="The files are this tenant's view of the log (yaml2rego evidence --tenant): every record in full must be "
    "the tenant's, and no redacted link may hide one of its records.",
)
def verify(files: tuple[str, ...], verification_key: str | None, expected_head: str | None, tenant: str | None) -> None:
    """Check the hash chain of decision-record files (give rotated files oldest first); name the first broken record.

    Exit code 0 when every record is intact and linked to the one before (and, with a key, every record is covered
    by a signed checkpoint and the log ends with the writer's closing one), 1 otherwise.

    \b
    Example:
      yaml2rego logs verify decisions.jsonl.1 decisions.jsonl --verification-key checkpoint.pub
    """
    from yaml2rego.runtime.records import CheckpointKey, verify_log

    key = CheckpointKey(Path(verification_key)) if verification_key else None  # it reads the file itself
    report = verify_log(files, key=key, expected_head=expected_head, tenant=tenant)
    if not report.ok and report.line is not None:
        record = f" (decision_id {report.decision_id})" if report.decision_id else ""
        fail(f"{report.file}:{report.line}: broken chain at record {report.broken_at}{record}: {report.problem}")
    total = report.records
    counted = count_of(total, "record")
    if total == 0:
        # Nothing verified is no proof: an empty log fails as loudly as an altered one (as `history verify` does).
        fail(f"error: {', '.join(files)} holds no decision records: there is nothing to verify")
    if not report.ok:
        fail(f"{files[-1]}: chain intact ({counted}), but not proven: {report.problem}")
    if report.redacted:
        whose = f"none of tenant {tenant}'s" if tenant else "pass --tenant to prove none is a given tenant's"
        counted += f" ({report.redacted} redacted: their links verified, content left out; {whose})"
    if key is None:
        click.echo(f"ok: {counted}, hash chain intact (last hash {report.last_hash})")
        return
    closing = "the closing checkpoint" if report.closed else "the last checkpoint"
    click.echo(
        f"ok: {counted}, hash chain intact and signed up to {closing} "
        f"({count_of(report.checkpoints, 'checkpoint')}, key {key.key_id}; "
        f"last hash {report.last_hash})"
    )


@logs.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_with_splunk_options
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--retries", default=8, show_default=True, type=click.IntRange(0), help="Retries per batch on 5xx.")
def ship(
    file: str,
    splunk_url: str,
    token: str,
    index: str | None,
    source: str | None,
    sourcetype: str,
    batch_size: int,
    retries: int,
) -> None:
    """Back-fill a decision-record file into Splunk HEC (Splunk de-duplicates on decision_id).

    \b
    Example:
      yaml2rego logs ship decisions.jsonl --splunk-url https://splunk:8088 --token "$TOKEN"
    """
    from yaml2rego.runtime.records import parse_timestamp
    from yaml2rego.runtime.sinks.splunk import HecClient, HecRetryable

    client = HecClient(splunk_url, token)
    metadata = {
        k: v for k, v in {"index": index, "source": source or "yaml2rego", "sourcetype": sourcetype}.items() if v
    }
    shipped = 0
    for batch in _batches(Path(file), batch_size):
        envelopes = [
            {"time": round(parse_timestamp(r["timestamp"]), 6), **metadata, "event": r}
            if isinstance(r.get("timestamp"), str)
            else {**metadata, "event": r}
            for r in batch
        ]
        for attempt in range(retries + 1):
            try:
                client.send(envelopes)
                break
            except HecRetryable as exc:
                if attempt == retries:
                    fail(f"error: {exc} (gave up after {retries} retries; {shipped} records shipped)")
                time.sleep(min(0.2 * 2**attempt, 30.0))
        shipped += len(batch)
    client.close()
    click.echo(f"shipped {shipped} record{'' if shipped == 1 else 's'} to {client.url}")


def _batches(path: Path, size: int) -> Iterator[list[dict[str, Any]]]:
    from yaml2rego.runtime.records import log_lines

    batch: list[dict[str, Any]] = []
    for number, _, record in log_lines(path):
        if record is None:
            fail(f"error: {path}:{number}: not a JSON record")
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@logs.command()
@_with_splunk_options
@click.option("--listen", default="127.0.0.1:8282", show_default=True, help="host:port OPA uploads to.")
@click.option("--resource", default="/logs", show_default=True, help="Path OPA posts to (decision_logs.resource).")
@click.option(
    "--spool-dir",
    default=".yaml2rego/relay-spool",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where events wait for Splunk (survives restarts).",
)
def relay(
    splunk_url: str,
    token: str,
    index: str | None,
    source: str | None,
    sourcetype: str,
    listen: str,
    resource: str,
    spool_dir: str,
) -> None:
    """Receive OPA's decision-log uploads and forward every event to Splunk HEC (spooled; nothing is lost).

    \b
    Example:
      yaml2rego logs relay --splunk-url https://splunk:8088 --token "$TOKEN" --listen 127.0.0.1:8282
    """
    from yaml2rego.runtime.relay import DecisionLogRelay
    from yaml2rego.runtime.sinks.splunk import SplunkHecSink

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        fail(f"error: --listen must be host:port, not {listen!r}", exit_code=2)
    sink = SplunkHecSink(
        splunk_url, token, spool_dir=spool_dir, index=index, source=source or "opa", sourcetype=sourcetype, fsync=True
    )
    server = DecisionLogRelay(sink, host=host, port=int(port), resource=resource)
    click.echo(f"relaying OPA decision logs from {server.url} to {sink.client.url} (spool: {spool_dir})", err=True)
    signal.signal(signal.SIGTERM, _interrupt)  # `docker stop`, systemd: stop as cleanly as on Ctrl-C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(timeout=5.0)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
