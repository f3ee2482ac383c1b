"""From the typed model to Rego modules and data.

The compiler never reads YAML and never writes Rego by string concatenation: per-agent facts become JSON data keyed by
agent id (``data.boundaries.agents``, read by the hand-written library in ``rego/`` with one keyed lookup), and the
thin per-agent review module and its tests are rendered from the jinja2 templates in ``yaml2rego/compile/templates/``.

>>> from yaml2rego.dsl.loader import load_policies
>>> compiled = compile_policy_set(load_policies(["examples/support_agent.yaml"]))  # doctest: +SKIP
>>> sorted(compiled.files)[:2]  # doctest: +SKIP
['agent_boundary/decision.rego', 'agent_boundary/decision_test.rego']
>>> compiled.write("out/")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from yaml2rego import escaping
from yaml2rego._batch import Forked, paused_gc
from yaml2rego.canonical_json import canonical, canonical_ascii, readable
from yaml2rego.compile import section_data, testgen
from yaml2rego.dsl import tenancy
from yaml2rego.dsl.model import AgentBoundary, EndpointRule, InputValidation, PolicySet, RateLimit
from yaml2rego.errors import CompileError, source_line
from yaml2rego.escaping import REGO_KEYWORDS, render_rego_value

__all__ = [
    "DATA_FILE",
    "CompiledPolicy",
    "agent_module_name",
    "compile_policy_set",
    "library_digest",
    "library_files",
    "render_rego_value",
]

# Where the agents' facts live in the output and in every bundle: `data.boundaries`.
DATA_FILE = "boundaries/data.json"
_MODULE_NAME_UNSAFE = re.compile(r"[^a-z0-9_]")


@dataclass(frozen=True)
class CompiledPolicy:
    """The output of one compilation: file contents by relative POSIX path, plus what they were made from."""

    files: Mapping[str, bytes]
    policy_version: str
    policy_set: PolicySet
    data: Mapping[str, Any]
    #: Each tenant's data (``data.tenants.<tenant>``: policy_version, agents, defaults), by tenant.
    tenants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def modules(self, *, include_tests: bool = True) -> dict[str, str]:
        """Rego modules by path; ``include_tests=False`` leaves out ``*_test.rego`` (what engines load)."""
        return {
            path: content.decode("utf-8")
            for path, content in self.files.items()
            if path.endswith(".rego") and (include_tests or not path.endswith("_test.rego"))
        }

    def data_document(self) -> dict[str, Any]:
        """The root data document as OPA sees it after loading the output directory or bundle."""
        with paused_gc():  # one object per value of every agent: nothing to collect (see yaml2rego._batch)
            document: dict[str, Any] = {"boundaries": json.loads(self.files[DATA_FILE])}
            if self.tenants:
                document["tenants"] = {
                    tenant: json.loads(self.files[tenancy.tenant_data_file(tenant)]) for tenant in self.tenants
                }
        return document

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write every file under ``out_dir`` (created if needed); returns the paths written.

        Each folder is made once and each file written with one open, one write and one close: at 10,000 agents
        the 20,000 files cost more in system calls than compiling them does, and ``open()`` adds three more per file
        (a stat, a terminal check and a seek) that a file written whole does not need.
        """
        root = os.fspath(out_dir)
        made: set[str] = set()
        written = []
        for relative, content in self.files.items():
            folder = relative.rpartition("/")[0]
            if folder not in made:
                os.makedirs(os.path.join(root, folder), exist_ok=True)
                made.add(folder)
            target = os.path.join(root, relative)
            _write_whole(target, content)
            written.append(Path(target))
        return written


# What open(path, "wb") asks for: create or truncate, not inherited by child processes, binary on Windows.
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _write_whole(target: str, content: bytes) -> None:
    descriptor = os.open(target, _WRITE_FLAGS, 0o666)  # the permissions open() gives, less the umask
    try:
        view = memoryview(content)
        while view:  # a regular file takes it all at once; the loop is for the rare short write
            view = view[os.write(descriptor, view) :]
    finally:
        os.close(descriptor)


