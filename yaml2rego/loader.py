"""Read agent-boundary YAML into the typed model, refusing anything unsafe or wrong with ``file:line:col`` errors.

Policy files are untrusted input, so the YAML is read as a stream of parser events and composed here, not by a
YAML constructor: aliases and anchors (alias bombs), tags other than ``!!str``/``!!seq``/``!!map``, duplicate keys,
absurd nesting and more than :data:`MAX_DOCUMENTS` documents are refused. Plain scalars are typed by the YAML 1.2
core schema (``yes`` and ``on`` stay strings; ``.inf`` and ``.nan`` are not numbers, since JSON has none).

Each document is then checked against ``yaml2rego/schema/agent_boundary.schema.json`` and by the checks a schema
cannot express (path patterns, portable regular expressions, examples that satisfy their rule, …). Every error
found in a file is reported at once, each with the line and column of the offending key or value.

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

import difflib
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import jsonschema
import jsonschema_rs
import yaml

from yaml2rego import enforcement, tool_registry
from yaml2rego.errors import PolicyError, PolicyErrors, PolicySyntaxError, PolicyValidationError, SourceLocation
from yaml2rego.model import (
    ANY_METHOD,
    AgentBoundary,
    Defaults,
    EndpointRule,
    FieldRule,
    FieldType,
    InputValidation,
    Mode,
    PolicySet,
    PolicyTest,
    RateLimit,
)
from yaml2rego.paths import parse_pattern as _parse_pattern_uncached
from yaml2rego.schema import load_schema

_EventParser: Any
try:  # libyaml is much faster on large files; the pure-Python parser yields the same events.
    from yaml._yaml import CParser as _EventParser
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    _EventParser = None

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
MAX_DOCUMENTS = 10_000
# Deep enough for any real request body in a test case, far too shallow to exhaust the stack.
MAX_DEPTH = 64
# A hostile file (thousands of aliases) must not turn into a flood of messages.
MAX_ERRORS_PER_FILE = 100
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")

_ALIAS_MESSAGE = "YAML aliases and anchors are not allowed in policy files"
_YAML_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_YAML_TAG + "str", _YAML_TAG + "seq", _YAML_TAG + "map", "!"}

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution), minus .inf/.nan which JSON cannot hold.
_NULL = re.compile(r"~|null|Null|NULL|")
_TRUE = re.compile(r"true|True|TRUE")
_FALSE = re.compile(r"false|False|FALSE")
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_MAX_NUMBER_CHARS = 64
# The first characters of every value the patterns above match ("" is null).
_TYPED_STARTS = frozenset("~nNtTfF+-.0123456789")

# Shapes the example check uses; the Rego validation library applies the same ones.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

JSONPath = tuple[str | int, ...]

# Agents of one platform share most of their endpoint patterns, and each pattern is both checked and built: parse each
# text once. Patterns are frozen, so sharing one among agents is safe (it also shares the regex computed from it).
parse_pattern = lru_cache(maxsize=4096)(_parse_pattern_uncached)


# --------------------------------------------------------------------------------------------------------------------
# Reading YAML safely
# --------------------------------------------------------------------------------------------------------------------


class _Mark(NamedTuple):
    """A 1-based line and column. A tuple, because a policy set of 10,000 agents records hundreds of thousands."""

    line: int
    column: int


# Where a node's value starts and, for a mapping value, where its key starts: PyYAML's own (0-based) marks, kept as
# they come from the parser and turned into a :class:`_Mark` only when a location is asked for.
_RawMarks = tuple[Any, Any]


@dataclass
class _Document:
    value: Any
    marks: dict[JSONPath, _RawMarks]
    refused: set[JSONPath]  # aliases and tagged nodes, already reported: the schema's complaints would be noise


class _Source:
    """One file's text, for error locations and the snippet shown under each error."""

    def __init__(self, filename: str, text: str) -> None:
        self.filename = filename
        self.text = text
        self._lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        # Split only when an error needs a snippet: a valid file never does.
        if self._lines is None:
            self._lines = self.text.splitlines()
        return self._lines

    def location(self, mark: _Mark) -> SourceLocation:
        return SourceLocation(self.filename, mark.line, mark.column)

    def error(self, cls: type[PolicyError], message: str, mark: _Mark) -> PolicyError:
        snippet = self.lines[mark.line - 1][:200] if 0 < mark.line <= len(self.lines) else None
        return cls(message, self.location(mark), snippet or None)


