"""Decision semantics, table-driven, through the embedded engine and (when an opa binary exists) through real OPA.

Both engines evaluate exactly what `compile` writes and must return identical decisions for identical inputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.dsl.loader import load_policies
from yaml2rego.engines import EmbeddedEngine, OpaEngine

from .conftest import SEED_POLICY
from .opa_server import running_opa

UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
AGENT = "support_agent_1"


def call(method: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"agent_id": AGENT, "method": method, "path": path, **extra}


# (input, expected decision, reason codes that must be present)
SEED_TABLE = [
    pytest.param(call("GET", "/api/customer/v1/42"), "allow", [], id="get-customer-allowed"),
    pytest.param(call("get", "/api/customer/v1/42"), "allow", [], id="method-case-insensitive"),
    pytest.param(call("GET", "/api/customer/v1/42/orders/7"), "allow", [], id="subtree-any-depth"),
    pytest.param(call("GET", "/api/customer/v1/42?expand=orders"), "allow", [], id="query-string-ignored"),
    pytest.param(call("GET", "/api/customer/v1/42/"), "allow", [], id="trailing-slash-ignored"),
    pytest.param(call("DELETE", "/api/customer/v1/42"), "deny", ["endpoint_denied"], id="delete-denied-at-any-depth"),
    pytest.param(call("GET", "/api/admin/users"), "deny", ["endpoint_denied"], id="admin-denied-any-method"),
    pytest.param(call("GET", "/api/admin"), "deny", ["endpoint_denied"], id="admin-prefix-itself"),
    pytest.param(call("PUT", "/api/customer/v1/42"), "deny", ["endpoint_not_allowed"], id="method-not-allowed"),
    pytest.param(call("GET", "/api/orders/v1/1"), "deny", ["endpoint_not_allowed"], id="default-deny"),
    pytest.param(call("GET", "/api/customer/v1/../../admin/users"), "deny", ["non_canonical_path"], id="dot-dot"),
    pytest.param(call("GET", "/api/customer/v1/%2e%2e/admin"), "deny", ["non_canonical_path"], id="encoded-dot"),
    pytest.param(call("GET", "/api/customer/v1/42%2F..%2Fadmin"), "deny", ["non_canonical_path"], id="encoded-slash"),
    pytest.param(call("GET", "/api/customer/v1/%252e"), "deny", ["non_canonical_path"], id="double-encoded"),
    pytest.param(call("GET", "/api/customer//v1/42"), "deny", ["non_canonical_path"], id="double-slash"),
    pytest.param(call("GET", "/api/customer/v1\\42"), "deny", ["non_canonical_path"], id="backslash"),
    pytest.param(call("GET", "api/customer/v1/42"), "deny", ["non_canonical_path"], id="relative"),
    pytest.param(call("GET", ""), "deny", ["non_canonical_path"], id="empty"),
    pytest.param(call("GET", "/api/customer/v1/4\x002"), "deny", ["non_canonical_path"], id="control-character"),
    pytest.param(
        call("POST", "/api/ticket/v1/", body={"customer_id": UUID, "priority": "high"}), "allow", [], id="valid-ticket"
    ),
    pytest.param(
        call("POST", "/api/ticket/v1/", body={"customer_id": UUID, "priority": "urgent"}),
        "deny",
        ["invalid_input"],
        id="ticket-bad-priority",
    ),
    pytest.param(
        call("POST", "/api/ticket/v1/", body={"customer_id": "42", "priority": "low"}),
        "deny",
        ["invalid_input"],
        id="ticket-bad-uuid",
    ),
    pytest.param(
        call("POST", "/api/ticket/v1/", body={"priority": "low"}), "deny", ["invalid_input"], id="ticket-missing-field"
    ),
    pytest.param(
        call("POST", "/api/ticket/v1/", body={"customer_id": UUID, "priority": 3}),
        "deny",
        ["invalid_input"],
        id="wrong-json-type",
    ),
    pytest.param(
        call("POST", "/api/ticket/v1/", body=json.dumps({"customer_id": UUID, "priority": "low"})),
        "allow",
        [],
        id="json-string-body-parsed",
    ),
    pytest.param(
        call(
            "POST", "/api/ticket/v1/", body={"customer_id": UUID, "priority": "low"}, payload_size_bytes=1024 * 1024 + 1
        ),
        "deny",
        ["payload_too_large"],
        id="payload-too-large",
    ),
    pytest.param(
        call("POST", "/api/ticket/v1/", body={"customer_id": UUID, "priority": "low", "note": "x" * (1024 * 1024)}),
        "deny",
        ["payload_too_large"],
        id="payload-measured-from-body",
    ),
    pytest.param(
        {"agent_id": "unknown_agent", "method": "GET", "path": "/api/customer/v1/42"},
        "deny",
        ["unknown_agent"],
        id="unknown-agent",
    ),
    pytest.param({"method": "GET", "path": "/api/customer/v1/42"}, "deny", ["invalid_request"], id="no-agent-id"),
    pytest.param({"agent_id": AGENT, "path": "/api/customer/v1/42"}, "deny", ["invalid_request"], id="no-method"),
    pytest.param({"agent_id": AGENT, "method": "GET", "path": 42}, "deny", ["invalid_request"], id="path-not-a-string"),
    # Tricks that reach a denied endpoint through an upstream's decoding or normalising (docs/dsl.md, "Canonical
    # paths"): each is refused as non_canonical_path, never matched against the rules.
    *[
        pytest.param(call("GET", path), "deny", ["non_canonical_path"], id=name)
        for name, path in [
            ("escaped-letter-into-admin", "/api/%61dmin/users"),
            ("escaped-first-letter", "/api/customer/v1/%34%32"),
            ("escaped-nul", "/api/customer/v1/42%00"),
            ("overlong-utf8-dot-dot", "/api/customer/v1/%C0%AE%C0%AE/%C0%AE%C0%AE/admin"),
            ("iis-u-escape", "/api/customer/v1/%u002e%u002e/admin"),
            ("bare-percent", "/api/customer/v1/42%"),
            ("path-parameter", "/api/customer/v1/42;x=1"),
            ("dot-dot-parameter", "/api/customer/v1/..;/..;/admin/users"),
            ("c1-next-line", "/api/customer/v1/42\u0085"),
            ("line-separator", "/api/customer/v1/42\u2028"),
            ("fullwidth-dots", "/api/customer/v1/\uff0e\uff0e/\uff0e\uff0e/admin"),
            ("division-slash", "/api/customer/v1/..\u2215..\u2215admin"),
            ("crlf-in-query", "/api/customer/v1/42?a=1\r\nX-Admin: 1"),
            ("raw-space", "/api/customer/v1/42 HTTP/1.1"),
            ("fragment-dot-dot", "/api/customer/v1/42#/../../admin"),
            ("three-dots", "/api/customer/v1/.../admin"),
        ]
    ],
    pytest.param(call("DELETE", "/api/customer/v1/%34%32"), "deny", ["non_canonical_path"], id="escaped-delete"),
    # Methods that are not RFC 9110 tokens are refused before they are upper-cased.
    *[
        pytest.param(call(method, "/api/ticket/v1/"), "deny", ["invalid_request"], id=name)
        for name, method in [
            ("long-s-post", "po\u017ft"),
            ("method-leading-space", " POST"),
            ("method-trailing-space", "POST "),
            ("method-nul", "POST\x00"),
            ("method-crlf", "POST\r\n"),
            ("fullwidth-delete", "\uff24\uff25\uff2c\uff25\uff34\uff25"),
            ("cyrillic-delete", "D\u0415L\u0415T\u0415"),
        ]
    ],
    # A declared size is a non-negative integer, and never below the body's measured size.
    pytest.param(call("GET", "/api/customer/v1/42", payload_size_bytes=-1), "deny", ["invalid_request"], id="size-neg"),
    pytest.param(
        call("GET", "/api/customer/v1/42", payload_size_bytes=1.5), "deny", ["invalid_request"], id="size-frac"
    ),
    pytest.param(
        call(
            "POST",
            "/api/ticket/v1/",
            body={"customer_id": UUID, "priority": "low", "n": "<>&" * 400_000},
            payload_size_bytes=10,
        ),
        "deny",
        ["payload_too_large"],
        id="size-declared-below-body",
    ),
    # A `tool` key on an HTTP call does not skip the HTTP checks.
    pytest.param(call("DELETE", "/api/customer/v1/42", tool="x"), "deny", ["endpoint_denied"], id="tool-on-http-call"),
    pytest.param(call("GET", "/api/customer/v1/%2e%2e", tool="x"), "deny", ["non_canonical_path"], id="tool-bad-path"),
]


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seed")
    compile_policy_set(load_policies([SEED_POLICY])).write(out)
    return out


@pytest.fixture(scope="module")
def embedded(seed_dir: Path) -> EmbeddedEngine:
    return EmbeddedEngine.from_directory(seed_dir)


def _assert_decision(result: dict[str, Any], expected: str, codes: list[str]) -> None:
    assert result["decision"] == expected
    assert result["allow"] is (expected == "allow")
    found = {reason["code"] for reason in result["reasons"]}
    assert set(codes) <= found, result["reasons"]
    if expected == "deny":
        assert result["reasons"], "a denial always has at least one reason"
    else:
        assert result["reasons"] == []
    for reason in result["reasons"]:
        assert set(reason) >= {"code", "message", "control", "rule"}
        assert reason["control"].startswith(("CC", "A1", "PI"))
    assert isinstance(result["decision_reason"], str) and result["decision_reason"]
    assert result["policy_version"].startswith("sha256:")


@pytest.mark.parametrize(("request_input", "expected", "codes"), SEED_TABLE)
def test_seed_decisions_embedded(
    embedded: EmbeddedEngine, request_input: dict[str, Any], expected: str, codes: list[str]
) -> None:
    _assert_decision(embedded.decide(request_input), expected, codes)


def test_invalid_priority_reason_names_the_field(embedded: EmbeddedEngine) -> None:
    result = embedded.decide(call("POST", "/api/ticket/v1/", body={"customer_id": UUID, "priority": "urgent"}))
    [reason] = result["reasons"]
    assert reason["code"] == "invalid_input"
    assert "priority" in reason["message"]
    assert reason["rule"] == "input_validation[0].rules[1]"
    assert reason["control"] == "CC6.1"


def test_deny_wins_and_names_the_yaml_rule(embedded: EmbeddedEngine) -> None:
    """An explicit denial is the whole story: "no allowed endpoint" is not added on top of it."""
    result = embedded.decide(call("DELETE", "/api/customer/v1/42"))
    assert [reason["rule"] for reason in result["reasons"]] == ["denied_endpoints[1]"]
    assert result["reasons"][0]["source"].endswith("support_agent.yaml:11")
    assert "denied_endpoints[1]" in result["decision_reason"]


def test_allow_names_the_allowing_rule(embedded: EmbeddedEngine) -> None:
    result = embedded.decide(call("GET", "/api/customer/v1/42"))
    assert "allowed_endpoints[0]" in result["decision_reason"]
    assert result["rate_limits"] == [
        {
            "rule": "rate_limits[0]",
            "source": result["rate_limits"][0]["source"],
            "pattern": "/api/customer/v1/*",
            "requests_per_minute": 30,
        }
    ]
    assert result["mode"] == "enforce" and result["agent_id"] == AGENT


@pytest.mark.parametrize("weird", [None, 42, "text", [1, 2], {"agent_id": 7}])
def test_decision_is_always_an_object(embedded: EmbeddedEngine, weird: Any) -> None:
    result = embedded.decide(weird)  # type: ignore[arg-type]
    assert result["decision"] == "deny" and result["reasons"]


def test_kill_switch_suspends_and_resumes(embedded: EmbeddedEngine) -> None:
    request_input = call("GET", "/api/customer/v1/42")
    embedded.suspend(AGENT, "incident 7")
    try:
        result = embedded.decide(request_input)
        assert result["decision"] == "deny"
        [reason] = [r for r in result["reasons"] if r["code"] == "agent_suspended"]
        assert reason["control"] == "CC7.4" and "incident 7" in reason["message"]
    finally:
        embedded.resume(AGENT)
    assert embedded.decide(request_input)["decision"] == "allow"


def test_embedded_engine_is_usable_from_many_threads(embedded: EmbeddedEngine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: embedded.decide(call("GET", "/api/customer/v1/1"))["decision"], range(64)))
    assert results == ["allow"] * 64


@pytest.mark.opa
def test_opa_and_embedded_engines_agree(seed_dir: Path, embedded: EmbeddedEngine, opa_binary: str) -> None:
    """The whole table through a real `opa run --server DIR` gives the same decisions as the embedded engine."""
    with running_opa(opa_binary, [str(seed_dir)]) as url:
        opa = OpaEngine(url, timeout=5)
        for param in SEED_TABLE:
            request_input = param.values[0]
            assert opa.decide(request_input) == embedded.decide(request_input), param.id
        opa.suspend(AGENT, "drill")
        assert opa.decide(call("GET", "/api/customer/v1/42"))["reasons"][0]["code"] == "agent_suspended"
        opa.resume(AGENT)
        assert opa.decide(call("GET", "/api/customer/v1/42"))["decision"] == "allow"
