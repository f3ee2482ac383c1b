"""The packaged JSON Schema: a valid draft 2020-12 schema that accepts every shipped example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from yaml2rego.loader import load_policies, read_yaml_documents
from yaml2rego.schema import SCHEMA_ID, load_schema, schema_path

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