def compile_policy_set(
    policy_set: PolicySet, *, policy_version: str | None = None, include_tests: bool = True, processes: int = 1
) -> CompiledPolicy:
    """Compile every agent of ``policy_set``. Deterministic: the same input gives byte-identical files.

    ``policy_version`` defaults to a content digest (``sha256:…``) of the library and the agents' data, so it changes
    exactly when the policy's behaviour can change; pass a git SHA or a release number to use that instead.
    ``include_tests=False`` leaves out the generated ``policy_test.rego`` files (a bundle does not ship them, and
    planning and rendering them is a third of a large compile); every other file is the same.
    ``processes=2`` plans and renders most of the generated tests in a forked second process while this one builds
    the data and the review modules (:class:`yaml2rego._batch.Forked`; only where a fork is safe): the same files,
    sooner on a machine with a second core. Should anything fail, the policy is compiled again in one process, so
    the error is the one that path raises.
    """
    with paused_gc():
        if processes > 1 and include_tests and len(policy_set) > 1:
            try:
                return _compile(policy_set, policy_version, include_tests, forked_tests=True)
            except Exception:
                pass  # compiled again below, in one process, to raise the error that path raises
        return _compile(policy_set, policy_version, include_tests)


# The part of the generated tests the forked process takes when ``processes=2``. Tests are a little over half of a
# compile's work (their cases planned, then rendered), the data and review modules the rest: with four fifths of the
# tests in the child, both processes finish at about the same time (1.65 s and 1.59 s at 10,000 agents).
_FORKED_TESTS_SHARE = (4, 5)


def _compile(
    policy_set: PolicySet, policy_version: str | None, include_tests: bool, forked_tests: bool = False
) -> CompiledPolicy:
    module_names = _module_names(policy_set)
    global_domains = policy_set.defaults.allowed_domains if policy_set.defaults else ()
    in_order = list(policy_set)
    numerator, denominator = _FORKED_TESTS_SHARE
    share = len(in_order) * numerator // denominator if forked_tests else 0
    forked = in_order[:share]
    # Started before anything else, so that it runs while this process builds the data and the review modules.
    with Forked(lambda: _test_modules(forked, module_names, global_domains), fork=share > 0) as forked_modules:
        return _compile_rest(policy_set, policy_version, include_tests, module_names, share, forked_modules)


def _compile_rest(
    policy_set: PolicySet,
    policy_version: str | None,
    include_tests: bool,
    module_names: Mapping[str, str],
    forked_share: int,
    forked_modules: Forked[dict[str, bytes]],
) -> CompiledPolicy:
    # A tenant's agents live under data.tenants.<tenant>, the others under data.boundaries: a call reaches a tenant's
    # agent only when it is made for that tenant, and each tenant's data can ship in a bundle of its own.
    agents: dict[str, Any] = {}
    by_tenant: dict[str, dict[str, Any]] = {}
    for agent in policy_set:
        scope = agents if agent.tenant is None else by_tenant.setdefault(agent.tenant, {})
        scope[agent.agent_id] = agent_data(agent)
    library = library_files()
    defaults = section_data.defaults_data(policy_set.defaults)
    version = policy_version or _content_digest(library, agents, defaults, by_tenant)
    data = {"policy_version": version, "agents": agents}
    if defaults is not None:
        data["defaults"] = defaults
    tenants: dict[str, dict[str, Any]] = {}
    for tenant in sorted(by_tenant):
        # Each tenant's own version, so its bundle's revision changes only when its own behaviour can change.
        tenant_version = policy_version or _content_digest(library, by_tenant[tenant], defaults, {"": {tenant: {}}})
        tenants[tenant] = {"policy_version": tenant_version, "agents": by_tenant[tenant]}
        if defaults is not None:
            tenants[tenant]["defaults"] = defaults

    files: dict[str, bytes] = dict(library)
    files[DATA_FILE] = _data_json(data).encode("utf-8")
    for tenant, tenant_data in tenants.items():
        files[tenancy.tenant_data_file(tenant)] = _data_json(tenant_data).encode("utf-8")
    global_domains = policy_set.defaults.allowed_domains if policy_set.defaults else ()
    for index, agent in enumerate(policy_set):
        module = module_names[agent.agent_id]
        facts = agents[agent.agent_id] if agent.tenant is None else by_tenant[agent.tenant][agent.agent_id]
        files[f"agents/{module}/policy.rego"] = _render(
            "agent_policy.rego.j2", {"agent": agent, "module": module, "data": facts}
        )
        if include_tests and index >= forked_share:
            files.update(_test_modules([agent], module_names, global_domains))
    if include_tests:
        files.update(forked_modules.result())
    return CompiledPolicy(
        files=dict(sorted(files.items())), policy_version=version, policy_set=policy_set, data=data, tenants=tenants
    )


