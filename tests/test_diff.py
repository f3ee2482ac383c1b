"""The semantic diff: every kind of change, its loosens/tightens label, the formats, sources and exit codes."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from yaml2rego.bundle import bundle_policies
from yaml2rego.cli import main
from yaml2rego.diff import LOOSENS, TIGHTENS, PolicyChange, diff_agents, format_markdown, format_text, load_agents

SEED = Path(__file__).resolve().parent.parent / "examples" / "support_agent.yaml"

BASE: dict[str, Any] = {
    "agent_id": "bot",
    "mode": "enforce",
    "allowed_endpoints": [
        {"rule": "allowed_endpoints[0]", "source": "a.yaml:4", "method": "GET", "pattern": "/api/customer/*"},
        {"rule": "allowed_endpoints[1]", "source": "a.yaml:6", "method": "POST", "pattern": "/api/ticket"},
    ],
    "denied_endpoints": [
        {"rule": "denied_endpoints[0]", "source": "a.yaml:9", "method": "*", "pattern": "/api/admin/*"},
        {"rule": "denied_endpoints[1]", "source": "a.yaml:11", "method": "DELETE", "pattern": "/api/*"},
    ],
    "input_validation": [
        {
            "method": "*",
            "pattern": "/api/ticket",
            "fields": [
                {"field": "customer_id", "type": "uuid", "required": True},
                {"field": "priority", "type": "enum", "required": True, "values": ["low", "high"]},
                {"field": "title", "type": "string", "required": True, "min_length": 3, "max_length": 80},
                {"field": "code", "type": "string", "required": False, "pattern": "^[A-Z]+$"},
                {"field": "count", "type": "integer", "required": False, "minimum": 1, "maximum": 10},
            ],
        }
    ],
    "rate_limits": [{"method": "*", "pattern": "/api/customer/*", "requests_per_minute": 30}],
    "max_payload": {"rule": "max_payload_size_kb", "bytes": 1024},
}

Edit = Callable[[dict[str, Any]], None]


def _field(agent: dict[str, Any], name: str) -> dict[str, Any]:
    fields: list[dict[str, Any]] = agent["input_validation"][0]["fields"]
    return next(rule for rule in fields if rule["field"] == name)


def _drop_field(agent: dict[str, Any], name: str) -> None:
    fields = agent["input_validation"][0]["fields"]
    fields.remove(_field(agent, name))


# (id, edit applied to a copy of BASE, expected [(kind, label)])
CASES: list[tuple[str, Edit, list[tuple[str, str]]]] = [
    ("mode-to-shadow", lambda a: a.update(mode="shadow"), [("mode_changed", LOOSENS)]),
    ("endpoint-added", lambda a: a["allowed_endpoints"].append({"method": "GET", "pattern": "/x"}),
     [("endpoint_added", LOOSENS)]),
    ("endpoint-removed", lambda a: a["allowed_endpoints"].pop(1), [("endpoint_removed", TIGHTENS)]),
    ("methods-widened-to-any", lambda a: a["allowed_endpoints"][0].update(method="*"), [("methods_widened", LOOSENS)]),
    ("method-added", lambda a: a["allowed_endpoints"].append({"method": "PUT", "pattern": "/api/ticket"}),
     [("methods_widened", LOOSENS)]),
    ("method-swapped", lambda a: a["allowed_endpoints"][1].update(method="PUT"),
     [("methods_widened", LOOSENS), ("methods_narrowed", TIGHTENS)]),
    ("deny-rule-removed", lambda a: a["denied_endpoints"].pop(0), [("deny_rule_removed", LOOSENS)]),
    ("deny-rule-added", lambda a: a["denied_endpoints"].append({"method": "*", "pattern": "/internal/*"}),
     [("deny_rule_added", TIGHTENS)]),
    ("deny-methods-narrowed", lambda a: a["denied_endpoints"][0].update(method="POST"),
     [("deny_methods_narrowed", LOOSENS)]),
    ("deny-methods-widened", lambda a: a["denied_endpoints"][1].update(method="*"),
     [("deny_methods_widened", TIGHTENS)]),
    ("validation-removed", lambda a: a.update(input_validation=[]), [("validation_removed", LOOSENS)]),
    ("validation-added", lambda a: a["input_validation"].append({"method": "*", "pattern": "/y", "fields": []}),
     [("validation_added", TIGHTENS)]),
    ("field-rule-removed", lambda a: _drop_field(a, "customer_id"), [("field_rule_removed", LOOSENS)]),
    ("field-rule-added",
     lambda a: a["input_validation"][0]["fields"].append({"field": "new", "type": "boolean", "required": False}),
     [("field_rule_added", TIGHTENS)]),
    ("field-now-optional", lambda a: _field(a, "customer_id").update(required=False),
     [("field_now_optional", LOOSENS)]),
    ("field-now-required", lambda a: _field(a, "code").update(required=True), [("field_now_required", TIGHTENS)]),
    ("type-uuid-to-string", lambda a: _field(a, "customer_id").update(type="string"),
     [("field_type_changed", LOOSENS)]),
    ("type-string-to-email", lambda a: _field(a, "title").update(type="email"), [("field_type_changed", TIGHTENS)]),
    ("type-integer-to-number", lambda a: _field(a, "count").update(type="number"), [("field_type_changed", LOOSENS)]),
    ("enum-value-added", lambda a: _field(a, "priority").update(values=["low", "high", "urgent"]),
     [("enum_values_added", LOOSENS)]),
    ("enum-value-removed", lambda a: _field(a, "priority").update(values=["high"]),
     [("enum_values_removed", TIGHTENS)]),
    ("min-length-raised", lambda a: _field(a, "title").update(min_length=5), [("field_min_length_raised", TIGHTENS)]),
    ("min-length-lowered", lambda a: _field(a, "title").update(min_length=1), [("field_min_length_lowered", LOOSENS)]),
    ("max-length-raised", lambda a: _field(a, "title").update(max_length=500), [("field_max_length_raised", LOOSENS)]),
    ("max-length-lowered", lambda a: _field(a, "title").update(max_length=40),
     [("field_max_length_lowered", TIGHTENS)]),
    ("max-length-removed", lambda a: _field(a, "title").pop("max_length"), [("field_max_length_removed", LOOSENS)]),
    ("minimum-added", lambda a: _field(a, "title").update(minimum=0), [("field_minimum_added", TIGHTENS)]),
    ("minimum-removed", lambda a: _field(a, "count").pop("minimum"), [("field_minimum_removed", LOOSENS)]),
    ("maximum-raised", lambda a: _field(a, "count").update(maximum=100), [("field_maximum_raised", LOOSENS)]),
    ("maximum-added", lambda a: _field(a, "title").update(maximum=5), [("field_maximum_added", TIGHTENS)]),
    ("pattern-removed", lambda a: _field(a, "code").pop("pattern"), [("field_pattern_removed", LOOSENS)]),
    ("pattern-added", lambda a: _field(a, "title").update(pattern="^[a-z]+$"), [("field_pattern_added", TIGHTENS)]),
    ("pattern-changed", lambda a: _field(a, "code").update(pattern="^[A-Z]{2}$"), [("field_pattern_changed", LOOSENS)]),
    ("rate-limit-raised", lambda a: a["rate_limits"][0].update(requests_per_minute=60),
     [("rate_limit_raised", LOOSENS)]),
    ("rate-limit-lowered", lambda a: a["rate_limits"][0].update(requests_per_minute=10),
     [("rate_limit_lowered", TIGHTENS)]),
    ("rate-limit-removed", lambda a: a.update(rate_limits=[]), [("rate_limit_removed", LOOSENS)]),
    ("rate-limit-added",
     lambda a: a["rate_limits"].append({"method": "POST", "pattern": "/z", "requests_per_minute": 5}),
     [("rate_limit_added", TIGHTENS)]),
    ("payload-raised", lambda a: a["max_payload"].update(bytes=4096), [("payload_limit_raised", LOOSENS)]),
    ("payload-lowered", lambda a: a["max_payload"].update(bytes=512), [("payload_limit_lowered", TIGHTENS)]),
    ("payload-removed", lambda a: a.pop("max_payload"), [("payload_limit_removed", LOOSENS)]),
    ("source-lines-moved", lambda a: a["allowed_endpoints"][0].update(source="a.yaml:40", rule="allowed_endpoints[7]"),
     []),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_change_is_labelled(edit: Edit, expected: list[tuple[str, str]]) -> None:
    new = copy.deepcopy(BASE)
    edit(new)
    changes = diff_agents({"bot": BASE}, {"bot": new})
    assert [(change.kind, change.label) for change in changes] == expected
    assert all(change.agent_id == "bot" for change in changes)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({}, {"bot": BASE}, [("agent_added", LOOSENS)]),
        ({"bot": BASE}, {}, [("agent_removed", TIGHTENS)]),
        ({"bot": {**BASE, "mode": "shadow"}}, {"bot": BASE}, [("mode_changed", TIGHTENS)]),
        ({"bot": {**BASE, "max_payload": None}}, {"bot": BASE}, [("payload_limit_added", TIGHTENS)]),
    ],
    ids=["agent-added", "agent-removed", "mode-to-enforce", "payload-added"],
)
def test_agent_level_changes_are_labelled(
    old: dict[str, Any], new: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert [(change.kind, change.label) for change in diff_agents(old, new)] == expected


def test_changes_are_grouped_by_agent_in_id_order() -> None:
    changes = diff_agents({"b": BASE, "a": BASE}, {"b": {**BASE, "mode": "shadow"}, "c": BASE})
    assert [(change.agent_id, change.kind) for change in changes] == [
        ("a", "agent_removed"),
        ("b", "mode_changed"),
        ("c", "agent_added"),
    ]


# -- formats ------------------------------------------------------------------------------------------------------

SAMPLE = [
    PolicyChange("bot", "deny_rule_removed", LOOSENS, "deny rule removed: * /api/admin/*"),
    PolicyChange("bot", "rate_limit_lowered", TIGHTENS, "rate limit for * /a|b: 30/min -> 10/min"),
]


def test_text_format() -> None:
    assert format_text(SAMPLE) == (
        "bot:\n"
        "  [loosens] deny rule removed: * /api/admin/*\n"
        "  [tightens] rate limit for * /a|b: 30/min -> 10/min\n"
        "2 change(s): 1 loosen, 1 tighten"
    )
    assert format_text([]) == "no policy changes"


def test_markdown_format_for_a_pull_request_comment() -> None:
    assert format_markdown(SAMPLE) == (
        "## Agent boundary changes\n\n"
        "**1 change(s) loosen a boundary: a reviewer must approve.**\n\n"
        "### `bot`\n\n"
        "| Effect | Change | Detail |\n"
        "|---|---|---|\n"
        "| **loosens** | `deny_rule_removed` | deny rule removed: * /api/admin/* |\n"
        "| tightens | `rate_limit_lowered` | rate limit for * /a\\|b: 30/min -> 10/min |\n\n"
        "2 change(s): 1 loosen, 1 tighten"
    )
    assert format_markdown([]) == "## Agent boundary changes\n\nNo policy changes."


# -- sources and the command line ---------------------------------------------------------------------------------


def _policy(tmp_path: Path, name: str, text: str) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "agent.yaml").write_text(text)
    return directory


LOOSER = SEED.read_text().replace('    - method: "*"\n      path: "/api/admin/*"\n', "")


def test_yaml_bundle_and_data_json_sources_agree(tmp_path: Path) -> None:
    bundle_file = tmp_path / "b.tar.gz"
    bundle_policies([SEED]).write(bundle_file)
    data_file = tmp_path / "data.json"
    data_file.write_bytes(bundle_policies([SEED]).files["boundaries/data.json"])
    from_yaml = load_agents(SEED)
    assert set(from_yaml) == {"support_agent_1"}
    assert load_agents(bundle_file) == from_yaml == load_agents(data_file)


def test_cli_diff_exits_3_when_anything_loosens(tmp_path: Path) -> None:
    assert SEED.read_text() != LOOSER
    new = _policy(tmp_path, "new", LOOSER)
    result = CliRunner().invoke(main, ["diff", str(SEED), str(new)])
    assert result.exit_code == 3, result.output
    assert result.output == (
        "support_agent_1:\n  [loosens] deny rule removed: * /api/admin/*\n1 change(s): 1 loosen, 0 tighten\n"
    )


def test_cli_diff_exits_0_when_only_tightening(tmp_path: Path) -> None:
    old = _policy(tmp_path, "old", LOOSER)
    result = CliRunner().invoke(main, ["diff", str(old), str(SEED), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert "| tightens | `deny_rule_added` | deny rule added: * /api/admin/* |" in result.output


def test_cli_diff_between_bundles_and_as_json(tmp_path: Path) -> None:
    old, new = tmp_path / "old.tar.gz", tmp_path / "new.tar.gz"
    bundle_policies([SEED]).write(old)
    bundle_policies([_policy(tmp_path, "looser", LOOSER)]).write(new)
    result = CliRunner().invoke(main, ["diff", str(old), str(new), "--format", "json"])
    assert result.exit_code == 3
    assert json.loads(result.output) == [
        {
            "agent_id": "support_agent_1",
            "kind": "deny_rule_removed",
            "label": "loosens",
            "detail": "deny rule removed: * /api/admin/*",
        }
    ]


def test_cli_diff_identical_policies(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["diff", str(SEED), str(SEED)])
    assert (result.exit_code, result.output) == (0, "no policy changes\n")


def test_policy_sets_compare_in_their_compiled_form() -> None:
    from yaml2rego.diff import diff_policy_sets
    from yaml2rego.loader import load_policy_text

    old = load_policy_text(SEED.read_text(), "agent.yaml")
    new = load_policy_text(SEED.read_text().replace("requests_per_minute: 30", "requests_per_minute: 90"), "agent.yaml")
    changes = diff_policy_sets(old, new)
    assert [(change.kind, change.label, change.detail) for change in changes] == [
        ("rate_limit_raised", LOOSENS, "rate limit for * /api/customer/v1/*: 30/min -> 90/min")
    ]
