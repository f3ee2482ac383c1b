"""Reproducible OPA bundles: compiled policy in, byte-identical ``bundle.tar.gz`` out, optionally signed.

A bundle holds ``.manifest`` (revision, roots, ``rego_version``, metadata with the recorded approval), the Rego modules
(tests left out: their packages sit outside the roots) and ``boundaries/data.json``. The same policy always gives the
same bytes: members sorted, mtime 0, owner root with empty names, mode 0644, gzip without timestamp or file name, and
structured files written in the canonical JSON form OPA hashes. So a bundle's revision can be a content digest, and
anyone can rebuild a bundle from the reviewed YAML and compare digests.

For several tenants served by one OPA, each tenant gets a bundle of its own (``tenant=``: root
``tenants/<tenant>``, only that tenant's data) and all share one library bundle (``library_only=True``: root
``agent_boundary``). OPA refuses bundles whose roots overlap, so no tenant's bundle can overwrite another's data.

>>> files = {"boundaries/data.json": b'{"policy_version": "v1", "agents": {}}'}
>>> bundle = build_bundle(files, revision="v1", reviewer="alice")
>>> sorted(bundle.files)
['.manifest', 'boundaries/data.json']
>>> bundle.to_bytes() == build_bundle(files, revision="v1", reviewer="alice").to_bytes()
True
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import re
import tarfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yaml2rego._version import __version__
from yaml2rego.bundles.signing import (
    SIGNATURES_FILE,
    VerificationResult,
    canonical_bytes_of_json,
    canonical_json_document,
    encode_canonical_json,
    sign_bundle_files,
    verify_bundle_files,
)
from yaml2rego.compile.compiler import DATA_FILE, library_digest
from yaml2rego.dsl.tenancy import TENANTS_ROOT, tenant_data_file, tenant_of_data_file
from yaml2rego.errors import BundleError, SignatureError

__all__ = [
    "BUNDLE_ROOTS",
    "DATA_FILE",
    "LIBRARY_ROOT",
    "MANIFEST_FILE",
    "Bundle",
    "SigningOptions",
    "agent_digests",
    "build_bundle",
    "bundle_policies",
    "describe_signature",
    "pack_tar_gz",
    "read_bundle",
    "unpack_tar_gz",
]

# Runtime state (the kill switch) lives under `agent_boundary_runtime`, outside these roots, so OPA's data API can
# still write it while a bundle owns everything below.
BUNDLE_ROOTS = ("agent_boundary", "boundaries", "agents")
# The root of the shared library bundle that tenants' bundles are served beside.
LIBRARY_ROOT = "agent_boundary"
MANIFEST_FILE = ".manifest"
_MAX_MEMBERS = 10_000
_MAX_BUNDLE_BYTES = 256 * 1024 * 1024
_PACKAGE = re.compile(r"^package\s+([A-Za-z_][A-Za-z0-9_.]*)", re.MULTILINE)


@dataclass(frozen=True)
class SigningOptions:
    """How to sign a bundle. ``issued_at`` fixes the ``iat`` claim (seconds) for reproducible signed bundles."""

    key: bytes
    algorithm: str = "RS256"
    key_id: str | None = None
    scope: str | None = None
    issuer: str | None = None
    issued_at: int | None = None


@dataclass(frozen=True)
class Bundle:
    """The members of a bundle (relative POSIX path -> bytes), with accessors for what a reviewer asks about."""

    files: Mapping[str, bytes]
    # The .tar.gz bytes a bundle was read from, so its digest is that of the file, even one packed by another tool.
    raw: bytes | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def manifest(self) -> dict[str, Any]:
        return self._json_object(MANIFEST_FILE) if MANIFEST_FILE in self.files else {}

    @property
    def revision(self) -> str:
        return str(self.manifest.get("revision", ""))

    @property
    def roots(self) -> list[str]:
        return list(self.manifest.get("roots", [""]))

    @property
    def metadata(self) -> dict[str, Any]:
        metadata = self.manifest.get("metadata") or {}
        return dict(metadata) if isinstance(metadata, dict) else {}

    @property
    def signed(self) -> bool:
        return SIGNATURES_FILE in self.files

    @property
    def tenant(self) -> str | None:
        """The tenant of a tenant's bundle (its one root is ``tenants/<tenant>``), else ``None``."""
        roots = self.roots
        if len(roots) == 1 and roots[0].startswith(TENANTS_ROOT + "/"):
            return roots[0].split("/", 1)[1]
        return None

    @property
    def data_file(self) -> str:
        """The member holding the agents' facts: ``boundaries/data.json``, or ``tenants/<tenant>/data.json``."""
        tenant = self.tenant
        return DATA_FILE if tenant is None else tenant_data_file(tenant)

    def data(self) -> dict[str, Any]:
        """``data.boundaries`` (or the tenant's ``data.tenants.<tenant>``) as stored in the bundle (read once; treat
        it as read-only)."""
        if self.data_file not in self.files:
            raise BundleError(f"bundle has no {self.data_file}")
        return self._data

    @functools.cached_property
    def _data(self) -> dict[str, Any]:
        # data.json of 10,000 agents takes a second to read; inspect and the CLI ask for it more than once.
        return self._json_object(self.data_file)

    def _json_object(self, name: str) -> dict[str, Any]:
        try:
            loaded = json.loads(self.files[name])
        except ValueError as exc:
            raise BundleError(f"{name}: not valid JSON ({exc})") from exc
        if not isinstance(loaded, dict):
            raise BundleError(f"{name}: must be a JSON object")
        return loaded

    @property
    def agents(self) -> list[str]:
        """Every agent the bundle holds: of no tenant, and of each tenant whose data it ships (none in a library
        bundle)."""
        if self.roots == [LIBRARY_ROOT] and self.data_file not in self.files:
            return []
        found: set[str] = set()
        for document in [self.data(), *self._tenant_documents()]:
            agents = document.get("agents") or {}
            found.update(agents if isinstance(agents, dict) else ())
        return sorted(found)

    def _tenant_documents(self) -> list[dict[str, Any]]:
        """Tenants' data beside data.boundaries in a whole-policy bundle (a tenant's own bundle has only its own)."""
        if self.tenant is not None:
            return []
        return [self._json_object(name) for name in sorted(self.files) if tenant_of_data_file(name) is not None]

    def to_bytes(self) -> bytes:
        return self.raw if self.raw is not None else self._packed

    @functools.cached_property
    def _packed(self) -> bytes:
        # Packed once: writing the bundle and reporting its digest both need the bytes, and gzip -9 is slow.
        return pack_tar_gz(self.files)

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the ``.tar.gz`` bytes: what the policy history records."""
        return "sha256:" + hashlib.sha256(self.to_bytes()).hexdigest()

    def write(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.to_bytes())
        return target

    def verify(
        self, key: bytes, *, algorithm: str = "RS256", scope: str | None = None, exclude_files: Iterable[str] = ()
    ) -> VerificationResult:
        """Check the signature as ``opa run --bundle --verification-key`` does; raises :class:`SignatureError`."""
        return verify_bundle_files(self.files, key, algorithm=algorithm, scope=scope, exclude_files=exclude_files)


def agent_digests(data: Mapping[str, Any]) -> dict[str, str]:
    """A digest per agent of its compiled facts, so a history entry can say which agents a new bundle changed.

    Source locations are left out: moving a rule to another line is not a policy change.
    """
    agents = data.get("agents") or {}
    return {
        agent_id: "sha256:" + hashlib.sha256(canonical_bytes_of_json(_without_sources(facts))).hexdigest()
        for agent_id, facts in sorted(agents.items())
    }


def _without_sources(value: Any) -> Any:
    # Exact type tests first: this visits every node of 10,000 agents, and a Mapping test costs an ABC lookup.
    kind = type(value)
    if kind is str:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {key: _without_sources(item) for key, item in value.items() if key != "source"}
    if kind is list:
        return [_without_sources(item) for item in value]
    return value


@dataclass(frozen=True)
class _Layout:
    """Which compiled files a bundle takes, under which roots, and where its data file is (``None``: no data)."""

    roots: tuple[str, ...]
    data_file: str | None
    modules: str = "all"  # "all", "library" (the library's own files only) or "none"
    data_root: str | None = None  # only data files below this root (a tenant's bundle)

    def takes_module(self, name: str) -> bool:
        return self.modules == "all" or (self.modules == "library" and name.startswith(LIBRARY_ROOT + "/"))

    def takes_data(self, name: str) -> bool:
        return self.data_root is None or name == self.data_file


def _layout(compiled_files: Mapping[str, bytes], tenant: str | None, library_only: bool) -> _Layout:
    if tenant is not None and library_only:
        raise BundleError("a bundle is either one tenant's data or the shared library, not both")
    if tenant is not None:
        data_file = tenant_data_file(tenant)
        if data_file not in {name.lstrip("/") for name in compiled_files}:
            raise BundleError(f"no agent of tenant {tenant!r} in the compiled policy")
        return _Layout((f"{TENANTS_ROOT}/{tenant}",), data_file, modules="none", data_root=f"{TENANTS_ROOT}/{tenant}")
    if library_only:
        return _Layout((LIBRARY_ROOT,), None, modules="library", data_root=LIBRARY_ROOT)
    # Tenants' data rides in the one bundle too when the policy has tenants; without them the roots are as before.
    tenants = any(name.lstrip("/").startswith(TENANTS_ROOT + "/") for name in compiled_files)
    return _Layout((*BUNDLE_ROOTS, TENANTS_ROOT) if tenants else BUNDLE_ROOTS, DATA_FILE)


def _bundle_members(compiled_files: Mapping[str, bytes], layout: _Layout) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The members of the bundle, and each data.json member's content as ``json.loads`` reads it (parsed once)."""
    members: dict[str, bytes] = {}
    parsed_data: dict[str, Any] = {}
    roots = ", ".join(layout.roots)
    for name, content in compiled_files.items():
        name = name.lstrip("/")
        if name.startswith("./") or "\\" in name or any(part in ("", ".", "..") for part in name.split("/")):
            raise BundleError(f"bad file name in compiled policy: {name!r}")
        if name.endswith(".rego") and not name.endswith("_test.rego"):
            if layout.takes_module(name):
                _check_package(name, content, layout.roots)
                members[name] = content
        elif name.rsplit("/", 1)[-1] == "data.json":
            if layout.data_root is not None:
                if not layout.takes_data(name):
                    continue  # another tenant's data, or data in a library bundle: left out, never shipped
            elif name.split("/", 1)[0] not in layout.roots:
                raise BundleError(f"{name}: data outside the bundle roots {roots}")
            # Written in the canonical form OPA hashes, so the digest is of exactly the bytes in the bundle.
            members[name], parsed = canonical_json_document(content, name)
            # None: numbers the canonical form re-spells, so the parse above is not json.loads's; read the member.
            parsed_data[name] = parsed if parsed is not None else json.loads(members[name])
    if layout.data_file is not None and layout.data_file not in members:
        raise BundleError(f"the compiled policy has no {layout.data_file}")
    return members, parsed_data


