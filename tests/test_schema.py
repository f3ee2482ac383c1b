"""The packaged JSON Schema: a valid draft 2020-12 schema that accepts every shipped example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from yaml2rego.dsl.loader import load_policies, read_yaml_documents
from yaml2rego.dsl.schema import SCHEMA_ID, load_schema, schema_path

EXAMPLES = Path(__file__).parent.parent / "examples"
# The files the loader reads from examples/: hidden folders (CI configuration under examples/ci/) are skipped.
EXAMPLE_FILES = sorted(
    path
    for path in EXAMPLES.rglob("*")
    if path.suffix in (".yaml", ".yml") and not any(part.startswith(".") for part in path.relative_to(EXAMPLES).parts)
)
GOOD_FIXTURES = sorted((Path(__file__).parent / "fixtures" / "policies" / "good").glob("*.yaml"))


def walk(schema: Any, where: str = "#") -> list[tuple[str, dict[str, Any]]]:
    """Every subschema with its JSON pointer."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(schema, dict):
        found.append((where, schema))
        for key, value in schema.items():
            found.extend(walk(value, f"{where}/{key}"))
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found.extend(walk(value, f"{where}/{index}"))
    return found


def test_schema_is_valid_draft_2020_12() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID == "https://yaml2rego.dev/schema/agent-boundary.schema.json"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_path_points_at_the_packaged_file() -> None:
    assert schema_path().is_file()
    assert schema_path().name == "agent_boundary.schema.json"


def test_every_object_forbids_unknown_keys() -> None:
    objects = [(where, sub) for where, sub in walk(load_schema()) if sub.get("type") == "object"]
    assert objects
    # A map (tool name → tool, role → classes) gives its values a schema instead; its keys are the author's names.
    closed = [
        sub.get("additionalProperties") is False or isinstance(sub.get("additionalProperties"), dict)
        for _, sub in objects
    ]
    assert [where for (where, _), ok in zip(objects, closed, strict=True) if not ok] == []


def test_every_property_has_a_description() -> None:
    schema = load_schema()
    refs = {f"#/$defs/{name}": sub for name, sub in schema["$defs"].items()}
    missing = []
    for where, sub in walk(schema):
        if "/allOf/" in where:  # the type-specific branches restate properties only to forbid them
            continue
        for name, prop in sub.get("properties", {}).items():
            described = "description" in prop or "description" in refs.get(prop.get("$ref", ""), {})
            if not described:
                missing.append(f"{where}/properties/{name}")
    assert missing == []


@pytest.mark.parametrize("path", EXAMPLE_FILES + GOOD_FIXTURES, ids=lambda path: path.name)
def test_schema_accepts_every_example(path: Path) -> None:
    validator = jsonschema.Draft202012Validator(load_schema())
    for document in read_yaml_documents(path.read_text(encoding="utf-8"), str(path)):
        assert [error.message for error in validator.iter_errors(document)] == []


def test_examples_load() -> None:
    policies = load_policies([EXAMPLES])
    assert {"support_agent_1", "checkout_agent", "catalog_bot", "returns_agent"} <= set(policies.agent_ids)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"agent_boundary": {"agent_id": "a", "toolz": []}}, "Additional properties are not allowed"),
        ({"agent_boundary": {}}, "'agent_id' is a required property"),
        (
            {
                "agent_boundary": {
                    "agent_id": "a",
                    "input_validation": [
                        {"endpoint": "/x", "rules": [{"field": "f", "type": "string", "values": ["a"]}]}
                    ],
                }
            },
            "should not be valid under {}",
        ),
        (
            {
                "agent_boundary": {
                    "agent_id": "a",
                    "input_validation": [{"endpoint": "/x", "rules": [{"field": "f", "type": "enum"}]}],
                }
            },
            "'values' is a required property",
        ),
    ],
    ids=["unknown-key", "missing-agent-id", "values-on-string", "enum-without-values"],
)
def test_schema_refuses(document: dict[str, Any], message: str) -> None:
    errors = [error.message for error in jsonschema.Draft202012Validator(load_schema()).iter_errors(document)]
    assert any(message in error for error in errors), errors