def _test_modules(
    agents: list[AgentBoundary], module_names: Mapping[str, str], global_domains: tuple[str, ...]
) -> dict[str, bytes]:
    """The generated ``policy_test.rego`` of each of ``agents``, by path."""
    modules = {}
    for agent in agents:
        module = module_names[agent.agent_id]
        context = {"agent": agent, "module": module, "cases": testgen.cases_for(agent, global_domains)}
        modules[f"agents/{module}/policy_test.rego"] = _render("agent_policy_test.rego.j2", context)
    return modules


def agent_module_name(agent_id: str) -> str:
    """The Rego package segment for an agent: lower case, every character outside ``[a-z0-9_]`` replaced by ``_``.

    Prefixed with ``agent_`` when that would not start with a letter or would be a keyword or a root document
    (``agents.input`` imported as ``input`` would shadow the input document in the agent's tests).

    >>> agent_module_name("Support-Agent.1"), agent_module_name("1st"), agent_module_name("input")
    ('support_agent_1', 'agent_1st', 'agent_input')
    """
    name = _MODULE_NAME_UNSAFE.sub("_", agent_id.lower())
    return name if name[:1].isalpha() and name not in REGO_KEYWORDS else f"agent_{name}"


@cache
def library_files() -> dict[str, bytes]:
    """The hand-written Rego library (``rego/`` in the repository), by path relative to the library root."""
    found: dict[str, bytes] = {}

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(".rego"):
                found[prefix + child.name] = child.read_bytes()

    walk(resources.files("yaml2rego.rego"), "")
    if not found:
        raise CompileError("the Rego library (yaml2rego.rego) is missing from this installation")
    return dict(sorted(found.items()))


def agent_data(agent: AgentBoundary) -> dict[str, Any]:
    """One agent's facts as the library reads them (layout: ``docs/architecture.md``)."""
    data: dict[str, Any] = {
        "agent_id": agent.agent_id,
        "mode": agent.mode.value,
        "source": agent.source_file,
        "allowed_endpoints": [_endpoint(rule) for rule in agent.allowed_endpoints],
        "denied_endpoints": [_endpoint(rule) for rule in agent.denied_endpoints],
        "input_validation": [_validation(entry) for entry in agent.input_validation],
        "rate_limits": [_rate_limit(limit) for limit in agent.rate_limits],
    }
    if agent.max_payload_size_kb is not None:
        data["max_payload"] = {
            "rule": "max_payload_size_kb",
            "source": source_line(agent.max_payload_source),
            "bytes": agent.max_payload_size_kb * 1024,
        }
    data.update(section_data.enforcement_data(agent))
    data.update(section_data.tools_data(agent))
    data.update(section_data.alerts_data(agent))
    data.update(section_data.tenancy_data(agent))
    normalised: dict[str, Any] = _integral_numbers(data)
    return normalised


# The values _integral_numbers returns as they are, by exact type (a bool is not an int here: its type is bool).
_KEPT_AS_IS = frozenset({str, int, bool, type(None)})


