"""The boundary-YAML loader: what it accepts, what it refuses, and exactly where and how it says so.

Bad fixtures live in ``tests/fixtures/policies/bad/<case>.yaml``, with the expected errors, one
``file:line:col: message`` per line, in ``<case>.errors`` beside them. Set ``YAML2REGO_REGENERATE=1`` to rewrite the
``.errors`` files from the current output (then review the diff).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yaml2rego.dsl.loader import (
    MAX_DOCUMENTS,
    MAX_ERRORS_PER_FILE,
    example_problem,
    load_policies,
    load_policy_text,
)
from yaml2rego.dsl.model import (
    AgentBoundary,
    EndpointRule,
    FieldRule,
    FieldType,
    InputValidation,
    Mode,
    PolicySet,
    RateLimit,
)
from yaml2rego.errors import PolicyError, PolicyErrors, PolicySyntaxError, PolicyValidationError, SourceLocation
from yaml2rego.semantics.paths import parse_pattern

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
EXAMPLES = Path(__file__).parent.parent / "examples"
BAD = sorted(path.name for path in (FIXTURES / "bad").glob("*.yaml"))
GOOD = sorted(path.name for path in (FIXTURES / "good").glob("*.yaml"))
REGENERATE = os.environ.get("YAML2REGO_REGENERATE") == "1"


def error_lines(error: PolicyError) -> list[str]:
    errors = error.errors if isinstance(error, PolicyErrors) else [error]
    return [f"{item.location}: {item.message}" if item.location else item.message for item in errors]


def load_error(*paths: str | os.PathLike[str], **options: int) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policies(paths, **options)
    return info.value


def text_error(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policy_text(text, "p.yaml")
    return info.value


@pytest.fixture
def in_fixtures(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the fixture folder, so error locations read ``bad/<case>.yaml:…`` exactly as the caller named it."""
    monkeypatch.chdir(FIXTURES)
    return FIXTURES


# --------------------------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BAD, ids=[name.removesuffix(".yaml") for name in BAD])
def test_bad_fixture_reports_exactly_the_expected_errors(in_fixtures: Path, name: str) -> None:
    path = f"bad/{name}"
    expected_file = in_fixtures / "bad" / name.replace(".yaml", ".errors")
    actual = error_lines(load_error(path))
    if REGENERATE:
        expected_file.write_text("\n".join(actual) + "\n", encoding="utf-8")
    assert actual == expected_file.read_text(encoding="utf-8").splitlines()


WITH_SOURCE_LINE = [name for name in BAD if name != "empty.yaml"]  # an empty file has no offending line


@pytest.mark.parametrize("name", WITH_SOURCE_LINE, ids=[name.removesuffix(".yaml") for name in WITH_SOURCE_LINE])
def test_every_error_shows_the_offending_source_line(in_fixtures: Path, name: str) -> None:
    error = load_error(f"bad/{name}")
    lines = (in_fixtures / "bad" / name).read_text(encoding="utf-8").splitlines()
    for item in error.errors if isinstance(error, PolicyErrors) else [error]:
        assert item.location is not None
        if item.location.line <= len(lines) and lines[item.location.line - 1].strip():
            assert item.snippet == lines[item.location.line - 1]


@pytest.mark.parametrize("name", GOOD, ids=[name.removesuffix(".yaml") for name in GOOD])
def test_good_fixture_loads(in_fixtures: Path, name: str) -> None:
    policies = load_policies([f"good/{name}"])
    assert len(policies) >= 1
    assert all(agent.source_file == f"good/{name}" for agent in policies)


def test_errors_of_several_files_are_reported_together(in_fixtures: Path) -> None:
    error = load_error("bad/unknown_key.yaml", "good/minimal.yaml", "bad/bad_agent_id.yaml")
    assert isinstance(error, PolicyErrors)
    assert [line.split(":")[0] for line in error_lines(error)] == ["bad/unknown_key.yaml", "bad/bad_agent_id.yaml"]
    assert str(error).splitlines()[0] == (
        "bad/unknown_key.yaml:3:3: unknown key 'allowed_endpoint'; did you mean 'allowed_endpoints'?"
    )


# --------------------------------------------------------------------------------------------------------------------
# The seed boundary and the model it becomes
# --------------------------------------------------------------------------------------------------------------------


