"""Escaping (yaml2rego.escaping): no YAML string, id or file name can become Rego code.

The filters are tested on a table of hostile strings; the compiler is tested by handing it a model whose strings
were never checked by the loader (as a library user, or a loader bug, could), then parsing what it wrote with
regorus: the modules must define exactly the rules the compiler means to write, and the ``# METADATA`` blocks must
read back as the original strings. ``tests/golden/hostile_strings`` holds the same strings as YAML, and
``tests/test_compiler.py`` runs it through OPA when a binary is available.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jinja2
import pytest
import regorus
import yaml

from yaml2rego.compile import testgen
from yaml2rego.compile.compiler import agent_module_name, compile_policy_set
from yaml2rego.dsl.loader import load_policies, load_policy_text
from yaml2rego.dsl.model import AgentBoundary, PolicySet
from yaml2rego.errors import CompileError
from yaml2rego.escaping import (
    check_template,
    comment,
    comment_block,
    escape_text,
    ref_key,
    rego_name,
    rego_string,
    render_rego_value,
    yaml_text,
)

from .conftest import REPO_ROOT

HOSTILE = {
    "newline_then_rule": "SEC-*\nx := 1",
    "role_key_from_the_issue": "ops\npwned := true\n#",
    "test_name_from_the_issue": "ok\ntest_injected if { true } #",
    "trailing_newline": "abc\n",
    "carriage_return": "a\rb := 1",
    "crlf": "a\r\nb := 1",
    "nul_and_del": "a\x00b\x7fc",
    "escape_sequence": "\x1b[31mred",
    "next_line_c1": "a\x85b := 1",
    "other_c1": "a\x9bb",
    "line_separator": "a\u2028b := 1",
    "paragraph_separator": "a\u2029b := 1",
    "bidi_override": "admin\u202e\u2066 := 1",
    "byte_order_mark": "a\ufeffb",
    "zero_width": "a\u200bb",
    "vertical_tab_form_feed": "a\x0bb\x0cc",
    "quotes_and_backslashes": 'a"b\\"c\\',
    "tag_character_beyond_bmp": "a\U000e0001b",
    "emoji": "ok \U0001f600",
    "rego_comment_and_braces": '} x := 1 { # "',
    "metadata_yaml": "x\n# METADATA\n# title: injected: yes",
    "tab": "a\tb",
    "empty": "",
}
IDS = list(HOSTILE)
VALUES = list(HOSTILE.values())


# -- the filters --------------------------------------------------------------------------------------------------


def _evaluated(literal: str) -> Any:
    """What regorus reads a Rego literal as."""
    engine = regorus.Engine()
    engine.add_policy("value.rego", f"package value\n\nx := {literal}\n")
    return json.loads(engine.eval_rule_as_json("data.value.x"))


@pytest.mark.parametrize("text", VALUES, ids=IDS)
def test_rego_string_is_one_printable_literal_of_the_same_string(text: str) -> None:
    """A Rego string literal is a JSON string: it reads back as the original and holds no raw control character."""
    literal = rego_string(text)
    assert literal.isprintable()
    assert json.loads(literal) == text
    assert _evaluated(literal) == text


@pytest.mark.parametrize("text", VALUES, ids=IDS)
def test_rego_value_escapes_keys_and_strings_alike(text: str) -> None:
    value = {text: [text, {"k": text}], "long": "x" * 60}
    rendered = render_rego_value(value, 0, 5, 40)
    assert all(line.replace("\t", "").isprintable() for line in rendered.split("\n"))
    assert _evaluated(rendered) == value


@pytest.mark.parametrize("text", VALUES, ids=IDS)
def test_yaml_text_is_one_quoted_scalar_that_reads_back_as_the_string(text: str) -> None:
    scalar = yaml_text(text)
    assert scalar.isprintable()
    assert yaml.safe_load(f"description: {scalar}") == {"description": text}


@pytest.mark.parametrize("render", [comment, comment_block], ids=["comment", "comment_block"])
@pytest.mark.parametrize("text", VALUES, ids=IDS)
def test_every_line_of_a_comment_is_a_comment(render: Any, text: str) -> None:
    """Each line break of the text starts a new '#' line; every other unprintable character is shown escaped."""
    lines = render(text).removesuffix("\n").split("\n")
    assert all(line.startswith("#") for line in lines)
    assert all(line.replace("\t", " ").isprintable() for line in lines)


@pytest.mark.parametrize("seed", range(50))
def test_comment_wraps_exactly_as_textwrap(seed: int) -> None:
    """The quick greedy wrap gives textwrap's lines (no word broken, not even at a hyphen), on a seeded corpus."""
    import random
    import textwrap

    from yaml2rego.escaping import _wrap

    chance = random.Random(seed)
    for _ in range(50):
        words = ["".join(chance.choice("ab-/.") for _ in range(chance.choice([1, 4, 9, 40, 130]))) for _ in range(40)]
        line = " ".join(words[: chance.randint(1, 40)])
        if chance.random() < 0.2:
            line = line.replace(" ", "  ", 1)
        width = chance.choice([10, 30, 116])
        assert _wrap(line, width) == (
            textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False) or [""]
        )


