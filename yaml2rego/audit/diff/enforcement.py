"""The enforcement sections: ``conditions``, egress (the agent's and the global ``defaults``), ``budget``, ``sanitize``.

Conditions and DLP rules are lists whose entries may repeat a key, so they are matched by what they test or scan for
(:func:`~yaml2rego.audit.diff.changes.match_entries`): a reordered list is no change and an edited entry is one change.

>>> old = [{"method": "POST", "pattern": "/pay", "field": "body.amount", "op": "gt", "value": 5, "outcome": "deny"}]
>>> new = [{**old[0], "pattern": "/**"}]
>>> [(change.kind, change.loosens) for change in condition_changes(old, new)]
[('condition_moved', False)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from yaml2rego.audit.diff.changes import (
    ANY,
    Change,
    Facts,
    as_json,
    is_number,
    listed,
    match_entries,
    unchanged,
)
from yaml2rego.audit.diff.endpoints import endpoint_covers
from yaml2rego.dsl.enforcement_sections import EVERY_PATH

__all__ = [
    "budget_changes",
    "condition_changes",
    "defaults_changes",
    "egress_changes",
    "global_domains",
    "sanitize_changes",
]


# -- conditions ---------------------------------------------------------------------------------------------------


def _endpoint(rule: Facts) -> str:
    return f"{rule.get('method', ANY)} {rule.get('pattern')}"


def _test(rule: Facts) -> str:
    value = f" {as_json(rule['value'])}" if "value" in rule else ""
    return f"{rule.get('field')} {rule.get('op')}{value} -> {rule.get('outcome')}"


def _condition_text(rule: Facts) -> str:
    return f"{_endpoint(rule)}: {_test(rule)}"


def _at(rule: Facts) -> tuple[Any, ...]:
    return (rule.get("method", ANY), rule.get("pattern"), rule.get("field"), rule.get("op"))


def condition_changes(old: Sequence[Facts], new: Sequence[Facts]) -> list[Change]:
    """Both outcomes restrict (deny, or wait for a human), so a condition added tightens and one removed loosens.

    Matched in passes: the same condition; the same test with another outcome; the same field and operator at the
    same endpoint with another value; the same test and outcome at another endpoint (moved).
    """
    return match_entries(
        old,
        new,
        [
            (lambda r: (*_at(r), as_json(r.get("value")), r.get("outcome")), unchanged),
            (lambda r: (*_at(r), as_json(r.get("value"))), _outcome_changes),
            (lambda r: (*_at(r), r.get("outcome")), _value_changes),
            (lambda r: (r.get("field"), r.get("op"), as_json(r.get("value")), r.get("outcome")), _move_changes),
        ],
        removed=lambda rule: Change("condition_removed", True, f"condition removed: {_condition_text(rule)}"),
        added=lambda rule: Change("condition_added", False, f"condition added: {_condition_text(rule)}"),
    )


def _outcome_changes(was: Facts, now: Facts) -> list[Change]:
    detail = f"condition {_condition_text(now)} (was {was.get('outcome')})"
    return [Change("condition_outcome_changed", now.get("outcome") != "deny", detail)]


def _value_changes(was: Facts, now: Facts) -> list[Change]:
    op, old_value, new_value = was.get("op"), was.get("value"), now.get("value")
    if op in ("gt", "ge", "lt", "le") and is_number(old_value) and is_number(new_value):
        raised = float(now["value"]) > float(was["value"])
        # Above a threshold (gt, ge) holds for fewer calls when the threshold rises; below it (lt, le) for more.
        kind = "condition_value_raised" if raised else "condition_value_lowered"
        detail = f"condition {_condition_text(now)} (value was {as_json(old_value)})"
        return [Change(kind, raised == (op in ("gt", "ge")), detail)]
    if op in ("in", "not_in") and isinstance(old_value, list) and isinstance(new_value, list):
        before, after = {as_json(v) for v in old_value}, {as_json(v) for v in new_value}
        changes = []
        # More values: `in` holds for more calls (tightens), `not_in` for fewer (loosens).
        if after - before:
            detail = f"condition {_condition_text(now)} (values added {', '.join(sorted(after - before))})"
            changes.append(Change("condition_values_added", op == "not_in", detail))
        if before - after:
            detail = f"condition {_condition_text(now)} (values removed {', '.join(sorted(before - after))})"
            changes.append(Change("condition_values_removed", op == "in", detail))
        return changes
    detail = f"condition {_condition_text(now)} (value was {as_json(old_value)}) (review: calls it caught may now pass)"
    return [Change("condition_value_changed", True, detail)]


def _every_call(rule: Facts) -> bool:
    """A condition without an endpoint (``* /**``) applies to tool calls as well; no other does, not even ``* /*``."""
    return rule.get("method", ANY) == ANY and rule.get("pattern") == EVERY_PATH


def _move_changes(was: Facts, now: Facts) -> list[Change]:
    """A condition moved to an endpoint that covers its old one still holds for every call it held for: it tightens
    (or keeps); moved anywhere else, calls to the old endpoint it caught may now pass: it loosens."""
    detail = f"condition {_test(now)} moved from {_endpoint(was)} to {_endpoint(now)}"
    if endpoint_covers(now, was) and (_every_call(now) or not _every_call(was)):
        return [Change("condition_moved", False, f"{detail} (it still covers every call it did)")]
    return [Change("condition_moved", True, f"{detail} (review: calls to {_endpoint(was)} it caught may now pass)")]


# -- egress -------------------------------------------------------------------------------------------------------


def global_domains(defaults: Facts | None) -> list[str]:
    """The global allowed domains of a ``data.boundaries.defaults`` document (or of none)."""
    return list((defaults or {}).get("allowed_domains", []))


def _effective_domains(agent: Facts, global_domains: Sequence[str]) -> set[str] | None:
    """The hosts an agent may reach (``None``: any, as there is no allowed domain for it anywhere)."""
    egress = agent.get("egress")
    if egress is None and not global_domains:
        return None
    return set((egress or {}).get("domains", []))


def egress_changes(old: Facts, new: Facts, globals_: tuple[Sequence[str], Sequence[str]]) -> list[Change]:
    """The agent's own domains; the global ones (``defaults``) are reported once, by :func:`defaults_changes`.
    Global domains appearing or disappearing switch the check on or off for an agent, which is reported here."""
    before, after = _effective_domains(old, globals_[0]), _effective_domains(new, globals_[1])
    if before is not None and after is None:
        return [Change("egress_check_removed", True, "no allowed domains any more: calls may reach any host")]
    if before is None and after is not None:
        domains = listed(set(after) | set(globals_[1]))
        return [Change("egress_check_added", False, f"egress allowlist added: only {domains} may be reached")]
    if before is None or after is None:
        return []
    changes = [Change("allowed_domain_added", True, f"allowed domain added: {d}") for d in sorted(after - before)]
    changes += [Change("allowed_domain_removed", False, f"allowed domain removed: {d}") for d in sorted(before - after)]
    return changes


def defaults_changes(old: Facts | None, new: Facts | None, old_agents: Mapping[str, Facts]) -> list[Change]:
    """The global allowed domains (``data.boundaries.defaults``), judged against the old agents."""
    before, after = set(global_domains(old)), set(global_domains(new))
    # A global domain widens what agents may reach only if some agent's egress was checked before; otherwise the
    # first global domains start the check for every agent (each such agent reports `egress_check_added`).
    restricted = bool(before) or any(agent.get("egress") is not None for agent in old_agents.values())
    changes = []
    for domain in sorted(after - before):
        detail = f"global allowed domain added: {domain}" + ("" if restricted else " (starts the egress check)")
        changes.append(Change("global_domain_added", restricted, detail))
    for domain in sorted(before - after):
        changes.append(Change("global_domain_removed", False, f"global allowed domain removed: {domain}"))
    return changes


# -- budget -------------------------------------------------------------------------------------------------------


def _money(value: Any) -> str:
    return f"${value:g}" if is_number(value) else str(value)


def _limit_text(key: str, value: Any) -> str:
    return f"{_money(value)} a day" if key == "daily_usd" else f"{value} requests per second"


def _budget_text(budget: Facts) -> str:
    parts = [_limit_text(key, budget[key]) for key in ("daily_usd", "requests_per_second") if key in budget]
    return ", ".join(parts) or "costs counted, no limit"


def budget_changes(old: Facts | None, new: Facts | None) -> list[Change]:
    """A higher limit, or none, lets more calls through; so does a lower price per call."""
    if old is None and new is None:
        return []
    if new is None:
        return [Change("budget_removed", True, "budget removed: calls are no longer counted against one")]
    if old is None:
        return [Change("budget_added", False, f"budget added: {_budget_text(new)}")]
    changes = []
    for key in ("daily_usd", "requests_per_second"):
        was, now = old.get(key), new.get(key)
        if was == now:
            continue
        if now is None:
            changes.append(Change(f"budget_{key}_removed", True, f"budget: limit of {_limit_text(key, was)} removed"))
        elif was is None:
            changes.append(Change(f"budget_{key}_added", False, f"budget: {_limit_text(key, now)} limit added"))
        else:
            raised = float(now) > float(was)
            detail = f"budget: {_limit_text(key, was)} -> {_limit_text(key, now)}"
            changes.append(Change(f"budget_{key}_{'raised' if raised else 'lowered'}", raised, detail))
    return changes + _price_changes(old, new)


def _price_changes(old: Facts, new: Facts) -> list[Change]:
    """A call that costs less leaves more of the day's budget: a price lowered loosens."""
    changes = []
    old_default, new_default = float(old.get("default_cost_usd", 0)), float(new.get("default_cost_usd", 0))
    if old_default != new_default:
        lowered = new_default < old_default
        detail = f"budget: default cost per call {_money(old_default)} -> {_money(new_default)}"
        changes.append(Change(f"budget_default_cost_{'lowered' if lowered else 'raised'}", lowered, detail))
    # A tool's price is its `tool_prices` entry, else the default: a tool is compared at the price it is counted at.
    old_prices, new_prices = old.get("tool_prices") or {}, new.get("tool_prices") or {}
    for tool in sorted(set(old_prices) | set(new_prices)):
        was, now = float(old_prices.get(tool, old_default)), float(new_prices.get(tool, new_default))
        if was != now:
            lowered = now < was
            detail = f"budget: price of tool {tool} {_money(was)} -> {_money(now)} a call"
            changes.append(Change(f"budget_tool_price_{'lowered' if lowered else 'raised'}", lowered, detail))
    return changes


# -- sanitize (DLP) -----------------------------------------------------------------------------------------------


def _dlp_at(rule: Facts) -> tuple[Any, ...]:
    return (rule.get("method", ANY), rule.get("pattern"), rule.get("detector"))


def _dotted(fields: Sequence[Sequence[Any]]) -> str:
    return ", ".join(".".join(str(step) for step in field) for field in fields)


def _dlp_text(rule: Facts) -> str:
    return f"{_endpoint(rule)} {rule.get('detector')} on {_dotted(rule.get('fields', []))}"


def sanitize_changes(old: Sequence[Facts], new: Sequence[Facts]) -> list[Change]:
    """Rules are matched by what they scan for: same rule first, then the same detector on the same endpoint."""
    return match_entries(
        old,
        new,
        [
            (
                lambda r: (*_dlp_at(r), r.get("flag_regex"), as_json(r.get("fields")), as_json(r.get("apply_to"))),
                unchanged,
            ),
            (lambda r: (*_dlp_at(r), r.get("flag_regex")), _one_dlp_rule),
            (_dlp_at, _one_dlp_rule),
        ],
        removed=lambda rule: Change("dlp_rule_removed", True, f"DLP rule removed: {_dlp_text(rule)}"),
        added=lambda rule: Change("dlp_rule_added", False, f"DLP rule added: {_dlp_text(rule)}"),
    )


def _covered(field: Sequence[Any], fields: Sequence[Sequence[Any]]) -> bool:
    # Every string below a field is scanned: `body` covers `body.note`.
    return any(list(field[: len(other)]) == list(other) for other in fields)


def _one_dlp_rule(was: Facts, now: Facts) -> list[Change]:
    label = f"DLP rule {_dlp_text(now)}"
    changes = []
    if was.get("flag_regex") != now.get("flag_regex"):
        detail = f"{label}: pattern {was.get('flag_regex')} -> {now.get('flag_regex')} (review: effect not decidable)"
        changes.append(Change("dlp_pattern_changed", True, detail))
    old_fields, new_fields = was.get("fields") or [], now.get("fields") or []
    unscanned = [field for field in old_fields if not _covered(field, new_fields)]
    if unscanned:
        changes.append(Change("dlp_fields_removed", True, f"{label}: no longer scans {_dotted(unscanned)}"))
    if any(not _covered(field, old_fields) for field in new_fields):
        changes.append(Change("dlp_fields_added", False, f"{label}: scans more fields (was {_dotted(old_fields)})"))
    old_apply, new_apply = set(was.get("apply_to", [])), set(now.get("apply_to", []))
    if old_apply - new_apply:
        detail = f"{label}: no longer applied to {listed(old_apply - new_apply)}"
        changes.append(Change("dlp_apply_to_removed", True, detail))
    if new_apply - old_apply:
        changes.append(Change("dlp_apply_to_added", False, f"{label}: applied to {listed(new_apply - old_apply)} now"))
    return changes