def test_seed_boundary_loads_to_the_expected_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES.parent)
    file = "examples/support_agent.yaml"

    def at(line: int, column: int) -> SourceLocation:
        return SourceLocation(file, line, column)

    expected = AgentBoundary(
        agent_id="support_agent_1",
        source=at(1, 1),
        allowed_endpoints=(
            EndpointRule("allowed_endpoints[0]", "GET", parse_pattern("/api/customer/v1/*"), at(4, 7)),
            EndpointRule("allowed_endpoints[1]", "POST", parse_pattern("/api/ticket/v1/"), at(6, 7)),
        ),
        denied_endpoints=(
            EndpointRule("denied_endpoints[0]", "*", parse_pattern("/api/admin/*"), at(9, 7)),
            EndpointRule("denied_endpoints[1]", "DELETE", parse_pattern("/api/*"), at(11, 7)),
        ),
        input_validation=(
            InputValidation(
                "input_validation[0]",
                parse_pattern("/api/ticket/v1/"),
                "*",
                (
                    FieldRule("input_validation[0].rules[0]", "customer_id", FieldType.UUID, at(16, 11)),
                    FieldRule(
                        "input_validation[0].rules[1]",
                        "priority",
                        FieldType.ENUM,
                        at(18, 11),
                        values=("low", "medium", "high"),
                    ),
                ),
                at(14, 7),
            ),
        ),
        rate_limits=(RateLimit("rate_limits[0]", parse_pattern("/api/customer/v1/*"), "*", 30, at(22, 7)),),
        max_payload_size_kb=1024,
        max_payload_source=at(24, 3),
    )
    assert load_policies([file]) == PolicySet((expected,))


def test_full_boundary_keeps_every_setting(in_fixtures: Path) -> None:
    agent = load_policies(["good/all_features.yaml"]).agents[0]
    assert (agent.agent_id, agent.mode, agent.owner) == ("billing.agent:eu-1", Mode.SHADOW, "team-billing@example.com")
    assert agent.description == "Answers billing questions and opens refund requests."
    assert [rule.describe() for rule in agent.allowed_endpoints] == [
        "GET /api/invoices/v2/*",
        "* /api/refunds/**/notes",
        "POST /api/refunds/v1",
    ]
    validation = agent.input_validation[0]
    assert validation.method == "POST"
    fields = {rule.field: rule for rule in validation.fields}
    assert fields["customer.email"].path == ("customer", "email")
    assert fields["customer.email"].required is False
    assert fields["reason"].values == ("duplicate", "damaged", "no")
    note = fields["note"]
    assert (note.min_length, note.max_length, note.pattern, note.example) == (1, 500, "^[^<>]*$", "printer on fire")
    assert (fields["amount_cents"].minimum, fields["amount_cents"].maximum) == (1, 100000)
    assert fields["ratio"].maximum == 1.5
    assert fields["notify"].example is True
    assert [(limit.rule_id, limit.method, limit.requests_per_minute) for limit in agent.rate_limits] == [
        ("rate_limits[0]", "*", 60),
        ("rate_limits[1]", "POST", 5),
    ]
    assert agent.max_payload_size_kb == 64
    assert agent.max_payload_source == SourceLocation("good/all_features.yaml", 57, 3)


def test_user_tests_default_their_agent_id_to_the_boundary(in_fixtures: Path) -> None:
    tests = load_policies(["good/all_features.yaml"]).agents[0].tests
    assert [(test.name, test.expect_decision, test.expect_reasons) for test in tests] == [
        ("an invoice can be read", "allow", ()),
        ("a refund with an unknown reason is refused", "deny", ("invalid_input",)),
        ("another agent is unknown", "deny", ("unknown_agent",)),
    ]
    assert tests[0].input == {"agent_id": "billing.agent:eu-1", "method": "GET", "path": "/api/invoices/v2/42"}
    assert tests[2].input["agent_id"] == "someone_else"
    assert tests[1].source == SourceLocation("good/all_features.yaml", 62, 7)


def test_plain_scalars_follow_yaml_1_2(in_fixtures: Path) -> None:
    agent = load_policies(["good/yaml12_scalars.yaml"]).agents[0]
    assert agent.agent_id == "1234"
    assert agent.input_validation[0].fields[0].values == ("on", "off", "yes", "no", 31, 1500.0, True)


