"""Field rules — the ``type``, ``values``, bounds, ``pattern`` and ``example`` of a body field (``input_validation``)
or of a tool argument (``tools.<name>.args``) — and the checks a schema cannot make of them.

Both kinds of rule share one vocabulary and one meaning, so they share one checker (:func:`rule_problems`): bounds
that do not contradict each other, a portable regular expression (:func:`regex_problem`), an example that satisfies
its own rule (:func:`example_problem`, with JSON equality as Rego sees it, :func:`same_json`).

>>> example_problem({"type": "enum", "values": ["low", "high"]}, "medium")
'it is not one of the values'
>>> list(rule_problems({"type": "integer", "minimum": 5, "maximum": 1}))
[('maximum (1) is less than minimum (5)', 'maximum')]
>>> regex_problem("(?=lookahead)")
'uses lookahead ((?=…), which RE2 and Rust regex do not support'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from yaml2rego.text import show

__all__ = ["EMAIL_PATTERN", "UUID_PATTERN", "example_problem", "regex_problem", "rule_problems", "same_json"]

# Shapes the example check uses; the Rego validation library applies the same ones.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


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


def regex_problem(pattern: str) -> str | None:
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


def same_json(left: Any, right: Any) -> bool:
    """JSON equality as Rego sees it, at any depth: ``1 == 1.0``, but ``true`` is not ``1`` and ``"1"`` is not ``1``.

    >>> same_json([1, {"a": 2}], [1.0, {"a": 2.0}]), same_json([True], [1]), same_json(0, False)
    (True, False, False)
    """
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(map(same_json, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_json(item, right[key]) for key, item in left.items())
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
    if kind == "enum" and not any(same_json(value, allowed) for allowed in rule.get("values") or []):
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


def rule_problems(rule: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(message, key)`` for each problem of a field rule given as its YAML mapping: a bound below its opposite, a
    pattern that is not portable, an example its own rule refuses. ``key`` is the rule's key the message is about."""
    for low, high in (("min_length", "max_length"), ("minimum", "maximum")):
        if _is_number(rule.get(low)) and _is_number(rule.get(high)) and rule[low] > rule[high]:
            yield f"{high} ({rule[high]}) is less than {low} ({rule[low]})", high
    pattern = rule.get("pattern")
    problem = regex_problem(pattern) if isinstance(pattern, str) else None
    if problem:
        yield f"pattern '{pattern}' {problem}", "pattern"
    elif "example" in rule:
        reason = example_problem(dict(rule), rule["example"])
        if reason:
            yield f"example {show(rule['example'])} does not satisfy its rule: {reason}", "example"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
