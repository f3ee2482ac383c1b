"""Read YAML text into plain JSON-compatible values, remembering where each value and key starts (line and column).

Policy files are untrusted input, so the YAML is read as a stream of parser events and composed here, not by a
YAML constructor: aliases and anchors (alias bombs), tags other than ``!!str``/``!!seq``/``!!map``, duplicate keys,
absurd nesting and more than :data:`MAX_DOCUMENTS` documents are refused. Plain scalars are typed by the YAML 1.2
core schema (``yes`` and ``on`` stay strings; ``.inf`` and ``.nan`` are not numbers, since JSON has none).

This module knows YAML and nothing about agent boundaries: what a document means is checked by
:mod:`yaml2rego.dsl.checks`, and :mod:`yaml2rego.dsl.loader` ties the steps together. Kept apart so that the parser's
safety rules can be read, and changed, without wading through policy semantics.

>>> text = "agent_boundary:\\n  agent_id: on\\n"
>>> errors = []
>>> [document] = read_documents(text, SourceFile("demo.yaml", text), errors)
>>> document.value
{'agent_boundary': {'agent_id': 'on'}}
>>> to_mark(document.marks[("agent_boundary", "agent_id")][0])
Mark(line=2, column=13)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import yaml

from yaml2rego.errors import PolicyError, PolicySyntaxError, PolicyValidationError, SourceLocation
from yaml2rego.escaping import escape_text

_EventParser: Any
try:  # libyaml is much faster on large files; the pure-Python parser yields the same events.
    from yaml._yaml import CParser as _EventParser
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    _EventParser = None

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENTS",
    "MAX_ERRORS_PER_FILE",
    "Document",
    "JSONPath",
    "Mark",
    "SourceFile",
    "as_mapping",
    "mapping_items",
    "read_documents",
    "to_mark",
]

MAX_DOCUMENTS = 10_000
# Deep enough for any real request body in a test case, far too shallow to exhaust the stack.
MAX_DEPTH = 64
# A hostile file (thousands of aliases) must not turn into a flood of messages.
MAX_ERRORS_PER_FILE = 100

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

JSONPath = tuple[str | int, ...]


def as_mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a mapping, else an empty one: for reading a document the schema may have refused."""
    return value if isinstance(value, dict) else {}


def mapping_items(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """The mappings of a list with their indexes (nothing for anything else), skipping items that are no mapping.

    >>> list(mapping_items([{"a": 1}, "x", {"b": 2}])), list(mapping_items(None))
    ([(0, {'a': 1}), (2, {'b': 2})], [])
    """
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item


class Mark(NamedTuple):
    """A 1-based line and column. A tuple, because a policy set of 10,000 agents records hundreds of thousands."""

    line: int
    column: int


# Where a node's value starts and, for a mapping value, where its key starts: PyYAML's own (0-based) marks, kept as
# they come from the parser and turned into a :class:`Mark` only when a location is asked for.
_RawMarks = tuple[Any, Any]


@dataclass
class Document:
    """One YAML document: its value, and the raw marks of every node keyed by the node's JSON path."""

    value: Any
    marks: dict[JSONPath, _RawMarks]
    refused: set[JSONPath]  # aliases and tagged nodes, already reported: the schema's complaints would be noise


class SourceFile:
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

    def location(self, mark: Mark) -> SourceLocation:
        return SourceLocation(self.filename, mark.line, mark.column)

    def error(self, cls: type[PolicyError], message: str, mark: Mark) -> PolicyError:
        """An error at ``mark``, with its source line under it; both escaped, so a control character or a
        bidirectional override in the file is shown as ``\\u202e`` rather than acted on by the terminal."""
        snippet = self.lines[mark.line - 1][:200] if 0 < mark.line <= len(self.lines) else None
        return cls(escape_text(message), self.location(mark), escape_text(snippet) if snippet else None)


class _Fatal(Exception):
    """Stops reading a file (a syntax error, too deep, too many documents); the error is already recorded."""


def to_mark(yaml_mark: Any) -> Mark:
    """PyYAML's 0-based mark as a 1-based :class:`Mark`."""
    return Mark(yaml_mark.line + 1, yaml_mark.column + 1)


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

    def __init__(self, parser: Any, source: SourceFile, errors: list[PolicyError]) -> None:
        self.parser = parser
        self.get_event = parser.get_event
        self.source = source
        self.errors = errors
        self.refused: set[JSONPath] = set()

    def documents(self) -> Iterator[Document]:
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
            yield Document(value, marks, self.refused)

    def _error(self, cls: type[PolicyError], message: str, event_or_mark: Any) -> None:
        mark = event_or_mark if isinstance(event_or_mark, Mark) else to_mark(event_or_mark.start_mark)
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
                mark = to_mark(key_mark)
                if not self.errors or self.errors[-1].location != self.source.location(mark):
                    self._error(PolicyValidationError, "a mapping key must be a string", mark)
                self._node(get_event(), (), depth, None, None)
            else:
                key = str(key_event.value)
                if key in first_seen:
                    first = to_mark(first_seen[key])
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


def _syntax_error(exc: yaml.YAMLError, text: str, source: SourceFile) -> PolicyError:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = to_mark(exc.problem_mark)
        message = f"YAML syntax error: {exc.problem}"
        if exc.context and exc.context_mark is not None:
            context_mark = to_mark(exc.context_mark)
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
        return source.error(PolicySyntaxError, f"YAML syntax error: {exc.reason}", Mark(row, column))
    return PolicySyntaxError(f"YAML syntax error: {exc}", SourceLocation(source.filename, 1, 1))


# A lone surrogate cannot be encoded as UTF-8 (nor reach Rust, Rego or JSON): only a text given as a Python string
# can hold one, since a file is decoded from UTF-8 and YAML refuses a surrogate escape.
_SURROGATE = re.compile("[\ud800-\udfff]")


def read_documents(text: str, source: SourceFile, errors: list[PolicyError]) -> list[Document]:
    """Every document of a file, or none if the file cannot be read completely (the reason is in ``errors``)."""
    surrogate = None if text.isascii() else _SURROGATE.search(text)
    if surrogate is not None:
        before = text[: surrogate.start()]
        mark = Mark(before.count("\n") + 1, surrogate.start() - (before.rfind("\n") + 1) + 1)
        errors.append(source.error(PolicySyntaxError, "the text holds a lone surrogate, which is not Unicode", mark))
        return []
    parser = _make_parser(text)
    documents: list[Document] = []
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