def test_whole_number_written_as_float_becomes_an_int() -> None:
    agent = load_policy_text("agent_boundary: {agent_id: a, max_payload_size_kb: 2.0}").agents[0]
    assert agent.max_payload_size_kb == 2
    assert isinstance(agent.max_payload_size_kb, int)


# --------------------------------------------------------------------------------------------------------------------
# Files, directories and documents
# --------------------------------------------------------------------------------------------------------------------


def test_multi_document_file_gives_one_agent_per_document(in_fixtures: Path) -> None:
    policies = load_policies(["good/multi_document.yaml"])
    assert policies.agent_ids == ("reader", "writer")
    assert policies.get("writer").source == SourceLocation("good/multi_document.yaml", 8, 1)  # type: ignore[union-attr]


def write(path: Path, agent_id: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"agent_boundary:\n  agent_id: {agent_id}\n", encoding="utf-8")


def test_directory_is_read_recursively_in_sorted_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "agents" / "b.yaml", "beta")
    write(tmp_path / "agents" / "a.yml", "alpha")
    write(tmp_path / "agents" / "team" / "c.yaml", "gamma")
    write(tmp_path / "agents" / ".github" / "workflow.yml", "not_a_boundary")
    write(tmp_path / "agents" / ".hidden.yaml", "hidden")
    (tmp_path / "agents" / "README.md").write_text("not YAML: {", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    policies = load_policies(["agents"])
    assert policies.agent_ids == ("alpha", "beta", "gamma")
    assert {agent.source_file for agent in policies} == {
        os.path.join("agents", "a.yml"),
        os.path.join("agents", "b.yaml"),
        os.path.join("agents", "team", "c.yaml"),
    }


def test_directory_and_files_can_be_mixed(tmp_path: Path) -> None:
    write(tmp_path / "dir" / "one.yaml", "one")
    write(tmp_path / "two.yaml", "two")
    assert load_policies([tmp_path / "dir", str(tmp_path / "two.yaml")]).agent_ids == ("one", "two")


def test_duplicate_agent_id_across_files_names_both_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "a.yaml", "twin")
    (tmp_path / "b.yaml").write_text("# the same agent again\nagent_boundary: {agent_id: twin}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    error = load_error("a.yaml", "b.yaml")
    assert isinstance(error, PolicyValidationError)
    assert error_lines(error) == ["b.yaml:2:28: duplicate agent_id 'twin': already defined at a.yaml:2:13"]


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert error_lines(load_error(missing)) == [f"no such file or directory: {str(missing)!r}"]


def test_directory_without_yaml_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    assert error_lines(load_error(tmp_path)) == [f"no *.yaml or *.yml files under {str(tmp_path)!r}"]


# --------------------------------------------------------------------------------------------------------------------
# Untrusted input
# --------------------------------------------------------------------------------------------------------------------

BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_alias_bomb_is_refused_without_expanding_it() -> None:
    error = text_error(BILLION_LAUGHS)
    refused = [item for item in error.errors if isinstance(item, PolicySyntaxError)]  # type: ignore[attr-defined]
    # One error per anchor (9) and per alias (8 x 9) as written: nothing was expanded.
    assert len(refused) == 81
    assert {item.message for item in refused} == {"YAML aliases and anchors are not allowed in policy files"}
    assert "p.yaml:2:8: YAML aliases and anchors are not allowed in policy files" in error_lines(error)


def test_a_flood_of_errors_is_cut_short() -> None:
    error = text_error("a: &a [1]\nb: [" + ", ".join(["*a"] * 100_000) + "]\n")
    lines = error_lines(error)
    assert len(lines) == MAX_ERRORS_PER_FILE + 1
    assert lines[-1] == "p.yaml:1:1: stopped after 100 errors in this file"


def test_single_alias_error_is_a_syntax_error() -> None:
    error = text_error("agent_boundary:\n  agent_id: &id a1\n")
    assert isinstance(error, PolicySyntaxError)
    assert error_lines(error) == ["p.yaml:2:13: YAML aliases and anchors are not allowed in policy files"]
    assert error.snippet == "  agent_id: &id a1"


def test_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("agent_boundary: {agent_id: a}\n" + "# padding\n" * 20 + "[unclosed", encoding="utf-8")
    assert big.stat().st_size == 239
    error = load_error(big, max_file_bytes=100)
    assert isinstance(error, PolicySyntaxError)  # not the YAML syntax error at the end: the text was never parsed
    assert error.message == "the file is 239 bytes, more than the limit of 100 bytes"
    assert error.location == SourceLocation(str(big), 1, 1)


def test_text_over_the_size_limit_is_refused() -> None:
    with pytest.raises(PolicySyntaxError, match="more than the limit of 1,048,576 bytes"):
        load_policy_text("#" * 1_048_577)


def test_more_than_the_maximum_number_of_documents_is_refused() -> None:
    text = "--- {agent_boundary: {agent_id: a}}\n" + "--- {}\n" * MAX_DOCUMENTS
    error = text_error(text)
    assert error_lines(error) == [f"p.yaml:{MAX_DOCUMENTS + 1}:1: more than 10,000 YAML documents in one file"]


def test_text_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("agent_boundary:\n  description: caf\u00e9\n".encode("latin-1"))
    error = load_error(latin1)
    assert isinstance(error, PolicySyntaxError)
    assert error_lines(error) == [f"{latin1}:2:19: the file is not valid UTF-8 (byte 0xe9)"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "---",
        "null",
        "[]",
        "{",
        "'unterminated",
        "agent_boundary: []",
        "agent_boundary: {agent_id: [x]}",
        "agent_boundary: {agent_id: a, input_validation: [{endpoint: 3, rules: [{field: 1, type: 2}]}]}",
        "agent_boundary: {agent_id: a, input_validation: [{endpoint: /a, rules: [{field: a, type: string, "
        "min_length: x, max_length: 2, pattern: 3, example: 4}]}]}",
        "agent_boundary: {agent_id: a, tests: [{name: 1, input: 2, expect: 3, reasons: 4}]}",
        "agent_boundary: {agent_id: a, allowed_endpoints: [{method: GET, path: *x}]}",
        "agent_boundary: {agent_id: a, max_payload_size_kb: 1e999}",
        "agent_boundary: {agent_id: a, max_payload_size_kb: " + "9" * 5000 + "}",
        "\x00",
        "a: b: c",
    ],
    ids=lambda text: text[:40],
)
def test_malformed_input_gives_a_policy_error_never_a_crash(text: str) -> None:
    try:
        load_policy_text(text)
    except PolicyError as error:
        assert error.location is not None
    else:
        pytest.fail("malformed input was accepted")