class _Fatal(Exception):
    """Stops reading a file (a syntax error, too deep, too many documents); the error is already recorded."""


def _mark(yaml_mark: Any) -> _Mark:
    return _Mark(yaml_mark.line + 1, yaml_mark.column + 1)


_ScalarEvent = yaml.ScalarEvent
_SequenceStartEvent = yaml.SequenceStartEvent
_SequenceEndEvent = yaml.SequenceEndEvent
_MappingEndEvent = yaml.MappingEndEvent
_AliasEvent = yaml.AliasEvent
_SEQ_TAG = _YAML_TAG + "seq"
_MAP_TAG = _YAML_TAG + "map"


class _Composer:
    """Builds plain Python values (dict, list, str, int, float, bool, None) from parser events, recording marks.

    This runs once per node of every policy file, so the common case (an untagged, unanchored scalar, sequence or
    mapping) takes as few steps as possible; every refusal is checked in the same order on every node.
    """

    def __init__(self, parser: Any, source: _Source, errors: list[PolicyError]) -> None:
        self.parser = parser
        self.get_event = parser.get_event
        self.source = source
        self.errors = errors
        self.refused: set[JSONPath] = set()

    def documents(self) -> Iterator[_Document]:
        self.parser.get_event()  # StreamStartEvent
        count = 0
        while not isinstance(self.parser.peek_event(), yaml.StreamEndEvent):
            start = self.parser.get_event()  # DocumentStartEvent
            count += 1
            if count > MAX_DOCUMENTS:
                self._error(PolicySyntaxError, f"more than {MAX_DOCUMENTS:,} YAML documents in one file", start)
                raise _Fatal
            marks: dict[JSONPath, _RawMarks] = {}
            self.refused = set()
            value = self._node(self.get_event(), (), 0, None, marks)
            self.parser.get_event()  # DocumentEndEvent
            yield _Document(value, marks, self.refused)

    def _error(self, cls: type[PolicyError], message: str, event_or_mark: Any) -> None:
        mark = event_or_mark if isinstance(event_or_mark, _Mark) else _mark(event_or_mark.start_mark)
        self.errors.append(self.source.error(cls, message, mark))
        if len(self.errors) > MAX_ERRORS_PER_FILE:
            raise _Fatal

    def _node(self, event: Any, path: JSONPath, depth: int, key: Any, marks: dict[JSONPath, _RawMarks] | None) -> Any:
        """The value of the node that starts with ``event`` (already taken from the parser)."""
        if marks is not None:
            marks[path] = (event.start_mark, key)
        kind = event.__class__
        if kind is _AliasEvent:
            self._error(PolicySyntaxError, _ALIAS_MESSAGE, event)
            self.refused.add(path)
            return None
        if event.anchor is not None:
            self._error(PolicySyntaxError, _ALIAS_MESSAGE, event)
        tag = event.tag
        if tag is not None and tag not in _ALLOWED_TAGS:
            shown = "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag
            self._error(PolicySyntaxError, f"YAML tags are not allowed in policy files (found '{shown}')", event)
            self.refused.add(path)
        if kind is _ScalarEvent:
            value = event.value
            if tag is None and event.implicit[0] and (not value or value[0] in _TYPED_STARTS):
                return self._plain_scalar(event, path)
            return value
        if depth >= MAX_DEPTH:
            self._error(PolicySyntaxError, f"the YAML is nested more than {MAX_DEPTH} levels deep", event)
            raise _Fatal
        get_event = self.get_event
        if kind is _SequenceStartEvent:
            if tag == _MAP_TAG:
                self._error(PolicySyntaxError, "a list cannot be tagged !!map", event)
            items: list[Any] = []
            depth += 1
            item = get_event()
            while item.__class__ is not _SequenceEndEvent:
                items.append(self._node(item, (*path, len(items)), depth, None, marks))
                item = get_event()
            return items
        if tag == _SEQ_TAG:
            self._error(PolicySyntaxError, "a mapping cannot be tagged !!seq", event)
        return self._mapping(path, depth + 1, marks)

    def _mapping(self, path: JSONPath, depth: int, marks: dict[JSONPath, _RawMarks] | None) -> dict[str, Any]:
        """The entries of a mapping whose start event was just taken; ``depth`` is the depth of its values."""
        result: dict[str, Any] = {}
        first_seen: dict[str, Any] = {}
        get_event = self.get_event
        key_event = get_event()
        while key_event.__class__ is not _MappingEndEvent:
            key_mark = key_event.start_mark
            if key_event.__class__ is not _ScalarEvent or key_event.anchor is not None or key_event.tag:
                # Composite, aliased or tagged keys have no JSON meaning; read the key only to report it.
                self._node(key_event, (), depth, None, None)
                mark = _mark(key_mark)
                if not self.errors or self.errors[-1].location != self.source.location(mark):
                    self._error(PolicyValidationError, "a mapping key must be a string", mark)
                self._node(get_event(), (), depth, None, None)
            else:
                key = str(key_event.value)
                if key in first_seen:
                    first = _mark(first_seen[key])
                    self._error(
                        PolicySyntaxError,
                        f"duplicate key {key!r} (first defined at line {first.line}, column {first.column})",
                        key_event,
                    )
                    self._node(get_event(), (), depth, None, None)
                else:
                    first_seen[key] = key_mark
                    result[key] = self._node(get_event(), (*path, key), depth, key_mark, marks)
            key_event = get_event()
        return result

    def _plain_scalar(self, event: Any, path: JSONPath) -> Any:
        """A plain (unquoted, untagged) scalar, typed by the YAML 1.2 core schema.

        Only called for values that may be typed: every null, boolean and number starts with a character of
        ``_TYPED_STARTS`` (or is empty), and most plain values (names, paths) do not, so they skip the patterns.
        """
        value: str = event.value
        if _NULL.fullmatch(value):
            return None
        if _TRUE.fullmatch(value):
            return True
        if _FALSE.fullmatch(value):
            return False
        is_int = _INT.fullmatch(value) is not None
        if not is_int and _FLOAT.fullmatch(value) is None:
            return value
        if len(value) > _MAX_NUMBER_CHARS:
            self._error(PolicyValidationError, f"the number {value[:20]}… is too long", event)
            self.refused.add(path)
            return 0
        if is_int:
            if value.startswith(("0o", "0x")):
                return int(value[2:], 8 if value[1] == "o" else 16)
            return int(value)
        number = float(value)
        if not math.isfinite(number):
            self._error(PolicyValidationError, f"the number {value} is out of range", event)
            self.refused.add(path)
            return 0
        return number