def _check_package(name: str, content: bytes, roots: Sequence[str] = BUNDLE_ROOTS) -> None:
    match = _PACKAGE.search(content.decode("utf-8", errors="replace"))
    package = match.group(1) if match else ""
    if package.split(".", 1)[0] not in roots:
        raise BundleError(f"{name}: package {package or '(none)'} is outside the bundle roots {', '.join(roots)}")


def build_bundle(
    compiled_files: Mapping[str, bytes],
    *,
    revision: str,
    reviewer: str | None = None,
    approval_id: str | None = None,
    note: str | None = None,
    built_at: str | None = None,
    extra_metadata: Mapping[str, Any] | None = None,
    signing: SigningOptions | None = None,
    tenant: str | None = None,
    library_only: bool = False,
) -> Bundle:
    """A bundle from compiled files (``CompiledPolicy.files``); ``revision`` must equal data.json's policy_version.

    Every decision reports ``policy_version``; making it the bundle revision ties each decision to one bundle.
    ``tenant`` bundles only that tenant's data (root ``tenants/<tenant>``, revision its own policy_version);
    ``library_only`` only the Rego library (root ``agent_boundary``, any revision): the bundles OPA serves side by
    side for several tenants.
    """
    if not revision:
        raise BundleError("a bundle needs a revision")
    layout = _layout(compiled_files, tenant, library_only)
    members, parsed_data = _bundle_members(compiled_files, layout)
    data_file = layout.data_file
    data = parsed_data[data_file] if data_file is not None else None
    if data is None:
        data = {}
    elif data.get("policy_version") != revision:
        raise BundleError(
            f"{data_file} says policy_version {data.get('policy_version')!r} but the bundle revision is {revision!r};"
            " compile with policy_version equal to the revision"
        )
    # A whole-policy bundle names every agent it ships, tenants' agents included (agent ids are unique across them).
    every_agent = dict(data.get("agents") or {})
    if tenant is None:
        for name in sorted(parsed_data):
            if tenant_of_data_file(name) is not None:
                every_agent.update(parsed_data[name].get("agents") or {})
    metadata: dict[str, Any] = {
        "yaml2rego_version": __version__,
        "agents": sorted(every_agent),
        "agent_digests": agent_digests({"agents": every_agent}),
    }
    if tenant is not None:
        metadata["tenant"] = tenant
    for key, value in (("reviewer", reviewer), ("approval_id", approval_id), ("note", note), ("built_at", built_at)):
        if value:
            metadata[key] = value
    metadata.update(extra_metadata or {})
    manifest = {"revision": revision, "roots": list(layout.roots), "rego_version": 1, "metadata": metadata}
    members[MANIFEST_FILE] = encode_canonical_json(manifest).encode("utf-8")
    if signing is not None:
        issued_at = signing.issued_at if signing.issued_at is not None else int(time.time())
        members[SIGNATURES_FILE] = sign_bundle_files(
            members,
            signing.key,
            algorithm=signing.algorithm,
            key_id=signing.key_id,
            scope=signing.scope,
            issuer=signing.issuer,
            issued_at=issued_at,
            canonical=(data_file or MANIFEST_FILE, MANIFEST_FILE),  # both written in canonical form just above
        )
    bundle = Bundle(dict(sorted(members.items())))
    if data_file is not None:
        bundle.__dict__["_data"] = data  # the cached data.json, already read above: saves reading 10,000 agents again
    return bundle


