"""A directory of one tenant: a ``_tenant.yaml`` file declares ``tenant`` (and ``regions``) for every boundary below it.

::

    tenants/acme/_tenant.yaml        tenant: acme
                                     regions: [eu, eu-west-1]
    tenants/acme/support.yaml        agent_boundary: {agent_id: acme_support, ...}
    tenants/acme/eu-only/_tenant.yaml   tenant: acme
                                        regions: [eu]

The file applies to the boundary files of its directory and of every directory below it, however the files are
named on the command line (a file given on its own, or a subdirectory, still finds the ``_tenant.yaml`` above it:
compiling one file must never drop its tenant and leave its agent reachable by calls of no tenant). The search
climbs no higher than a repository's root (a directory holding ``.git``), so a stray file outside the checkout never
applies. A boundary
without ``tenant`` or ``regions`` inherits them, exactly as if it declared them itself; one that states its own:

* a ``tenant`` that differs from the directory's is an error at both places, never a silent override;
* ``regions`` may narrow the directory's regions to some of them; a region outside them is an error.

A ``_tenant.yaml`` below another narrows it in the same way: the same tenant (tenants do not nest), and regions among
the outer file's. The file is untrusted input like a boundary: read with the loader's safety rules, checked against
``$defs/tenantDirectory`` of the boundary schema (the same tenant and region rules as a boundary's), errors at
``file:line:col``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from yaml2rego.dsl.checks import Checker, tenant_directory_errors
from yaml2rego.dsl.yaml_source import SourceFile, read_documents
from yaml2rego.errors import PolicyError, PolicyValidationError, SourceLocation

__all__ = ["TENANT_FILE", "TenantScope", "TenantScopes"]

TENANT_FILE = "_tenant.yaml"
# A tenant file holds two keys: anything near a boundary file's size is not one.
_MAX_BYTES = 65_536


@dataclass(frozen=True)
class TenantScope:
    """What a directory declares for the boundaries below it, and where (for the boundary's record and errors)."""

    tenant: str
    tenant_source: SourceLocation
    regions: tuple[str, ...] | None = None
    regions_source: SourceLocation | None = None


class TenantScopes:
    """Finds the scope of each boundary file, reading each ``_tenant.yaml`` once; errors go to ``errors``.

    >>> scopes = TenantScopes([])
    >>> scopes.of("/nonexistent/policies/support.yaml") is None
    True
    """

    def __init__(self, errors: list[PolicyError], decode: Callable[[bytes, str], str] | None = None) -> None:
        self.errors = errors
        self._decode = decode or (lambda data, name: data.decode("utf-8-sig"))
        self._by_directory: dict[str, TenantScope | None] = {}
        self._broken: set[str] = set()

    def of(self, filename: str) -> TenantScope | None:
        """The scope of the boundary file ``filename``: the nearest ``_tenant.yaml`` at or above its directory."""
        return self._scope(os.path.dirname(os.path.abspath(filename)))

    def broken(self, filename: str) -> bool:
        """Whether a ``_tenant.yaml`` that governs ``filename`` is wrong (its boundaries then build no agent)."""
        folder = os.path.dirname(os.path.abspath(filename))
        self._scope(folder)
        while True:
            if folder in self._broken:
                return True
            parent = os.path.dirname(folder)
            if parent == folder or os.path.exists(os.path.join(folder, ".git")):
                return False
            folder = parent

    def _scope(self, folder: str) -> TenantScope | None:
        if folder in self._by_directory:
            return self._by_directory[folder]
        parent = os.path.dirname(folder)
        at_root = parent == folder or os.path.exists(os.path.join(folder, ".git"))
        outer = None if at_root else self._scope(parent)
        path = os.path.join(folder, TENANT_FILE)
        scope = outer
        if os.path.isfile(path):
            read = self._read(path, outer)
            if read is None:
                self._broken.add(folder)
            else:
                scope = read
        self._by_directory[folder] = scope
        return scope

    def _read(self, path: str, outer: TenantScope | None) -> TenantScope | None:
        shown = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
        errors: list[PolicyError] = []
        try:
            with open(path, "rb") as handle:
                data = handle.read(_MAX_BYTES + 1)
            if len(data) > _MAX_BYTES:
                raise PolicyValidationError(
                    f"a {TENANT_FILE} holds tenant and regions only; this one is over {_MAX_BYTES:,} bytes",
                    SourceLocation(shown, 1, 1),
                )
            text = self._decode(data, shown)
        except PolicyError as exc:
            self.errors.append(exc)
            return None
        except OSError as exc:
            self.errors.append(PolicyError(f"cannot read {shown!r}: {exc.strerror or exc}"))
            return None
        source = SourceFile(shown, text)
        documents = [d for d in read_documents(text, source, errors) if d.value is not None]
        if not errors and len(documents) != 1:
            message = f"a {TENANT_FILE} holds one document (tenant, regions), not {len(documents)}"
            errors.append(PolicyValidationError(message, SourceLocation(shown, 1, 1)))
        scope = None
        if not errors:
            document = documents[0]
            checker = Checker(document, source)
            if not isinstance(document.value, dict):
                checker.add(f"a {TENANT_FILE} is a mapping with the keys tenant and regions", ())
            else:
                for error in tenant_directory_errors(document.value):
                    checker.schema_error(error)
            if not checker.errors:
                value = document.value
                regions = tuple(value["regions"]) if "regions" in value else None
                scope = TenantScope(
                    value["tenant"],
                    source.location(checker.mark(("tenant",))),
                    regions,
                    source.location(checker.mark(("regions",), key=True)) if regions is not None else None,
                )
                scope = _nested(checker, scope, outer)
            errors.extend(
                sorted(checker.errors, key=lambda e: (e.location.line, e.location.column) if e.location else (0, 0))
            )
        self.errors.extend(errors)
        return scope if not errors else None


def _position(error: PolicyError) -> tuple[int, int]:
    return (error.location.line, error.location.column) if error.location else (0, 0)


def _nested(checker: Checker, scope: TenantScope, outer: TenantScope | None) -> TenantScope:
    """``scope`` under ``outer`` (a ``_tenant.yaml`` further up): the same tenant, regions among the outer ones."""
    if outer is None:
        return scope
    if scope.tenant != outer.tenant:
        checker.add(
            f"tenant {scope.tenant!r} differs from tenant {outer.tenant!r} declared at {outer.tenant_source} for this "
            "directory and below (tenants do not nest)",
            ("tenant",),
        )
    if scope.regions is None:
        return TenantScope(scope.tenant, scope.tenant_source, outer.regions, outer.regions_source)
    if outer.regions is not None:
        for index, region in enumerate(scope.regions):
            if region not in outer.regions:
                checker.add(
                    f"region {region!r} is not among the regions {list(outer.regions)} declared at "
                    f"{outer.regions_source} for this directory and below",
                    ("regions", index),
                )
    return scope