# -- one verdict in every regex dialect -----------------------------------------------------------------------------
#
# The loader asks the Rust validator (jsonschema-rs) whether a document is valid and the Python one (jsonschema) what
# is wrong with it. Their regex dialects differ: Python's `$` also matches before a final newline, `\s` and `\d` are
# not the same classes. A document one of them accepts must be accepted by the other.

SINGLE_LINE = {"$ref": "#/$defs/singleLine"}


def _string_schemas_with_patterns() -> list[tuple[str, dict[str, Any]]]:
    return [
        (where, node)
        for where, node in walk(load_schema())
        if node.get("type") == "string" and "pattern" in node and not where.startswith("#/$defs/singleLine")
    ]


def test_every_pattern_sits_beside_the_single_line_rule() -> None:
    """A trailing newline, the one input on which `$` differs, is refused by an anchor-free class in both dialects."""
    found = _string_schemas_with_patterns()
    assert found
    assert [where for where, node in found if SINGLE_LINE not in node.get("allOf", [])] == []


def test_no_pattern_uses_a_class_whose_meaning_depends_on_the_dialect() -> None:
    patterns = [node["pattern"] for _, node in walk(load_schema()) if isinstance(node.get("pattern"), str)]
    assert [
        p for p in patterns if any(shorthand in p for shorthand in ("\\s", "\\S", "\\d", "\\D", "\\w", "\\W", "\\b"))
    ] == []


def test_every_mapping_with_free_keys_checks_its_keys() -> None:
    """Tool, argument, scope, role and price keys reach the data and the comments: they are names, on one line."""
    free = [
        where
        for where, node in walk(load_schema())
        if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict)
    ]
    assert free
    assert [where for where, node in walk(load_schema()) if where in free and "propertyNames" not in node] == []


def _boundary(**keys: Any) -> dict[str, Any]:
    return {"agent_boundary": {"agent_id": "a1", **keys}}


def _tool(**keys: Any) -> dict[str, Any]:
    return {"actions": ["read"], "classification": "public", **keys}


