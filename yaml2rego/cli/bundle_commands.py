"""``bundle``, ``verify``, ``inspect``, ``history``, ``diff`` and ``opa``: shipping reviewed policy to OPA, with proof.

Exit codes: 0 success, 1 error (including a bundle or history that does not verify), 2 usage, and for ``diff`` 3 when
any change loosens a boundary (so CI can require a reviewer).
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC
from pathlib import Path
from typing import Any

import click

from yaml2rego.audit.diff import diff_sources, format_markdown, format_text
from yaml2rego.bundles.bundle import SigningOptions, bundle_policies, describe_signature, read_bundle
from yaml2rego.bundles.history import (
    active_at,
    append_entry,
    describe,
    format_timestamp,
    parse_timestamp,
    read_history,
    verify_history,
)
from yaml2rego.bundles.signing import SIGNING_ALGORITHMS, load_key
from yaml2rego.cli._base import count_of, fail, main, tenant_name
from yaml2rego.errors import HistoryError, SignatureError

__all__ = ["bundle_command", "diff_command", "history", "inspect_command", "opa", "verify_command"]

EXIT_LOOSENS = 3
DEFAULT_HISTORY = "policy-history.jsonl"

_algorithm = click.option(
    "--signing-alg",
    "algorithm",
    default="RS256",
    show_default=True,
    type=click.Choice(SIGNING_ALGORITHMS),
    help="JWS algorithm of the key.",
)
_history_file = click.option(
    "--history",
    "history_file",
    default=DEFAULT_HISTORY,
    show_default=True,
    envvar="YAML2REGO_HISTORY",
    type=click.Path(dir_okay=False),
    help="The policy history (JSON lines).",
)


def _login_name() -> str | None:
    """The login name (LOGNAME, USER, LNAME, USERNAME, then the password database), or None when none is known."""
    try:
        return getpass.getuser() or None
    except (KeyError, OSError):
        return None


def _issued_at(value: str | None) -> int | None:
    """``--signed-at`` / SOURCE_DATE_EPOCH: seconds since the epoch or an RFC 3339 time."""
    if not value:
        return None
    if value.strip().lstrip("-").isdigit():
        return int(value)
    try:
        return int(parse_timestamp(value).timestamp())
    except HistoryError as exc:
        raise click.BadParameter(str(exc), param_hint="--signed-at") from exc


@main.command("bundle")
@click.argument("policies", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The bundle file (.tar.gz).")
@click.option("--revision", help="Bundle revision and policy_version, e.g. a git SHA or semver (default: a digest).")
@click.option("--reviewer", help="Who approved this policy (recorded in the manifest metadata).")
@click.option("--approval-id", help="Change or pull-request id of the approval.")
@click.option("--note", help="Reviewer comments.")
@click.option("--built-at", help="A build time to record (left out by default so builds are reproducible).")
@click.option("--signing-key", type=click.Path(exists=True, dir_okay=False), help="Private key (PEM) or HMAC secret.")
@_algorithm
@click.option("--key-id", help="Key id (JWT `kid`), as configured in OPA's `keys` section.")
@click.option("--scope", help="Signed scope; OPA must be configured with exactly the same scope.")
@click.option(
    "--signed-at",
    envvar="SOURCE_DATE_EPOCH",
    help="Fixed `iat` (epoch seconds or RFC 3339) for reproducible signed bundles [env: SOURCE_DATE_EPOCH].",
)
@click.option("--history", "history_file", type=click.Path(dir_okay=False), help="Append an entry to this history.")
@click.option("--author", help="Author recorded in the history [default: the login name].")
@click.option(
    "--tenant",
    callback=tenant_name,
    help="Bundle only this tenant's agents (root tenants/<tenant>), to serve beside --library.",
)
@click.option("--library", "library_only", is_flag=True, help="Bundle only the Rego library (root agent_boundary).")
def bundle_command(
    policies: tuple[str, ...],
    output: str,
    revision: str | None,
    reviewer: str | None,
    approval_id: str | None,
    note: str | None,
    built_at: str | None,
    signing_key: str | None,
    algorithm: str,
    key_id: str | None,
    scope: str | None,
    signed_at: str | None,
    history_file: str | None,
    author: str | None,
    tenant: str | None,
    library_only: bool,
) -> None:
    """Build a reproducible OPA bundle (optionally signed), and record it in the policy history.

    With tenants, build one bundle per tenant (--tenant) and one shared library bundle (--library): their roots
    never overlap, so one OPA serves them all and no tenant's bundle can replace another's data.

    \b
    Example:
      yaml2rego bundle examples/ -o build/bundles/bundle.tar.gz --revision "$(git rev-parse HEAD)" \\
        --reviewer alice --approval-id PR-142 --signing-key keys/private.pem --history policy-history.jsonl
      opa run --server --bundle build/bundles/bundle.tar.gz --verification-key keys/public.pem
      yaml2rego bundle tenants/ --tenant acme -o build/bundles/acme.tar.gz --signing-key keys/private.pem
      yaml2rego bundle tenants/ --library -o build/bundles/library.tar.gz --signing-key keys/private.pem
    """
    if tenant is not None and library_only:
        raise click.UsageError("--tenant and --library build different bundles: pass one of them")
    if history_file and not signing_key:
        fail("error: --history needs --signing-key: history entries are signed with the bundle key")
    if history_file:
        author = author or _login_name()
        if not author:
            # CC8.1 asks who made each change: an anonymous entry would record a change nobody can answer for.
            fail("error: --history needs an author and no login name is known: pass --author")
    key = load_key(Path(signing_key)) if signing_key else None
    if history_file and key is not None:
        # Refuse before writing anything: a bundle that cannot be recorded should not be shipped.
        verify_history(history_file, key, algorithm=algorithm)
    signing = None
    if key is not None:
        signing = SigningOptions(key, algorithm, key_id, scope, issued_at=_issued_at(signed_at))
    bundle = bundle_policies(
        policies,
        revision=revision,
        reviewer=reviewer,
        approval_id=approval_id,
        note=note,
        built_at=built_at,
        signing=signing,
        tenant=tenant,
        library_only=library_only,
    )
    bundle.write(output)
    signed = f"signed {algorithm}" + (f" (kid {key_id})" if key_id else "") if signing else "unsigned"
    agents = "the library" if library_only else count_of(len(bundle.agents), "agent")
    if tenant is not None:
        agents += f" of tenant {tenant}"
    click.echo(f"wrote {output}: revision {bundle.revision}, {agents}, {signed}, {bundle.digest}")
    if history_file and key is not None:
        entry = append_entry(history_file, bundle, key=key, algorithm=algorithm, key_id=key_id, author=author)
        click.echo(f"recorded history entry #{entry.seq} in {history_file} ({entry.hash})")


@main.command("verify")
@click.argument("bundle_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--verification-key", required=True, help="Public key (PEM) or HMAC secret: a file, else the text.")
@_algorithm
@click.option("--scope", help="Expected signed scope (must match exactly, as in OPA).")
@click.option("--exclude-files-verify", "exclude", multiple=True, help="Member pattern not to verify (repeatable).")
def verify_command(
    bundle_file: str, verification_key: str, algorithm: str, scope: str | None, exclude: tuple[str, ...]
) -> None:
    """Check a bundle's signature with the rules `opa run --bundle --verification-key` applies; explain failures.

    \b
    Example:
      yaml2rego verify build/bundles/bundle.tar.gz --verification-key keys/public.pem
    """
    bundle = read_bundle(bundle_file)
    try:
        result = bundle.verify(load_key(verification_key), algorithm=algorithm, scope=scope, exclude_files=exclude)
    except SignatureError as error:
        fail(f"error: {bundle_file} does not verify:\n" + "\n".join(f"  - {p}" for p in error.problems))
        return
    excluded = f", {len(result.excluded_files)} excluded" if result.excluded_files else ""
    click.echo(f"ok: {bundle_file} verified: {len(result.verified_files)} files{excluded}, revision {bundle.revision}")


@main.command("inspect")
@click.argument("bundle_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--verification-key", help="Also verify the signature with this key.")
@_algorithm
@click.option("--scope", help="Expected signed scope when verifying.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def inspect_command(
    bundle_file: str, verification_key: str | None, algorithm: str, scope: str | None, output_format: str
) -> None:
    """Show a bundle's revision, roots, agents, signature status and recorded approval.

    \b
    Example:
      yaml2rego inspect build/bundles/bundle.tar.gz --verification-key keys/public.pem
    """
    bundle = read_bundle(bundle_file)
    key = load_key(verification_key) if verification_key else None
    status, problems = describe_signature(bundle, key, algorithm=algorithm, scope=scope)
    metadata = bundle.metadata
    summary: dict[str, Any] = {
        "bundle": bundle_file,
        "digest": bundle.digest,
        "revision": bundle.revision,
        "roots": bundle.roots,
        "rego_version": bundle.manifest.get("rego_version"),
        "agents": bundle.agents,
        "approval": {name: metadata.get(name) for name in ("reviewer", "approval_id", "note", "built_at")},
        "yaml2rego_version": metadata.get("yaml2rego_version"),
        "signature": {"status": status, "problems": problems, **_signature_claims(bundle)},
        "files": {name: len(content) for name, content in bundle.files.items()},
    }
    if output_format == "json":
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
    else:
        click.echo("\n".join(_inspect_lines(summary)))
    if problems:
        raise click.exceptions.Exit(1)


def _signature_claims(bundle: Any) -> dict[str, Any]:
    if not bundle.signed:
        return {}
    import jwt

    try:
        tokens = json.loads(bundle.files[".signatures.json"]).get("signatures") or []
        header = jwt.get_unverified_header(tokens[0])
        payload = jwt.decode(tokens[0], options={"verify_signature": False})
    except (ValueError, IndexError, AttributeError, jwt.PyJWTError):
        return {"claims": "unreadable"}
    issued = payload.get("iat")
    return {
        "alg": header.get("alg"),
        "kid": header.get("kid") or payload.get("keyid"),
        "scope": payload.get("scope"),
        "iat": issued,
        "signed_at": format_timestamp(_utc(issued)) if isinstance(issued, int) else None,
        "signed_files": len(payload.get("files") or []),
    }


def _utc(seconds: int) -> Any:
    from datetime import datetime

    return datetime.fromtimestamp(seconds, tz=UTC)


def _inspect_lines(summary: dict[str, Any]) -> list[str]:
    approval = summary["approval"]
    signature = summary["signature"]
    lines = [
        f"bundle:     {summary['bundle']} ({summary['digest']})",
        f"revision:   {summary['revision']}",
        f"roots:      {', '.join(summary['roots'])} (rego_version {summary['rego_version']})",
        f"agents:     {', '.join(summary['agents']) or '(none)'}",
        f"reviewer:   {approval['reviewer'] or '-'}",
        f"approval:   {approval['approval_id'] or '-'}",
        f"note:       {approval['note'] or '-'}",
        f"signature:  {signature['status']}",
    ]
    if signature.get("alg"):
        lines.append(
            f"            alg {signature['alg']}, kid {signature['kid'] or '-'}, scope {signature['scope'] or '-'},"
            f" signed at {signature['signed_at'] or '-'}, {signature['signed_files']} files"
        )
    lines += [f"            - {problem}" for problem in signature["problems"]]
    lines.append("files:")
    lines += [f"  {name} ({size} bytes)" for name, size in summary["files"].items()]
    return lines


@main.group()
def history() -> None:
    """The signed policy history: which policy was active when, and who approved it."""


@history.command("show")
@_history_file
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def history_show(history_file: str, output_format: str) -> None:
    """Print every entry, oldest first (unverified; see `history verify`).

    \b
    Example:
      yaml2rego history show --history policy-history.jsonl
    """
    entries = read_history(history_file)
    if output_format == "json":
        click.echo(json.dumps([entry.as_dict() for entry in entries], indent=2))
    elif not entries:
        click.echo(f"{history_file}: no entries")
    else:
        click.echo("\n".join(describe(entries)))


@history.command("verify")
@_history_file
@click.option("--verification-key", required=True, help="Public key (PEM) or HMAC secret: a file, else the text.")
@_algorithm
@click.option("--expected-head", help="Hash of the last entry as kept elsewhere; catches entries cut off the end.")
def history_verify(history_file: str, verification_key: str, algorithm: str, expected_head: str | None) -> None:
    """Check every entry's hash, signature, chain link and sequence; say where the history was altered.

    \b
    Example:
      yaml2rego history verify --verification-key keys/public.pem
    """
    # Nothing verified is no proof: a mistyped path or an empty file fails as loudly as an altered history.
    if not Path(history_file).is_file():
        fail(f"error: policy history {history_file} does not exist: there is nothing to verify")
    entries = verify_history(history_file, load_key(verification_key), algorithm=algorithm, expected_head=expected_head)
    if not entries:
        fail(f"error: policy history {history_file} holds no entries: there is nothing to verify")
    click.echo(f"ok: {history_file}: {count_of(len(entries), 'entry', 'entries')} verified, head {entries[-1].hash}")


@history.command("active-at")
@click.argument("moment")
@_history_file
@click.option("--verification-key", help="Verify the whole history first (recommended for audits).")
@_algorithm
def history_active_at(moment: str, history_file: str, verification_key: str | None, algorithm: str) -> None:
    """Which policy was active at MOMENT (RFC 3339), who approved it, and which bundle it was.

    \b
    Example:
      yaml2rego history active-at 2026-11-01T12:00:00Z --verification-key keys/public.pem
    """
    when = parse_timestamp(moment)
    if verification_key:
        entries = verify_history(history_file, load_key(verification_key), algorithm=algorithm)
        trust = "history verified"
    else:
        entries = read_history(history_file)
        trust = "history NOT verified: pass --verification-key"
    entry = active_at(entries, when)
    if entry is None:
        fail(f"error: no policy was recorded at or before {format_timestamp(when)} in {history_file}")
        return
    click.echo(f"active at {format_timestamp(when)}: revision {entry.revision} ({trust})")
    click.echo("\n".join(describe([entry])))


@main.command("diff")
@click.argument("old", type=click.Path(exists=True))
@click.argument("new", type=click.Path(exists=True))
@click.option(
    "--format", "output_format", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True
)
@click.option("--tenant", callback=tenant_name, help="Compare only this tenant's agents.")
def diff_command(old: str, new: str, output_format: str, tenant: str | None) -> None:
    """What changed per agent from OLD to NEW (YAML files or directories, compiled output, data.json, or bundles).

    Exits 3 when any change loosens a boundary, so CI can require a reviewer.

    \b
    Example:
      yaml2rego diff main-policies/ policies/ --format markdown > comment.md
      yaml2rego diff build/acme-old.tar.gz tenants/ --tenant acme
    """
    changes = diff_sources(old, new, tenant=tenant)
    if output_format == "markdown":
        click.echo(format_markdown(changes))
    elif output_format == "json":
        click.echo(json.dumps([change.__dict__ for change in changes], indent=2))
    else:
        click.echo(format_text(changes))
    if any(change.loosens for change in changes):
        raise click.exceptions.Exit(EXIT_LOOSENS)


@main.group()
def opa() -> None:
    """A local OPA (with an nginx bundle server) in Docker, for development."""


@opa.command("up")
@click.option("--bundle-dir", default="build/bundles", show_default=True, type=click.Path(file_okay=False))
@click.option("--verification-key", required=True, type=click.Path(dir_okay=False), help="Public key (PEM).")
@click.option("--port", default=8181, show_default=True, type=click.IntRange(1, 65535))
@click.option("--image", help="OPA image (default: the pinned release in opa/docker-compose.yaml).")
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False, exists=True),
    help="Folder with config.yaml and nginx.conf [default: the opa/ folder of this checkout].",
)
def opa_up(bundle_dir: str, verification_key: str, port: int, image: str | None, config_dir: str | None) -> None:
    """Start OPA polling signed bundles from BUNDLE_DIR (served by nginx) with opa/config.yaml.

    \b
    Example:
      yaml2rego opa up --bundle-dir build/bundles --verification-key keys/public.pem
    """
    from yaml2rego.engines.opa_docker import OPA_DIR, OPA_IMAGE, start_local_opa

    started = start_local_opa(
        bundle_dir=bundle_dir,
        public_key=verification_key,
        port=port,
        opa_image=image or OPA_IMAGE,
        opa_dir=config_dir or OPA_DIR,
    )
    click.echo(
        f"OPA is starting at {started.url} (containers {started.opa_container}, {started.bundle_server_container})"
    )


@opa.command("down")
def opa_down() -> None:
    """Remove the containers started by `yaml2rego opa up`."""
    from yaml2rego.engines.opa_docker import stop_local_opa

    removed = stop_local_opa()
    click.echo(f"removed {', '.join(removed)}" if removed else "nothing to remove")
