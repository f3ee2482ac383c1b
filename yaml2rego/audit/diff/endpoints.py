"""The HTTP sections: allowed and denied endpoints, input validation (field rules), rate limits and payload size.

Endpoint rules are grouped by pattern (the methods of one pattern are one entry); validation and rate-limit rules are
keyed by ``METHOD pattern``; field rules by field name. :func:`field_rule_changes` also judges tool arguments.

>>> old = [{"method": "GET", "pattern": "/a"}]
>>> [change.kind for change in endpoint_changes(old, [{"method": "*", "pattern": "/a"}], deny=False)]
['methods_widened']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from yaml2rego.audit.diff.changes import ANY, Change, Facts, as_json, compare_keyed

__all__ = [
    "endpoint_changes",
    "endpoint_covers",
    "field_rule_changes",
    "mode_changes",
    "payload_changes",
    "rate_limit_changes",
    "validation_changes",
]

# (old type, new type) pairs where every value the new type accepts the old one accepted too.
_NARROWER_TYPES = {("string", "uuid"), ("string", "email"), ("string", "enum"), ("number", "integer")}
# Field-rule bounds: a higher lower bound, or a lower upper bound, tightens.
_LOWER_BOUNDS = ("min_length", "minimum")
_UPPER_BOUNDS = ("max_length", "maximum")


def mode_changes(old: Facts, new: Facts) -> list[Change]:
    """``shadow`` mode only records decisions, so a switch to it loosens."""
    was, now = old.get("mode", "enforce"), new.get("mode", "enforce")
    if was == now:
        return []
    return [Change("mode_changed", new.get("mode") == "shadow", f"mode {was} -> {now}")]


def _methods_by_pattern(rules: Sequence[Facts]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for rule in rules:
        grouped.setdefault(str(rule.get("pattern")), set()).add(str(rule.get("method", ANY)).upper())
    return grouped


def _methods(methods: set[str]) -> str:
    return ", ".join(sorted(methods))


def endpoint_changes(old: Sequence[Facts], new: Sequence[Facts], *, deny: bool) -> list[Change]:
    """Allow rules loosen when they grow; deny rules loosen when they shrink."""
    noun, prefix = ("deny rule", "deny_rule") if deny else ("endpoint", "endpoint")
    return compare_keyed(
        _methods_by_pattern(old),
        _methods_by_pattern(new),
        removed=lambda pattern, was: Change(f"{prefix}_removed", deny, f"{noun} removed: {_methods(was)} {pattern}"),
        added=lambda pattern, now: Change(f"{prefix}_added", not deny, f"{noun} added: {_methods(now)} {pattern}"),
        changed=lambda pattern, was, now: _method_changes(pattern, was, now, deny=deny),
    )


def _method_changes(pattern: str, was: set[str], now: set[str], *, deny: bool) -> list[Change]:
    """A change of methods may widen and narrow at once (GET -> POST): each is its own change, saying what it adds
    or removes, so no line reads as both loosening and tightening."""
    noun, prefix = ("deny rule", "deny_methods") if deny else ("endpoint", "methods")
    shown = f"({_methods(was)} -> {_methods(now)})"
    gained = {ANY} if ANY in now and ANY not in was else set() if ANY in was else now - was
    lost = {ANY} if ANY in was and ANY not in now else set() if ANY in now else was - now
    changes = []
    if gained:
        changes.append(Change(f"{prefix}_widened", not deny, f"{noun} {pattern} adds {_methods(gained)} {shown}"))
    if lost:
        changes.append(Change(f"{prefix}_narrowed", deny, f"{noun} {pattern} drops {_methods(lost)} {shown}"))
    return changes


def _by_endpoint(rules: Sequence[Facts]) -> dict[str, Facts]:
    """Rules keyed by ``METHOD pattern``, which is also how a detail names them."""
    return {f"{str(rule.get('method', ANY)).upper()} {rule.get('pattern')}": rule for rule in rules}


def validation_changes(old: Sequence[Facts], new: Sequence[Facts]) -> list[Change]:
    """Field rules restrict bodies, so validation added tightens and removed loosens."""
    return compare_keyed(
        _by_endpoint(old),
        _by_endpoint(new),
        removed=lambda where, _: Change("validation_removed", True, f"input validation removed for {where}"),
        added=lambda where, _: Change("validation_added", False, f"input validation added for {where}"),
        changed=lambda where, was, now: _field_changes(where, was.get("fields", []), now.get("fields", [])),
    )


def _by_field(rules: Sequence[Facts]) -> dict[str, Facts]:
    return {str(rule.get("field")): rule for rule in rules}


def _field_changes(where: str, old: Sequence[Facts], new: Sequence[Facts]) -> list[Change]:
    return compare_keyed(
        _by_field(old),
        _by_field(new),
        removed=lambda name, _: Change("field_rule_removed", True, f"{where} field {name}: rule removed"),
        added=lambda name, now: Change(
            "field_rule_added", False, f"{where} field {name}: rule added ({now.get('type')})"
        ),
        changed=lambda name, was, now: field_rule_changes(f"{where} field {name}", was, now),
    )


def field_rule_changes(label: str, was: Facts, now: Facts) -> list[Change]:
    """One field rule against its new version: ``required``, type, enum values, bounds and ``pattern``."""
    changes = []
    if bool(was.get("required")) != bool(now.get("required")):
        loosened = bool(was.get("required"))
        kind = "field_now_optional" if loosened else "field_now_required"
        changes.append(Change(kind, loosened, f"{label}: {'optional' if loosened else 'required'} now"))
    if was.get("type") != now.get("type"):
        narrower = (was.get("type"), now.get("type")) in _NARROWER_TYPES
        detail = f"{label}: type {was.get('type')} -> {now.get('type')}"
        changes.append(Change("field_type_changed", not narrower, detail))
    elif was.get("values") != now.get("values"):
        changes += _enum_changes(label, was.get("values") or [], now.get("values") or [])
    for bound in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
        changes += _bound_changes(label, bound, was.get(bound), now.get(bound))
    changes += _pattern_changes(label, was.get("pattern"), now.get("pattern"))
    return changes


def _enum_changes(label: str, was: Sequence[Any], now: Sequence[Any]) -> list[Change]:
    old_values, new_values = {as_json(value) for value in was}, {as_json(value) for value in now}
    changes = []
    if new_values - old_values:
        added = ", ".join(sorted(new_values - old_values))
        changes.append(Change("enum_values_added", True, f"{label}: values added {added}"))
    if old_values - new_values:
        removed = ", ".join(sorted(old_values - new_values))
        changes.append(Change("enum_values_removed", False, f"{label}: values removed {removed}"))
    return changes


def _bound_changes(label: str, bound: str, was: Any, now: Any) -> list[Change]:
    if was == now:
        return []
    if now is None:
        return [Change(f"field_{bound}_removed", True, f"{label}: {bound} {was} removed")]
    if was is None:
        return [Change(f"field_{bound}_added", False, f"{label}: {bound} {now} added")]
    raised = now > was
    kind = f"field_{bound}_{'raised' if raised else 'lowered'}"
    return [Change(kind, raised != (bound in _LOWER_BOUNDS), f"{label}: {bound} {was} -> {now}")]


def _pattern_changes(label: str, was: Any, now: Any) -> list[Change]:
    if was == now:
        return []
    if now is None:
        return [Change("field_pattern_removed", True, f"{label}: pattern removed")]
    if was is None:
        return [Change("field_pattern_added", False, f"{label}: pattern {now} added")]
    detail = f"{label}: pattern {was} -> {now} (review: effect not decidable)"
    return [Change("field_pattern_changed", True, detail)]


def rate_limit_changes(old: Sequence[Facts], new: Sequence[Facts]) -> list[Change]:
    """A higher limit, or none, lets more calls through."""

    def changed(where: str, was: Facts, now: Facts) -> list[Change]:
        old_rpm, new_rpm = was.get("requests_per_minute"), now.get("requests_per_minute")
        if old_rpm == new_rpm:
            return []
        raised = (new_rpm or 0) > (old_rpm or 0)
        kind = "rate_limit_raised" if raised else "rate_limit_lowered"
        return [Change(kind, raised, f"rate limit for {where}: {old_rpm}/min -> {new_rpm}/min")]

    return compare_keyed(
        _by_endpoint(old),
        _by_endpoint(new),
        removed=lambda where, _: Change("rate_limit_removed", True, f"rate limit removed for {where}"),
        added=lambda where, now: Change(
            "rate_limit_added", False, f"rate limit added for {where}: {now.get('requests_per_minute')}/min"
        ),
        changed=changed,
    )


def payload_changes(old: Facts | None, new: Facts | None) -> list[Change]:
    """A higher payload limit, or none, lets larger bodies through."""
    was = old.get("bytes") if old else None
    now = new.get("bytes") if new else None
    if was == now:
        return []
    if now is None:
        return [Change("payload_limit_removed", True, f"payload limit {was} bytes removed")]
    if was is None:
        return [Change("payload_limit_added", False, f"payload limit {now} bytes added")]
    raised = now > was
    kind = "payload_limit_raised" if raised else "payload_limit_lowered"
    return [Change(kind, raised, f"payload limit {was} -> {now} bytes")]


def _pattern_regex(segments: Sequence[str]) -> str:
    parts = []
    for segment in segments:
        if segment == "**":
            parts.append("(?:/[^/]+)*")
        elif segment == "*":
            # One segment of the covered pattern, but not its `**` (which may stand for none or several).
            parts.append(r"/(?!\*\*(?:/|$))[^/]+")
        else:
            parts.append("/" + re.escape(segment))
    return "".join(parts)


def _segments(pattern: str) -> list[str]:
    """A pattern's segments, a trailing ``/*`` (its prefix and everything below it) written as ``**``."""
    body = pattern.strip("/")
    segments = body.split("/") if body else []
    if segments and segments[-1] == "*":
        segments[-1] = "**"
    return segments


def endpoint_covers(wide: Facts, narrow: Facts) -> bool:
    """Whether every call the endpoint matcher (``method``, ``pattern``) of ``narrow`` matches, ``wide`` matches too.

    As for argument scopes (:mod:`yaml2rego.audit.diff.tools`), ``wide`` covers ``narrow`` when it matches the text of
    ``narrow`` with each wildcard segment standing for itself. This never claims a cover that is not one; it misses a
    few covers between equivalent spellings (``/*/**`` and ``/**/*``), which then count as not covered.

    >>> endpoint_covers({"method": "*", "pattern": "/api/**"}, {"method": "POST", "pattern": "/api/*/pay"})
    True
    >>> endpoint_covers({"method": "POST", "pattern": "/api/*/pay"}, {"method": "POST", "pattern": "/api/**/pay"})
    False
    """
    wide_method, narrow_method = str(wide.get("method", ANY)).upper(), str(narrow.get("method", ANY)).upper()
    if wide_method not in (ANY, narrow_method):
        return False
    narrow_text = "".join("/" + segment for segment in _segments(str(narrow.get("pattern"))))
    return re.fullmatch(_pattern_regex(_segments(str(wide.get("pattern")))), narrow_text) is not None