def test_comment_wraps_long_prose_and_keeps_short_lines() -> None:
    assert comment("short") == "# short"
    wrapped = comment(" ".join(["word"] * 40), width=30).split("\n")
    assert len(wrapped) > 1 and all(len(line) <= 32 for line in wrapped)
    assert comment("") == "#"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("ops\npwned", "ops\\npwned"),
        ("a\u202eb", "a\\u202eb"),
        ("a\x85b", "a\\u0085b"),
        ("a\U000e0001b", "a\\udb40\\udc01b"),
        ("tab\tstays", "tab\tstays"),
        ('quote " and \\ stay', 'quote " and \\ stay'),
    ],
    ids=["newline", "bidi", "next_line", "beyond_bmp", "tab", "printable"],
)
def test_escape_text_shows_unprintable_characters(text: str, shown: str) -> None:
    assert escape_text(text) == shown


@pytest.mark.parametrize("name", ["x\n", "a b", "1abc", "", "input", "data", "if", "a-b", "x := 1", "é"])
def test_rego_name_refuses_anything_but_an_identifier(name: str) -> None:
    with pytest.raises(CompileError, match="not a Rego identifier"):
        rego_name(name)


@pytest.mark.parametrize(
    ("key", "step"),
    [("support_agent_1", ".support_agent_1"), ("a-b", '["a-b"]'), ("abc\n", '["abc\\n"]'), ("in", '["in"]')],
    ids=["identifier", "dash", "newline", "keyword"],
)
def test_ref_key(key: str, step: str) -> None:
    assert ref_key(key) == step


# -- the templates ------------------------------------------------------------------------------------------------


def _environment(template: str) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.DictLoader({"t.j2": template}))


@pytest.mark.parametrize(
    "template",
    ["x := {{ value }}", "x := {{ value | upper }}", "{{ value | rego_string ~ other }}", "{{ caller() }}"],
    ids=["bare", "other_filter", "filter_not_outermost", "call"],
)
def test_a_template_that_interpolates_an_unescaped_value_is_refused(template: str) -> None:
    with pytest.raises(CompileError, match="escaping filters"):
        check_template(_environment(template), "t.j2")


@pytest.mark.parametrize(
    "template",
    ["x := {{ value | rego_string }}", "{% filter comment_block %}{{ value }}{% endfilter %}", "plain text"],
    ids=["filtered", "comment_block", "no_value"],
)
def test_a_template_that_escapes_every_value_is_accepted(template: str) -> None:
    check_template(_environment(template), "t.j2")


# -- compiled output ------------------------------------------------------------------------------------------------

_BASE = """
agent_boundary:
  agent_id: base
  description: A plain boundary.
  owner: team
  allowed_endpoints:
    - {method: GET, path: /api/*}
  input_validation:
    - endpoint: /api/*
      rules:
        - {field: note, type: string, required: false}
  conditions:
    - {field: body.purpose, op: eq, value: x, outcome: deny, message: never}
  tools:
    reader:
      description: Reads.
      actions: [read]
      classification: restricted
      args: {key: {type: string}}
      scope: {key: "SEC-*"}
  execution_context:
    clearance:
      ops: [restricted]
  tests:
    - name: reads
      input: {method: GET, path: /api/x, body: {note: "n"}}
      expect: allow
"""


