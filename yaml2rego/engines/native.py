"""The native engine: each agent's boundary as a frozen Python decision program, with regorus as the reference.

The Rego library (``rego/``) is the audited source of truth. This module reads the same compiled data
(``data.boundaries``) and computes the same decision, rule by rule; each step below names the Rego rule it mirrors.
``tests/test_native_engine.py`` proves the two equal, byte for byte (canonical JSON of the decision), over every
generated test case, every fixture boundary and a seeded fuzz corpus. Where the program cannot be certain to agree,
regorus decides: for an agent whose data :mod:`yaml2rego.compile.native_program` refuses (said at load time, see
:attr:`NativeEngine.refused`), and for a call whose values regorus would change or reject (numbers beyond 2**53, a
JSON body string with duplicate keys, a pure tool call with a ``null`` method, ...).

Programs are built once and shared read-only by every thread: no per-thread engine, so memory stays flat with
threads and the first call costs nothing extra. The kill switch (``suspend``/``resume``) swaps in a new read-only map.

>>> engine = NativeEngine.from_policy_paths(["examples/support_agent.yaml"])  # doctest: +SKIP
>>> engine.decide({"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"})["decision"]
... # doctest: +SKIP
'allow'
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from yaml2rego.canonical_json import canonical_lenient, compact
from yaml2rego.compile.native_program import (
    AgentProgram,
    Boundaries,
    EndpointRule,
    FieldCheck,
    ToolProgram,
    boundaries_of,
    build_programs,
)
from yaml2rego.compile.native_regex import Unsupported, compile_regex
from yaml2rego.engines.embedded import DecisionCache, EmbeddedEngine, decision_modules
from yaml2rego.errors import EngineError
from yaml2rego.semantics.paths import method_problem, non_canonical_reason, strip_query

if TYPE_CHECKING:
    from yaml2rego.compile.compiler import CompiledPolicy

__all__ = ["ENGINE_KINDS", "NativeEngine", "Unsupported", "policy_engine"]

#: What ``Guard.from_policy(engine=...)`` accepts: native programs with regorus behind them, or regorus alone.
ENGINE_KINDS = ("native", "embedded")

log = logging.getLogger("yaml2rego.engines")

# The digest (library_digest) of the Rego library these programs were last proven against by the differential test.
# Loading any other library first checks the programs against regorus on probe calls built from the data, and refuses
# them (regorus decides everything) at the first difference: a library change the programs do not follow can make
# them slower, never wrong. After re-proving them (tests/test_native_engine.py), set this to the new digest.
MIRRORED_LIBRARY = "sha256:69c925e0379575fc4ada0870a78b341a0165e8ae6f0f47164b775fa1829a3beb"

Reason = tuple[str, str, Any, Any]  # code, message, rule, source: a reason before its control is looked up
# RFC 9110 tokens (paths.method_problem finds no problem in them), looked up before the token regex runs; only for a
# `str` itself (a subclass could claim to equal one).
_COMMON_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get", "post"})
_EXACT = 2**53
_MISSING: Any = object()


class _Delegate(Exception):
    """The call is one the native program does not mirror with certainty: regorus decides it."""


class NativeEngine:
    """Decides with per-agent native programs; regorus (an :class:`EmbeddedEngine`) for what they do not express.

    Thread-safe and shared: one engine serves every thread.
    """

    name = "native"

    def __init__(self, modules: Mapping[str, str], data: Mapping[str, Any], *, cache_size: int = 0) -> None:
        """``modules`` and ``data`` as for :class:`EmbeddedEngine`; :class:`Unsupported` when the library or the
        shared data is not one this engine mirrors (then use :class:`EmbeddedEngine`)."""
        self._modules = dict(modules)
        self._data = json.loads(compact(data))
        self.controls = reason_controls(self._modules)
        self.boundaries: Boundaries = boundaries_of(self._data)
        programs, refused = build_programs(self._data)
        self.programs: Mapping[str, AgentProgram] = programs
        #: Agents decided by regorus, and why (a regex outside the translated subset, ...).
        self.refused: Mapping[str, str] = MappingProxyType(refused)
        # A policy with tenants: a call naming none of the programs' agents may name a tenant's agent.
        self._has_tenants = bool(self._data.get("tenants")) if isinstance(self._data, dict) else False
        self.cache = DecisionCache(cache_size) if cache_size > 0 else None
        #: Whether the library is the one the programs were proven against; else they were checked on probes.
        self.proven_library = library_digest(self._modules) == MIRRORED_LIBRARY
        #: How many calls regorus decided (refused agents and calls the programs do not mirror).
        self.delegated = 0
        self._suspended: Mapping[str, Mapping[str, Any]] = MappingProxyType({})
        self._generation = 0
        self._lock = threading.Lock()
        self._fallback: EmbeddedEngine | None = None
        if refused:
            self._reference()  # build it now, so a broken policy fails here and not on a refused agent's first call
        if not self.proven_library:
            self._check_against_reference()

    @classmethod
    def from_compiled(cls, compiled: CompiledPolicy, *, cache_size: int = 0) -> NativeEngine:
        modules = decision_modules(compiled.modules(include_tests=False))
        return cls(modules, compiled.data_document(), cache_size=cache_size)

    @classmethod
    def from_policy_paths(cls, paths: Iterable[str | os.PathLike[str]], *, cache_size: int = 0) -> NativeEngine:
        """Load boundary YAML files or directories, compile them, and decide exactly that output."""
        from yaml2rego.compile.compiler import compile_policy_set
        from yaml2rego.dsl.loader import load_policies

        return cls.from_compiled(compile_policy_set(load_policies(paths)), cache_size=cache_size)

    # -- the Engine protocol -------------------------------------------------------------------------------------

    def decide(self, call: Mapping[str, Any]) -> dict[str, Any]:
        cache = self.cache
        if cache is not None:
            return self._decide_cached(call, cache)
        return self._decide_once(call, self._suspended)

    def _decide_cached(self, call: Mapping[str, Any], cache: DecisionCache) -> dict[str, Any]:
        key = cache.key(call)
        generation = self._generation  # read before deciding: a suspension meanwhile leaves this entry stale
        if key is not None:
            kept = cache.get(key, generation)
            if kept is not None:
                return kept
        result = self._decide_once(call, self._suspended)
        if key is not None:
            cache.put(key, result, generation)
        return result

    def _decide_once(self, call: Mapping[str, Any], suspended: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """The program's decision, or regorus's for a call or an agent the programs do not mirror."""
        try:
            agent_id = call.get("agent_id") if isinstance(call, dict) else None
            if (isinstance(agent_id, str) and agent_id in self.refused) or not _plain(call, 0):
                raise _Delegate
            if "tenant" in call or (self._has_tenants and agent_id not in self.programs):
                raise _Delegate  # tenants (data.tenants, input.tenant) are not mirrored: regorus decides
            return _decide(call, self.programs, self.boundaries, suspended, self.controls)
        except Exception:  # _Delegate, or an input no step foresaw: the reference decides, never a guess
            return self._delegate(call)

    def suspend(self, agent_id: str, reason: str) -> None:
        with self._lock:
            self._suspended = MappingProxyType({**self._suspended, agent_id: {"reason": reason}})
            self._generation += 1
            if self._fallback is not None:
                self._fallback.suspend(agent_id, reason)

    def resume(self, agent_id: str) -> None:
        with self._lock:
            if agent_id in self._suspended:
                self._suspended = MappingProxyType({k: v for k, v in self._suspended.items() if k != agent_id})
                self._generation += 1
            if self._fallback is not None:
                self._fallback.resume(agent_id)

    def close(self) -> None:
        if self._fallback is not None:
            self._fallback.close()

    # -- internals -----------------------------------------------------------------------------------------------

    def _delegate(self, call: Mapping[str, Any]) -> dict[str, Any]:
        self.delegated += 1
        return self._reference().decide(call)

    def _check_against_reference(self) -> None:
        """Decide probe calls natively and with regorus; :class:`Unsupported` at the first difference."""
        reference = self._reference()
        for call in probe_calls(self._data):
            if isinstance(call, dict) and call.get("agent_id") in self.refused:
                continue  # regorus decides these anyway
            try:
                native = _canonical(_decide(call, self.programs, self.boundaries, {}, self.controls))
            except _Delegate:
                continue
            except Exception:
                native = "no decision"
            try:
                expected = _canonical(reference.decide(call))
            except Exception:
                expected = "no decision"
            if native != expected:
                raise Unsupported(
                    f"the Rego library differs from the one the native programs were proven against, and they decide "
                    f"{_canonical(call)} differently"
                )
        log.info("the Rego library differs from the one the native programs were proven against; probes agree")

    def _reference(self) -> EmbeddedEngine:
        fallback = self._fallback
        if fallback is None:
            with self._lock:
                if self._fallback is None:
                    engine = EmbeddedEngine(self._modules, self._data)
                    for agent_id, suspension in self._suspended.items():
                        engine.suspend(agent_id, suspension["reason"])
                    self._fallback = engine
                fallback = self._fallback
        return fallback


def policy_engine(
    paths: Iterable[str | os.PathLike[str]], *, kind: str = "native", cache_size: int = 0
) -> NativeEngine | EmbeddedEngine:
    """The in-process engine for boundary files: ``native`` (regorus for what the programs do not express, and for
    everything when the library itself is not one they mirror) or ``embedded`` (regorus alone)."""
    from yaml2rego.compile.compiler import compile_policy_set
    from yaml2rego.dsl.loader import load_policies

    if kind not in ENGINE_KINDS:
        raise EngineError(f"unknown engine {kind!r}: choose one of {', '.join(ENGINE_KINDS)}")
    compiled = compile_policy_set(load_policies(paths))
    if kind == "native":
        try:
            return NativeEngine.from_compiled(compiled, cache_size=cache_size)
        except Unsupported as exc:
            log.warning("native decision programs unavailable (%s); every agent is decided by regorus", exc)
    return EmbeddedEngine.from_compiled(compiled, cache_size=cache_size)


def library_digest(modules: Mapping[str, str]) -> str:
    """``sha256:`` of the modules the decision is made of: the library without its tests, without the per-agent
    review modules (``agents/``) and without the Envoy entry point (a package of its own that only reads the
    decision)."""
    digest = hashlib.sha256()
    for path in sorted(modules):
        if not path.startswith(("agents/", "agent_boundary/envoy/")) and not path.endswith("_test.rego"):
            digest.update(path.encode() + b"\0" + modules[path].encode() + b"\0")
    return "sha256:" + digest.hexdigest()


# Paths and hosts that exercise the canonical-path and egress checks: where a library change is most likely.
_PROBE_PATHS = ["", "/", "x", "/a/../b", "/a/./b", "//a", "/a%2fb", "/a%2Eb", "/a%20b", "/a;v=1", "/a\\b", "/é",
                "/a?q=1", "/a#f", "/a/", "/\x01", "/a%41", "/a%g0", "/...", "/a b", "/a?b c", "/a?é"]  # fmt: skip
_PROBE_HOSTS: list[Any] = ["api.example.com", "API.example.com.", "10.0.0.1", "a@b.com", "b.com:8443", "", None]
_PROBE_AGENTS = 20


def probe_calls(data: Mapping[str, Any]) -> list[Any]:
    """Calls built from the data of up to 20 agents: every endpoint prefix with its method and bent paths, bodies
    missing their fields, each tool and an unknown one, hosts; plus malformed requests and an unknown agent."""
    agents = data["boundaries"]["agents"]
    calls: list[Any] = [None, [], {}, {"agent_id": 5, "method": "GET", "path": "/"}, {"agent_id": "", "tool": ""}]
    for agent_id in sorted(agents)[:_PROBE_AGENTS]:
        agent = agents[agent_id]
        entries = [*agent.get("allowed_endpoints", []), *agent.get("denied_endpoints", [])]
        entries += [*agent.get("input_validation", []), *agent.get("conditions", []), *agent.get("sanitize", [])]
        for entry in entries:
            method = entry.get("method", "GET")
            method = "GET" if method == "*" else method
            prefix = str(entry.get("prefix", "/"))
            for path in (prefix, prefix.rstrip("/"), prefix + "x/y"):
                calls.append({"agent_id": agent_id, "method": method, "path": path})
                calls.append({"agent_id": agent_id, "method": method.lower(), "path": path, "body": {}})
        for path in _PROBE_PATHS:
            calls.append({"agent_id": agent_id, "method": "GET", "path": path})
        for host in _PROBE_HOSTS:
            calls.append({"agent_id": agent_id, "method": "GET", "path": "/", "host": host})
        for tool in [*agent.get("tools", {}), "yaml2rego_probe_tool"]:
            calls.append({"agent_id": agent_id, "tool": tool})
            calls.append({"agent_id": agent_id, "tool": tool, "action": "read", "args": {"x": 1}, "method": "GET"})
            calls.append({"agent_id": agent_id, "tool": tool, "path": "/a", "host": "api.example.com"})
        calls.append({"agent_id": agent_id, "method": "", "path": "/"})
        for method in ("po\u017ft", " GET", "M-SEARCH"):
            calls.append({"agent_id": agent_id, "method": method, "path": "/"})
        for size in (-1, 1.5, 2**53, 10**7, "10"):
            calls.append({"agent_id": agent_id, "method": "GET", "path": "/", "payload_size_bytes": size, "body": "x"})
    calls.append({"agent_id": "yaml2rego_probe_agent", "method": "GET", "path": "/"})
    return calls


def _canonical(value: Any) -> str:
    return canonical_lenient(value)


def reason_controls(modules: Mapping[str, str]) -> Mapping[str, str]:
    """``reason_controls`` of decision.rego, read from the library's own text: the one code-to-control map."""
    text = modules.get("agent_boundary/decision.rego", "")
    block = re.search(r"^reason_controls := (\{.*?^\})", text, re.MULTILINE | re.DOTALL)
    if block is None:
        raise Unsupported("decision.rego has no reason_controls object")
    try:
        controls = json.loads(re.sub(r",(\s*\})", r"\1", block.group(1)))
    except ValueError as exc:
        raise Unsupported("reason_controls is not a plain object of strings") from exc
    if not isinstance(controls, dict) or not all(isinstance(v, str) for v in controls.values()):
        raise Unsupported("reason_controls is not a plain object of strings")
    return MappingProxyType(controls)


