"""From the typed model to Rego modules and data.

The compiler never reads YAML and never writes Rego by string concatenation: per-agent facts become JSON data keyed by
agent id (``data.boundaries.agents``, read by the hand-written library in ``rego/`` with one keyed lookup), and the
thin per-agent review module and its tests are rendered from the jinja2 templates in ``yaml2rego/templates/``.

>>> from yaml2rego.loader import load_policies
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
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from yaml2rego import enforcement, testgen, tool_registry
from yaml2rego.errors import CompileError, source_line
from yaml2rego.model import AgentBoundary, EndpointRule, FieldRule, InputValidation, PolicySet, RateLimit

__all__ = [
    "DATA_FILE",
    "CompiledPolicy",
    "agent_module_name",
    "compile_policy_set",
    "library_files",
    "render_rego_value",
]

# Where the agents' facts live in the output and in every bundle: `data.boundaries`.
DATA_FILE = "boundaries/data.json"
_MODULE_NAME_UNSAFE = re.compile(r"[^a-z0-9_]")
_REGO_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REGO_KEYWORDS = frozenset(
    {"as", "contains", "default", "else", "every", "false", "if", "import", "in", "not", "null", "package", "some"}
    | {"true", "with"}
)


@dataclass(frozen=True)
class CompiledPolicy:
    """The output of one compilation: file contents by relative POSIX path, plus what they were made from."""

    files: Mapping[str, bytes]
    policy_version: str
    policy_set: PolicySet
    data: Mapping[str, Any]

    def modules(self, *, include_tests: bool = True) -> dict[str, str]:
        """Rego modules by path; ``include_tests=False`` leaves out ``*_test.rego`` (what engines load)."""
        return {
            path: content.decode("utf-8")
            for path, content in self.files.items()
            if path.endswith(".rego") and (include_tests or not path.endswith("_test.rego"))
        }

    def data_document(self) -> dict[str, Any]:
        """The root data document as OPA sees it after loading the output directory or bundle."""
        return {"boundaries": json.loads(self.files[DATA_FILE])}

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write every file under ``out_dir`` (created if needed); returns the paths written."""
        root = Path(out_dir)
        written = []
        for relative, content in self.files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            written.append(target)
        return written


def compile_policy_set(policy_set: PolicySet, *, policy_version: str | None = None) -> CompiledPolicy:
    """Compile every agent of ``policy_set``. Deterministic: the same input gives byte-identical files.

    ``policy_version`` defaults to a content digest (``sha256:…``) of the library and the agents' data, so it changes
    exactly when the policy's behaviour can change; pass a git SHA or a release number to use that instead.
    """
    module_names = _module_names(policy_set)
    agents = {agent.agent_id: agent_data(agent) for agent in policy_set}
    library = library_files()
    defaults = enforcement.defaults_data(policy_set.defaults)
    version = policy_version or _content_digest(library, agents, defaults)
    data = {"policy_version": version, "agents": agents}
    if defaults is not None:
        data["defaults"] = defaults

    files: dict[str, bytes] = dict(library)
    files[DATA_FILE] = _data_json(data).encode("utf-8")
    for agent in policy_set:
        module = module_names[agent.agent_id]
        context = {"agent": agent, "module": module, "data": agents[agent.agent_id]}
        files[f"agents/{module}/policy.rego"] = _render("agent_policy.rego.j2", context)
        global_domains = policy_set.defaults.allowed_domains if policy_set.defaults else ()
        context["cases"] = testgen.cases_for(agent, global_domains)
        files[f"agents/{module}/policy_test.rego"] = _render("agent_policy_test.rego.j2", context)
    return CompiledPolicy(files=dict(sorted(files.items())), policy_version=version, policy_set=policy_set, data=data)


def agent_module_name(agent_id: str) -> str:
    """The Rego package segment for an agent: lower case, every character outside ``[a-z0-9_]`` replaced by ``_``."""
    name = _MODULE_NAME_UNSAFE.sub("_", agent_id.lower())
    return name if name[:1].isalpha() and name not in _REGO_KEYWORDS else f"agent_{name}"


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
    data.update(enforcement.agent_data(agent))
    data.update(tool_registry.agent_data(agent))
    return data


def render_rego_value(value: Any, indent: int = 1, prefix: int = 0, width: int = 120) -> str:
    """A JSON value as a Rego literal, laid out as ``opa fmt`` lays it out, within ``width`` columns.

    ``prefix`` is how many characters already stand on the line after the ``indent`` tabs (counted as four columns).
    A value that fits stays on one line; a longer object or array puts one element per line with a trailing comma.

    >>> render_rego_value({"method": "GET", "path": "/api"})
    '{"method": "GET", "path": "/api"}'
    """
    return _lay_out(_flat_tree(value), indent, prefix, width)


# A value's one-line JSON text, with its parts when it is a non-empty object (key texts and parts) or array (parts).
_Tree = tuple[str, list[Any] | None]
# JSON object keys that are not strings, written as json.dumps writes them.
_KEY_TEXT = {True: '"true"', False: '"false"', None: '"null"'}


def _flat_tree(value: Any) -> _Tree:
    """The one-line text of ``value`` and of each of its parts, each encoded once.

    The text is what ``json.dumps(value, ensure_ascii=False)`` gives; it is built here from the parts because a test
    input that does not fit on one line is laid out part by part, and encoding each part again is what made large
    compiles slow.
    """
    if isinstance(value, str):
        return _encode_string(value), None
    if isinstance(value, dict):
        if not value:
            return "{}", None
        entries = [(_key_text(key), _flat_tree(item)) for key, item in value.items()]
        return "{" + ", ".join([f"{key}: {item[0]}" for key, item in entries]) + "}", entries
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]", None
        items = [_flat_tree(item) for item in value]
        return "[" + ", ".join([item[0] for item in items]) + "]", items
    return _encode(value), None


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return str(_encode_string(key))
    if key is None or isinstance(key, bool):
        return _KEY_TEXT[key]
    return str(_encode_string(_encode(key)))


