"""Regular expressions of the policy data, made to mean in Python exactly what they mean in regorus (Rust regex).

The native decision program (:mod:`yaml2rego.compile.native_program`) matches the regexes that the compiler wrote into
``data.boundaries`` (endpoint patterns, field patterns, tool scopes, DLP detectors). Rego's ``regex.match`` is an
unanchored search in Rust's ``regex`` crate: linear time, Unicode classes, ``$`` only at the very end of the text.
Python's ``re`` differs on all three (backtracking, ``\\s`` also matching ``\\x1c``-``\\x1f``, ``$`` also before a
final newline), so patterns are run by RE2 (``google-re2``: linear time, like Rust) after a translation that fixes
the class differences. Only a subset is translated; anything outside it (``\\w``, ``\\b``, ``(?m)``, nested classes,
``\\p{…}``, …) is :class:`Unsupported`, and the agent that uses it is decided by regorus instead.

>>> translate(r"^[^@\\s]+@x$").startswith("^[^@")
True
>>> translate(r"\\bword")
Traceback (most recent call last):
...
yaml2rego.compile.native_regex.Unsupported: \\b (a word boundary) is not translated
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

__all__ = ["Regex", "Unsupported", "compile_regex", "translate"]

# Rust's \s is Unicode White_Space (regex-syntax); RE2's is ASCII and Python's also takes \x1c-\x1f. Spelled out.
_WHITE_SPACE = r"\t\n\x0b\x0c\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
# Rust's \d is Unicode Nd; RE2's is ASCII.
_DIGIT = r"\p{Nd}"
_SIMPLE_ESCAPES = set("tnrfva")
_QUANTIFIER = re.compile(r"\{(\d{1,4})(,(\d{0,4}))?\}")
_FLAGS = re.compile(r"\(\?([is]+)(\)|:)")


class Unsupported(ValueError):
    """A pattern (or a piece of policy data) the native program does not express; regorus decides instead."""


def translate(pattern: str) -> str:
    """``pattern`` (Rust regex syntax) as an RE2 pattern with the same meaning; :class:`Unsupported` otherwise."""
    out: list[str] = []
    index, in_class, length = 0, False, len(pattern)
    while index < length:
        char = pattern[index]
        if char == "\\":
            following = pattern[index + 1 : index + 2]
            index += 2
            if following == "s":
                out.append(_WHITE_SPACE if in_class else f"[{_WHITE_SPACE}]")
            elif following == "S" and not in_class:
                out.append(f"[^{_WHITE_SPACE}]")
            elif following == "d":
                out.append(_DIGIT)
            elif following == "D" and not in_class:
                out.append(r"\P{Nd}")
            elif following in _SIMPLE_ESCAPES:
                out.append("\\" + following)
            elif following == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", pattern[index : index + 2]):
                out.append("\\x" + pattern[index : index + 2])
                index += 2
            elif (following in ("A", "z") and not in_class) or (following.isascii() and not following.isalnum()):
                out.append("\\" + following)  # anchors, and escaped punctuation (a literal in every dialect)
            else:
                raise Unsupported(f"\\{following} {_ESCAPE_NAMES.get(following, '')}is not translated")
            continue
        if in_class:
            if char == "[" or pattern.startswith(("&&", "--", "~~"), index):
                raise Unsupported("a nested class or class operation is not translated")
            if char == "]":
                in_class = False
            out.append(char)
            index += 1
            continue
        if char == "[":
            in_class = True
            head = "[^" if pattern.startswith("[^", index) else "["
            out.append(head)
            index += len(head)
            if pattern[index : index + 1] == "]":  # a ']' right after '[' or '[^' is a member
                out.append("\\]")
                index += 1
            continue
        if char == "(":
            if pattern.startswith("(?", index):
                flags = _FLAGS.match(pattern, index)
                named = pattern.startswith("(?P<", index)
                if not (pattern.startswith("(?:", index) or named or flags):
                    raise Unsupported("only (?:…), (?P<name>…) and the flags i and s are translated")
                if flags and flags.group(2) == ")" and index != 0:
                    raise Unsupported("an inline flag group after the start is not translated")
        elif char == "{":
            quantifier = _QUANTIFIER.match(pattern, index)
            if quantifier is None or int(quantifier.group(1)) > 1000 or int(quantifier.group(3) or 0) > 1000:
                raise Unsupported("a '{' that is not a bounded repetition is not translated")
        out.append(char)
        index += 1
    if in_class:
        raise Unsupported("an unclosed class")
    return "".join(out)


_ESCAPE_NAMES = {"b": "(a word boundary) ", "B": "(a word boundary) ", "w": "(a word class) ", "W": "(a word class) "}


class Regex:
    """One data regex, compiled once and shared by every thread; :meth:`search` is Rego's ``regex.match``."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str, compiled: Any) -> None:
        self.pattern = pattern
        self._compiled = compiled

    def search(self, text: str) -> bool:
        return self._compiled.search(text) is not None


@cache
def compile_regex(pattern: str) -> Regex:
    """The :class:`Regex` for ``pattern`` (one per distinct pattern, shared by every agent that uses it)."""
    try:
        import re2
    except ImportError as exc:  # pragma: no cover - google-re2 is a dependency
        raise Unsupported("google-re2 is not installed") from exc
    options = re2.Options()
    options.max_mem = 8 << 20
    try:
        return Regex(pattern, re2.compile(translate(pattern), options))
    except re2.error as exc:
        raise Unsupported(f"RE2 refuses the pattern: {exc}") from exc
