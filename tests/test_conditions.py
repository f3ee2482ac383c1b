"""Parameter conditions and the other enforcement sections in the DSL: loading, errors, compiled data, and the
Python twin of the Rego condition check used by generated tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from yaml2rego.compile.compiler import agent_data, compile_policy_set
from yaml2rego.compile.oracle import condition_holds, settled_call
from yaml2rego.dsl.loader import load_policy_text
from yaml2rego.engines.embedded import EmbeddedEngine
from yaml2rego.errors import PolicyErrors, PolicyValidationError


def _boundary(extra: str) -> str:
    return f"agent_boundary:\n  agent_id: a1\n  allowed_endpoints:\n    - {{method: POST, path: /pay/*}}\n{extra}"


def _errors(extra: str) -> list[str]:
    with pytest.raises((PolicyErrors, PolicyValidationError)) as caught:
        load_policy_text(_boundary(extra), "a1.yaml")
    error = caught.value
    found = error.errors if isinstance(error, PolicyErrors) else [error]
    return [f"{e.location.line}:{e.location.column}: {e.message}" for e in found]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  conditions:\n    - {field: body.amount, op: gt, outcome: deny}\n",
         "6:7: missing required key 'value' (op 'gt' compares the field with a value)"),
        ("  conditions:\n    - {field: body.amount, op: exists, value: 1, outcome: deny}\n",
         "6:40: value does not apply to op 'exists' (it tests only whether the field is there)"),
        ("  conditions:\n    - {field: body.amount, op: gt, value: '5000', outcome: deny}\n",
         "6:43: op 'gt' compares numbers; value must be a number"),
        ("  conditions:\n    - {field: body.currency, op: in, value: EUR, outcome: deny}\n",
         "6:45: op 'in' needs a list of values"),
        ("  conditions:\n    - {field: body.amount, op: gt, value: 1, outcome: block}\n",
         "6:55: outcome must be 'deny' or 'approval_needed', got 'block'"),
        ("  sanitize:\n    - {detector: regex}\n",
         "6:7: missing required key 'pattern' (a regex detector redacts what its pattern matches)"),
        ("  sanitize:\n    - {detector: email, pattern: x}\n",
         "6:25: pattern applies only to detector 'regex' (detector 'email' is built in)"),
        ("  sanitize:\n    - {detector: regex, pattern: '(?=x)'}\n",
         "6:34: pattern '(?=x)' uses lookahead ((?=…), which RE2 and Rust regex do not support"),
        ("  allowed_domains: [10.0.0.1]\n",
         "5:21: allowed domain '10.0.0.1': an IP address is refused as a host (use a domain name)"),
        ("  budget: {daily_usd: -1}\n", "5:23: daily_usd must be at least 0, got -1"),
    ],
    ids=["no-value", "value-for-exists", "string-for-gt", "scalar-for-in", "bad-outcome", "regex-without-pattern",
         "pattern-for-builtin", "unportable-pattern", "ip-domain", "negative-budget"],
)  # fmt: skip
def test_enforcement_sections_are_checked_at_load_time(extra: str, expected: str) -> None:
    assert _errors(extra) == [expected]


def test_compiled_data_has_only_the_sections_given() -> None:
    agent = load_policy_text(_boundary(""), "a1.yaml").get("a1")
    assert agent is not None
    assert not {"conditions", "egress", "budget", "sanitize"} & set(agent_data(agent))


def test_compiled_data_for_every_section() -> None:
    text = _boundary(
        "  conditions:\n"
        "    - {field: body.amount, op: exists, outcome: approval_needed, message: any amount}\n"
        "  allowed_domains: [API.Example.com., '*.svc.example']\n"
        "  budget: {requests_per_second: 2, tool_prices: {b: 2, a: 1.5}}\n"
        "  sanitize:\n"
        "    - {endpoint: /pay/*, method: post, detector: regex, pattern: 'K-[0-9]+', fields: [body.note]}\n"
    )
    agent = load_policy_text(text, "a1.yaml").get("a1")
    assert agent is not None
    data = agent_data(agent)
    assert data["conditions"] == [{
        "rule": "conditions[0]", "source": "a1.yaml:6", "method": "*", "pattern": "/**", "prefix": "/",
        "match": "subtree", "regex": "^(?:/[^/]+)*$", "field": "body.amount", "path": ["body", "amount"],
        "op": "exists", "outcome": "approval_needed", "message": "any amount",
    }]  # fmt: skip
    assert data["egress"] == {
        "rule": "allowed_domains",
        "source": "a1.yaml:7",
        "domains": ["*.svc.example", "api.example.com"],
    }
    assert data["budget"] == {"rule": "budget", "source": "a1.yaml:8", "requests_per_second": 2,
                              "tool_prices": {"a": 1.5, "b": 2.0}, "default_cost_usd": 0.0}  # fmt: skip
    [rule] = data["sanitize"]
    assert (rule["method"], rule["detector"], rule["flag_regex"], rule["fields"], rule["apply_to"]) == (
        "POST", "regex", "K-[0-9]+", [["body", "note"]], ["request"])  # fmt: skip


CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("gt", 5000, {"body": {"amount": 5001}}),
    ("gt", 5000, {"body": {"amount": 5000}}),
    ("gt", 5000, {"body": {"amount": "9999"}}),
    ("gt", 5000, {"body": {"amount": True}}),
    ("ge", 1, {"body": {"amount": 1.0}}),
    ("lt", 1, {"body": {}}),
    ("le", 1, {"body": {"amount": 1}}),
    ("eq", 1, {"body": {"amount": 1.0}}),
    ("eq", 1, {"body": {"amount": True}}),
    ("eq", "care", {"body": {"amount": "care"}}),
    ("ne", "care", {}),
    ("ne", "care", {"body": {"amount": "care"}}),
    ("in", ["EUR", 1], {"body": {"amount": 1}}),
    ("in", ["EUR"], {"body": {}}),
    ("not_in", ["EUR"], {"body": {"amount": "USD"}}),
    ("not_in", ["EUR"], {}),
    ("exists", None, {"body": {"amount": None}}),
    ("exists", None, {"body": {"other": 1}}),
    ("missing", None, {"body": "not an object"}),
    ("eq", [True], {"body": {"amount": [1]}}),
    ("eq", [1, {"a": 2}], {"body": {"amount": [1.0, {"a": 2.0}]}}),
    ("in", [[True]], {"body": {"amount": [1]}}),
]


@pytest.mark.parametrize(("op", "value", "call"), CASES, ids=[f"{op}-{i}" for i, (op, _, _) in enumerate(CASES)])
def test_python_twin_agrees_with_the_policy(op: str, value: Any, call: dict[str, Any]) -> None:
    """Generated tests predict with oracle.condition_holds; the policy must agree on every case."""
    condition: dict[str, Any] = {"field": "body.amount", "op": op, "outcome": "deny"}
    if op not in ("exists", "missing"):
        condition["value"] = value
    text = _boundary(f"  conditions:\n    - {json.dumps(condition)}\n")
    policy = load_policy_text(text, "a1.yaml")
    agent = policy.get("a1")
    assert agent is not None
    engine = EmbeddedEngine.from_compiled(compile_policy_set(policy))
    decision = engine.decide({"agent_id": "a1", "method": "POST", "path": "/pay/1", **call})
    assert ("parameter_denied" in [r["code"] for r in decision["reasons"]]) == condition_holds(
        agent.conditions[0], call
    )


def test_settled_call_satisfies_conditions_for_generated_tests() -> None:
    text = _boundary(
        "  conditions:\n"
        "    - {field: context.purpose, op: ne, value: care, outcome: deny}\n"
        "    - {field: body.region, op: not_in, value: [eu, us], outcome: deny}\n"
        "    - {field: body.flag, op: missing, outcome: approval_needed}\n"
    )
    agent = load_policy_text(text, "a1.yaml").get("a1")
    assert agent is not None
    call, certain = settled_call(agent, {"agent_id": "a1", "method": "POST", "path": "/pay/1", "body": {"x": 1}})
    assert certain and call["context"] == {"purpose": "care"} and call["body"] == {"x": 1, "region": "eu", "flag": True}
    unavoidable = settled_call(agent, {"method": "POST", "path": "/pay/1", "body": {"region": "eu", "flag": 1}})
    assert unavoidable[1] is True
