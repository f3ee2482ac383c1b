"""The change model of the diff, and the two ways old and new entries of a section are paired.

A section comparison (``endpoints``, ``tools``, ``enforcement``) is a pure function of the old and new facts that
returns :class:`Change` values: a kind, whether it loosens, and a detail for people. The agent id is attached once,
by :func:`yaml2rego.audit.diff.compare.diff_agents`, which turns them into public :class:`PolicyChange` records.

Sections pair their entries in one of two ways:

* :func:`compare_keyed`: each entry has a key of its own (a tool's name, an endpoint's ``METHOD pattern``); keys
  only the old side has are removals, keys only the new side has are additions, shared keys are compared;
* :func:`match_entries`: entries may repeat a key (two conditions on one field), so they are matched one to one in
  passes from the strictest key to the loosest, and whatever no pass matched is a removal or an addition.

>>> changes = compare_keyed(
...     {"a": 1, "b": 2}, {"b": 3, "c": 4},
...     removed=lambda key, was: Change("limit_removed", True, f"limit {key} removed"),
...     added=lambda key, now: Change("limit_added", False, f"limit {key} added"),
...     changed=lambda key, was, now: [Change("limit_changed", now > was, f"limit {key}: {was} -> {now}")],
... )
>>> [change.detail for change in changes]
['limit a removed', 'limit b: 2 -> 3', 'limit c added']
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from yaml2rego.canonical_json import readable

__all__ = [
    "ANY",
    "DEFAULTS",
    "LOOSENS",
    "TIGHTENS",
    "Change",
    "Facts",
    "PolicyChange",
    "as_json",
    "compare_keyed",
    "is_number",
    "listed",
    "match_entries",
    "unchanged",
]

LOOSENS = "loosens"
TIGHTENS = "tightens"
# The method of a rule that applies to every method.
ANY = "*"
# The agent id under which changes to the `defaults:` document (global allowed domains) are listed. It cannot be an
# agent's id: those start with a letter or digit.
DEFAULTS = "(defaults)"
Facts = Mapping[str, Any]

V = TypeVar("V")
C = TypeVar("C")


@dataclass(frozen=True)
class PolicyChange:
    """One change to one agent. ``kind`` is stable (for tooling), ``detail`` is for people."""

    agent_id: str
    kind: str
    label: str
    detail: str

    @property
    def loosens(self) -> bool:
        """Whether the agent may now do something it could not (the label is :data:`LOOSENS`)."""
        return self.label == LOOSENS


class Change(NamedTuple):
    """A change found in one section, before it is attached to an agent."""

    kind: str
    loosens: bool
    detail: str

    def of(self, agent_id: str) -> PolicyChange:
        """The public record of this change to ``agent_id``."""
        return PolicyChange(agent_id, self.kind, LOOSENS if self.loosens else TIGHTENS, self.detail)


def compare_keyed(
    before: Mapping[str, V],
    after: Mapping[str, V],
    *,
    removed: Callable[[str, V], C],
    added: Callable[[str, V], C],
    changed: Callable[[str, V, V], Iterable[C]],
) -> list[C]:
    """Entries matched by their key, in key order: one change for each key that went or came, and whatever
    ``changed`` finds for each key both sides have (it is called for equal entries too, and finds nothing there)."""
    changes: list[C] = []
    for key in sorted(set(before) | set(after)):
        if key not in after:
            changes.append(removed(key, before[key]))
        elif key not in before:
            changes.append(added(key, after[key]))
        else:
            changes.extend(changed(key, before[key], after[key]))
    return changes


Key = Callable[[Facts], Hashable]
Compare = Callable[[Facts, Facts], Iterable[Change]]


def match_entries(
    old: Sequence[Facts],
    new: Sequence[Facts],
    passes: Sequence[tuple[Key, Compare]],
    *,
    removed: Callable[[Facts], Change],
    added: Callable[[Facts], Change],
) -> list[Change]:
    """Entries of a list matched one to one by a key, in ``passes`` from the strictest key to the loosest.

    Each pass pairs entries of equal key that no earlier pass took (in list order) and compares each pair with its
    function; what is left at the end is removed (old side) or added (new side). The first pass is usually the whole
    entry, compared with :func:`unchanged`, so that an entry that merely moved in the list is no change.
    """
    old_left, new_left = list(old), list(new)
    changes: list[Change] = []
    for key, compare in passes:
        pairs, old_left, new_left = _pair(old_left, new_left, key)
        for was, now in pairs:
            changes.extend(compare(was, now))
    changes += [removed(entry) for entry in old_left]
    changes += [added(entry) for entry in new_left]
    return changes


def unchanged(was: Facts, now: Facts) -> list[Change]:
    """The comparison of a pass whose key is the whole entry: nothing changed."""
    return []


def _pair(old: list[Facts], new: list[Facts], key: Key) -> tuple[list[tuple[Facts, Facts]], list[Facts], list[Facts]]:
    """Pairs of equal keys (one to one, in order), and what is left of each side; linear in the number of entries."""
    waiting: dict[Hashable, list[int]] = {}
    for index, item in enumerate(new):
        waiting.setdefault(key(item), []).append(index)
    pairs, left, taken = [], [], set()
    for item in old:
        indices = waiting.get(key(item))
        if indices:
            index = indices.pop(0)
            taken.add(index)
            pairs.append((item, new[index]))
        else:
            left.append(item)
    return pairs, left, [item for index, item in enumerate(new) if index not in taken]


def as_json(value: Any) -> str:
    """Canonical JSON text of a value: comparable, hashable, and how values are shown in details."""
    return readable(value)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a JSON number (``True`` is not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def listed(values: Iterable[Any]) -> str:
    """Values sorted and joined for a detail, or ``none``."""
    return ", ".join(sorted(str(value) for value in values)) or "none"
