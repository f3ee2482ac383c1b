"""Read agent-boundary YAML into the typed model, refusing anything unsafe or wrong with ``file:line:col`` errors.

Policy files are untrusted input, so the YAML is read as a stream of parser events and composed here, not by a
YAML constructor: aliases and anchors (alias bombs), tags other than ``!!str``/``!!seq``/``!!map``, duplicate keys,
absurd nesting and more than :data:`MAX_DOCUMENTS` documents are refused. Plain scalars are typed by the YAML 1.2
core schema (``yes`` and ``on`` stay strings; ``.inf`` and ``.nan`` are not numbers, since JSON has none).

Each document is then checked against ``yaml2rego/dsl/schema/agent_boundary.schema.json`` and by the checks a schema
cannot express (path patterns, portable regular expressions, examples that satisfy their rule, …). Every error
found in a file is reported at once, each with the line and column of the offending key or value.

The steps live in their own modules: :mod:`yaml2rego.dsl.yaml_source` reads the YAML safely and remembers where each
value starts, :mod:`yaml2rego.dsl.checks` checks every document (schema, then semantics) and phrases the errors,
and :mod:`yaml2rego.dsl.model_builder` turns a checked document into model objects. This module reads the files and
ties the steps together; the names it exports are the ones to import.

>>> policies = load_policy_text('''
... agent_boundary:
...   agent_id: demo
...   allowed_endpoints:
...     - {method: get, path: /api/*}
... ''')
>>> policies.get("demo").allowed_endpoints[0].describe()
'GET /api/*'
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from yaml2rego._batch import paused_gc
from yaml2rego.dsl import enforcement_sections
from yaml2rego.dsl.checks import HTTP_METHODS, Checker, semantic_checks
from yaml2rego.dsl.checks import schema_errors as checked_schema_errors
from yaml2rego.dsl.field_rules import EMAIL_PATTERN, UUID_PATTERN, example_problem
from yaml2rego.dsl.model import AgentBoundary, Defaults, PolicySet
from yaml2rego.dsl.model_builder import build_agent
from yaml2rego.dsl.tenant_directory import TENANT_FILE, TenantScope, TenantScopes
from yaml2rego.dsl.yaml_source import MAX_DEPTH, MAX_DOCUMENTS, MAX_ERRORS_PER_FILE, SourceFile, read_documents
from yaml2rego.errors import PolicyError, PolicyErrors, PolicySyntaxError, PolicyValidationError, SourceLocation

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "EMAIL_PATTERN",
    "HTTP_METHODS",
    "MAX_DEPTH",
    "MAX_DOCUMENTS",
    "MAX_ERRORS_PER_FILE",
    "UUID_PATTERN",
    "example_problem",
    "load_policies",
    "load_policy_text",
    "read_yaml_documents",
]

DEFAULT_MAX_FILE_BYTES = 1_048_576


@dataclass
class _Loaded:
    agents: list[AgentBoundary]
    errors: list[PolicyError]
    defaults: list[Defaults] = field(default_factory=list)


def _load_text(
    text: str,
    filename: str,
    loaded: _Loaded,
    first_seen: dict[str, SourceLocation],
    scope: TenantScope | None = None,
    *,
    scope_broken: bool = False,
) -> None:
    source = SourceFile(filename, text)
    file_errors: list[PolicyError] = []
    # An empty document (a trailing '---', a file of comments) declares nothing; it is skipped, not an error.
    documents = [document for document in read_documents(text, source, file_errors) if document.value is not None]
    unsafe = bool(file_errors)  # aliases, tags, duplicate keys: still validated, but never turned into agents
    agents: list[AgentBoundary] = []
    if not documents and not file_errors:
        file_errors.append(
            PolicyValidationError("no agent_boundary document in this file", SourceLocation(filename, 1, 1))
        )
    for document in documents:
        checker = Checker(document, source)
        # The Rust validator answers "valid?" in microseconds; the Python one explains what is wrong, with paths.
        schema_errors = checked_schema_errors(document.value)
        for error in schema_errors:
            if tuple(error.absolute_path) not in document.refused:
                checker.schema_error(error)
        bad = {tuple(error.absolute_path) for error in schema_errors}
        boundary = document.value.get("agent_boundary") if isinstance(document.value, dict) else None
        if isinstance(boundary, dict):
            semantic_checks(checker, boundary, bad)
            if scope is not None and not scope_broken:
                _check_scope(checker, boundary, scope, bad)
        file_errors.extend(checker.errors)
        defaults = document.value.get("defaults") if isinstance(document.value, dict) else None
        if isinstance(defaults, dict) and not unsafe and not checker.errors:
            where = checker.mark(("defaults",), key=True)
            if loaded.defaults:
                message = f"defaults are already defined at {loaded.defaults[0].source}"
                file_errors.append(source.error(PolicyValidationError, message, where))
            else:
                domains = tuple(defaults.get("allowed_domains", ()))
                loaded.defaults.append(Defaults(source.location(where), domains))
            for message, path, at_key in enforcement_sections.problems(defaults, root="defaults"):
                file_errors.append(source.error(PolicyValidationError, message, checker.mark(path, key=at_key)))
        if unsafe or checker.errors or scope_broken or not isinstance(boundary, dict):
            continue
        agent = build_agent(checker, boundary, scope)
        id_location = source.location(checker.mark(("agent_boundary", "agent_id")))
        if agent.agent_id in first_seen:
            file_errors.append(
                source.error(
                    PolicyValidationError,
                    f"duplicate agent_id {agent.agent_id!r}: already defined at {first_seen[agent.agent_id]}",
                    checker.mark(("agent_boundary", "agent_id")),
                )
            )
            continue
        first_seen[agent.agent_id] = id_location
        agents.append(agent)
    file_errors.sort(key=lambda error: (error.location.line, error.location.column) if error.location else (0, 0))
    if len(file_errors) > MAX_ERRORS_PER_FILE:
        del file_errors[MAX_ERRORS_PER_FILE:]
        file_errors.append(
            PolicyValidationError(
                f"stopped after {MAX_ERRORS_PER_FILE} errors in this file", SourceLocation(filename, 1, 1)
            )
        )
    loaded.errors.extend(file_errors)
    loaded.agents.extend(agents)


def _check_scope(checker: Checker, boundary: dict[str, Any], scope: TenantScope, bad: set[Any]) -> None:
    """A boundary below a ``_tenant.yaml`` may repeat its tenant and narrow its regions, nothing else."""
    root = ("agent_boundary",)
    tenant = boundary.get("tenant")
    if (*root, "tenant") not in bad and tenant is not None and tenant != scope.tenant:
        checker.add(
            f"tenant {tenant!r} differs from tenant {scope.tenant!r} declared for this directory at "
            f"{scope.tenant_source}: a boundary below a {TENANT_FILE} belongs to its tenant",
            (*root, "tenant"),
        )
    regions = boundary.get("regions")
    if scope.regions is None or not isinstance(regions, list) or any(path[:2] == (*root, "regions") for path in bad):
        return
    for index, region in enumerate(regions):
        if region not in scope.regions:
            checker.add(
                f"region {region!r} is not among the regions {list(scope.regions)} declared for this directory at "
                f"{scope.regions_source}: a boundary may narrow them, not add to them",
                (*root, "regions", index),
            )


def _decode(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = len(data[data.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8", errors="replace")) + 1
        raise PolicySyntaxError(
            f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x})", SourceLocation(filename, line, column)
        ) from exc


def _too_large(size: int, limit: int, filename: str) -> PolicySyntaxError:
    return PolicySyntaxError(
        f"the file is {size:,} bytes, more than the limit of {limit:,} bytes", SourceLocation(filename, 1, 1)
    )


def _files(path: str) -> list[str]:
    """``path`` itself, or the YAML files under a directory in sorted order (hidden files and folders skipped)."""
    if not os.path.isdir(path):
        return [path]
    # A directory's `_tenant.yaml` is not a boundary file: TenantScopes reads it for the boundaries below it.
    found: list[str] = []
    for folder, folders, names in os.walk(path):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found.extend(
            os.path.join(folder, name)
            for name in names
            if name.endswith((".yaml", ".yml")) and not name.startswith(".") and name != TENANT_FILE
        )
    return sorted(found, key=lambda name: os.path.relpath(name, path).split(os.sep))


def _raise(errors: list[PolicyError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise PolicyErrors(errors)


def load_policies(
    paths: Iterable[str | os.PathLike[str]], *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> PolicySet:
    """Load every agent boundary in the given YAML files and directories (``*.yaml``/``*.yml``, recursively).

    Raises a :class:`~yaml2rego.errors.PolicyError` (one problem) or :class:`~yaml2rego.errors.PolicyErrors` (all
    problems of all files) when anything is wrong; nothing is returned half-loaded.

    >>> policies = load_policies(["examples/support_agent.yaml"])  # doctest: +SKIP
    >>> policies.agent_ids  # doctest: +SKIP
    ('support_agent_1',)
    """
    if isinstance(paths, (str, os.PathLike)):  # one path, not the characters of one
        paths = [paths]
    with paused_gc():  # thousands of files become millions of long-lived objects (see yaml2rego._batch)
        loaded = _load_paths(paths, max_file_bytes)
    _raise(loaded.errors)
    return PolicySet(tuple(loaded.agents), loaded.defaults[0] if loaded.defaults else None)


def _load_paths(paths: Iterable[str | os.PathLike[str]], max_file_bytes: int) -> _Loaded:
    loaded = _Loaded([], [])
    first_seen: dict[str, SourceLocation] = {}
    scopes = TenantScopes(loaded.errors, _decode)
    for given in paths:
        given_name = os.fspath(given)
        if not os.path.exists(given_name):
            loaded.errors.append(PolicyError(f"no such file or directory: {given_name!r}"))
            continue
        if os.path.basename(given_name) == TENANT_FILE and not os.path.isdir(given_name):
            loaded.errors.append(
                PolicyError(
                    f"{given_name}: a {TENANT_FILE} declares the tenant of the boundaries in its directory; "
                    "give the directory (or the boundary files), not this file"
                )
            )
            continue
        files = _files(given_name)
        if not files:
            loaded.errors.append(PolicyError(f"no *.yaml or *.yml files under {given_name!r}"))
        for filename in files:
            try:
                size = os.path.getsize(filename)
                if size > max_file_bytes:
                    raise _too_large(size, max_file_bytes, filename)
                with open(filename, "rb") as handle:
                    # Ask for what the file holds, not for the limit: a 1 MiB buffer per small file adds up.
                    data = handle.read(size + 1)
                    if len(data) > size:  # it grew since we looked: read on, up to just past the limit
                        data += handle.read(max_file_bytes + 1 - len(data))
                if len(data) > max_file_bytes:  # it grew since we looked
                    raise _too_large(len(data), max_file_bytes, filename)
                text = _decode(data, filename)
            except PolicyError as exc:
                loaded.errors.append(exc)
                continue
            except OSError as exc:
                loaded.errors.append(PolicyError(f"cannot read {filename!r}: {exc.strerror or exc}"))
                continue
            scope = scopes.of(filename)
            _load_text(text, filename, loaded, first_seen, scope, scope_broken=scopes.broken(filename))
    return loaded


def read_yaml_documents(text: str, filename: str = "<string>") -> list[Any]:
    """The non-empty documents of a YAML text as JSON-compatible values, read with the loader's safety rules.

    Raises a :class:`~yaml2rego.errors.PolicySyntaxError` (or :class:`~yaml2rego.errors.PolicyErrors`) for aliases,
    tags, duplicate keys and syntax errors. No schema is applied.

    >>> read_yaml_documents("a: yes\\n---\\nb: 0x1f\\n")
    [{'a': 'yes'}, {'b': 31}]
    """
    errors: list[PolicyError] = []
    documents = read_documents(text, SourceFile(filename, text), errors)
    _raise(errors)
    return [document.value for document in documents if document.value is not None]


def load_policy_text(
    text: str, filename: str = "<string>", *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> PolicySet:
    """Load agent boundaries from YAML text; ``filename`` is only used in locations and errors.

    >>> load_policy_text("agent_boundary: {agent_id: a1}").agent_ids
    ('a1',)
    """
    size = len(text.encode("utf-8", "surrogatepass"))  # a lone surrogate is refused when the text is read
    if size > max_file_bytes:
        raise _too_large(size, max_file_bytes, filename)
    loaded = _Loaded([], [])
    _load_text(text, filename, loaded, {})
    _raise(loaded.errors)
    return PolicySet(tuple(loaded.agents), loaded.defaults[0] if loaded.defaults else None)
