"""``keygen``: a key pair for signing bundles, the policy history, approval tokens or the record log's checkpoints.

The private key is written readable by its owner only (0600) and never overwritten; the public key beside it is what
verifiers get (`opa run --verification-key`, `yaml2rego verify`, `yaml2rego logs verify --verification-key`).
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from yaml2rego.cli._base import main
from yaml2rego.errors import Yaml2RegoError

__all__ = ["keygen"]

# What each algorithm signs in yaml2rego: bundles, history entries and approval tokens take RS256 or ES256 (OPA
# verifies both); the record log's checkpoints take Ed25519.
_ALGORITHMS = ("RS256", "ES256", "Ed25519")


def _new_key(algorithm: str) -> PrivateKeyTypes:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _write_new(path: Path, content: bytes, mode: int) -> None:
    """Create ``path`` with ``mode``; an existing file is an error, never replaced (it may be the only copy)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise Yaml2RegoError(f"{path} already exists: keygen never replaces a key") from exc
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)


@main.command()
@click.option("--algorithm", type=click.Choice(_ALGORITHMS), default="RS256", show_default=True)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("keys"),
    show_default=True,
    help="Folder for private.pem (0600) and public.pem; created if needed.",
)
@click.option("--name", default="", help="File name prefix, e.g. `bundle-` for bundle-private.pem.")
def keygen(algorithm: str, out_dir: Path, name: str) -> None:
    """Create a key pair: RS256 or ES256 for bundles, history and approval tokens, Ed25519 for log checkpoints.

    \b
    Example:
      yaml2rego keygen -o keys
      yaml2rego bundle examples/ -o bundle.tar.gz --signing-key keys/private.pem
      opa run --server --bundle bundle.tar.gz --verification-key keys/public.pem
    """
    key = _new_key(algorithm)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out_dir / f"{name}private.pem", out_dir / f"{name}public.pem"
    if public_path.exists():
        raise Yaml2RegoError(f"{public_path} already exists: keygen never replaces a key")
    _write_new(private_path, private, 0o600)
    _write_new(public_path, public, 0o644)
    click.echo(f"wrote {private_path} (private, {algorithm}, mode 0600) and {public_path} (public)")