# ---------------------------------------------------------------------------------------------------------------------
# Values as regorus holds them.


def _plain(value: Any, depth: int) -> bool:
    """Whether ``value`` is JSON that regorus keeps exactly as Python has it (else regorus decides the call).

    Runs on every call, so the common leaves (strings, small integers) are tested inline, without a call each."""
    kind = type(value)
    if kind is dict:
        if depth > 64:
            return False
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or _utf8(key)):
                return False
            leaf = type(item)
            if leaf is str:
                if not (item.isascii() or _utf8(item)):
                    return False
            elif leaf is int:
                if not -_EXACT < item < _EXACT:
                    return False
            elif item is not None and leaf is not bool and not _plain(item, depth + 1):
                return False
        return True
    if kind is str:
        return value.isascii() or _utf8(value)
    if kind is int:
        return bool(-_EXACT < value < _EXACT)
    if value is None or kind is bool:
        return True
    if kind is float:
        return math.isfinite(value) and bool(-_EXACT < value < _EXACT)
    if kind is list:
        return depth <= 64 and all(_plain(item, depth + 1) for item in value)
    return False


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not a string regorus can hold
        return False
    return True


def _is_number(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and value is not True and value is not False


def _out(value: Any) -> Any:
    """A number of the input as regorus answers it: an integral float as an integer."""
    return int(value) if type(value) is float and value.is_integer() else value


def _v(value: Any) -> str:
    """sprintf's ``%v`` in regorus, for scalars: integral numbers without a fraction, no exponent, JSON literals."""
    if type(value) is str:
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        if value.is_integer():
            return "-0" if value == 0 and math.copysign(1.0, value) < 0 else str(int(value))
        return format(Decimal(repr(value)), "f")
    raise _Delegate  # arrays and objects: regorus's layout is not mirrored


def _json_equal(left: Any, right: Any) -> bool:
    """Rego equality: numbers by value (1 == 1.0), but a boolean is never a number; arrays and objects deeply."""
    if type(left) is bool or type(right) is bool:
        return left is right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if type(left) is not type(right):
        return False
    if type(left) is list:
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right, strict=True))
    if type(left) is dict:
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    return bool(left == right)