def bundle_policies(
    paths: Sequence[str | Path],
    *,
    revision: str | None = None,
    reviewer: str | None = None,
    approval_id: str | None = None,
    note: str | None = None,
    built_at: str | None = None,
    signing: SigningOptions | None = None,
    tenant: str | None = None,
    library_only: bool = False,
) -> Bundle:
    """Load boundary YAML, compile it and bundle it. Without ``revision`` the compiler's content digest is used
    (the tenant's own digest for ``tenant``, the library's for ``library_only``).

    >>> bundle = bundle_policies(["examples/"], revision="v1.4.0", reviewer="alice")  # doctest: +SKIP
    >>> bundle.write("build/bundle.tar.gz")  # doctest: +SKIP
    """
    from yaml2rego.compile.compiler import compile_policy_set
    from yaml2rego.dsl.loader import load_policies

    policy_set = load_policies([str(path) for path in paths])
    compiled = compile_policy_set(policy_set, policy_version=revision, include_tests=False)  # tests are not shipped
    if tenant is not None and tenant in compiled.tenants:
        bundle_revision = str(compiled.tenants[tenant]["policy_version"])
    elif library_only:
        bundle_revision = revision or library_digest()
    else:
        bundle_revision = compiled.policy_version
    return build_bundle(
        compiled.files,
        revision=bundle_revision,
        tenant=tenant,
        library_only=library_only,
        reviewer=reviewer,
        approval_id=approval_id,
        note=note,
        built_at=built_at,
        signing=signing,
    )