# Where a name, key, pattern or identifier goes: each must be one line of printable text.
NAME_PLACES = {
    "agent_id": lambda s: {"agent_boundary": {"agent_id": s}},
    "owner": lambda s: _boundary(owner=s),
    "method": lambda s: _boundary(allowed_endpoints=[{"method": s, "path": "/a"}]),
    "path": lambda s: _boundary(allowed_endpoints=[{"method": "GET", "path": s}]),
    "field": lambda s: _boundary(input_validation=[{"endpoint": "/a", "rules": [{"field": s, "type": "string"}]}]),
    "field_pattern": lambda s: _boundary(
        input_validation=[{"endpoint": "/a", "rules": [{"field": "f", "type": "string", "pattern": s}]}]
    ),
    "condition_field": lambda s: _boundary(conditions=[{"field": s, "op": "exists", "outcome": "deny"}]),
    "domain": lambda s: _boundary(allowed_domains=[s]),
    "sanitize_pattern": lambda s: _boundary(sanitize=[{"detector": "regex", "pattern": s}]),
    "tool_name": lambda s: _boundary(tools={s: _tool()}),
    "argument_name": lambda s: _boundary(tools={"t": _tool(args={s: {"type": "string"}})}),
    "argument_pattern": lambda s: _boundary(tools={"t": _tool(args={"a": {"type": "string", "pattern": s}})}),
    "scope_key": lambda s: _boundary(tools={"t": _tool(scope={s: "x"})}),
    "scope_pattern": lambda s: _boundary(tools={"t": _tool(scope={"a": s})}),
    "scope_pattern_list": lambda s: _boundary(tools={"t": _tool(scope={"a": ["x", s]})}),
    "clearance_role": lambda s: _boundary(execution_context={"clearance": {s: ["pii"]}}),
    "allowed_tool": lambda s: _boundary(execution_context={"environments": {"dev": {"allowed_tools": [s]}}}),
    "tool_price": lambda s: _boundary(budget={"tool_prices": {s: 1}}),
    "test_name": lambda s: _boundary(tests=[{"name": s, "input": {}, "expect": "deny"}]),
    "reason_code": lambda s: _boundary(tests=[{"name": "t", "input": {}, "expect": "deny", "reasons": [s]}]),
}
# Free text keeps what the author wrote, line breaks included: it is rendered escaped, never as code.
TEXT_PLACES = {
    "description": lambda s: _boundary(description=s),
    "tool_description": lambda s: _boundary(tools={"t": _tool(description=s)}),
    "condition_message": lambda s: _boundary(
        conditions=[{"field": "f", "op": "exists", "outcome": "deny", "message": s}]
    ),
    "enum_value": lambda s: _boundary(
        input_validation=[{"endpoint": "/a", "rules": [{"field": "f", "type": "enum", "values": [s]}]}]
    ),
    "test_body": lambda s: _boundary(tests=[{"name": "t", "input": {"body": {s: s}}, "expect": "deny"}]),
}
# Each is the end or the middle of an otherwise valid value ("abc" + hostile).
HOSTILE_SUFFIXES = {
    "trailing_newline": "\n",
    "newline_then_rule": "\nx := 1",
    "carriage_return": "\r",
    "nul": "\x00",
    "tab": "\t",
    "escape": "\x1b",
    "del": "\x7f",
    "next_line": "\x85",
    "c1": "\x9b",
    "line_separator": "\u2028",
    "paragraph_separator": "\u2029",
    "bidi_override": "\u202e",
    "bidi_isolate": "\u2066",
    "byte_order_mark": "\ufeff",
    "vertical_tab": "\x0b",
    "file_separator": "\x1c",
}


def _verdicts(document: dict[str, Any]) -> tuple[bool, bool]:
    from yaml2rego.dsl.checks import fast_schema_validator, schema_validator

    return fast_schema_validator().is_valid(document), schema_validator().is_valid(document)


@pytest.mark.parametrize("suffix", list(HOSTILE_SUFFIXES.values()), ids=list(HOSTILE_SUFFIXES))
@pytest.mark.parametrize("place", list(NAME_PLACES.values()), ids=list(NAME_PLACES))
def test_both_validators_refuse_a_control_character_in_a_name(place: Any, suffix: str) -> None:
    rust, python = _verdicts(place("abc" + suffix))
    assert (rust, python) == (False, False)


@pytest.mark.parametrize("place", list(NAME_PLACES.values()), ids=list(NAME_PLACES))
def test_both_validators_still_accept_a_plain_name(place: Any) -> None:
    """The places above are valid with a plain value, so the refusals above are the hostile character's doing."""
    value = "*.example.com" if place is NAME_PLACES["domain"] else "/abc" if place is NAME_PLACES["path"] else "abc"
    value = "GET" if place is NAME_PLACES["method"] else value
    assert _verdicts(place(value)) == (True, True)


@pytest.mark.parametrize("suffix", list(HOSTILE_SUFFIXES.values()), ids=list(HOSTILE_SUFFIXES))
@pytest.mark.parametrize("place", list(TEXT_PLACES.values()), ids=list(TEXT_PLACES))
def test_both_validators_accept_any_character_in_free_text(place: Any, suffix: str) -> None:
    assert _verdicts(place("abc" + suffix + "def")) == (True, True)


@pytest.mark.parametrize(
    ("field", "valid"),
    [("a.b", True), ("a\u00a0b", False), ("a\u3000b", False), ("a b", False), ("a..b", False), (".a", False)],
    ids=["dotted", "no_break_space", "ideographic_space", "space", "empty_part", "leading_dot"],
)
def test_field_names_refuse_every_space_in_both_validators(field: str, valid: bool) -> None:
    assert _verdicts(NAME_PLACES["field"](field)) == (valid, valid)