def _member(value: Any, collection: Any) -> bool:
    """Rego's ``value in collection`` for an array (the only collection the data holds here)."""
    return type(collection) is list and any(_json_equal(value, item) for item in collection)


def _get(document: Any, path: Iterable[str]) -> Any:
    """``object.get(document, path, _MISSING)``: objects only (a string step never indexes an array)."""
    node = document
    for step in path:
        if type(node) is not dict:
            return _MISSING
        node = node.get(step, _MISSING)
        if node is _MISSING:
            return _MISSING
    return node


# decision.rego `_printable` (and tools/validation `_text`, `_show`): C0 and C1 controls, DEL and the Unicode line and
# paragraph separators become U+FFFD.
_PRINTABLE = {code: "\ufffd" for code in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]}
_SAFE_INTEGER = 2**53 - 1


def _printable(text: str) -> str:
    # Every character replaced is one str.isprintable refuses (categories Cc, Zl, Zp): most texts are printable, and
    # that test costs a fraction of a translate by table.
    return text if text.isprintable() else text.translate(_PRINTABLE)


def _number_text(value: Any) -> str:
    """validation.number_text: an integer within 2^53 - 1 in digits, a number from 0.0001 up to a million as sprintf
    writes it, any other number only named."""
    if abs(value) <= _SAFE_INTEGER and (type(value) is int or value.is_integer()):
        return str(int(value))
    if 0.0001 <= abs(value) < 1000000:
        return _v(value)
    return "a number too large or too small to show"


# ---------------------------------------------------------------------------------------------------------------------
# paths.rego

# paths.rego is mirrored by yaml2rego.semantics.paths (the guard's own canonical-path check, same checks, order and
# messages, proven on one table through Python, regorus and OPA by tests/test_paths.py): one copy, shared.
_strip_query = strip_query
_path_problem = non_canonical_reason  # decision.rego `_path_problem` for a string path: paths.problem or None


