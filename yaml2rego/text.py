"""Wording shared by every message and report that counts things."""

from __future__ import annotations

__all__ = ["count_of"]


def count_of(number: int, singular: str, plural: str | None = None) -> str:
    """``number`` with the noun it counts: ``1 agent``, ``2 agents``, ``1 entry``, ``3 entries``.

    >>> count_of(1, "agent"), count_of(2, "entry", "entries")
    ('1 agent', '2 entries')
    """
    return f"{number} {singular if number == 1 else plural or singular + 's'}"
