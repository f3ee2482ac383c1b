"""The native engine decides exactly as the Rego library does: a differential test against regorus (and OPA).

Every generated Rego test case, and a seeded corpus of bent calls (tests/native_corpus.py), goes through the native
programs and through regorus for every boundary of examples/, tests/golden/ and tests/fixtures/policies/good/; the
canonical JSON of the two decisions must be byte-identical. What the programs cannot express falls back to regorus,
which is tested with a real boundary (a pattern using ``\\w``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from yaml2rego.adapters import ApprovalService, Guard
from yaml2rego.compile import testgen
from yaml2rego.compile.compiler import CompiledPolicy, compile_policy_set
from yaml2rego.compile.native_regex import Unsupported, translate
from yaml2rego.dsl.loader import load_policies, load_policy_text
from yaml2rego.engines import EmbeddedEngine
from yaml2rego.engines.native import MIRRORED_LIBRARY, NativeEngine, library_digest

from .conftest import REPO_ROOT, SEED_POLICY
from .native_corpus import corpus, mutations

BOUNDARIES = sorted(
    [
        *(REPO_ROOT / "examples").glob("*.yaml"),
        *(REPO_ROOT / "tests" / "golden").glob("*/policy.yaml"),
        *(REPO_ROOT / "tests" / "fixtures" / "policies" / "good").glob("*.yaml"),
        # Every condition operator, a custom DLP pattern, tool prices, egress from the defaults alone.
        REPO_ROOT / "tests" / "fixtures" / "native" / "every_operator.yaml",
    ]
)
CALLS_PER_BOUNDARY = 400
SEED = 20261204


def _id(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def _canonical(decision: Any) -> str:
    return json.dumps(decision, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _decide(engine: Any, call: Any) -> str:
    """The decision's canonical JSON, or the fact that the engine refused to decide (both must refuse alike)."""
    try:
        return _canonical(engine.decide(call))
    except Exception:
        return "no decision (the engine raised)"


@pytest.fixture(scope="module", params=BOUNDARIES, ids=_id)
def engines(request: pytest.FixtureRequest) -> tuple[CompiledPolicy, EmbeddedEngine, NativeEngine]:
    compiled = compile_policy_set(load_policies([request.param]))
    return compiled, EmbeddedEngine.from_compiled(compiled), NativeEngine.from_compiled(compiled)


def _differences(reference: Any, native: NativeEngine, calls: list[Any]) -> list[str]:
    found = []
    for call in calls:
        expected, got = _decide(reference, call), _decide(native, call)
        if expected != got:
            found.append(f"{json.dumps(call, default=repr)}\n  rego:   {expected}\n  native: {got}")
    return found


def test_every_agent_of_the_fixtures_has_a_native_program(engines: tuple[Any, Any, NativeEngine]) -> None:
    """Nothing the shipped examples and fixtures use is left to regorus."""
    assert dict(engines[2].refused) == {}


def test_generated_test_cases_decide_the_same(engines: tuple[CompiledPolicy, EmbeddedEngine, NativeEngine]) -> None:
    compiled, embedded, native = engines
    calls = [case.input for agent in compiled.policy_set for case in testgen.cases_for(agent)]
    assert calls
    assert _differences(embedded, native, calls) == []


def test_seeded_corpus_decides_the_same(engines: tuple[CompiledPolicy, EmbeddedEngine, NativeEngine]) -> None:
    """Bent paths, methods, bodies of every type, tool calls, conditions and hosts; one agent suspended."""
    compiled, embedded, native = engines
    suspended = sorted(compiled.data["agents"])[0]
    embedded.suspend(suspended, "incident\n42")
    native.suspend(suspended, "incident\n42")
    try:
        calls = list(corpus(compiled.data_document(), CALLS_PER_BOUNDARY, SEED))
        assert _differences(embedded, native, calls) == []
        # The corpus is meant for the native programs, so most calls must stay native. Handed to regorus: bodies
        # with floats and no payload_size_bytes (json.marshal's float text; the guard always measures the body),
        # non-ASCII methods and hosts, numbers beyond 2**53, JSON strings with duplicate keys.
        assert native.delegated < len(calls) / 2
    finally:
        embedded.resume(suspended)
        native.resume(suspended)