def _base() -> AgentBoundary:
    agent = load_policy_text(_BASE, "base.yaml").get("base")
    assert agent is not None
    return agent


def _with_scope(agent: AgentBoundary, text: str) -> AgentBoundary:
    tool = agent.tools[0]
    scope = dataclasses.replace(tool.scope[0], patterns=(text,))
    return dataclasses.replace(agent, tools=(dataclasses.replace(tool, scope=(scope,)),))


def _with_role(agent: AgentBoundary, text: str) -> AgentBoundary:
    assert agent.execution_context is not None
    context = dataclasses.replace(agent.execution_context, clearance={text: agent.execution_context.clearance["ops"]})
    return dataclasses.replace(agent, execution_context=context)


def _with_test_name(agent: AgentBoundary, text: str) -> AgentBoundary:
    return dataclasses.replace(agent, tests=(dataclasses.replace(agent.tests[0], name=text),))


def _with_field(agent: AgentBoundary, text: str) -> AgentBoundary:
    entry = agent.input_validation[0]
    rule = dataclasses.replace(entry.fields[0], field=text)
    return dataclasses.replace(agent, input_validation=(dataclasses.replace(entry, fields=(rule,)),))


def _from_file_named(agent: AgentBoundary, text: str) -> AgentBoundary:
    """The boundary as read from a file of that name: every rule's source names it."""
    loaded = load_policy_text(_BASE, text).get("base")
    assert loaded is not None
    return loaded


def _with_tool_description(agent: AgentBoundary, text: str) -> AgentBoundary:
    return dataclasses.replace(agent, tools=(dataclasses.replace(agent.tools[0], description=text),))


def _with_message(agent: AgentBoundary, text: str) -> AgentBoundary:
    return dataclasses.replace(agent, conditions=(dataclasses.replace(agent.conditions[0], message=text),))


INJECTIONS = {
    "scope": _with_scope,
    "clearance_role": _with_role,
    "test_name": _with_test_name,
    "field_name": _with_field,
    "file_name": _from_file_named,
    "description": lambda agent, text: dataclasses.replace(agent, description=text),
    "owner": lambda agent, text: dataclasses.replace(agent, owner=text),
    "agent_id": lambda agent, text: dataclasses.replace(agent, agent_id="id" + text),
    "tool_description": _with_tool_description,
    "condition_message": _with_message,
}
PAYLOADS = {
    "rule_after_newline": "x\nx := 1",
    "test_after_newline": "ok\ntest_injected if { true } #",
    "rule_after_line_separator": "x\u2028x := 1",
    "rule_after_carriage_return": "x\rx := 1",
    "metadata_after_newline": "x\n# METADATA\n# title: injected: yes\npwned := true",
    "quote_and_rule": 'x" \nx := 1 #',
}


def _rule_names(module: str) -> set[str]:
    """The names of the rules a module defines, as regorus parses it."""
    engine = regorus.Engine()
    engine.add_policy("module.rego", module)
    [policy] = json.loads(engine.get_ast_as_json())
    names = set()
    for rule in policy["ast"]["rules"]:
        node: Any = rule
        while isinstance(node, dict) and "Var" not in node:
            node = node.get("refr") or next(iter(node.values()))
            node = node.get("head", node) if isinstance(node, dict) else node
        names.add(node["Var"]["value"])
    return names