def pack_tar_gz(files: Mapping[str, bytes]) -> bytes:
    """Deterministic ``.tar.gz`` bytes: sorted regular files, mtime 0, uid/gid 0, no owner names, mode 0644."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(files):
            content = files[name]
            info = tarfile.TarInfo(name)  # no "./" prefix: OPA trims only a leading "/" when it looks up signatures
            info.size = len(content)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            archive.addfile(info, io.BytesIO(content))
    compressed = io.BytesIO()
    # Level 6, zlib's and Go's default: at 10,000 agents level 9 took three times as long for a bundle 1% smaller.
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, compresslevel=6, mtime=0) as stream:
        stream.write(raw.getvalue())
    return compressed.getvalue()


def unpack_tar_gz(content: bytes) -> dict[str, bytes]:
    """The regular files of a ``.tar.gz`` bundle, named as OPA names them (one leading ``/`` trimmed)."""
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
            for count, member in enumerate(archive):
                if count >= _MAX_MEMBERS:
                    raise BundleError(f"bundle has more than {_MAX_MEMBERS} members")
                if not member.isreg():
                    continue  # OPA reads only regular files
                total += member.size
                if total > _MAX_BUNDLE_BYTES:
                    raise BundleError(f"bundle expands to more than {_MAX_BUNDLE_BYTES} bytes")
                name = member.name[1:] if member.name.startswith("/") else member.name
                if name in files:
                    raise BundleError(f"bundle holds {name} twice")
                stream = archive.extractfile(member)
                files[name] = stream.read() if stream else b""
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as exc:
        raise BundleError(f"not a gzip'd tar bundle: {exc}") from exc
    return files


def read_bundle(source: str | Path | bytes) -> Bundle:
    """A bundle from a ``.tar.gz`` file (path) or its bytes."""
    if isinstance(source, bytes):
        content = source
    else:
        try:
            content = Path(source).read_bytes()
        except OSError as exc:
            raise BundleError(f"cannot read bundle {source}: {exc.strerror or exc}") from exc
    return Bundle(unpack_tar_gz(content), raw=content)


def describe_signature(bundle: Bundle, key: bytes | None, **verify_options: Any) -> tuple[str, list[str]]:
    """A one-line signature status for ``inspect`` and the problems behind it (empty when fine)."""
    if not bundle.signed:
        return "unsigned", []
    if key is None:
        return "signed (not verified: give --verification-key)", []
    try:
        bundle.verify(key, **verify_options)
    except SignatureError as exc:
        return "INVALID", exc.problems
    return "signed and verified", []