def _lay_out(tree: _Tree, indent: int, prefix: int, width: int) -> str:
    flat, parts = tree
    if parts is None or indent * 4 + prefix + len(flat) <= width:
        return flat
    inner = "\t" * (indent + 1)
    if flat[0] == "{":
        lines = []
        for key, item in parts:
            head = f"{key}: "
            lines.append(f"{inner}{head}{_lay_out(item, indent + 1, len(head) + 1, width)},")
        opening, closing = "{", "}"
    else:
        lines = [f"{inner}{_lay_out(item, indent + 1, 1, width)}," for item in parts]
        opening, closing = "[", "]"
    return opening + "\n" + "\n".join(lines) + "\n" + "\t" * indent + closing


# -- internals ---------------------------------------------------------------------------------------------------

# One encoder for every literal: json.dumps with options builds a new encoder per call, which dominates large compiles.
_encode = json.JSONEncoder(ensure_ascii=False).encode
_encode_sorted = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
# What `_encode` does with a string, without the type checks around it.
_encode_string: Any = json.encoder.encode_basestring


def _data_json(data: Mapping[str, Any]) -> str:
    """``data.json`` with one agent per line: valid JSON, quick to write at 10,000 agents, a one-line diff per agent.

    The layout is fixed (sorted keys, one agent per line), so the same policy always gives the same bytes.
    """
    agents = data["agents"]
    lines = [f"    {_encode(agent_id)}: {_encode_sorted(agents[agent_id])}" for agent_id in sorted(agents)]
    others = [f"  {_encode(key)}: {_encode_sorted(data[key])}" for key in sorted(data) if key != "agents"]
    body = "{\n" + ",\n".join(lines) + "\n  }" if lines else "{}"
    return "{\n" + ",\n".join([f'  "agents": {body}', *others]) + "\n}\n"


def _matcher(rule: EndpointRule | InputValidation | RateLimit, method: str) -> dict[str, Any]:
    pattern = rule.path if isinstance(rule, EndpointRule) else rule.endpoint
    return enforcement.matcher_data(rule.rule_id, rule.source, method.upper(), pattern)


def _endpoint(rule: EndpointRule) -> dict[str, Any]:
    return _matcher(rule, rule.method)


def _rate_limit(limit: RateLimit) -> dict[str, Any]:
    return {**_matcher(limit, limit.method), "requests_per_minute": limit.requests_per_minute}


def _validation(entry: InputValidation) -> dict[str, Any]:
    return {**_matcher(entry, entry.method), "fields": [_field(rule) for rule in entry.fields]}


def _field(rule: FieldRule) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rule": rule.rule_id,
        "source": source_line(rule.source),
        "field": rule.field,
        "path": list(rule.path),
        "type": rule.type.value,
        "required": rule.required,
    }
    for key in ("values", "min_length", "max_length", "pattern", "minimum", "maximum"):
        value = getattr(rule, key)
        if value is not None:
            data[key] = list(value) if isinstance(value, tuple) else value
    return data


def _module_names(policy_set: PolicySet) -> dict[str, str]:
    names: dict[str, str] = {}
    owners: dict[str, str] = {}
    for agent in policy_set:
        name = agent_module_name(agent.agent_id)
        if name in owners:
            raise CompileError(
                f"agents {owners[name]!r} and {agent.agent_id!r} both map to the Rego package agents.{name}; "
                "rename one of them"
            )
        owners[name] = agent.agent_id
        names[agent.agent_id] = name
    return names


def _content_digest(library: Mapping[str, bytes], agents: Mapping[str, Any], defaults: Any = None) -> str:
    digest = hashlib.sha256()
    for path, content in library.items():
        digest.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
    digest.update(json.dumps(agents, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if defaults is not None:  # only when present, so policies without defaults keep their version
        digest.update(b"\0defaults" + json.dumps(defaults, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    return "sha256:" + digest.hexdigest()


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("yaml2rego", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # the output is Rego, not HTML; every value goes through a JSON-quoting filter
        auto_reload=False,  # templates ship with the package; checking their mtime on every render costs a stat each
    )
    environment.filters["rego"] = render_rego_value
    environment.filters["rego_string"] = _rego_string
    environment.filters["yaml_text"] = _yaml_text
    environment.filters["ref_key"] = _ref_key
    environment.filters["comment"] = _comment
    return environment


def _rego_string(value: Any) -> str:
    return _encode(str(value))


def _ref_key(key: str) -> str:
    """A reference step as ``opa fmt`` writes it: ``.name`` for an identifier, ``["key"]`` otherwise."""
    if _REGO_IDENTIFIER.fullmatch(key) and key not in _REGO_KEYWORDS:
        return "." + key
    return "[" + _encode(key) + "]"


def _comment(text: str, width: int = 116) -> str:
    """``text`` as ``#`` comment lines of at most 120 columns (long words, such as paths, are not broken)."""
    text = str(text)
    if len(text) <= width:
        return f"# {text}"
    lines = textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False) or [""]
    return "\n".join(f"# {line}" for line in lines)


def _yaml_text(value: Any) -> str:
    """A value safe to place in a METADATA YAML block as a quoted scalar."""
    return _encode(str(value))


def _render(template: str, context: dict[str, Any]) -> bytes:
    text = _environment().get_template(template).render(**context)
    return text.encode("utf-8")