def _integral_numbers(value: Any) -> Any:
    """``value`` with every whole float written as an integer (``20.0`` as ``20``).

    OPA keeps a number as written in data.json and regorus does not, so ``20.0`` would come back as ``20.0`` from one
    engine and ``20`` from the other: one spelling per number keeps decisions byte-identical on both.
    """
    # Exact dicts and lists (nearly every node) are rebuilt here, and their strings, integers, booleans and nulls
    # kept without a call each; anything else takes the general way below.
    kind = type(value)
    if kind is dict:
        return {key: item if type(item) in _KEPT_AS_IS else _integral_numbers(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _KEPT_AS_IS else _integral_numbers(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_numbers(item) for item in value]
    return value


def library_digest() -> str:
    """The content digest of the Rego library alone: the revision of a shared library bundle."""
    return _content_digest(library_files(), {})


# -- internals ---------------------------------------------------------------------------------------------------


def _data_json(data: Mapping[str, Any]) -> str:
    """``data.json`` with one agent per line: valid JSON, quick to write at 10,000 agents, a one-line diff per agent.

    The layout is fixed (sorted keys, one agent per line), so the same policy always gives the same bytes.
    """
    agents = data["agents"]
    lines = [f"    {readable(agent_id)}: {readable(agents[agent_id])}" for agent_id in sorted(agents)]
    others = [f"  {readable(key)}: {readable(data[key])}" for key in sorted(data) if key != "agents"]
    body = "{\n" + ",\n".join(lines) + "\n  }" if lines else "{}"
    return "{\n" + ",\n".join([f'  "agents": {body}', *others]) + "\n}\n"


def _matcher(rule: EndpointRule | InputValidation | RateLimit, method: str) -> dict[str, Any]:
    pattern = rule.path if isinstance(rule, EndpointRule) else rule.endpoint
    return section_data.matcher_data(rule.rule_id, rule.source, method.upper(), pattern)


def _endpoint(rule: EndpointRule) -> dict[str, Any]:
    if rule.region is None:
        return _matcher(rule, rule.method)
    return {**_matcher(rule, rule.method), "region": rule.region}


def _rate_limit(limit: RateLimit) -> dict[str, Any]:
    return {**_matcher(limit, limit.method), "requests_per_minute": limit.requests_per_minute}


def _validation(entry: InputValidation) -> dict[str, Any]:
    return {**_matcher(entry, entry.method), "fields": [section_data.field_data(rule) for rule in entry.fields]}


def _module_names(policy_set: PolicySet) -> dict[str, str]:
    """Each agent's module name; two agents may not share a package, nor may one's module be another's tests
    (agents ``x`` and ``x_test``: both would write ``package agents.x_test``)."""
    names: dict[str, str] = {}
    owners: dict[str, str] = {}
    for agent in policy_set:
        name = agent_module_name(agent.agent_id)
        for package in (name, f"{name}_test"):
            if package in owners:
                raise CompileError(
                    f"agents {owners[package]!r} and {agent.agent_id!r} both map to the Rego package "
                    f"agents.{package}; rename one of them"
                )
        owners[name] = owners[f"{name}_test"] = agent.agent_id
        names[agent.agent_id] = name
    return names


def _content_digest(
    library: Mapping[str, bytes],
    agents: Mapping[str, Any],
    defaults: Any = None,
    tenants: Mapping[str, Any] | None = None,
) -> str:
    digest = hashlib.sha256()
    for path, content in library.items():
        digest.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
    digest.update(canonical(agents).encode("utf-8"))
    if defaults is not None:  # only when present, so policies without defaults keep their version
        digest.update(b"\0defaults" + canonical_ascii(defaults).encode("utf-8"))
    if tenants:  # likewise: only a policy set with tenants hashes them
        digest.update(b"\0tenants" + canonical_ascii(tenants).encode("utf-8"))
    return "sha256:" + digest.hexdigest()


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("yaml2rego.compile", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # the output is Rego, not HTML: the filters of yaml2rego.escaping escape every value
        auto_reload=False,  # templates ship with the package; checking their mtime on every render costs a stat each
    )
    environment.filters.update(escaping.FILTERS)
    environment.filters.update(escaping.BLOCK_FILTERS)
    return environment


@cache
def _template(name: str) -> jinja2.Template:
    """A template, once proven to escape every value it interpolates (:func:`yaml2rego.escaping.check_template`)."""
    environment = _environment()
    escaping.check_template(environment, name)
    return environment.get_template(name)


def _render(template: str, context: dict[str, Any]) -> bytes:
    text = _template(template).render(**context)
    return text.encode("utf-8")