# --------------------------------------------------------------------------------------------------------------------
# Example checking
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "value", "problem"),
    [
        ({"type": "uuid"}, "3F2B8C1E-9A7D-4C5E-8F1A-2B3C4D5E6F70", None),
        ({"type": "uuid"}, "3f2b8c1e9a7d4c5e8f1a2b3c4d5e6f70", "it is not a UUID (8-4-4-4-12 hex digits)"),
        ({"type": "email"}, "ana@example.com", None),
        ({"type": "email"}, "ana@localhost", "it is not an e-mail address"),
        ({"type": "enum", "values": [1, 2]}, 1.0, None),
        ({"type": "enum", "values": [1, 2]}, True, "it is not one of the values"),
        ({"type": "string", "min_length": 2}, "é", "it is shorter than min_length 2"),
        ({"type": "string", "pattern": "b"}, "abc", None),
        ({"type": "integer"}, 3.0, None),
        ({"type": "integer"}, True, "it is not a number"),
        ({"type": "number", "maximum": 1}, 1.5, "it is more than the maximum 1"),
        ({"type": "boolean"}, "true", "it is not true or false"),
    ],
    ids=[
        "uuid-upper",
        "uuid-no-dashes",
        "email",
        "email-no-dot",
        "enum-number",
        "enum-bool-is-not-1",
        "string-codepoints",
        "pattern-unanchored",
        "integer-float",
        "integer-bool",
        "number-max",
        "boolean-string",
    ],
)
def test_example_problem(rule: dict[str, object], value: object, problem: str | None) -> None:
    assert example_problem(rule, value) == problem


def test_a_single_path_is_not_read_as_its_characters(in_fixtures: Path) -> None:
    assert load_policies("good/minimal.yaml").agent_ids == ("quarantined_agent",)
