"""Tool policies in the DSL: the tool registry and execution context, from YAML to the model, the data and decisions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import EXAMPLES
from yaml2rego.adapters import ApprovalService, Guard
from yaml2rego.compile.compiler import agent_data, compile_policy_set
from yaml2rego.dsl.loader import load_policies, load_policy_text
from yaml2rego.dsl.model import DataClass, ToolAction
from yaml2rego.engines.embedded import EmbeddedEngine
from yaml2rego.engines.rego_testing import run_tests
from yaml2rego.errors import PolicyError, PolicyErrors

INFRA = EXAMPLES / "infra_review_agent.yaml"


def errors_of(text: str) -> list[str]:
    with pytest.raises((PolicyError, PolicyErrors)) as raised:
        load_policy_text(text, "infra.yaml")
    found = getattr(raised.value, "errors", [raised.value])
    return [f"{error.location.line}:{error.location.column}: {error.message}" for error in found]


def boundary(tools: str, context: str = "") -> str:
    return "agent_boundary:\n  agent_id: infra\n  tools:\n" + tools + context


def test_seed_registry_loads_into_the_model() -> None:
    agent = load_policies([INFRA]).get("infra_review_agent")
    assert agent is not None
    tools = {tool.name: tool for tool in agent.tools}
    assert sorted(tools) == ["aws_metadata_query", "github_pr_inspector", "jira_ticket_reader", "slack_risk_notifier"]
    assert tools["slack_risk_notifier"].requires_approval is True
    assert tools["aws_metadata_query"].classification is DataClass.RESTRICTED
    assert tools["jira_ticket_reader"].actions == (ToolAction.READ,)
    assert tools["jira_ticket_reader"].scope[0].regexes == ("^SEC-.*$",)
    assert agent.execution_context is not None
    assert [gate.name for gate in agent.execution_context.environments] == ["prod", "staging", "dev"]


def test_scope_naming_an_undeclared_argument_is_a_compile_time_error() -> None:
    text = boundary(
        "    jira:\n"
        "      actions: [read]\n"
        "      classification: internal\n"
        "      args: {project: {type: string}}\n"
        "      scope: {projekt: SEC-*}\n"
    )
    assert errors_of(text) == [
        "8:15: scope names argument 'projekt', which tool 'jira' does not declare; did you mean 'project'?"
    ]


def test_scope_without_declared_arguments_says_how_to_fix_it() -> None:
    text = boundary("    jira: {actions: [read], classification: internal, scope: {project: SEC-*}}\n")
    assert errors_of(text) == [
        "4:63: scope names argument 'project', which tool 'jira' does not declare (declare it under args)"
    ]


def test_scope_on_a_non_string_argument_is_refused() -> None:
    text = boundary(
        "    jira:\n      actions: [read]\n      classification: internal\n"
        "      args: {limit: {type: integer}}\n      scope: {limit: '1*'}\n"
    )
    assert errors_of(text) == ["8:15: scope applies only to string arguments; 'limit' is of type 'integer'"]


def test_argument_rules_get_the_same_checks_as_input_validation() -> None:
    text = boundary(
        "    jira:\n      actions: [read]\n      classification: internal\n"
        "      args:\n        key: {type: string, pattern: '(?=x)'}\n"
        "        n: {type: integer, minimum: 5, maximum: 1}\n"
    )
    assert errors_of(text) == [
        "8:38: pattern '(?=x)' uses lookahead ((?=…), which RE2 and Rust regex do not support",
        "9:49: maximum (1) is less than minimum (5)",
    ]


def test_an_argument_example_is_shown_as_a_body_field_example_is() -> None:
    text = boundary(
        "    jira:\n      actions: [read]\n      classification: internal\n"
        "      args:\n        level: {type: enum, values: [low, high], example: medium}\n"
    )
    assert errors_of(text) == ["8:59: example 'medium' does not satisfy its rule: it is not one of the values"]


def test_environment_gate_naming_an_unknown_tool_is_refused() -> None:
    text = boundary(
        "    jira: {actions: [read], classification: internal}\n",
        "  execution_context:\n    environments:\n      prod: {allowed_tools: [jria]}\n",
    )
    assert errors_of(text) == [
        "7:30: allowed_tools names 'jria', which is not in the tool registry; did you mean 'jira'?"
    ]


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        ("{actions: [delete], classification: internal}", "actions[0] must be 'read', 'write' or 'execute'"),
        ("{actions: [read], classification: secret}", "classification must be 'public', 'internal', 'restricted'"),
        ("{actions: [read]}", "missing required key 'classification'"),
        ("{actions: [read], classification: internal, requires_approval: yes}", "requires_approval must be true or"),
    ],
    ids=["action", "classification", "missing-classification", "yes-is-not-a-boolean"],
)
def test_tool_entry_shape_is_checked(tool: str, message: str) -> None:
    [error] = errors_of(boundary(f"    jira: {tool}\n"))
    assert message in error


def test_agents_without_tools_compile_as_before() -> None:
    data = agent_data(load_policy_text("agent_boundary: {agent_id: a1}").agents[0])
    assert "tools" not in data
    assert "execution_context" not in data


def test_tools_are_keyed_by_name_in_the_data() -> None:
    data = agent_data(load_policies([INFRA]).agents[0])
    jira = data["tools"]["jira_ticket_reader"]
    assert jira["arg_names"] == {"project_key": True, "ticket_id": True}
    assert jira["scope"] == [
        {
            "rule": "tools.jira_ticket_reader.scope.project_key",
            "source": f"{INFRA}:16",
            "arg": "project_key",
            "patterns": ["SEC-*"],
            "regexes": ["^SEC-.*$"],
        }
    ]
    assert data["execution_context"]["environments"]["prod"]["allowed_tools"] == {
        "jira_ticket_reader": True,
        "github_pr_inspector": True,
        "slack_risk_notifier": True,
    }


def test_generated_and_written_tests_of_the_example_pass() -> None:
    compiled = compile_policy_set(load_policies([INFRA]))
    summary = run_tests(sorted(compiled.modules().items()), compiled.data_document(), run="infra_review_agent")
    failed = [result.name for result in summary.results if not result.passed]
    assert failed == []
    names = {result.name for result in summary.results if result.package == "agents.infra_review_agent_test"}
    assert {"test_unregistered_tool_is_denied", "test_tool_slack_risk_notifier_needs_approval"} <= names


@pytest.fixture(scope="module")
def guard() -> Any:
    compiled = compile_policy_set(load_policies([INFRA]))
    approvals = ApprovalService(secret="tool-registry-approval-secret-0123456789")
    with Guard(EmbeddedEngine.from_compiled(compiled), approvals=approvals) as guard:
        yield guard


def test_tool_call_is_decided_through_the_guard(guard: Guard) -> None:
    call = {
        "agent_id": "infra_review_agent",
        "tool": "slack_risk_notifier",
        "action": "write",
        "args": {"channel": "#infra-risk", "message": "x"},
        "environment": "prod",
    }
    decision = guard.check(call)
    assert (decision.decision, decision.allow, decision.blocked) == ("approval_needed", False, True)
    assert decision.controls == ["CC8.1"]


def test_unknown_tool_has_its_own_reason_code(guard: Guard) -> None:
    decision = guard.check({"agent_id": "infra_review_agent", "tool": "kubectl", "environment": "prod"})
    assert decision.codes == ["unknown_tool"]