def _metadata(module: str) -> list[dict[str, Any]]:
    """Every ``# METADATA`` block of a module, read as YAML."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in module.split("\n"):
        if line == "# METADATA":
            current = []
            blocks.append(current)
        elif current is not None and line.startswith("# "):
            current.append(line[2:])
        else:
            current = None
    return [yaml.safe_load("\n".join(block)) for block in blocks]


@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
@pytest.mark.parametrize("inject", list(INJECTIONS.values()), ids=list(INJECTIONS))
def test_a_hostile_string_in_the_model_adds_no_rule(inject: Any, payload: str) -> None:
    """Whatever string reaches the compiler, each module defines exactly the rules the compiler writes."""
    agent = inject(_base(), payload)
    compiled = compile_policy_set(PolicySet((agent,)), policy_version="hostile")
    [policy_path] = [path for path in compiled.files if path.endswith("/policy.rego")]
    policy = compiled.files[policy_path].decode()
    tests = compiled.files[policy_path.replace("policy.rego", "policy_test.rego")].decode()
    assert _rule_names(policy) == {"boundary", "decision"}
    assert _rule_names(tests) == {"codes"} | {f"test_{case.name}" for case in testgen.cases_for(agent)}
    [header, *_] = _metadata(policy)
    assert header["custom"]["agent_id"] == agent.agent_id
    assert header["description"] == agent.description
    assert header["custom"]["owner"] == agent.owner
    assert header["custom"]["source"] == f"{agent.source_file}:{agent.source.line if agent.source else ''}"


@pytest.mark.parametrize(
    ("agent_id", "module"),
    [
        ("input", "agent_input"),
        ("DATA", "agent_data"),
        ("if", "agent_if"),
        ("1st", "agent_1st"),
        ("a.b:c-d", "a_b_c_d"),
        ("\u212a", "k"),  # the Kelvin sign lower-cases to an ASCII k
    ],
    ids=["input", "data", "keyword", "digit", "punctuation", "kelvin"],
)
def test_module_names_are_identifiers_that_shadow_nothing(agent_id: str, module: str) -> None:
    agent = dataclasses.replace(_base(), agent_id=agent_id, tests=())
    compiled = compile_policy_set(PolicySet((agent,)), policy_version="hostile")
    assert f"agents/{module}/policy.rego" in compiled.files
    assert f"package agents.{module}\n" in compiled.files[f"agents/{module}/policy.rego"].decode()


@pytest.mark.parametrize(
    ("first", "second"),
    [("x", "x_test"), ("x_test", "x"), ("Ops", "ops"), ("k", "\u212a"), ("a.b", "a-b")],
    ids=["module_is_other_tests", "tests_is_other_module", "case", "kelvin", "punctuation"],
)
def test_agents_whose_packages_would_collide_are_refused(first: str, second: str) -> None:
    agents = tuple(dataclasses.replace(_base(), agent_id=agent_id, tests=()) for agent_id in (first, second))
    with pytest.raises(CompileError, match="both map to the Rego package"):
        compile_policy_set(PolicySet(agents))


# -- the hostile golden case --------------------------------------------------------------------------------------

HOSTILE_GOLDEN = REPO_ROOT / "tests" / "golden" / "hostile_strings" / "policy.yaml"


def test_the_hostile_golden_case_compiles_to_modules_with_only_the_expected_rules() -> None:
    """Parsed by regorus (no OPA needed): every module defines what the compiler writes, and nothing else."""
    policy_set = load_policies([HOSTILE_GOLDEN])
    compiled = compile_policy_set(policy_set, policy_version="hostile")
    assert len(policy_set) == 2
    for agent in policy_set:
        module = agent_module_name(agent.agent_id)
        policy = compiled.files[f"agents/{module}/policy.rego"].decode()
        tests = compiled.files[f"agents/{module}/policy_test.rego"].decode()
        assert _rule_names(policy) == {"boundary", "decision"}
        assert _rule_names(tests) == {"codes"} | {f"test_{case.name}" for case in testgen.cases_for(agent)}
        header = _metadata(policy)[0]
        default = f"What {agent.agent_id} may call. Generated by yaml2rego: edit the YAML, not this file."
        assert header["description"] == (agent.description or default)
        assert header["custom"]["agent_id"] == agent.agent_id
        assert header["custom"].get("owner") == agent.owner
    hostile = policy_set.get("Hostile.Agent-1:")
    assert hostile is not None and hostile.description is not None and "\nx := 1\n" in hostile.description
