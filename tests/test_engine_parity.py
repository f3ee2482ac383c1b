"""The embedded engine (regorus) and OPA decide every trick in the same way, byte for byte.

One policy with a rule of every kind the tricks aim at (endpoints, field lengths, payload size, egress, DLP, tools),
one table of calls: each class of docs/dsl.md ("Canonical paths", "Methods", "Payload size", "Egress", "DLP") has
rows. Each row states the decision and codes expected, checked on regorus; the same table then runs through OPA's
Go evaluator (pip package opa-golib-python-bindings) and, where an `opa` binary exists, through `opa eval`, and the
canonical JSON of every decision must be identical. Skipped, with the reason shown, where neither OPA is at hand.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from yaml2rego.compile.compiler import CompiledPolicy, compile_policy_set
from yaml2rego.dsl.loader import load_policy_text
from yaml2rego.engines import EmbeddedEngine
from yaml2rego.engines.opa_binary import find_opa

POLICY = """
agent_boundary:
  agent_id: shop
  allowed_endpoints:
    - {method: GET, path: /api/orders/*}
    - {method: POST, path: /api/notes/}
  denied_endpoints:
    - {method: "*", path: /api/orders/refund/*}
    - {method: DELETE, path: /api/*}
  input_validation:
    - endpoint: /api/notes/
      rules:
        - {field: tag, type: string, min_length: 2, max_length: 3, required: false}
        - {field: qty, type: integer, minimum: 1, maximum: 10, required: false}
  max_payload_size_kb: 1
  allowed_domains: [api.shop.example, kiosk.shop.example]
  sanitize:
    - {endpoint: /api/notes/, detector: email}
  tools:
    lookup:
      description: Looks an order up.
      actions: [read]
      classification: internal
      args:
        order: {type: string}
"""

HOST = "api.shop.example"
LOOKUP = {"tool": "lookup", "args": {"order": "7"}}


def http(method: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"agent_id": "shop", "method": method, "path": path, "host": HOST, **extra}


def note(body: Any, **extra: Any) -> dict[str, Any]:
    return http("POST", "/api/notes/", body=body, **extra)


# (call, expected decision, expected reason codes)
TABLE = [
    pytest.param(http("GET", "/api/orders/7"), "allow", set(), id="allowed"),
    pytest.param(http("GET", "/api/orders/refund/7"), "deny", {"endpoint_denied"}, id="denied"),
    # canonical paths
    pytest.param(http("GET", "/api/orders/refun%64/7"), "deny", {"non_canonical_path"}, id="escaped-letter"),
    pytest.param(http("GET", "/api/orders/%72efund/7"), "deny", {"non_canonical_path"}, id="escaped-first-letter"),
    pytest.param(http("GET", "/api/orders/refund;x=1/7"), "deny", {"non_canonical_path"}, id="path-parameter"),
    pytest.param(http("GET", "/api/orders/7/..;/refund/7"), "deny", {"non_canonical_path"}, id="dot-dot-param"),
    pytest.param(http("GET", "/api/orders/refund;/7"), "deny", {"non_canonical_path"}, id="trailing-semicolon"),
    pytest.param(http("GET", "/api/orders/7\u0085"), "deny", {"non_canonical_path"}, id="c1-control"),
    pytest.param(http("GET", "/api/orders/7\u2028"), "deny", {"non_canonical_path"}, id="line-separator"),
    pytest.param(http("GET", "/api/orders/7?q=1\r\nX: y"), "deny", {"non_canonical_path"}, id="crlf-query"),
    pytest.param(http("GET", "/api/orders/7 x"), "deny", {"non_canonical_path"}, id="raw-space"),
    pytest.param(http("GET", "/api/orders/7%00"), "deny", {"non_canonical_path"}, id="escaped-nul"),
    pytest.param(http("GET", "/api/orders/.../refund/7"), "deny", {"non_canonical_path"}, id="three-dots"),
    pytest.param(http("GET", "/api/orders/7#/../../refund/7"), "deny", {"non_canonical_path"}, id="fragment"),
    pytest.param(http("GET", "/api/orders/\uff0e\uff0e/refund/7"), "deny", {"non_canonical_path"}, id="fullwidth"),
    pytest.param(http("GET", "/api/orders\u2215refund"), "deny", {"non_canonical_path"}, id="division-slash"),
    pytest.param(http("GET", "/api/orders/%C0%AE%C0%AE/x"), "deny", {"non_canonical_path"}, id="overlong-utf8"),
    pytest.param(http("GET", "/api/orders/%u002e%u002e/x"), "deny", {"non_canonical_path"}, id="u-escape"),
    pytest.param(http("GET", "/api/orders/7%"), "deny", {"non_canonical_path"}, id="bare-percent"),
    # methods
    pytest.param(http("po\u017ft", "/api/notes/"), "deny", {"invalid_request"}, id="long-s"),
    pytest.param(http(" GET", "/api/orders/7"), "deny", {"invalid_request"}, id="leading-space"),
    pytest.param(http("G ET", "/api/orders/7"), "deny", {"invalid_request"}, id="inner-space"),
    pytest.param(http("GET\x00", "/api/orders/7"), "deny", {"invalid_request"}, id="nul"),
    pytest.param(http("GET\r\n", "/api/orders/7"), "deny", {"invalid_request"}, id="crlf"),
    pytest.param(http("\uff24\uff25\uff2c\uff25\uff34\uff25", "/api/x"), "deny", {"invalid_request"}, id="fullwidth-m"),
    pytest.param(http("D\u0415L\u0415T\u0415", "/api/x"), "deny", {"invalid_request"}, id="cyrillic-method"),
    # payload size
    pytest.param(http("GET", "/api/orders/7", payload_size_bytes=-1), "deny", {"invalid_request"}, id="size-neg"),
    pytest.param(http("GET", "/api/orders/7", payload_size_bytes=0.5), "deny", {"invalid_request"}, id="size-frac"),
    pytest.param(note({"n": "a" * 2000}, payload_size_bytes=3), "deny", {"payload_too_large"}, id="size-understated"),
    pytest.param(
        http("GET", "/api/orders/7", payload_size_bytes=2048.0), "deny", {"payload_too_large"}, id="size-float"
    ),
    pytest.param(http("GET", "/api/orders/7", payload_size_bytes=1e300), "deny", {"invalid_request"}, id="size-huge"),
    pytest.param(note({"n": "<>&" * 330}), "allow", set(), id="size-lt-gt-amp-fits"),
    pytest.param(note({"n": "<>&" * 340}), "deny", {"payload_too_large"}, id="size-lt-gt-amp-over"),
    pytest.param(note({"n": "\U0001f600" * 250}), "allow", set(), id="size-emoji-fits"),
    pytest.param(note({"n": "\U0001f600" * 255}), "deny", {"payload_too_large"}, id="size-emoji-over"),
    pytest.param(note({"n": "\u00e9" * 505}), "allow", set(), id="size-non-ascii-fits"),
    pytest.param(note({"n": "\u00e9" * 510}), "deny", {"payload_too_large"}, id="size-non-ascii-over"),
    pytest.param(note({"n": [1.0, 1e300, -0.0]}), "allow", set(), id="size-numbers"),
    # field lengths in code points
    pytest.param(note({"tag": "\U0001f600\U0001f600\U0001f600"}), "allow", set(), id="length-emoji"),
    pytest.param(note({"tag": "\U0001f600" * 4}), "deny", {"invalid_input"}, id="length-emoji-over"),
    pytest.param(note({"tag": "\U0001f600"}), "deny", {"invalid_input"}, id="length-emoji-under"),
    # numbers in messages (Go writes 1e+300 and 1e-05, Rust every digit)
    pytest.param(note({"qty": 1e300}), "deny", {"invalid_input"}, id="number-huge"),
    pytest.param(note({"qty": 0.00001}), "deny", {"invalid_input"}, id="number-tiny"),
    pytest.param(note({"qty": 123456789.5}), "deny", {"invalid_input"}, id="number-large-fraction"),
    pytest.param(note({"qty": 1e15}), "deny", {"invalid_input"}, id="number-1e15"),
    pytest.param(note({"qty": 20.0}), "deny", {"invalid_input"}, id="number-integral-float"),
    # a tool key on an HTTP call
    pytest.param(http("DELETE", "/api/orders/7", **LOOKUP), "deny", {"endpoint_denied"}, id="tool-delete"),
    pytest.param(http("GET", "/api/orders/%2e%2e", **LOOKUP), "deny", {"non_canonical_path"}, id="tool-path"),
    pytest.param(http("GET", "/api/orders/7", **LOOKUP), "allow", set(), id="tool-and-http-pass"),
    pytest.param({"agent_id": "shop", "tool": "lookup", "args": {"order": "7"}}, "allow", set(), id="pure-tool"),
    # egress
    pytest.param({"agent_id": "shop", "method": "GET", "path": "/api/orders/7"}, "deny", {"egress_denied"},
                 id="no-destination"),
    pytest.param(http("GET", "/api/orders/7", host="\u212aiosk.shop.example"), "deny", {"egress_denied"}, id="kelvin"),
    # DLP keys
    pytest.param(note({"m": {"ann@example.com": "x"}}), "sanitize", {"sensitive_data_redacted"}, id="pii-key"),
    pytest.param(note({"m": "ann@example.com"}), "sanitize", {"sensitive_data_redacted"}, id="pii-value"),
]  # fmt: skip


def _compiled() -> CompiledPolicy:
    return compile_policy_set(load_policy_text(POLICY, "parity.yaml"))


@pytest.fixture(scope="module")
def compiled() -> CompiledPolicy:
    return _compiled()


@pytest.fixture(scope="module")
def embedded(compiled: CompiledPolicy) -> EmbeddedEngine:
    return EmbeddedEngine.from_compiled(compiled)


def canonical(decision: Any) -> str:
    return json.dumps(decision, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(("call", "expected", "codes"), TABLE)
def test_embedded_decision(embedded: EmbeddedEngine, call: dict[str, Any], expected: str, codes: set[str]) -> None:
    """Each trick gets its decision and reason codes on regorus."""
    decision = embedded.decide(call)
    assert (decision["decision"], {reason["code"] for reason in decision["reasons"]}) == (expected, codes)


def test_opa_evaluator_decides_the_table_identically(compiled: CompiledPolicy, embedded: EmbeddedEngine) -> None:
    """OPA's Go evaluator gives byte for byte the decision regorus gives, row by row."""
    bindings = pytest.importorskip(
        "opa_bindings", reason="OPA's Go library (pip package opa-golib-python-bindings) is not installed"
    )
    opa = bindings.OpaEngine()
    for path, text in sorted(compiled.modules(include_tests=False).items()):
        opa.add_policy(path, text)
    opa.add_data(compiled.data_document())
    for case in TABLE:
        call = case.values[0]
        assert canonical(opa.eval_document("agent_boundary.decision", call)) == canonical(embedded.decide(call)), (
            case.id
        )


# Every decision of the table in one `opa eval`, so the binary starts once.
TABLE_MODULE = """package parity

decisions := [decision |
	some call in input.calls
	decision := data.agent_boundary.decision with input as call
]
"""


def test_opa_binary_decides_the_table_identically(
    compiled: CompiledPolicy, embedded: EmbeddedEngine, tmp_path: Path
) -> None:
    """`opa eval` (a real OPA 1.x binary) gives byte for byte the decision regorus gives, row by row."""
    binary = find_opa()
    if binary is None:
        pytest.skip("needs a real opa binary: none on PATH and OPA_BIN is unset")
    bundle = tmp_path / "bundle"
    for path, text in compiled.modules(include_tests=False).items():
        (bundle / path).parent.mkdir(parents=True, exist_ok=True)
        (bundle / path).write_text(text, encoding="utf-8")
    (bundle / "parity.rego").write_text(TABLE_MODULE, encoding="utf-8")
    (tmp_path / "data.json").write_text(json.dumps(compiled.data_document()), encoding="utf-8")
    calls = [case.values[0] for case in TABLE]
    (tmp_path / "input.json").write_text(json.dumps({"calls": calls}), encoding="utf-8")
    command = [binary, "eval", "--format", "json", "-d", str(bundle), "-d", str(tmp_path / "data.json")]
    command += ["-i", str(tmp_path / "input.json"), "data.parity.decisions"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    decisions = json.loads(done.stdout)["result"][0]["expressions"][0]["value"]
    for case, decision in zip(TABLE, decisions, strict=True):
        assert canonical(decision) == canonical(embedded.decide(case.values[0])), case.id
