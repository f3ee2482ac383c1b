"""Every value that enters generated Rego text, made inert in one place: the jinja2 filters of the templates.

A YAML string can hold anything (a newline, a quote, ``x := 1``), and a file name or an agent id reaches the output
too. Each place a template interpolates a value is one of four contexts, each with one filter here:

* a Rego string or value literal (``rego_string``, ``rego``, ``ref_key``): JSON escaping, as Rego string literals
  are JSON strings (https://www.openpolicyagent.org/docs/policy-reference/#grammar), and every character that is not
  printable escaped as ``\\uXXXX`` too, so no line break, bidirectional control or byte-order mark (which OPA's
  scanner refuses even inside a string) stands in the source;
* a comment (``comment``, ``comment_block``): every line of the text becomes its own ``#`` line, and every other
  character that is not printable is shown escaped, so a value can never end the comment;
* a value of a ``# METADATA`` block (``yaml_text``): a YAML double-quoted scalar on one line;
* a name (``rego_name``): refused unless it is a Rego identifier, since a name cannot be escaped.

"Printable" is Python's :meth:`str.isprintable`: every character outside the Unicode categories Other (Cc, Cf, Cs,
Co, Cn) and Separator (Zl, Zp, Zs), the ASCII space excepted. :func:`check_template` proves statically that every
``{{ … }}`` of a template goes through one of these filters, so a new line in a template cannot forget the escaping.

>>> rego_string('ok"\\nx := 1')
'"ok\\\\"\\\\nx := 1"'
>>> print(comment("first\\nx := 1"))
# first
# x := 1
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import jinja2
from jinja2 import nodes

from yaml2rego.canonical_json import readable
from yaml2rego.errors import CompileError

__all__ = [
    "BLOCK_FILTERS",
    "FILTERS",
    "REGO_KEYWORDS",
    "check_template",
    "comment",
    "comment_block",
    "escape_text",
    "ref_key",
    "rego_name",
    "rego_string",
    "render_rego_value",
    "yaml_text",
]

# Rego v1 keywords, and the root documents: a package alias named `input` or `data` would shadow them.
REGO_KEYWORDS = frozenset(
    {"as", "contains", "default", "else", "every", "false", "if", "import", "in", "not", "null", "package", "some"}
    | {"true", "with", "data", "input"}
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# The short escapes JSON defines (https://www.rfc-editor.org/rfc/rfc8259#section-7); any other character that needs
# escaping is written \uXXXX, as json.dumps writes it (lower-case hex), so printable text renders as it always did.
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
# What json.dumps(ensure_ascii=False) does with a string, in C: right for text that is all printable.
_encode_printable: Callable[[str], str] = json.encoder.encode_basestring


def _escape_char(char: str, *, yaml: bool = False) -> str:
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    if yaml:  # YAML has \U for a code point beyond the BMP; JSON (and so Rego) spells it as a surrogate pair
        return f"\\U{code:08x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _quoted(text: str, *, yaml: bool = False) -> str:
    if text.isprintable():
        return _encode_printable(text)
    parts = [
        _escape_char(char, yaml=yaml) if char in _SHORT_ESCAPES or not char.isprintable() else char for char in text
    ]
    return '"' + "".join(parts) + '"'


def escape_text(text: str) -> str:
    """``text`` with every character that is not printable shown as an escape (``\\n``, ``\\u2028``), else unchanged.

    A tab stays a tab: it cannot end a line, and an error about tab indentation shows the line as it is.

    For text shown to a person: a comment line, the offending text under an error message.

    >>> escape_text("ops\\npwned\\u202e")
    'ops\\\\npwned\\\\u202e'
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char == "\t" else _escape_char(char) for char in text)


def rego_string(value: Any) -> str:
    """``value`` as a Rego string literal: ``"…"`` with JSON escapes, and no character that is not printable."""
    return _quoted(str(value))


def yaml_text(value: Any) -> str:
    """``value`` as a YAML double-quoted scalar on one line, for a ``# METADATA`` block (YAML reads JSON strings)."""
    return _quoted(str(value), yaml=True)


def ref_key(key: Any) -> str:
    """A reference step as ``opa fmt`` writes it: ``.name`` for an identifier, ``["key"]`` otherwise."""
    text = str(key)
    if _IDENTIFIER.fullmatch(text) and text not in REGO_KEYWORDS:
        return "." + text
    return "[" + _quoted(text) + "]"


def rego_name(name: Any) -> str:
    """``name`` itself when it is a Rego identifier (and no keyword); anything else is refused, as names cannot be
    escaped. The compiler derives every name it writes (packages, tests) so that this holds."""
    text = str(name)
    if not _IDENTIFIER.fullmatch(text) or text in REGO_KEYWORDS:
        raise CompileError(f"{escape_text(repr(text))} is not a Rego identifier; refusing to write it as a name")
    return text


def _lines(text: str) -> Iterator[str]:
    # Every character Python counts as a line break (\n, \r, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029) starts a new
    # comment line; a comment ends only at \n for OPA, but a reader's editor breaks the line at the others too.
    for line in str(text).splitlines() or [""]:
        yield escape_text(line)


