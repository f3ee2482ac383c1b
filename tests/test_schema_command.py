"""`yaml2rego schema`: the DSL's JSON Schema for editors, printed or located."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import SEED_POLICY
from yaml2rego.cli import main
from yaml2rego.dsl.schema import SCHEMA_ID, schema_path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_schema_prints_the_shipped_schema_byte_for_byte(runner: CliRunner) -> None:
    result = runner.invoke(main, ["schema"])
    assert result.exit_code == 0, result.output
    assert result.stdout == schema_path().read_text(encoding="utf-8")


def test_printed_schema_is_draft_2020_12_with_the_stable_id(runner: CliRunner) -> None:
    schema = json.loads(runner.invoke(main, ["schema"]).stdout)
    assert schema["$id"] == SCHEMA_ID == "https://yaml2rego.dev/schema/agent-boundary.schema.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_path_option_prints_an_existing_file_inside_the_package(runner: CliRunner) -> None:
    result = runner.invoke(main, ["schema", "--path"])
    assert result.exit_code == 0
    printed = Path(result.stdout.strip())
    assert printed.is_absolute() and printed.is_file()
    assert printed.name == "agent_boundary.schema.json"
    assert printed.parts[-4:-1] == ("yaml2rego", "dsl", "schema")


def test_printed_schema_accepts_the_seed_boundary(runner: CliRunner) -> None:
    schema = json.loads(runner.invoke(main, ["schema"]).stdout)
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(SEED_POLICY.read_text()))


def test_printed_schema_rejects_a_misspelt_key_as_an_editor_would(runner: CliRunner) -> None:
    schema = json.loads(runner.invoke(main, ["schema"]).stdout)
    document = {"agent_boundary": {"agent_id": "a1", "allowed_endpoint": []}}
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(document))
    assert errors and any("allowed_endpoint" in error.message for error in errors)


def test_schema_takes_no_arguments(runner: CliRunner) -> None:
    result = runner.invoke(main, ["schema", "extra"])
    assert result.exit_code == 2