def _make_parser(text: str) -> Any:
    if _EventParser is not None:
        return _EventParser(text)

    class _PythonParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # pragma: no cover
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)

    return _PythonParser(text)  # pragma: no cover


def _syntax_error(exc: yaml.YAMLError, text: str, source: _Source) -> PolicyError:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = _mark(exc.problem_mark)
        message = f"YAML syntax error: {exc.problem}"
        if exc.context and exc.context_mark is not None:
            context_mark = _mark(exc.context_mark)
            message += f" ({exc.context} started at line {context_mark.line}, column {context_mark.column})"
        line = source.lines[mark.line - 1] if 0 < mark.line <= len(source.lines) else ""
        if "\t" in line[: mark.column]:
            message += "; indent with spaces, YAML does not allow tabs there"
        return source.error(PolicySyntaxError, message, mark)
    if isinstance(exc, yaml.reader.ReaderError):
        # libyaml counts UTF-8 bytes here; turn the offset back into a line and a column of characters.
        before = text.encode("utf-8")[: exc.position].decode("utf-8", errors="ignore")
        row = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        return source.error(PolicySyntaxError, f"YAML syntax error: {exc.reason}", _Mark(row, column))
    return PolicySyntaxError(f"YAML syntax error: {exc}", SourceLocation(source.filename, 1, 1))


def _read_documents(text: str, source: _Source, errors: list[PolicyError]) -> list[_Document]:
    """Every document of a file, or none if the file cannot be read completely (the reason is in ``errors``)."""
    parser = _make_parser(text)
    documents: list[_Document] = []
    try:
        documents.extend(_Composer(parser, source, errors).documents())
    except _Fatal:
        return []
    except yaml.YAMLError as exc:
        errors.append(_syntax_error(exc, text, source))
        return []
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose is not None:
            dispose()
    return documents