def test_mutated_test_cases_decide_the_same(engines: tuple[CompiledPolicy, EmbeddedEngine, NativeEngine]) -> None:
    """Generated cases with a secret added, a value swapped, a path or method bent: DLP, conditions, approvals."""
    compiled, embedded, native = engines
    cases = [case.input for agent in compiled.policy_set for case in testgen.cases_for(agent)]
    calls = list(mutations(cases, CALLS_PER_BOUNDARY, SEED))
    assert _differences(embedded, native, calls) == []


_APPROVAL_REQUEST_KEYS = {"approval_id", "approval_expires_at"}


def test_guards_on_either_engine_decide_the_same(engines: tuple[CompiledPolicy, EmbeddedEngine, NativeEngine]) -> None:
    """The whole guard (input preparation, rate limits, budgets) on the native engine and on regorus, call by call."""
    compiled, _, _ = engines
    # Each guard opens its own approval requests, so each has its own service.
    native_guard = Guard(NativeEngine.from_compiled(compiled), approvals=ApprovalService(secret="n" * 32))
    embedded_guard = Guard(EmbeddedEngine.from_compiled(compiled), approvals=ApprovalService(secret="e" * 32))
    shown = ("decision", "allow", "reasons", "decision_reason", "policy_version", "agent_id", "mode", "rate_limits")
    try:
        for call in corpus(compiled.data_document(), CALLS_PER_BOUNDARY // 4, SEED + 1):
            native, embedded = native_guard.check(call), embedded_guard.check(call)
            assert [getattr(native, key) for key in shown] == [getattr(embedded, key) for key in shown], call
            # An approval request's id and expiry are the service's own, not the policy's.
            assert sorted(native.details) == sorted(embedded.details), call
            native_details = {k: v for k, v in native.details.items() if k not in _APPROVAL_REQUEST_KEYS}
            embedded_details = {k: v for k, v in embedded.details.items() if k not in _APPROVAL_REQUEST_KEYS}
            assert _canonical(native_details) == _canonical(embedded_details), call
    finally:
        native_guard.close()
        embedded_guard.close()


# -- OPA ---------------------------------------------------------------------------------------------------------


def _opa_engine(compiled: CompiledPolicy) -> Any:
    opa_bindings = pytest.importorskip(
        "opa_bindings", reason="OPA's Go library (pip package opa-golib-python-bindings) is not installed"
    )
    engine = opa_bindings.OpaEngine()
    for path, text in sorted(compiled.modules(include_tests=False).items()):
        if not path.startswith("agents/"):
            engine.add_policy(path, text)
    engine.add_data(compiled.data_document())
    return engine


class _OpaDecisions:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def decide(self, call: Any) -> Any:
        # OPA writes an integral float as 20.0 where regorus writes 20: compared as JSON values, not as text.
        return json.loads(json.dumps(self.engine.eval_document("agent_boundary.decision", call)), parse_float=_number)


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def _engines_agree_on(call: Any) -> bool:
    """Calls where OPA and regorus themselves decide alike: no non-ASCII method (OPA's upper keeps ß, regorus
    writes SS) and no fractional or negative-zero float (``%v`` prints 1e-07 in OPA, 0.0000001 in regorus)."""

    def floats(value: Any) -> bool:
        if isinstance(value, float):
            return not value.is_integer() or str(value).startswith("-")
        if isinstance(value, str) and value[:1] in "{[":
            return any(marker in value for marker in (".", "e", "E"))
        if isinstance(value, dict):
            return any(floats(item) for item in value.values())
        return isinstance(value, list) and any(floats(item) for item in value)

    method = call.get("method") if isinstance(call, dict) else None
    return not (isinstance(method, str) and not method.isascii()) and not floats(call)


def test_native_decides_as_opa(engines: tuple[CompiledPolicy, EmbeddedEngine, NativeEngine]) -> None:
    """OPA's own evaluator agrees too, on the generated cases and on the corpus calls where OPA and regorus agree."""
    compiled, _, native = engines
    opa = _OpaDecisions(_opa_engine(compiled))
    calls = [case.input for agent in compiled.policy_set for case in testgen.cases_for(agent)]
    calls += list(corpus(compiled.data_document(), CALLS_PER_BOUNDARY, SEED))
    calls += list(mutations(calls[:], CALLS_PER_BOUNDARY, SEED))
    calls = [call for call in calls if _engines_agree_on(call)]
    assert _differences(opa, native, calls) == []


# -- falling back to regorus -------------------------------------------------------------------------------------

_WORD_PATTERN = """
agent_boundary:
  agent_id: word_agent
  allowed_endpoints:
    - {method: POST, path: /notes}
  input_validation:
    - endpoint: /notes
      rules:
        - {field: title, type: string, pattern: '^\\w+$'}
---
agent_boundary:
  agent_id: plain_agent
  allowed_endpoints:
    - {method: GET, path: /notes/*}
"""


def test_an_agent_the_programs_cannot_express_is_decided_by_regorus() -> None:
    """``\\w`` means Unicode word characters in Rust and something else in RE2 and Python: left to regorus."""
    compiled = compile_policy_set(load_policy_text(_WORD_PATTERN))
    native, embedded = NativeEngine.from_compiled(compiled), EmbeddedEngine.from_compiled(compiled)
    assert list(native.refused) == ["word_agent"]
    assert "\\w" in native.refused["word_agent"]
    calls = [
        {"agent_id": "word_agent", "method": "POST", "path": "/notes", "body": {"title": title}}
        for title in ("héllo", "a b", "x_1", "٣")
    ]
    assert _differences(embedded, native, calls) == []
    assert native.delegated == len(calls)
    native.decide({"agent_id": "plain_agent", "method": "GET", "path": "/notes/1"})
    assert native.delegated == len(calls)  # the other agent stays native


def test_compile_names_the_agents_left_to_regorus(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from yaml2rego.cli import main

    policy = tmp_path / "boundary.yaml"
    policy.write_text(_WORD_PATTERN, encoding="utf-8")
    result = CliRunner().invoke(main, ["compile", str(policy), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "native decision programs: 1 of 2 agents" in result.output
    assert "word_agent: decided by regorus (\\w (a word class) is not translated)" in result.output


def test_data_for_rules_the_programs_do_not_know_is_left_to_regorus() -> None:
    """A key the compiler may add one day (data for a new Rego rule) makes that agent regorus's, never ignored."""
    compiled = compile_policy_set(load_policies([SEED_POLICY]))
    data = compiled.data_document()
    data["boundaries"]["agents"]["support_agent_1"]["time_windows"] = [{"days": [1, 2]}]
    native = NativeEngine(compiled.modules(include_tests=False), data)
    assert native.refused == {
        "support_agent_1": "the agent data has keys the native program does not read: time_windows"
    }
    native.decide(ALLOWED)
    assert native.delegated == 1


def _library(edit: Callable[[str], str]) -> tuple[dict[str, str], dict[str, Any]]:
    compiled = compile_policy_set(load_policies([REPO_ROOT / "examples" / "ecommerce_agents.yaml"]))
    modules = compiled.modules(include_tests=False)
    modules["agent_boundary/paths/paths.rego"] = edit(modules["agent_boundary/paths/paths.rego"])
    return modules, compiled.data_document()


def test_a_changed_library_that_decides_the_same_keeps_the_programs() -> None:
    """A library other than the proven one is checked on probe calls first; a change that decides alike passes."""
    native = NativeEngine(*_library(lambda text: text + "\n# a comment added later\n"))
    assert not native.proven_library
    assert native.decide({"agent_id": "checkout_agent", "method": "GET", "path": "/a/../b"})["decision"] == "deny"
    assert native.delegated == 0


def test_a_changed_library_that_decides_otherwise_is_refused() -> None:
    """A library change the programs do not follow makes them refuse to load: regorus decides, never a wrong copy."""
    changed = _library(lambda text: text.replace("contains an empty segment", "contains two slashes in a row"))
    with pytest.raises(Unsupported, match=r"and they decide \{.*\} differently"):
        NativeEngine(*changed)


def test_the_shipped_library_is_the_proven_one() -> None:
    """Bookkeeping for the check above: after a library change, re-prove the programs (this file), then pin it."""
    compiled = compile_policy_set(load_policies([SEED_POLICY]))
    digest = library_digest(compiled.modules(include_tests=False))
    assert digest == MIRRORED_LIBRARY, (
        f"the Rego library changed: once this file passes, set MIRRORED_LIBRARY = {digest!r}"
    )


def test_a_library_the_engine_does_not_know_is_refused_whole() -> None:
    """Without the library's code-to-control map the programs could not name a control: no native engine at all."""
    compiled = compile_policy_set(load_policies([SEED_POLICY]))
    modules = {path: text for path, text in compiled.modules(include_tests=False).items() if "agents/" not in path}
    modules["agent_boundary/decision.rego"] = modules["agent_boundary/decision.rego"].replace(
        "reason_controls :=", "controls_by_reason :="
    )
    with pytest.raises(Unsupported, match="reason_controls"):
        NativeEngine(modules, compiled.data_document())


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"^[0-9]+$", r"^[0-9]+$"),
        (r"^[^@\s]+$", "^[^@" + r"\t\n\x0b\x0c\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
         r"\x{205f}\x{3000}" + "]+$"),
        (r"\d{3}", r"\p{Nd}{3}"),
        (r"[]a]", r"[\]a]"),
        (r"(?i)abc", r"(?i)abc"),
    ],
    ids=["plain", "white-space-in-class", "unicode-digit", "bracket-member", "leading-flag"],
)  # fmt: skip
def test_translated_patterns(pattern: str, expected: str) -> None:
    assert translate(pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    [r"\bword", r"\w+", r"(?m)^a$", r"a(?i)b", r"[[:alpha:]]", r"[a&&b]", r"a{,3}", r"\p{L}", r"[\S]", r"\x{41}"],
    ids=["word-boundary", "word-class", "multiline", "late-flag", "posix-class", "class-op", "open-repeat",
         "unicode-class", "negated-in-class", "braced-hex"],
)  # fmt: skip
def test_untranslated_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(Unsupported):
        translate(pattern)


# -- the engine around the programs --------------------------------------------------------------------------------

ALLOWED = {"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"}


def test_kill_switch_and_decision_cache_work_natively() -> None:
    native = NativeEngine.from_policy_paths([SEED_POLICY], cache_size=16)
    assert native.decide(ALLOWED)["decision"] == "allow"
    assert native.decide(ALLOWED)["decision"] == "allow" and native.cache is not None and native.cache.hits == 1
    native.suspend("support_agent_1", "incident 7")
    suspended = native.decide(ALLOWED)
    assert suspended["decision"] == "deny" and [r["code"] for r in suspended["reasons"]] == ["agent_suspended"]
    assert suspended["reasons"][0]["message"] == "agent `support_agent_1` is suspended: incident 7"
    native.resume("support_agent_1")
    assert native.decide(ALLOWED)["decision"] == "allow"
    assert native.delegated == 0


def test_one_engine_serves_many_threads() -> None:
    """Programs are shared read-only: every thread gets the same decisions from one engine, none builds its own."""
    native = NativeEngine.from_policy_paths([SEED_POLICY])
    expected = _canonical(native.decide(ALLOWED))
    seen: list[str] = []

    def work() -> None:
        seen.extend(_canonical(native.decide(ALLOWED)) for _ in range(200))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [expected] * 1600 and native.delegated == 0


def test_decisions_are_fresh_objects() -> None:
    """A caller that changes a decision changes nothing the next decision shows."""
    native = NativeEngine.from_policy_paths([SEED_POLICY])
    first = native.decide(ALLOWED)
    first["rate_limits"][0]["requests_per_minute"] = 0
    assert native.decide(ALLOWED)["rate_limits"][0]["requests_per_minute"] == 30


@pytest.mark.parametrize(("kind", "name"), [("native", "native"), ("embedded", "embedded")])
def test_guard_from_policy_chooses_the_engine(kind: str, name: str) -> None:
    with Guard.from_policy([SEED_POLICY], engine=kind) as guard:
        assert guard.engine_name == name
        assert guard.check(ALLOWED).allow


def test_guard_refuses_an_unknown_engine_kind() -> None:
    from yaml2rego.errors import EngineError

    with pytest.raises(EngineError, match="unknown engine 'fast'"):
        Guard.from_policy([SEED_POLICY], engine="fast")


def test_enum_texts_of_equal_but_different_values_are_never_shared() -> None:
    """(1, 0) == (True, False) in Python, and 1 == 1.0: each enum is shown with its own values, as Rego shows them."""
    from yaml2rego.engines.native import _one_of

    assert _one_of(("low", "high")) == '["low", "high"]'
    assert _one_of((1, 0)) == "[1, 0]"
    assert _one_of((True, False)) == "[true, false]"
    assert _one_of((1.5, 2)) == "[1.5, 2]"


# -- fast paths beside the steps they shorten ----------------------------------------------------------------------

_SMALL_PAYLOAD = """
agent_boundary:
  agent_id: small_agent
  allowed_endpoints:
    - {method: POST, path: /notes}
  max_payload_size_kb: 1
"""


def _number_heavy_bodies() -> list[Any]:
    """Bodies whose JSON text is above 1 KiB with its numbers and at, below or above it without them."""
    bodies: list[Any] = []
    for filler in range(880, 1040, 9):
        for numbers in ([7] * 10, [123456789] * 10, [1.5, -2.25e-3, 10**15], [0] * 40, []):
            bodies.append({"note": "n" * filler, "values": numbers})
            bodies.append({"note": "é" * (filler // 2), "values": numbers, "flag": True})
    return bodies


def test_a_payload_near_its_limit_is_measured_as_regorus_measures_it() -> None:
    """The size without numbers is looked for only when the text with them is above the limit: both sides of it."""
    from yaml2rego.canonical_json import compact
    from yaml2rego.engines.native import _payload_size, payload_size

    compiled = compile_policy_set(load_policy_text(_SMALL_PAYLOAD))
    native, embedded = NativeEngine.from_compiled(compiled), EmbeddedEngine.from_compiled(compiled)
    calls = [
        {"agent_id": "small_agent", "method": "POST", "path": "/notes", "body": body, **declared}
        for body in _number_heavy_bodies()
        for declared in ({}, {"payload_size_bytes": 1024}, {"payload_size_bytes": 1025}, {"payload_size_bytes": 5})
    ]
    assert _differences(embedded, native, calls) == []
    straddling = [call for call in calls if len(compact(call["body"]).encode()) > 1024 >= payload_size(call)]
    assert straddling  # the case the shortcut must not change
    for call in calls:
        exact = payload_size(call)
        assert (_payload_size(call, 1024) > 1024) == (exact > 1024), call
        assert exact <= 1024 or _payload_size(call, 1024) == exact, call


def test_printable_text_is_the_text_with_every_control_replaced() -> None:
    """The shortcut for printable text leaves alone exactly what the replacement table leaves alone: every code point
    (surrogates included), alone and inside other text."""
    from yaml2rego.engines.native import _PRINTABLE, _printable

    for code in range(0x110000):
        char = chr(code)
        for text in (char, "a" + char + "é", char * 2):
            assert _printable(text) == text.translate(_PRINTABLE), hex(code)


def test_an_enum_of_strings_and_one_of_other_values_show_their_own_values() -> None:
    """The program marks an enum of strings, whose text is cached; any other enum is written out each time."""
    from yaml2rego.compile.native_program import build_programs

    policy = """
agent_boundary:
  agent_id: enum_agent
  allowed_endpoints:
    - {method: POST, path: /notes}
  input_validation:
    - endpoint: /notes
      rules:
        - {field: level, type: enum, values: ["1", "0"]}
        - {field: count, type: enum, values: [1, 0]}
        - {field: flag, type: enum, values: [true, false]}
        - {field: mixed, type: enum, values: ["a", 1, false, 1.5]}
"""
    compiled = compile_policy_set(load_policy_text(policy))
    programs, _ = build_programs(compiled.data_document())
    checks = programs["enum_agent"].validation[0][1]
    assert [check.strings_only for check in checks] == [True, False, False, False]
    native, embedded = NativeEngine.from_compiled(compiled), EmbeddedEngine.from_compiled(compiled)
    bodies = [
        {"level": level, "count": count, "flag": flag, "mixed": mixed}
        for level, count, flag, mixed in [
            ("2", 2, None, "b"), (1, True, 1, 1.0), ("0", 0.0, "true", None), ("é\u2028", "1", 0, [1]),
        ]
    ]  # fmt: skip
    calls = [{"agent_id": "enum_agent", "method": "POST", "path": "/notes", "body": body} for body in bodies]
    assert _differences(embedded, native, calls) == []
    assert native.delegated == 0
