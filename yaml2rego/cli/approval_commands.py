"""``approve``, ``deny`` and ``approvals list``: a human's answer to an ``approval_needed`` decision.

The guard and these commands share one approval store file (``--store`` or ``YAML2REGO_APPROVAL_STORE``) and one
signing key (``YAML2REGO_APPROVAL_SECRET`` for HS256, or ``--key-file`` with an RSA private key for RS256).
"""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from yaml2rego.cli._base import main
from yaml2rego.errors import ApprovalError

__all__ = ["approvals", "approve", "deny"]

_store_option = click.option(
    "--store",
    envvar="YAML2REGO_APPROVAL_STORE",
    required=True,
    type=click.Path(dir_okay=False),
    help="The approval store file the guard uses (or YAML2REGO_APPROVAL_STORE).",
)


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _service(store: str, key_file: str | None, *, signing: bool) -> Any:
    from yaml2rego.runtime.approvals import ApprovalService, JsonFileApprovalStore

    secret = os.environ.get("YAML2REGO_APPROVAL_SECRET")
    if key_file is None and secret is None and signing:
        raise click.UsageError("set YAML2REGO_APPROVAL_SECRET (HS256) or give --key-file (RS256) to sign the token")
    private_key = _rsa_private_key(key_file) if key_file is not None else None
    if not Path(store).is_file():
        # A mistyped path must not read as "nothing is waiting": the guard creates the store with its first request.
        raise ApprovalError(f"no approval store at {store}: no request was opened there yet, or the path is wrong")
    if private_key is not None:
        return ApprovalService(JsonFileApprovalStore(store), private_key=private_key)
    # Listing needs no key; a throwaway secret satisfies the service, which then only reads the store.
    return ApprovalService(JsonFileApprovalStore(store), secret=secret or "x" * 32)


def _rsa_private_key(key_file: str) -> bytes:
    """The PEM bytes of ``key_file``, refused here (not at signing time) unless they hold an RSA private key."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    pem = Path(key_file).read_bytes()
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ApprovalError(f"--key-file {key_file} is not an unencrypted PEM private key") from exc
    if not isinstance(key, RSAPrivateKey):
        raise ApprovalError(f"--key-file {key_file} is not an RSA private key (RS256 tokens need one)")
    return pem


def _approver(given: str | None) -> str:
    return given or os.environ.get("YAML2REGO_APPROVER") or getpass.getuser()


@main.command()
@click.argument("request_id")
@_store_option
@click.option("--approver", help="Who approves (default: YAML2REGO_APPROVER, else the login name).")
@click.option("--comment", help="Why; kept with the request.")
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False), help="RSA private key (PEM) for RS256.")
@click.option("--print-token", is_flag=True, help="Also print the override token on stdout.")
def approve(
    request_id: str, store: str, approver: str | None, comment: str | None, key_file: str | None, print_token: bool
) -> None:
    """Grant an approval request: the exact call it names may then go ahead once.

    The guard finds the override token in the store; --print-token prints it too, for an agent in another place.

    \b
    Example:
      YAML2REGO_APPROVAL_SECRET=… yaml2rego approve apr-3f2b8c1e9a7d4c5e8f1a --store /var/lib/yaml2rego/approvals.json
    """
    granted = _service(store, key_file, signing=True).approve(request_id, approver=_approver(approver), comment=comment)
    click.echo(
        f"approved {granted.request_id}: agent {granted.agent_id}, {granted.summary or granted.call_digest} "
        f"(by {granted.approver}); the override token is valid once, until {_when(granted.token_expires_at)}"
    )
    if print_token:
        click.echo(granted.token)


@main.command()
@click.argument("request_id")
@_store_option
@click.option("--approver", help="Who refuses (default: YAML2REGO_APPROVER, else the login name).")
@click.option("--comment", help="Why; kept with the request.")
def deny(request_id: str, store: str, approver: str | None, comment: str | None) -> None:
    """Refuse an approval request: the call stays blocked.

    \b
    Example:
      yaml2rego deny apr-3f2b8c1e9a7d4c5e8f1a --store /var/lib/yaml2rego/approvals.json --comment "wrong supplier"
    """
    refused = _service(store, None, signing=False).deny(request_id, approver=_approver(approver), comment=comment)
    click.echo(f"denied {refused.request_id}: agent {refused.agent_id}, {refused.summary} (by {refused.approver})")


@main.group()
def approvals() -> None:
    """Approval requests waiting for a human."""


@approvals.command("list")
@_store_option
@click.option("--all", "show_all", is_flag=True, help="Also list decided and expired requests.")
def list_requests(store: str, show_all: bool) -> None:
    """List pending approval requests (id, agent, call, reasons, expiry).

    \b
    Example:
      yaml2rego approvals list --store /var/lib/yaml2rego/approvals.json
    """
    service = _service(store, None, signing=False)
    requests = [service.get(r.request_id) for r in service.store.list()] if show_all else service.pending()
    if not requests:
        click.echo("no pending approval requests" if not show_all else "no approval requests")
    for request in requests:
        reasons = "; ".join(str(reason.get("message", reason.get("code"))) for reason in request.reasons)
        click.echo(
            f"{request.request_id}  {request.status:<8}  {request.agent_id}  {request.summary}  "
            f"expires {_when(request.expires_at)}  {reasons}"
        )