def comment(text: Any, width: int = 116) -> str:
    """Prose as ``#`` comment lines of at most ``width + 4`` columns (long words, such as paths, are not broken)."""
    out: list[str] = []
    for line in _lines(text):
        wrapped = [line] if len(line) <= width else _wrap(line, width)
        out.extend(f"# {part}" if part else "#" for part in wrapped)
    return "\n".join(out)


def _wrap(line: str, width: int) -> list[str]:
    """``textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False)``, with a quick path for words
    parted by single spaces (every generated description): fill each line greedily, a longer word on its own line.

    textwrap costs 20 µs a line, and 10,000 agents have 30,000 long descriptions; tests/test_escaping.py holds the
    quick path to textwrap's answers.
    """
    words = line.split(" ")
    if "" in words or "\t" in line:  # runs of spaces, leading or trailing ones, tabs: textwrap's rules apply
        return textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False) or [""]
    lines: list[str] = []
    current = words[0]
    for word in words[1:]:
        if len(current) + 1 + len(word) <= width:
            current += " " + word
        else:
            lines.append(current)
            current = word
    lines.append(current)
    return lines


def comment_block(text: Any) -> str:
    """Rendered lines as ``#`` comment lines, each as it is (``{% filter comment_block %}`` in a template)."""
    lines = list(_lines(str(text).removesuffix("\n")))
    return "\n".join(f"# {line}" if line else "#" for line in lines) + "\n"


def render_rego_value(value: Any, indent: int = 1, prefix: int = 0, width: int = 120) -> str:
    """A JSON value as a Rego literal, laid out as ``opa fmt`` lays it out, within ``width`` columns.

    ``prefix`` is how many characters already stand on the line after the ``indent`` tabs (counted as four columns).
    A value that fits stays on one line; a longer object or array puts one element per line with a trailing comma.
    Strings (keys included) are escaped as :func:`rego_string` escapes them.

    >>> render_rego_value({"method": "GET", "path": "/api"})
    '{"method": "GET", "path": "/api"}'
    """
    return _lay_out(_flat_tree(value), indent, prefix, width)


# A value's one-line text, with its parts when it is a non-empty object (key texts and parts) or array (parts).
_Tree = tuple[str, list[Any] | None]
# JSON object keys that are not strings, written as json.dumps writes them.
_KEY_TEXT = {True: '"true"', False: '"false"', None: '"null"'}


def _flat_tree(value: Any) -> _Tree:
    """The one-line text of ``value`` and of each of its parts, each encoded once.

    A test input that does not fit on one line is laid out part by part; encoding each part again is what made
    large compiles slow.
    """
    # Exact type tests and the printable case of `_quoted` inline: this runs for every node of every test input.
    kind = type(value)
    if kind is str:
        return (_encode_printable(value) if value.isprintable() else _quoted(value)), None
    if kind is dict or isinstance(value, dict):
        if not value:
            return "{}", None
        entries = [
            (_encode_printable(key) if type(key) is str and key.isprintable() else _key_text(key), _flat_tree(item))
            for key, item in value.items()
        ]
        return "{" + ", ".join([f"{key}: {item[0]}" for key, item in entries]) + "}", entries
    if isinstance(value, str):
        return _quoted(value), None
    if kind is list or isinstance(value, (list, tuple)):
        if not value:
            return "[]", None
        items = [_flat_tree(item) for item in value]
        return "[" + ", ".join([item[0] for item in items]) + "]", items
    return readable(value), None


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return _quoted(key)
    if key is None or isinstance(key, bool):
        return _KEY_TEXT[key]
    return _quoted(readable(key))


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


# The filters every template may use around a `{{ … }}`, and the ones that may wrap a whole `{% filter %}` block.
FILTERS: dict[str, Callable[..., str]] = {
    "rego": render_rego_value,
    "rego_string": rego_string,
    "ref_key": ref_key,
    "rego_name": rego_name,
    "comment": comment,
    "yaml_text": yaml_text,
}
BLOCK_FILTERS: dict[str, Callable[..., str]] = {"comment_block": comment_block}


def check_template(environment: jinja2.Environment, name: str) -> None:
    """Refuse a template in which some ``{{ … }}`` is not escaped: its outermost filter must be one of
    :data:`FILTERS`, or it must stand inside a ``{% filter %}`` block of :data:`BLOCK_FILTERS`.

    Checked on the template's syntax tree once, when the template is first used, so rendering pays nothing for it.
    """
    source, _, _ = environment.loader.get_source(environment, name)  # type: ignore[union-attr]
    _check_node(environment.parse(source), name)


def _check_node(node: nodes.Node, template: str) -> None:
    if isinstance(node, nodes.FilterBlock) and node.filter.name in BLOCK_FILTERS:
        return  # the block's whole output is escaped at once
    if isinstance(node, nodes.Output):
        for value in node.nodes:
            if isinstance(value, nodes.TemplateData):
                continue
            if not (isinstance(value, nodes.Filter) and value.name in FILTERS):
                raise CompileError(
                    f"template {template} line {value.lineno}: every interpolated value must go through one of the "
                    f"escaping filters ({', '.join(sorted(FILTERS))})"
                )
    for child in node.iter_child_nodes():
        _check_node(child, template)