# ---------------------------------------------------------------------------------------------------------------------
# validation.rego


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EMAIL = compile_regex(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_KINDS = {"uuid": "a UUID", "email": "an email address", "boolean": "a boolean", "integer": "an integer"} | {
    "number": "a number"
}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _document(body: Any) -> Any:
    """validation.document: the body when it is an object, a string holding a JSON object parsed, else {}."""
    if type(body) is dict:
        return body
    if type(body) is str:
        parsed = _json_object(body)
        if parsed is not None:
            return parsed
    return {}


def _json_object(text: str) -> dict[str, Any] | None:
    """json.is_valid + json.unmarshal, as regorus (serde_json) reads ``text``; _Delegate where Python reads more."""
    if _SURROGATE_ESCAPE.search(text) or text.count("[") + text.count("{") > 100:
        raise _Delegate  # lone surrogates and serde_json's depth limit
    try:
        parsed = json.loads(
            text, object_pairs_hook=_unique_pairs, parse_constant=_refuse, parse_int=_int, parse_float=_float
        )
    except _Invalid:
        return None
    except ValueError:
        return None
    return parsed if type(parsed) is dict else None


class _Invalid(ValueError):
    """Text serde_json does not accept as JSON."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise _Delegate  # duplicate keys
    return document


def _refuse(_: str) -> Any:
    raise _Invalid  # NaN, Infinity


def _int(text: str) -> int:
    value = int(text)
    if not -_EXACT < value < _EXACT:
        raise _Delegate
    return value


def _float(text: str) -> Any:
    value = float(text)
    if not math.isfinite(value):
        raise _Invalid  # serde_json refuses numbers out of range
    if not -_EXACT < value < _EXACT or (value == 0 and text.startswith("-")):
        raise _Delegate
    return int(value) if value.is_integer() else value


def _of_kind(kind: Any, value: Any) -> bool:
    """validation._of_kind."""
    if kind == "uuid":
        return type(value) is str and _UUID.fullmatch(value) is not None
    if kind == "email":
        return type(value) is str and _EMAIL.search(value)
    if kind == "boolean":
        return type(value) is bool
    if kind == "integer":
        return _is_number(value) and abs(value) <= _SAFE_INTEGER and (type(value) is int or value.is_integer())
    if kind == "number":
        return _is_number(value)
    return False


def _show(value: Any) -> str:
    """validation._show: JSON-like, strings quoted with control characters replaced, containers only named."""
    if type(value) is str:
        return '"' + _printable(value) + '"'
    if type(value) is list:
        return "an array"
    if type(value) is dict:
        return "an object"
    if _is_number(value):
        return _number_text(value)
    return _v(value)


def _field_problem(field: FieldCheck, document: Any) -> str | None:
    """validation._field_problem (and _value_problem, _string_problem, _range_problem) for one field rule."""
    # Most fields are top-level keys: those are read without `_get`'s loop.
    path = field.path
    value = document.get(path[0], _MISSING) if len(path) == 1 and type(document) is dict else _get(document, path)
    name = field.field
    if value is _MISSING:
        return f"missing required field `{name}`" if field.required else None
    kind = field.type
    if kind in _KINDS:
        if not _of_kind(kind, value):
            return f"field `{name}` must be {_KINDS[kind]}, got {_show(value)}"
        if kind == "integer" or kind == "number":
            if _is_number(field.minimum) and value < field.minimum:
                return f"field `{name}` must be at least {_number_text(field.minimum)}, got {_number_text(value)}"
            if _is_number(field.maximum) and value > field.maximum:
                return f"field `{name}` must be at most {_number_text(field.maximum)}, got {_number_text(value)}"
        return None
    if kind == "enum":
        values = field.values
        if values is None:
            return None
        # A string equals (in Rego) only a string equal to it: tuple membership, without the general comparison.
        if value in values if type(value) is str else _member(value, list(values)):
            return None
        shown = _one_of_strings(values) if field.strings_only else _one_of(values)
        return f"field `{name}` must be one of {shown}, got {_show(value)}"
    if kind == "string":
        if type(value) is not str:
            return f"field `{name}` must be a string, got {_show(value)}"
        if field.min_length is not None and len(value) < field.min_length:
            return f"field `{name}` must be at least {_v(field.min_length)} characters long, got {len(value)}"
        if field.max_length is not None and len(value) > field.max_length:
            return f"field `{name}` must be at most {_v(field.max_length)} characters long, got {len(value)}"
        if field.pattern is not None and not field.pattern.search(value):
            return f"field `{name}` must match the pattern `{field.pattern.pattern}`"
    return None


def _one_of(values: tuple[Any, ...]) -> str:
    """The allowed values of an enum as validation.rego shows them: ``["low", "medium"]``."""
    if all(type(value) is str for value in values):
        return _one_of_strings(values)
    return _shown_values(values)


def _shown_values(values: tuple[Any, ...]) -> str:
    return "[" + ", ".join([_show(item) for item in values]) + "]"


# The text is a pure function of the policy's values, so it is written once per enum (a bounded table). Only enums
# of strings are kept: a tuple of strings equals only the same strings, where (1, 0) == (True, False) and
# (1,) == (1.0,) would hand one enum the text of another.
_one_of_strings = lru_cache(maxsize=4096)(_shown_values)


def _violations(fields: tuple[FieldCheck, ...], document: Any, code: str, found: set[Reason]) -> None:
    """validation.violations: one finding per field rule the document breaks, added to ``found``."""
    for field in fields:
        message = _field_problem(field, document)
        if message is not None:
            found.add((code, message, field.rule, field.source))


# ---------------------------------------------------------------------------------------------------------------------
# tools.rego


def _text(value: Any) -> str:
    """tools._text."""
    if type(value) is str:
        return _printable(value)
    return _number_text(value) if _is_number(value) else _v(value)


def _tool_findings(
    agent: Mapping[str, Any], tool: ToolProgram, call: Mapping[str, Any], deny: set[Reason], approve: set[Reason]
) -> None:
    """tools.deny_findings (a registered tool) and tools.approval_findings."""
    entry = tool.data
    name = entry["name"]
    raw_args = call.get("args")
    args = {k: v for k, v in raw_args.items() if v is not None} if type(raw_args) is dict else {}
    # _action_findings
    action = call.get("action")
    if type(action) is str and action not in tool.actions:
        shown = ", ".join(sorted(tool.actions))
        message = f"tool `{name}` does not allow the action `{_text(action)}` (allowed: {shown})"
        deny.add(("action_not_allowed", message, entry.get("rule"), entry.get("source")))
    # _environment_findings
    context = agent.get("execution_context")
    environments = _get(agent, ("execution_context", "environments"))
    environments = {} if environments is _MISSING else environments
    environment = call.get("environment") if type(call.get("environment")) is str else None
    if len(environments) > 0:
        problem = _environment_problem(environments, name, environment)
        if problem is not None:
            declared = environments.get(environment, {}) if environment is not None else {}
            rule = declared.get("rule", "execution_context.environments")
            source = declared["source"] if "source" in declared else agent.get("source", "")
            deny.add(("tool_not_allowed_in_environment", problem, rule, source))
    # _clearance_findings
    classification = entry.get("classification", _MISSING)
    restricted = _get(agent, ("execution_context", "restricted_classes"))
    if classification is not _MISSING and _member(classification, [] if restricted is _MISSING else restricted):
        role = call.get("requester_role")
        cleared = False
        if type(role) is str and type(context) is dict:
            granted = _get(agent, ("execution_context", "clearance", role))
            cleared = _member(classification, [] if granted is _MISSING else granted)
        if not cleared:
            if type(role) is str:
                message = f"role `{_text(role)}` lacks clearance for {_v(classification)} data (tool `{name}`)"
            else:
                message = f"tool `{name}` handles {_v(classification)} data and the call names no requester role"
            deny.add(("clearance_denied", message, entry.get("rule"), entry.get("source")))
    # _scope_findings
    for scope, regexes in tool.scopes:
        argument = scope["arg"]
        if argument not in args:
            message = f"tool `{name}` needs the argument `{argument}` to check its scope"
        else:
            value = args[argument]
            if type(value) is str and any(regex.search(value) for regex in regexes):
                continue
            message = f"argument `{argument}` of tool `{name}` is outside its scope ({', '.join(scope['patterns'])})"
        deny.add(("scope_violation", message, scope.get("rule"), scope.get("source")))
    # _argument_findings: _renamed(validation.violations(...)) | _unknown_arguments
    _violations(tool.args, args, "invalid_arguments", deny)
    if _truthy(entry.get("declares_args", _MISSING)):
        arg_names = entry.get("arg_names", {})
        for argument in args:
            if not _truthy(arg_names.get(argument, _MISSING)):
                message = f"tool `{name}` has no argument `{_text(argument)}`"
                deny.add(("invalid_arguments", message, entry.get("rule"), entry.get("source")))
    # approval_findings: _tool_approval | _environment_approval
    if entry.get("requires_approval") is True:
        approve.add(
            ("approval_required", f"tool `{name}` requires human approval", entry.get("rule"), entry.get("source"))
        )
    if environment is not None and environment in environments:
        target = environments[environment]
        actions = {action} if type(action) is str else set(tool.actions)
        needs = target.get("requires_approval_for", [])
        if "rule" in target and "source" in target:
            for each in sorted(actions):
                if _member(each, needs):
                    message = f"action `{each}` of tool `{name}` in environment `{environment}` requires human approval"
                    approve.add(("approval_required", message, target["rule"], target["source"]))


def _environment_problem(environments: Mapping[str, Any], name: str, environment: str | None) -> str | None:
    """tools._environment_problem."""
    declared = ", ".join(sorted(environments))
    if environment is None:
        return f"tool `{name}` is called without a target environment (declared: {declared})"
    if environment not in environments or not _truthy(environments[environment]):
        return f"environment `{_text(environment)}` is not declared (declared: {declared})"
    allowed = environments[environment].get("allowed_tools", _MISSING)
    if allowed is _MISSING:
        return None
    if type(allowed) is not dict:
        raise _Delegate
    if not _truthy(allowed.get(name, _MISSING)):
        return f"tool `{name}` is not allowed in environment `{environment}`"
    return None


def _truthy(value: Any) -> bool:
    """A Rego body expression succeeds when its value is defined and not ``false``."""
    return value is not _MISSING and value is not False


# ---------------------------------------------------------------------------------------------------------------------
# conditions.rego


_CODES = {"deny": "parameter_denied", "approval_needed": "approval_required"}
_WORDS = {"eq": "is", "ne": "is not", "lt": "is below", "le": "is at most", "gt": "is above", "ge": "is at least"} | {
    "in": "is one of",
    "not_in": "is not one of",
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def _holds(condition: Mapping[str, Any], call: Mapping[str, Any]) -> bool:
    """conditions.holds."""
    op = condition.get("op")
    value = _get(call, condition["path"])
    if op == "exists":
        return value is not _MISSING
    if op == "missing":
        return value is _MISSING
    expected = condition.get("value", _MISSING)
    if op == "eq" or op == "ne":
        equal = value is not _MISSING and expected is not _MISSING and _json_equal(value, expected)
        return equal if op == "eq" else not equal
    if op in _COMPARE:
        return _is_number(value) and _is_number(expected) and _COMPARE[op](value, expected)
    if op == "in" or op == "not_in":
        member = value is not _MISSING and _member(value, expected)
        return member if op == "in" else not member
    return False


def _condition_message(condition: Mapping[str, Any]) -> str:
    """conditions._message (with _show and _show_scalar)."""
    rule = condition["rule"]
    if type(condition.get("message")) is str:
        return f"{condition['message']} ({rule})"
    field, op = condition["field"], condition.get("op")
    if op == "exists":
        return f"`{field}` is present ({rule})"
    if op == "missing":
        return f"`{field}` is missing ({rule})"
    value = condition.get("value", _MISSING)
    if op not in _WORDS or value is _MISSING:
        raise _Delegate
    shown = "[" + ", ".join(_scalar(item) for item in value) + "]" if type(value) is list else _scalar(value)
    return f"`{field}` {_WORDS[op]} {shown} ({rule})"


def _scalar(value: Any) -> str:
    if type(value) is str:
        return '"' + value + '"'
    return _number_text(value) if _is_number(value) else _v(value)


# ---------------------------------------------------------------------------------------------------------------------
# egress.rego


_LABELS = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_NUMERIC = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*")
_DIGITS = re.compile(r"[0-9]+")
_LEADING_ZEROS = re.compile(r"^0+([0-9])")
_IP_REFUSED = "an IP address is refused as a host (use a domain name)"


def _host_name(host: str) -> str:
    """egress._name: lower case, no port, one trailing dot dropped."""
    name = host.lower().split(":")[0]
    return name[:-1] if name.endswith(".") else name


def _host_problem(host: Any, port: Any) -> str | None:
    """egress.host_problem."""
    if type(host) is not str or host == "":
        return "the host is empty"
    if "@" in host:
        return "a user name in the host is refused"
    if "%" in host:
        return "a percent-encoded host is refused"
    if not host.isascii():
        return "a non-ASCII host is refused (use its punycode form)"
    if host.startswith("["):
        return _IP_REFUSED
    parts = host.split(":")
    if len(parts) > 2:
        return _IP_REFUSED
    if len(parts) == 2:
        given = parts[1]
        if _DIGITS.fullmatch(given) is None:
            return "the host's port is not a number"
        digits = _LEADING_ZEROS.sub(r"\1", given)
        if port is not None and _v(port) != digits:
            return f"the host's port {digits} does not match the call's port {_v(port)}"
    name = _host_name(host)
    if _NUMERIC.fullmatch(name):
        return _IP_REFUSED
    if not (len(name) <= 253 and _LABELS.fullmatch(name)):
        return "the host is not a valid domain name"
    return None


def _host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """egress.allowed."""
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


# ---------------------------------------------------------------------------------------------------------------------
# dlp.rego


def _walk(value: Any, below: list[Any]) -> Iterable[tuple[list[Any], str]]:
    """Rego's walk, strings only: every string below ``value`` with its path."""
    if type(value) is str:
        yield below, value
    elif type(value) is dict:
        for key, item in value.items():
            yield from _walk(item, [*below, key])
    elif type(value) is list:
        for index, item in enumerate(value):
            yield from _walk(item, [*below, index])


def _has_matching_key(value: Any, matches: Callable[[str], Any]) -> bool:
    """dlp._has_matching_key: an object anywhere in ``value`` (itself included) with a key the rule's regex matches."""
    if type(value) is dict:
        return any(matches(key) or _has_matching_key(item, matches) for key, item in value.items())
    if type(value) is list:
        return any(_has_matching_key(item, matches) for item in value)
    return False


# ---------------------------------------------------------------------------------------------------------------------
# decision.rego and enforcement.rego


def _decide(
    call: Any,
    programs: Mapping[str, AgentProgram],
    boundaries: Boundaries,
    suspended: Mapping[str, Mapping[str, Any]],
    controls: Mapping[str, str],
) -> dict[str, Any]:
    """data.agent_boundary.decision for ``call``."""
    is_object = type(call) is dict
    fields: Mapping[str, Any] = call if is_object else {}
    agent_id: Any = fields.get("agent_id")
    method: Any = fields.get("method")
    path: Any = fields.get("path")
    # `_tool_call if input.tool != null`; `_http_call`: no tool, or a method or path beside it
    tool_call = fields.get("tool") is not None
    http_call = not tool_call or method is not None or path is not None
    deny: set[Reason] = set()
    approve: set[Reason] = set()

    # `_well_formed` and `_request_problems`
    if not tool_call:
        well_formed = (
            type(agent_id) is str
            and type(method) is str
            and type(path) is str
            and (method in _COMMON_METHODS or method_problem(method) is None)
            and ("payload_size_bytes" not in fields or not _size_problem(fields))
        )
    else:
        well_formed = not _request_problems(call, is_object, tool_call, http_call)
    if not well_formed:
        for problem in _request_problems(call, is_object, tool_call, http_call):
            deny.add(("invalid_request", problem, "request", "input"))
        return _answer(deny, approve, set(), None, fields, boundaries, controls)

    program = programs.get(agent_id)
    agent: Mapping[str, Any] = program.data if program is not None else {}
    # `_method`: a well-formed HTTP call's method is an ASCII token; upper() of a non-string (a pure tool call's null
    # method, an error in regorus) is not mirrored.
    upper = None
    if "method" in fields:
        if type(method) is not str or not method.isascii():
            raise _Delegate
        upper = method.upper()
    # `_query_free` (strip_query of a non-string path is an error in regorus)
    query_free: str | None = None
    if "path" in fields:
        if type(path) is not str:
            raise _Delegate
        query_free = _strip_query(path)
    path_problem = _path_problem(path) if query_free is not None else None
    path_ok = query_free is not None and http_call and path_problem is None
    target_slash = ""
    if path_ok and query_free is not None:
        target_slash = (query_free[:-1] if query_free.endswith("/") else query_free) + "/"
    shown_path = query_free if path_ok else _printable(query_free) if query_free is not None else None
    shown_call = f"{upper} {shown_path}"

    # agent_suspended
    suspension = suspended.get(agent_id)
    if suspension is not None:
        reason = suspension.get("reason")
        message = f"agent `{_printable(agent_id)}` is suspended"
        if type(reason) is str:
            message += f": {_printable(reason)}"
        deny.add(("agent_suspended", message, "kill_switch", "data.agent_boundary_runtime.suspended"))
    # unknown_agent
    if program is None:
        deny.add(
            (
                "unknown_agent",
                f"no boundary is defined for agent `{_printable(agent_id)}`",
                "agent_id",
                "data.boundaries.agents",
            )
        )
    # non_canonical_path
    if path_problem is not None:
        deny.add(
            ("non_canonical_path", f"path `{shown_path}` is refused: {path_problem}", "canonical_path", "input.path")
        )

    allowed_by = None
    tool: ToolProgram | None = None
    flags: dict[str, dict[str, Any]] = {}
    result_by_key: dict[str, dict[str, Any]] = {}
    budget = None
    rate_limits: list[dict[str, Any]] = []
    if program is not None:
        # `_allowed_by`, `_denied_by`, endpoint_denied, endpoint_not_allowed
        # (`applies` written out in the loops over endpoint rules, which run on every call: the program hands over
        # the rules of the call's method, so only their paths are matched)
        for_method = program.rules_for(upper)
        denied = False
        if path_ok:
            for rule in for_method.allowed:
                if rule.matches_path(target_slash):
                    allowed_by = rule
                    break
            for rule in for_method.denied:
                if rule.matches_path(target_slash):
                    denied = True
                    data = rule.data
                    message = f"{shown_call} is denied by {data['rule']} ({data['method']} {data['pattern']})"
                    deny.add(("endpoint_denied", message, data["rule"], data["source"]))
        if path_ok and allowed_by is None and not denied:
            message = f"{shown_call} matches no allowed endpoint"
            deny.add(("endpoint_not_allowed", message, "allowed_endpoints", agent.get("source", "")))
        # input_validation (`_document`)
        body = fields.get("body")
        document = body if type(body) is dict else _document(body)
        if path_ok:
            for entry, checks in for_method.validation:
                if entry.matches_path(target_slash):
                    _violations(checks, document, "invalid_input", deny)
        # payload_too_large
        limit = agent.get("max_payload")
        if type(limit) is dict and _is_number(limit.get("bytes")):
            size = _payload_size(fields, limit["bytes"])
            if size > limit["bytes"]:
                sizes = f"{_number_text(size)} bytes exceeds the limit of {_number_text(limit['bytes'])}"
                message = f"payload of {sizes} bytes"
                deny.add(("payload_too_large", message, limit.get("rule"), limit.get("source")))
        # tools.deny_findings / approval_findings; `_tool_entry`
        if tool_call:
            tool = program.tools.get(fields["tool"])
            if tool is None:
                owner = _text(agent.get("agent_id"))
                message = f"tool `{_text(fields['tool'])}` is not in the tool registry of agent `{owner}`"
                deny.add(("unknown_tool", message, "tools", agent.get("source", "")))
            else:
                _tool_findings(agent, tool, fields, deny, approve)
        # enforcement.rego: `_call_document`
        call_document = fields
        if "body" in fields and (program.conditions or program.sanitize):  # read by those two alone
            call_document = {**fields, "body": document}
        # `_condition_findings`
        if program.conditions is not None:
            for condition in program.conditions:
                if _enforcement_applies(condition, path_ok, upper, target_slash, tool_call) and _holds(
                    condition.data, call_document
                ):
                    data = condition.data
                    finding = (_CODES[data["outcome"]], _condition_message(data), data["rule"], data.get("source"))
                    (deny if data["outcome"] == "deny" else approve).add(finding)
        # egress
        _egress(agent, fields, http_call, boundaries, deny)
        # sanitize: `_flags`, `_flags_by_key`, `_result_by_key`
        for sanitize in program.sanitize:
            if not _enforcement_applies(sanitize.matcher, path_ok, upper, target_slash, tool_call):
                continue
            data = sanitize.matcher.data
            extra = {"regex": data["flag_regex"]} if data.get("detector") == "regex" else {}
            if "result" in data["apply_to"]:
                redaction = {
                    "detector": data.get("detector"),
                    "rule": data["rule"],
                    "source": data.get("source"),
                    **extra,
                }
                if result_by_key.setdefault(data["rule"], redaction) != redaction:
                    raise _Delegate
            if "request" not in data["apply_to"] or sanitize.flag_regex is None:
                continue
            matches = sanitize.flag_regex.search
            for field in data["fields"]:
                value = _get(call_document, field)
                value = None if value is _MISSING else value
                found: list[tuple[str, list[Any], dict[str, Any]]] = []
                for below, leaf in _walk(value, []):
                    # dlp._value_flags: a string below a matching key is covered by the field's key flag
                    if matches(leaf) and not any(type(step) is str and matches(step) for step in below):
                        steps = [*field, *below]
                        found.append((".".join(_v(step) for step in steps), steps, extra))
                if _has_matching_key(value, matches):  # dlp._key_flags
                    found.append(
                        (".".join(_v(step) for step in field) + " (keys)", list(field), {"keys": True, **extra})
                    )
                for shown, steps, more in found:
                    flag = {
                        "field": shown,
                        "path": steps,
                        "detector": data.get("detector"),
                        "rule": data["rule"],
                        "source": data.get("source"),
                        **more,
                    }
                    key = f"{shown}|{_v(data.get('detector'))}|{data['rule']}"
                    if flags.setdefault(key, flag) != flag:
                        raise _Delegate  # regorus refuses two flags under one key
        # `_budget`
        limits = agent.get("budget")
        if type(limits) is dict:
            budget = {key: value for key, value in limits.items() if key not in ("tool_prices", "default_cost_usd")}
            budget["cost_usd"] = _out(_cost(limits, fields))
        # `_rate_limits`
        if path_ok:
            for entry in for_method.rate_limits:
                if entry.matches_path(target_slash):
                    data = entry.data
                    rate_limits.append(
                        {
                            "rule": data["rule"],
                            "source": data["source"],
                            "pattern": data["pattern"],
                            "requests_per_minute": data["requests_per_minute"],
                        }
                    )

    # `_sanitize_reasons`
    sanitize_reasons = set()
    for flag in flags.values():
        message = f"`{flag['field']}` may hold {_v(flag['detector'])} and is redacted ({flag['rule']})"
        sanitize_reasons.add(("sensitive_data_redacted", message, flag["rule"], flag["source"]))
    # `_permitted`: a call that is both an HTTP and a tool call needs an allowed endpoint and a registered tool
    if tool_call and http_call:
        permitted = allowed_by is not None and tool is not None
    else:
        permitted = allowed_by is not None or tool is not None
    # `_outcome`
    if deny:
        outcome = "deny"
    elif approve:
        outcome = "approval_needed"
    elif flags and permitted:
        outcome = "sanitize"
    elif permitted:
        outcome = "allow"
    else:
        outcome = "deny"
    reasons = approve if outcome == "approval_needed" else sanitize_reasons if outcome == "sanitize" else deny
    decision = _answer(deny, approve, reasons, outcome, fields, boundaries, controls, agent, rate_limits)
    if outcome == "allow":
        if allowed_by is not None:
            data = allowed_by.data
            decision["decision_reason"] = f"{shown_call} allowed by {data['rule']} ({data['method']} {data['pattern']})"
        elif tool is not None:
            decision["decision_reason"] = f"tool `{_printable(fields['tool'])}` allowed by {tool.data['rule']}"
    # `_enforcement_extras`
    if flags:
        decision["redactions"] = [flags[key] for key in sorted(flags)]
    if result_by_key:
        decision["result_redactions"] = [result_by_key[key] for key in sorted(result_by_key)]
    if outcome != "deny" and budget is not None:
        decision["budget"] = budget
    return decision


def _enforcement_applies(rule: EndpointRule, path_ok: bool, upper: Any, target_slash: str, tool_call: bool) -> bool:
    """decision.rego `_enforcement_applies`: `_applies`, or a tool call and a rule for every method and path."""
    if path_ok and rule.applies(upper, target_slash):
        return True
    return tool_call and rule.method == "*" and rule.data.get("pattern") == "/**"


def _size_problem(call: Mapping[str, Any]) -> bool:
    """decision.rego `_size_problem`: a declared size that is not a non-negative integer within 2^53 - 1."""
    size = call.get("payload_size_bytes")
    if size is None or (type(size) is int and 0 <= size <= _SAFE_INTEGER):  # the guard declares such a size
        return False
    if not _is_number(size):
        return True
    return not (0 <= size <= _SAFE_INTEGER and (type(size) is int or size.is_integer()))


def _request_problems(call: Any, is_object: bool, tool_call: bool, http_call: bool) -> set[str]:
    """decision.rego `_request_problems` with tools.request_problems."""
    if not is_object:
        return {"the request must be a JSON object"}
    problems = set()
    for key in ("agent_id",) if tool_call and not http_call else ("agent_id", "method", "path"):
        if type(call.get(key)) is not str:
            problems.add(f"the request needs `{key}` as a string")
    if tool_call:
        for key in ("tool", "action", "environment", "requester_role"):
            if key in call and (type(call[key]) is not str or call[key] == ""):
                problems.add(f"the tool call needs `{key}` as a non-empty string")
        if "args" in call and type(call["args"]) is not dict:
            problems.add("the tool call's `args` must be an object")
    method = call.get("method")
    # A string method is checked as decision.rego does it (the same check as paths.method_problem); a missing or
    # non-string one is named with the other required keys.
    if type(method) is str and (problem := method_problem(method)) is not None:
        problems.add(problem)
    if _size_problem(call):
        problems.add("the request's `payload_size_bytes` must be a non-negative integer")
    return problems


# decision.rego `_json_text`: strings are kept whole and numbers dropped (the engines spell numbers differently). Here
# the numbers are found (group 1; a string matches with an empty group) and their length taken off, all ASCII.
_JSON_NUMBER = re.compile(r'"(?:[^"\\]|\\.)*"|(-?[0-9][0-9.eE+-]*)')


def payload_size(call: Mapping[str, Any]) -> Any:
    """decision.rego `_payload_size`: the larger of the declared size (a number, else 0) and the measured size of the
    body (its UTF-8 bytes when a string; else those of its compact JSON text without numbers; 0 for no body or null).

    Python's compact JSON escapes exactly what serde_json does (``"``, ``\\`` and C0 controls), and the Rego undoes
    the escapes only Go adds, so the lengths agree; key order does not change a length. The JSON text with its
    numbers is never shorter than without them, so a declared size at least that long (the guard declares exactly
    that length) is the answer without looking for numbers."""
    return _payload_size(call, None)


def _payload_size(call: Mapping[str, Any], limit: Any) -> Any:
    """:func:`payload_size`, or, when that is within ``limit`` (a number, or ``None`` for none), possibly a larger
    size that is still within it: all that payload_too_large asks. Finding the numbers costs several times as much as
    writing the text, and a text within the limit with its numbers is within it without them."""
    given: Any = call.get("payload_size_bytes")
    declared: Any = given if _is_number(given) else 0
    body = call.get("body")
    if body is None:
        return declared
    if type(body) is str:
        measured = len(body) if body.isascii() else len(body.encode("utf-8"))
        return declared if declared >= measured else measured
    text = compact(body)
    whole = len(text) if text.isascii() else len(text.encode("utf-8"))
    if declared >= whole:
        return declared
    if limit is not None and whole <= limit:
        return whole  # an upper bound of the size, and within the limit: so is the size
    measured = whole - sum(map(len, _JSON_NUMBER.findall(text)))
    return declared if declared >= measured else measured


def _cost(budget: Mapping[str, Any], call: Mapping[str, Any]) -> Any:
    """enforcement.rego `_cost`."""
    given: Any = call.get("cost_usd")
    if _is_number(given) and given >= 0:
        return given
    tool = call.get("tool")
    prices = budget.get("tool_prices")
    if type(tool) is str and type(prices) is dict and tool in prices:
        return prices[tool]
    return budget.get("default_cost_usd", 0)


def _egress(
    agent: Mapping[str, Any], call: Mapping[str, Any], http_call: bool, boundaries: Boundaries, deny: set[Reason]
) -> None:
    """enforcement.rego: `_egress_checked`, `_host_problem` and the three egress_denied reasons."""
    egress = agent.get("egress")
    if egress is None and not boundaries.global_domains:
        return
    if egress is not None:
        rule, source = egress["rule"], egress["source"]
        domains = [*egress.get("domains", []), *boundaries.global_domains]
    else:
        rule, source = "defaults.allowed_domains", boundaries.defaults_source
        domains = list(boundaries.global_domains)
    if "host" not in call:
        if http_call:
            message = "the call names no destination host (`host` or `url`), and only allowed domains may be reached"
            deny.add(("egress_denied", message, rule, source))
        return
    host = call["host"]
    problem = _host_problem(host, call.get("port"))
    if problem is not None:
        shown = _printable(host) if type(host) is str else "(not a string)"
        deny.add(("egress_denied", f"host `{shown}` is refused: {problem}", rule, source))
        return
    name = _host_name(host)
    if not _host_allowed(name, domains):
        deny.add(("egress_denied", f"host `{name}` is not an allowed domain", rule, source))


_NO_REASON = "call denied by the agent boundary"


def _answer(
    deny: set[Reason],
    approve: set[Reason],
    shown: set[Reason],
    outcome: str | None,
    call: Mapping[str, Any],
    boundaries: Boundaries,
    controls: Mapping[str, str],
    agent: Mapping[str, Any] | None = None,
    rate_limits: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """decision.rego `decision`: the contract's keys, reasons sorted by `code|rule|message`."""
    if outcome is None:  # a malformed request: only deny reasons
        outcome, shown = "deny", deny
    reasons: dict[str, dict[str, Any]] = {}
    if outcome != "allow":
        for code, message, rule, source in shown:
            if code not in controls:
                continue  # `_reason` is undefined for a code without a control
            reason = {"code": code, "control": controls[code], "message": message, "rule": rule, "source": source}
            kept = reasons.setdefault(f"{code}|{rule}|{message}", reason)
            if kept is not reason and kept != reason:
                raise _Delegate  # regorus refuses two reasons under one key
    # Most decisions have no reason or one: those need no sorting and no joining.
    if not reasons:
        ordered, decision_reason = [], _NO_REASON
    elif len(reasons) == 1:
        ordered = list(reasons.values())
        decision_reason = ordered[0]["message"]
    else:
        ordered = [reasons[key] for key in sorted(reasons)]
        decision_reason = "; ".join([reason["message"] for reason in ordered])
    agent_id = call.get("agent_id")
    mode = agent.get("mode") if agent is not None else None
    return {
        "decision": outcome,
        "allow": outcome == "allow",
        "reasons": ordered,
        "decision_reason": decision_reason,
        "policy_version": boundaries.policy_version,
        "agent_id": agent_id if type(agent_id) is str else None,
        "mode": mode if type(mode) is str else "enforce",
        "rate_limits": rate_limits or [],
    }
