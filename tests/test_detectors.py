"""DLP detectors: what each finds, the checks that confirm a match, and deterministic redaction."""

from __future__ import annotations

import re
from typing import Any

import pytest

from yaml2rego.semantics.detectors import (
    BUILTIN_DETECTORS,
    detector_for,
    luhn_valid,
    redact_keys,
    redact_text,
    redact_value,
)


@pytest.mark.parametrize(
    ("detector", "text", "expected"),
    [
        ("email", "write to ann.lee+x@mail.example.co.uk today", "write to [REDACTED:email] today"),
        ("email", "no at sign here", "no at sign here"),
        ("card", "card 4111 1111 1111 1111 exp 12/29", "card [REDACTED:card] exp 12/29"),
        ("card", "card 4111-1111-1111-1111", "card [REDACTED:card]"),
        ("card", "amex 378282246310005", "amex [REDACTED:card]"),
        ("card", "order 4111 1111 1111 1112", "order 4111 1111 1111 1112"),
        ("card", "id 12345678901234567890123", "id 12345678901234567890123"),
        ("us_ssn", "ssn 123-45-6789.", "ssn [REDACTED:us_ssn]."),
        ("us_ssn", "ssn 000-45-6789 or 666-12-3456 or 900-12-3456", "ssn 000-45-6789 or 666-12-3456 or 900-12-3456"),
        ("us_ssn", "phone 1123-45-67890", "phone 1123-45-67890"),
        ("api_key", "key sk_live_abcdefghijklmnop1234", "key [REDACTED:api_key]"),
        ("api_key", "aws AKIAIOSFODNN7EXAMPLE ok", "aws [REDACTED:api_key] ok"),
        ("api_key", "gh ghp_" + "a" * 36, "gh [REDACTED:api_key]"),
        ("api_key", "not a key: sk_live_short", "not a key: sk_live_short"),
    ],
    ids=["email", "no-email", "card-spaces", "card-dashes", "amex", "luhn-fails", "too-long", "ssn", "ssn-never-issued",
         "ssn-inside-digits", "stripe", "aws", "github", "short-key"],
)  # fmt: skip
def test_builtin_detectors(detector: str, text: str, expected: str) -> None:
    assert redact_text(text, detector)[0] == expected


def test_redaction_is_deterministic_and_counts_matches() -> None:
    text = "a@example.com, b@example.com"
    assert redact_text(text, "email") == redact_text(text, "email") == ("[REDACTED:email], [REDACTED:email]", 2)


def test_regex_detector_uses_its_pattern() -> None:
    assert redact_text("MRN-123456 seen", "regex", "MRN-[0-9]{6}") == ("[REDACTED:regex] seen", 1)
    with pytest.raises(KeyError):
        detector_for("regex")


def test_redact_value_walks_nested_values_and_keys() -> None:
    """A PII value used as an object key is redacted like any other string."""
    value = {"ann@example.com": ["x", {"note": "ann@example.com 4111111111111111"}], "n": 3}
    redacted, counts = redact_value(value, [("email", None), ("card", None)])
    assert redacted == {"[REDACTED:email]": ["x", {"note": "[REDACTED:email] [REDACTED:card]"}], "n": 3}
    assert counts == {"email": 2, "card": 1}


@pytest.mark.parametrize(
    ("node", "expected", "count"),
    [
        pytest.param({"plain": 1}, {"plain": 1}, 0, id="nothing-to-redact"),
        pytest.param({"ann@example.com": 1}, {"[REDACTED:email]": 1}, 1, id="one-key"),
        pytest.param({"a@example.com": 1, "b@example.com": 2}, {"[REDACTED:email]": 1, "[REDACTED:email]#2": 2}, 2,
                     id="two-keys-kept-apart"),
        pytest.param({"a@example.com": 1, "[REDACTED:email]": 2}, {"[REDACTED:email]#2": 1, "[REDACTED:email]": 2}, 1,
                     id="an-existing-key-is-not-overwritten"),
        pytest.param({"to ann@example.com now": 1}, {"to [REDACTED:email] now": 1}, 1, id="match-inside-a-key"),
    ],
)  # fmt: skip
def test_redact_keys(node: dict[str, Any], expected: dict[str, Any], count: int) -> None:
    assert redact_keys(node, "email") == (expected, count)


@pytest.mark.parametrize(("number", "valid"), [("79927398713", False), ("4111111111111111", True),
                                               ("4111 1111 1111 1111", True), ("1234567812345678", False)])  # fmt: skip
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize("name", sorted(BUILTIN_DETECTORS))
def test_flag_regexes_are_portable(name: str) -> None:
    """The regex the policy flags with avoids what RE2 or Rust regex would read differently."""
    flag = BUILTIN_DETECTORS[name].flag_regex
    re.compile(flag)
    assert not re.search(r"\(\?[=!<>]|\\[1-9]|\\b|\\d|\\w|\\s", flag)


def test_rego_flags_what_python_redacts() -> None:
    """Every string a detector redacts is flagged by the same regex in regorus (the engine behind the policy)."""
    import regorus

    samples = {"email": "ann@example.com", "card": "4111 1111 1111 1111", "us_ssn": "123-45-6789",
               "api_key": "AKIAIOSFODNN7EXAMPLE"}  # fmt: skip
    engine = regorus.Engine()
    engine.add_policy("probe.rego", "package probe\n\nflagged(pattern, text) if regex.match(pattern, text)\n")
    for name, text in samples.items():
        engine.set_input({"pattern": BUILTIN_DETECTORS[name].flag_regex, "text": text})
        assert engine.eval_query("data.probe.flagged(input.pattern, input.text)")["result"], name
        assert redact_text(text, name)[1] == 1
