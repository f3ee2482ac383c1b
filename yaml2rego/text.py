"""Wording shared by every message and report that counts things."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = ["count_of", "did_you_mean", "show"]


def count_of(number: int, singular: str, plural: str | None = None) -> str:
    """``number`` with the noun it counts: ``1 agent``, ``2 agents``, ``1 entry``, ``3 entries``.

    >>> count_of(1, "agent"), count_of(2, "entry", "entries")
    ('1 agent', '2 entries')
    """
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the choice closest to ``word`` (difflib, or the same word in lower case), else "".

    >>> did_you_mean("alowed_endpoints", ["allowed_endpoints", "denied_endpoints"]), did_you_mean("GeT", ["get"])
    ("; did you mean 'allowed_endpoints'?", "; did you mean 'get'?")
    >>> did_you_mean("zzz", ["allowed_endpoints"]), did_you_mean(3, ["3"])
    ('', '')
    """
    if not isinstance(word, str):
        return ""
    known = list(choices)
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if not close and word.lower() in known:
        close = [word.lower()]
    return f"; did you mean {close[0]!r}?" if close else ""


def show(value: Any) -> str:
    """A value as a policy author reads it in YAML: ``true``, ``null``, ``'text'``, ``12``; containers only named.

    >>> show(True), show(None), show("medium"), show(1.5), show([1])
    ('true', 'null', "'medium'", '1.5', 'a list')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