# --------------------------------------------------------------------------------------------------------------------
# Schema errors, translated for policy authors
# --------------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _fast_validator() -> Any:
    return jsonschema_rs.validator_for(load_schema())


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    schema = load_schema()
    return jsonschema.Draft202012Validator(_inline_refs(schema, schema["$defs"]))


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    """The schema with each local ``$ref`` replaced by its definition: validating 10,000 agents takes half the time.

    The schema has no recursive definitions, so this terminates; sibling keywords of a ``$ref`` (its description)
    are kept.
    """
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    inlined = {key: _inline_refs(value, definitions) for key, value in node.items() if key not in ("$ref", "$defs")}
    reference = node.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/$defs/"):
        return {**_inline_refs(definitions[reference.removeprefix("#/$defs/")], definitions), **inlined}
    return inlined


def _label(path: JSONPath) -> str:
    """``values[2]`` for the third enum value, ``max_length`` for a key: what the author sees in the file."""
    suffix = ""
    for part in reversed(path):
        if isinstance(part, int):
            suffix = f"[{part}]{suffix}"
        else:
            return f"{part}{suffix}"
    return "the document" + suffix


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _describe(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"the boolean {_show(value)}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    return _show(value)


_EXPECTED = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


def _expected(types: list[str]) -> str:
    if len(types) == 1:
        return _EXPECTED.get(types[0], types[0])
    names = [name for name in types if not (name == "integer" and "number" in types)]
    shown = ["a boolean" if name == "boolean" else _EXPECTED.get(name, name) for name in names]
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def _did_you_mean(word: object, choices: Iterable[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close and word.lower() in choices:
        close = [word.lower()]
    return f"; did you mean {close[0]!r}?" if close else ""


def _one_of(choices: Iterable[object]) -> str:
    shown = [_show(choice) for choice in choices]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


class _Checker:
    """Collects the errors of one document, located by JSON path."""

    def __init__(self, document: _Document, source: _Source) -> None:
        self.document = document
        self.source = source
        self.errors: list[PolicyError] = []

    def mark(self, path: JSONPath, *, key: bool = False) -> _Mark:
        """The mark of the value at ``path`` (or of its key), falling back to the nearest enclosing node."""
        for end in range(len(path), -1, -1):
            marks = self.document.marks.get(path[:end])
            if marks is not None:
                value_mark, key_mark = marks
                if key and end == len(path) and key_mark is not None:
                    return _mark(key_mark)
                return _mark(value_mark)
        return _Mark(1, 1)

    def mapping_mark(self, path: JSONPath) -> _Mark:
        """Where to report something missing from a mapping: its key in the parent, else where it starts."""
        return self.mark(path, key=bool(path) and isinstance(path[-1], str))

    def add(self, message: str, path: JSONPath, *, key: bool = False) -> None:
        self.errors.append(self.source.error(PolicyValidationError, message, self.mark(path, key=key)))

    def add_at(self, message: str, mark: _Mark) -> None:
        self.errors.append(self.source.error(PolicyValidationError, message, mark))

    def schema_error(self, error: jsonschema.ValidationError) -> None:
        path: JSONPath = tuple(error.absolute_path)
        instance = error.instance
        schema = error.schema if isinstance(error.schema, dict) else {}
        label = _label(path)
        validator = error.validator
        if validator == "additionalProperties" and isinstance(instance, dict):
            known = list(schema.get("properties", {}))
            for name in instance:
                if name not in known:
                    hint = _did_you_mean(name, known) or f"; expected one of: {', '.join(known)}"
                    self.add(f"unknown key {name!r}{hint}", (*path, name), key=True)
        elif validator == "required" and isinstance(instance, dict):
            known = list(schema.get("properties", {}))
            # A misspelt key is reported once, as an unknown key with a hint, not also as a missing one.
            misspelt = {_did_you_mean(key, known) for key in instance if key not in known}
            for name in error.validator_value:
                if name not in instance and f"; did you mean {name!r}?" not in misspelt:
                    why = " (a field of type 'enum' lists its allowed values)" if name == "values" else ""
                    self.add_at(f"missing required key {name!r}{why}", self.mapping_mark(path))
        elif validator == "type":
            types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
            expected = _expected(types)
            if not path:
                self.add(
                    f"a policy document must be a mapping with the key 'agent_boundary', got {_show(instance)}", path
                )
            else:
                hint = ""
                if types == ["boolean"] and str(instance).lower() in ("yes", "no", "on", "off", "y", "n"):
                    hint = " (YAML 1.2: write true or false)"
                self.add(f"{label} must be {expected}, got {_describe(instance)}{hint}", path)
        elif validator == "enum":
            choices = error.validator_value
            hint = _did_you_mean(instance, [c for c in choices if isinstance(c, str)])
            self.add(f"{label} must be {_one_of(choices)}, got {_show(instance)}{hint}", path)
        elif validator == "not" and "errorMessage" in schema:
            self.add(f"{label} {schema['errorMessage']}", path, key=True)
        elif validator == "pattern" and "errorMessage" in schema:
            self.add(f"{label} {_show(instance)} {schema['errorMessage']}", path)
        elif validator in ("minimum", "exclusiveMinimum"):
            self.add(f"{label} must be at least {error.validator_value}, got {_show(instance)}", path)
        elif validator in ("minLength", "minItems") and error.validator_value == 1:
            self.add(f"{label} must not be empty", path)
        elif validator == "uniqueItems" and isinstance(instance, list):
            for index, item in enumerate(instance):
                if any(_same_json(item, earlier) for earlier in instance[:index]):
                    self.add(f"duplicate value {_show(item)} in {label}", (*path, index))
                    break
        else:  # pragma: no cover - a schema keyword without a tailored message yet
            self.add(f"{label}: {error.message}", path)


# --------------------------------------------------------------------------------------------------------------------
# Checks a schema cannot express
# --------------------------------------------------------------------------------------------------------------------

_UNPORTABLE_GROUPS = {
    "(?=": "lookahead",
    "(?!": "negative lookahead",
    "(?<=": "lookbehind",
    "(?<!": "negative lookbehind",
    "(?>": "an atomic group",
    "(?(": "a conditional group",
    "(?P=": "a named backreference",
    "(?#": "a comment group",
}
_PORTABLE_FLAGS = set("ims")


def _regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not valid in all of Python ``re``, RE2 (OPA) and Rust regex (regorus), or ``None``."""
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"is not a valid regular expression: {exc.msg} at position {exc.pos}"
    index = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            following = pattern[index + 1 : index + 2]
            if not in_class and following.isdigit() and following != "0":
                return "uses a backreference (\\" + following + "), which RE2 and Rust regex do not support"
            if following in ("Z", "k"):
                return f"uses \\{following}, which RE2 and Rust regex do not support"
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # A ']' right after '[' or '[^' is a literal member, not the end of the class.
            index += 2 if pattern[index + 1 : index + 2] == "^" else 1
            if pattern[index : index + 1] == "]":
                index += 1
            continue
        elif char == "(":
            for opening, what in _UNPORTABLE_GROUPS.items():
                if pattern.startswith(opening, index):
                    return f"uses {what} ({opening}…), which RE2 and Rust regex do not support"
            flags = re.match(r"\(\?([a-zA-Z-]+)[:)]", pattern[index:])
            if flags and not set(flags.group(1)) - {"-"} <= _PORTABLE_FLAGS:
                return f"uses the inline flags {flags.group(1)!r}; only i, m and s are portable"
        elif char in "*+?}" and pattern[index + 1 : index + 2] == "+":
            return "uses a possessive quantifier, which RE2 and Rust regex do not support"
        index += 1
    return None


def _same_json(left: Any, right: Any) -> bool:
    """JSON equality, as Rego sees it: ``1 == 1.0``, but ``true`` is not ``1``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    return type(left) is type(right) and bool(left == right)


def example_problem(rule: dict[str, Any], value: Any) -> str | None:
    """Why ``value`` breaks a field rule given as its YAML mapping, or ``None`` if it satisfies it.

    >>> example_problem({"type": "integer", "minimum": 1}, 0)
    'it is less than the minimum 1'
    """
    kind = rule.get("type")
    if kind in ("uuid", "email", "string") and not isinstance(value, str):
        return "it is not a string"
    if kind == "uuid" and not re.fullmatch(UUID_PATTERN, value):
        return "it is not a UUID (8-4-4-4-12 hex digits)"
    if kind == "email" and not re.fullmatch(EMAIL_PATTERN, value):
        return "it is not an e-mail address"
    if kind == "enum" and not any(_same_json(value, allowed) for allowed in rule.get("values") or []):
        return "it is not one of the values"
    if kind == "boolean" and not isinstance(value, bool):
        return "it is not true or false"
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "it is not a number"
        if kind == "integer" and not float(value).is_integer():
            return "it is not an integer"
        if rule.get("minimum") is not None and value < rule["minimum"]:
            return f"it is less than the minimum {rule['minimum']}"
        if rule.get("maximum") is not None and value > rule["maximum"]:
            return f"it is more than the maximum {rule['maximum']}"
    if kind == "string":
        if rule.get("min_length") is not None and len(value) < rule["min_length"]:
            return f"it is shorter than min_length {rule['min_length']}"
        if rule.get("max_length") is not None and len(value) > rule["max_length"]:
            return f"it is longer than max_length {rule['max_length']}"
        if rule.get("pattern") and re.search(rule["pattern"], value) is None:
            return f"it does not match the pattern '{rule['pattern']}'"
    return None


def _items(value: Any, path: JSONPath) -> Iterator[tuple[JSONPath, dict[str, Any]]]:
    """The mapping items of a list, with their paths."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield (*path, index), item


def _has_errors(path: JSONPath, bad: set[JSONPath]) -> bool:
    return any(error_path[: len(path)] == path for error_path in bad)


def _check_method(checker: _Checker, item: dict[str, Any], path: JSONPath, bad: set[JSONPath]) -> None:
    method = item.get("method")
    if (
        (*path, "method") not in bad
        and isinstance(method, str)
        and method != ANY_METHOD
        and method.upper() not in HTTP_METHODS
    ):
        hint = _did_you_mean(method.upper(), HTTP_METHODS)
        checker.add(f"unknown HTTP method {method!r}{hint} (or '*' for every method)", (*path, "method"))


def _check_pattern(checker: _Checker, item: dict[str, Any], key: str, path: JSONPath, bad: set[JSONPath]) -> None:
    if (*path, key) in bad or not isinstance(item.get(key), str):
        return
    try:
        parse_pattern(item.get(key))
    except ValueError as exc:
        checker.add(str(exc), (*path, key))


def _check_field_rule(checker: _Checker, rule: dict[str, Any], path: JSONPath) -> None:
    for low, high in (("min_length", "max_length"), ("minimum", "maximum")):
        if rule.get(low) is not None and rule.get(high) is not None and rule[low] > rule[high]:
            checker.add(f"{high} ({rule[high]}) is less than {low} ({rule[low]})", (*path, high))
    pattern = rule.get("pattern")
    problem = _regex_problem(pattern) if isinstance(pattern, str) else None
    if problem:
        checker.add(f"pattern '{pattern}' {problem}", (*path, "pattern"))
    elif "example" in rule:
        reason = example_problem(rule, rule["example"])
        if reason:
            checker.add(f"example {_show(rule['example'])} does not satisfy its rule: {reason}", (*path, "example"))


def _semantic_checks(checker: _Checker, boundary: dict[str, Any], bad: set[JSONPath]) -> None:
    root: JSONPath = ("agent_boundary",)
    for section in ("allowed_endpoints", "denied_endpoints"):
        for path, item in _items(boundary.get(section), (*root, section)):
            _check_method(checker, item, path, bad)
            _check_pattern(checker, item, "path", path, bad)
    for path, item in _items(boundary.get("rate_limits"), (*root, "rate_limits")):
        _check_method(checker, item, path, bad)
        _check_pattern(checker, item, "endpoint", path, bad)
    for path, item in _items(boundary.get("input_validation"), (*root, "input_validation")):
        _check_method(checker, item, path, bad)
        _check_pattern(checker, item, "endpoint", path, bad)
        first_rule: dict[str, int] = {}
        for rule_path, rule in _items(item.get("rules"), (*path, "rules")):
            if not _has_errors(rule_path, bad):  # the checks below assume the rule's keys have the right types
                _check_field_rule(checker, rule, rule_path)
            name = rule.get("field")
            if name in first_rule:
                first = first_rule[name]
                line = checker.mark((*path, "rules", first)).line
                checker.add(
                    f"field {name!r} already has a rule here (rules[{first}], line {line})", (*rule_path, "field")
                )
            elif isinstance(name, str):
                first_rule[name] = int(rule_path[-1])
    test_names: dict[str, int] = {}
    for path, test in _items(boundary.get("tests"), (*root, "tests")):
        if test.get("expect") == "allow" and "reasons" in test:
            checker.add("reasons can only be given for a test that expects deny", (*path, "reasons"), key=True)
        name = test.get("name")
        if name in test_names:
            checker.add(f"a test named {name!r} already exists (line {test_names[name]})", (*path, "name"))
        elif isinstance(name, str):
            test_names[name] = checker.mark(path).line
    for message, path, at_key in tool_registry.problems(boundary, _regex_problem):
        if not _has_errors(path[:3], bad):
            checker.add(message, path, key=at_key)
    for message, path, at_key in enforcement.problems(boundary, _regex_problem):
        if not _has_errors(path[:3], bad):
            checker.add(message, path, key=at_key)


# --------------------------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------------------------


def _method(item: dict[str, Any]) -> str:
    method = str(item.get("method", ANY_METHOD))
    return method if method == ANY_METHOD else method.upper()


def _integer(value: Any) -> int:
    # JSON Schema counts 30.0 as an integer; the model holds a real int.
    return int(value)


def _build_agent(checker: _Checker, boundary: dict[str, Any]) -> AgentBoundary:
    source = checker.source
    root: JSONPath = ("agent_boundary",)

    def location(*path: str | int, key: bool = False) -> SourceLocation:
        return source.location(checker.mark((*root, *path), key=key))

    def endpoints(section: str) -> tuple[EndpointRule, ...]:
        return tuple(
            EndpointRule(f"{section}[{index}]", _method(item), parse_pattern(item["path"]), location(section, index))
            for index, item in enumerate(boundary.get(section, []))
        )

    validations = []
    for index, item in enumerate(boundary.get("input_validation", [])):
        rules = []
        for number, rule in enumerate(item["rules"]):
            values = rule.get("values")
            rules.append(
                FieldRule(
                    rule_id=f"input_validation[{index}].rules[{number}]",
                    field=rule["field"],
                    type=FieldType(rule["type"]),
                    source=location("input_validation", index, "rules", number),
                    required=rule.get("required", True),
                    values=tuple(values) if values is not None else None,
                    min_length=_optional_int(rule.get("min_length")),
                    max_length=_optional_int(rule.get("max_length")),
                    pattern=rule.get("pattern"),
                    minimum=rule.get("minimum"),
                    maximum=rule.get("maximum"),
                    example=rule.get("example"),
                )
            )
        validations.append(
            InputValidation(
                f"input_validation[{index}]",
                parse_pattern(item["endpoint"]),
                _method(item),
                tuple(rules),
                location("input_validation", index),
            )
        )
    limits = tuple(
        RateLimit(
            f"rate_limits[{index}]",
            parse_pattern(item["endpoint"]),
            _method(item),
            _integer(item["requests_per_minute"]),
            location("rate_limits", index),
        )
        for index, item in enumerate(boundary.get("rate_limits", []))
    )
    agent_id = boundary["agent_id"]
    tests = tuple(
        PolicyTest(
            name=test["name"],
            input={"agent_id": agent_id, **test["input"]},
            expect_decision=test["expect"],
            expect_reasons=tuple(test.get("reasons", ())),
            source=location("tests", index),
        )
        for index, test in enumerate(boundary.get("tests", []))
    )
    has_payload_limit = boundary.get("max_payload_size_kb") is not None
    return AgentBoundary(
        agent_id=agent_id,
        source=source.location(checker.mark(root, key=True)),
        mode=Mode(boundary.get("mode", Mode.ENFORCE.value)),
        description=boundary.get("description"),
        owner=boundary.get("owner"),
        allowed_endpoints=endpoints("allowed_endpoints"),
        denied_endpoints=endpoints("denied_endpoints"),
        input_validation=tuple(validations),
        rate_limits=limits,
        max_payload_size_kb=_integer(boundary["max_payload_size_kb"]) if has_payload_limit else None,
        max_payload_source=location("max_payload_size_kb", key=True) if has_payload_limit else None,
        tests=tests,
        **tool_registry.build(boundary, location),
        **enforcement.build(boundary, location),
    )


def _optional_int(value: Any) -> int | None:
    return None if value is None else _integer(value)


# --------------------------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class _Loaded:
    agents: list[AgentBoundary]
    errors: list[PolicyError]
    defaults: list[Defaults] = field(default_factory=list)


def _load_text(text: str, filename: str, loaded: _Loaded, first_seen: dict[str, SourceLocation]) -> None:
    source = _Source(filename, text)
    file_errors: list[PolicyError] = []
    # An empty document (a trailing '---', a file of comments) declares nothing; it is skipped, not an error.
    documents = [document for document in _read_documents(text, source, file_errors) if document.value is not None]
    unsafe = bool(file_errors)  # aliases, tags, duplicate keys: still validated, but never turned into agents
    agents: list[AgentBoundary] = []
    if not documents and not file_errors:
        file_errors.append(
            PolicyValidationError("no agent_boundary document in this file", SourceLocation(filename, 1, 1))
        )
    for document in documents:
        checker = _Checker(document, source)
        # The Rust validator answers "valid?" in microseconds; the Python one explains what is wrong, with paths.
        schema_errors = (
            [] if _fast_validator().is_valid(document.value) else list(_validator().iter_errors(document.value))
        )
        for error in schema_errors:
            if tuple(error.absolute_path) not in document.refused:
                checker.schema_error(error)
        bad = {tuple(error.absolute_path) for error in schema_errors}
        boundary = document.value.get("agent_boundary") if isinstance(document.value, dict) else None
        if isinstance(boundary, dict):
            _semantic_checks(checker, boundary, bad)
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
            for message, path, at_key in enforcement.problems(defaults, _regex_problem, root="defaults"):
                file_errors.append(source.error(PolicyValidationError, message, checker.mark(path, key=at_key)))
        if unsafe or checker.errors or not isinstance(boundary, dict):
            continue
        agent = _build_agent(checker, boundary)
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
    found: list[str] = []
    for folder, folders, names in os.walk(path):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found.extend(
            os.path.join(folder, name)
            for name in names
            if name.endswith((".yaml", ".yml")) and not name.startswith(".")
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
    loaded = _Loaded([], [])
    first_seen: dict[str, SourceLocation] = {}
    for given in paths:
        given_name = os.fspath(given)
        if not os.path.exists(given_name):
            loaded.errors.append(PolicyError(f"no such file or directory: {given_name!r}"))
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
            _load_text(text, filename, loaded, first_seen)
    _raise(loaded.errors)
    return PolicySet(tuple(loaded.agents), loaded.defaults[0] if loaded.defaults else None)


def read_yaml_documents(text: str, filename: str = "<string>") -> list[Any]:
    """The non-empty documents of a YAML text as JSON-compatible values, read with the loader's safety rules.

    Raises a :class:`~yaml2rego.errors.PolicySyntaxError` (or :class:`~yaml2rego.errors.PolicyErrors`) for aliases,
    tags, duplicate keys and syntax errors. No schema is applied.

    >>> read_yaml_documents("a: yes\\n---\\nb: 0x1f\\n")
    [{'a': 'yes'}, {'b': 31}]
    """
    errors: list[PolicyError] = []
    documents = _read_documents(text, _Source(filename, text), errors)
    _raise(errors)
    return [document.value for document in documents if document.value is not None]


def load_policy_text(
    text: str, filename: str = "<string>", *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> PolicySet:
    """Load agent boundaries from YAML text; ``filename`` is only used in locations and errors.

    >>> load_policy_text("agent_boundary: {agent_id: a1}").agent_ids
    ('a1',)
    """
    size = len(text.encode("utf-8"))
    if size > max_file_bytes:
        raise _too_large(size, max_file_bytes, filename)
    loaded = _Loaded([], [])
    _load_text(text, filename, loaded, {})
    _raise(loaded.errors)
    return PolicySet(tuple(loaded.agents), loaded.defaults[0] if loaded.defaults else None)
