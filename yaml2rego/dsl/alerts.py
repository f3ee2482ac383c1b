"""The ``alerts:`` section of a boundary: from validated YAML to the model (its data, which the runtime's alert sink
reads, is :func:`yaml2rego.compile.section_data.alerts_data`; ``docs/runtime.md``, "Alerts").

Alert rules never change a decision: the Rego library does not read them; :class:`~yaml2rego.runtime.alerts.AlertSink`
evaluates them on the record log, each rule scoped to the agent whose boundary declares it.

>>> from yaml2rego.dsl.loader import load_policy_text
>>> agent = load_policy_text('''
... agent_boundary:
...   agent_id: a1
...   alerts:
...     - {name: admin-probe, severity: critical, codes: [endpoint_denied], path: "/api/admin/*"}
... ''').get("a1")
>>> agent.alerts[0].severity, agent.alerts[0].codes
('critical', ('endpoint_denied',))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from yaml2rego.dsl.model import AlertRule
from yaml2rego.dsl.yaml_source import mapping_items
from yaml2rego.errors import SourceLocation

__all__ = ["build", "problems"]

Path = tuple[str | int, ...]
Locate = Callable[..., SourceLocation]


def problems(boundary: Mapping[str, Any]) -> Iterator[tuple[str, Path, bool]]:
    """``(message, path, at_key)`` beyond the schema: duplicate names, an event rule that also names decision fields."""
    seen: set[str] = set()
    for index, item in mapping_items(boundary.get("alerts")):
        where: Path = ("agent_boundary", "alerts", index)
        name = item.get("name")
        if isinstance(name, str) and name in seen:
            yield f"an alert rule named {name!r} already exists", (*where, "name"), False
        seen.add(str(name))
        if "event" in item:
            extra = sorted(set(item) & {"codes", "path", "decision", "enforced"})
            if extra:
                yield f"{extra[0]} does not apply to an event rule (an event has no decision)", (*where, extra[0]), True


def build(boundary: Mapping[str, Any], location: Locate) -> dict[str, Any]:
    """Keyword arguments for :class:`~yaml2rego.dsl.model.AgentBoundary` (``alerts``) from a validated boundary."""
    return {
        "alerts": tuple(
            AlertRule(
                name=item["name"],
                severity=item["severity"],
                source=location("alerts", index),
                codes=tuple(item.get("codes", ())),
                path=item.get("path"),
                decision=item.get("decision"),
                event=item.get("event"),
                enforced=item.get("enforced"),
                count=int(item.get("count", 1)),
                window_s=float(item.get("window_s", 60)),
                quiet_s=float(item.get("quiet_s", 0)),
            )
            for index, item in mapping_items(boundary.get("alerts"))
        )
    }
