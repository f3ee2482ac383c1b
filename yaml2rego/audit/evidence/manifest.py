"""The evidence directory's manifest: every file with its sha256, signed, so the package can be checked years later.

``manifest.json`` lists each file (path relative to the directory, size, ``sha256``); ``manifest.sig`` holds the
signature over the SHA-256 of ``manifest.json``'s exact bytes, made with a checkpoint key (Ed25519 or HMAC, the same
kind that signs the record log, :class:`~yaml2rego.runtime.records.CheckpointKey`). :func:`verify_manifest` checks
the signature, every digest, and that no file was added or removed. :func:`verify_tenant_views` checks a tenant's
package further: its views of the decision log and the alert history verify end to end through their redacted links,
hide none of the tenant's records, and hold what the manifest says they hold.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from yaml2rego.errors import EvidenceError
from yaml2rego.runtime.records import CheckpointKey, log_lines, verify_log

__all__ = ["MANIFEST", "SIGNATURE", "file_sha256", "verify_manifest", "verify_tenant_views", "write_manifest"]

# Where a tenant's package holds each view, and what the manifest calls it.
_VIEWS = (("records", "raw/decisions", "decision log"), ("alerts", "raw/alerts", "alert history"))

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _listed(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in (MANIFEST, SIGNATURE))


def write_manifest(root: Path, key: CheckpointKey | None, about: dict[str, Any]) -> dict[str, Any]:
    """Write ``manifest.json`` for every file under ``root`` and, with ``key``, ``manifest.sig``."""
    files = [
        {"path": p.relative_to(root).as_posix(), "bytes": p.stat().st_size, "sha256": file_sha256(p)}
        for p in _listed(root)
    ]
    manifest: dict[str, Any] = {**about, "files": files}
    if key is not None:
        manifest["signature"] = {"algorithm": key.algorithm, "key_id": key.key_id, "file": SIGNATURE}
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    (root / MANIFEST).write_bytes(data)
    if key is not None:
        (root / SIGNATURE).write_text(key.sign(hashlib.sha256(data).hexdigest()) + "\n", encoding="ascii")
    return manifest


def verify_manifest(root: str | os.PathLike[str], key: CheckpointKey | None) -> dict[str, Any]:
    """Check ``root``'s manifest; raise :class:`~yaml2rego.errors.EvidenceError` naming the first problem."""
    base = Path(root)
    try:
        data = (base / MANIFEST).read_bytes()
        manifest = json.loads(data)
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"{base / MANIFEST}: no readable manifest ({type(exc).__name__})") from None
    if key is not None:
        try:
            signature = (base / SIGNATURE).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            raise EvidenceError(f"{base / SIGNATURE}: the manifest is not signed") from None
        if not key.verify(hashlib.sha256(data).hexdigest(), signature):
            raise EvidenceError("the manifest's signature does not verify with the given key")
    listed = {str(item.get("path")): item for item in manifest.get("files") or [] if isinstance(item, dict)}
    for name in listed:
        if name.startswith("/") or ".." in Path(name).parts:
            raise EvidenceError(f"{name!r}: a manifest path outside the package")
    present = {p.relative_to(base).as_posix() for p in _listed(base)}
    for name in sorted(present - listed.keys()):
        raise EvidenceError(f"{name}: a file that is not in the manifest")
    for name, item in sorted(listed.items()):
        path = base / name
        if name not in present:
            raise EvidenceError(f"{name}: listed in the manifest but missing")
        if file_sha256(path) != item.get("sha256"):
            raise EvidenceError(f"{name}: its sha256 does not match the manifest (the file was changed)")
    return dict(manifest)


def verify_tenant_views(
    root: str | os.PathLike[str],
    manifest: dict[str, Any],
    log_key: CheckpointKey | None = None,
    alerts_key: CheckpointKey | None = None,
) -> list[str]:
    """For a tenant's package (``manifest["tenant"]``), check each view of a log; one line per view checked.

    Run after :func:`verify_manifest`, which proves the files are the ones the manifest lists.
    """
    tenant = manifest.get("tenant")
    if tenant is None:
        return []
    if not isinstance(tenant, str):
        raise EvidenceError("the manifest's tenant is not a name")
    found: list[str] = []
    for name, folder, what in _VIEWS:
        stated = manifest.get(name)
        files = stated.get("files") if isinstance(stated, dict) else None
        if not isinstance(stated, dict) or not files:
            continue
        if not all(isinstance(file, str) and "/" not in file and file not in ("", ".", "..") for file in files):
            raise EvidenceError(f"the manifest names a file of the {what} outside {folder}")
        key = log_key if name == "records" else alerts_key
        report = verify_log([Path(root) / folder / file for file in files], key=key, tenant=tenant)
        if not report.ok:
            where = f" at {report.file}:{report.line}" if report.line else ""
            raise EvidenceError(f"tenant {tenant}'s view of the {what} does not verify{where}: {report.problem}")
        # A view that does not start at the chain's first link is taken for a rotated log's tail by verify_log: the
        # signed manifest says where it starts, so lines cut off its start show here.
        first = next((record for _, _, record in log_lines(Path(root) / folder / files[0])), None)
        if (first or {}).get("prev_hash") != stated.get("first_prev_hash"):
            raise EvidenceError(
                f"tenant {tenant}'s view of the {what} does not start where the manifest says: lines were cut off"
            )
        counts = (report.records - report.redacted, report.redacted, report.checkpoints)
        if counts != (stated.get("tenant"), stated.get("redacted"), stated.get("checkpoints")):
            raise EvidenceError(
                f"tenant {tenant}'s view of the {what} holds {counts[0]} records of the tenant, {counts[1]} redacted "
                f"links and {counts[2]} checkpoints, not what the manifest states"
            )
        signed = f", signed checkpoints verified (key {key.key_id})" if key is not None else ", no key given"
        found.append(
            f"tenant {tenant}'s view of the {what}: hash chain intact through {counts[1]} redacted links, "
            f"{counts[0]} records of the tenant, {counts[2]} checkpoints{signed}"
        )
    return found
