"""DLP detectors and deterministic redaction: the one place that knows what an e-mail, a card number, a US SSN or an
API key looks like.

The compiler copies each detector's ``flag_regex`` into the policy data, so the Rego policy can *flag* fields that may
hold a secret (``decision: "sanitize"`` with ``redactions: [{field, detector, rule}]``, never the secret itself). The
guard then *redacts* them here, with checks Rego cannot make (the Luhn check of card numbers, SSN number ranges). The
same text always gives the same redacted text: every match becomes ``[REDACTED:<detector>]``.

>>> redact_text("mail bob@example.com or call", "email")
('mail [REDACTED:email] or call', 1)
>>> redact_text("card 4111 1111 1111 1111", "card")
('card [REDACTED:card]', 1)
>>> redact_text("order 4111 1111 1111 1112", "card")  # fails the Luhn check: not a card number
('order 4111 1111 1111 1112', 0)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = [
    "BUILTIN_DETECTORS",
    "Detector",
    "detector_for",
    "luhn_valid",
    "redact_keys",
    "redact_text",
    "redact_value",
    "redaction_marker",
]


@dataclass(frozen=True)
class Detector:
    """A kind of secret: a regex that finds candidates (valid in Python, RE2 and Rust regex) and an optional check
    that confirms a candidate (``None``: every match counts)."""

    name: str
    flag_regex: str
    confirm: Callable[[str], bool] | None = None


def luhn_valid(text: str) -> bool:
    """The Luhn checksum of the digits in ``text`` (spaces and dashes ignored), as card numbers carry it.

    >>> luhn_valid("4111-1111-1111-1111"), luhn_valid("4111-1111-1111-1112")
    (True, False)
    """
    digits = [int(c) for c in text if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _ssn_valid(text: str) -> bool:
    # Numbers the Social Security Administration never issues: area 000, 666 or 900-999, group 00, serial 0000.
    area, group, serial = text.split("-")
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


# Candidate patterns avoid lookaround, backreferences and \b so that they mean the same in RE2 (OPA), Rust regex
# (regorus) and Python. Card candidates are 13 to 19 digits, optionally grouped by single spaces or dashes.
BUILTIN_DETECTORS: Mapping[str, Detector] = {
    "email": Detector("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    "card": Detector("card", r"[0-9](?:[ -]?[0-9]){12,18}", luhn_valid),
    "us_ssn": Detector("us_ssn", r"[0-9]{3}-[0-9]{2}-[0-9]{4}", _ssn_valid),
    "api_key": Detector(
        "api_key",
        r"(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}"
        r"|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}",
    ),
}

# Python-side boundaries so that a match inside a longer run of digits or word characters is not redacted in part.
_EDGES = {
    "card": (r"(?<![0-9])", r"(?![0-9])"),
    "us_ssn": (r"(?<![0-9])", r"(?![0-9])"),
    "api_key": (r"(?<![A-Za-z0-9_])", r"(?![A-Za-z0-9_])"),
}


def detector_for(name: str, pattern: str | None = None) -> Detector:
    """The built-in detector ``name``, or a ``regex`` detector for ``pattern``. Unknown names raise ``KeyError``."""
    if name == "regex":
        if not pattern:
            raise KeyError("a regex detector needs a pattern")
        return Detector("regex", pattern)
    return BUILTIN_DETECTORS[name]


def redaction_marker(detector: str) -> str:
    """What a redacted match becomes: ``[REDACTED:email]``."""
    return f"[REDACTED:{detector}]"


@cache
def _compiled(name: str, pattern: str) -> re.Pattern[str]:
    before, after = _EDGES.get(name, ("", ""))
    return re.compile(f"{before}(?:{pattern}){after}")


def redact_text(text: str, detector: str, pattern: str | None = None) -> tuple[str, int]:
    """``text`` with every confirmed match of ``detector`` replaced by its marker, and how many were replaced."""
    found = detector_for(detector, pattern)
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if found.confirm is not None and not found.confirm(match.group(0)):
            return match.group(0)
        count += 1
        return redaction_marker(found.name)

    redacted = _compiled(found.name, found.flag_regex).sub(replace, text)
    return redacted, count


def redact_keys(node: Mapping[str, Any], detector: str, pattern: str | None = None) -> tuple[dict[str, Any], int]:
    """A copy of the object ``node`` with every key that holds a match of ``detector`` redacted, and how many matches
    were redacted. A PII value used as a key (``{"ann@example.com": …}``) must not leave either. Two keys that redact
    to the same text are kept apart with ``#2``, ``#3``: no member is dropped or overwritten."""
    result: dict[str, Any] = {}
    count = 0
    for key, item in node.items():
        new_key, found = redact_text(key, detector, pattern) if isinstance(key, str) else (key, 0)
        count += found
        if found:
            base, number = new_key, 1
            while new_key in result or new_key in node:
                number += 1
                new_key = f"{base}#{number}"
        result[new_key] = item
    return result, count


def redact_value(value: Any, detectors: Sequence[tuple[str, str | None]]) -> tuple[Any, dict[str, int]]:
    """A copy of a JSON value with every string inside it, object keys included, redacted by each
    ``(detector, pattern)`` in turn.

    Returns the new value and the number of matches redacted per detector (detectors that found nothing are left
    out).
    """
    counts: dict[str, int] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            for name, pattern in detectors:
                node, found = redact_text(node, name, pattern)
                if found:
                    counts[name] = counts.get(name, 0) + found
            return node
        if isinstance(node, Mapping):
            members = {key: walk(item) for key, item in node.items()}
            for name, pattern in detectors:
                members, found = redact_keys(members, name, pattern)
                if found:
                    counts[name] = counts.get(name, 0) + found
            return members
        if isinstance(node, (list, tuple)):
            return [walk(item) for item in node]
        return node

    return walk(value), counts
