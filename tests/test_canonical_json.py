"""The JSON forms of yaml2rego.canonical_json write exactly what ``json.JSONEncoder(...).encode`` writes, and refuse
what it refuses with the same error: digests, signatures and the record hash chain are taken over these texts."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from yaml2rego import canonical_json

_COMPACT = (",", ":")
# Each form and the encoder whose text it must be, byte for byte (the options the module's docstring gives).
FORMS: dict[str, tuple[Callable[[Any], str], json.JSONEncoder]] = {
    "canonical": (
        canonical_json.canonical,
        json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=_COMPACT, allow_nan=False),
    ),
    "canonical_ascii": (
        canonical_json.canonical_ascii,
        json.JSONEncoder(sort_keys=True, separators=_COMPACT, allow_nan=False),
    ),
    "canonical_lenient": (
        canonical_json.canonical_lenient,
        json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=_COMPACT, default=str),
    ),
    "compact": (canonical_json.compact, json.JSONEncoder(ensure_ascii=False, separators=_COMPACT)),
    "compact_lenient": (
        canonical_json.compact_lenient,
        json.JSONEncoder(ensure_ascii=False, separators=_COMPACT, default=str),
    ),
    "readable": (canonical_json.readable, json.JSONEncoder(ensure_ascii=False, sort_keys=True)),
}

# Text that needs every kind of escape and none: controls, quotes, backslashes, non-ASCII in all planes, the line
# separators, a lone surrogate of each half (a Python str may hold them; JSON writes them as \ud800 escapes).
_PIECES = [
    "", "a", "support_agent_1", "/api/customer/v1/42", '"', "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "\x85", "é",
    "ß", "\u2028", "\u2029", "\ufeff", "\ufffd", "漢字", "😀", "\U0010ffff", "\ud800", "\udfff", "\udbff\udc00",
    "%2e", "a;b", "</script>",
]  # fmt: skip
_NUMBERS = [
    0, 1, -1, 2**31, 2**53 - 1, 2**53, 2**63, -(2**64), 10**40, 0.0, -0.0, 1.5, 1e-07, 0.1 + 0.2, 1e300, 5e-324,
    123456789.125, -2.5e-10, 1e16, True, False, None,
]  # fmt: skip
_SPECIAL_FLOATS = [math.nan, math.inf, -math.inf]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randrange(0, 5)))


def _value(rng: random.Random, depth: int, *, special: bool) -> Any:
    kind = rng.randrange(10 if depth < 5 else 6)
    if kind <= 2:
        return _text(rng)
    if kind <= 4:
        return rng.choice(_NUMBERS + (_SPECIAL_FLOATS if special else []))
    if kind == 5:
        return rng.uniform(-1e6, 1e6) if rng.random() < 0.5 else rng.randrange(-(2**70), 2**70)
    if kind <= 7:
        return [_value(rng, depth + 1, special=special) for _ in range(rng.randrange(0, 4))]
    return {_text(rng) + str(n): _value(rng, depth + 1, special=special) for n in range(rng.randrange(0, 4))}


def _corpus(seed: int, *, special: bool) -> list[Any]:
    rng = random.Random(seed)
    return [_value(rng, 0, special=special) for _ in range(1500)]


def _outcome(encode: Callable[[Any], str], value: Any) -> tuple[str, str]:
    try:
        return "text", encode(value)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("name", FORMS)
def test_every_form_writes_what_its_encoder_writes(name: str) -> None:
    """A seeded corpus of nested values (escapes, non-ASCII, lone surrogates, floats, big integers): same text."""
    form, reference = FORMS[name]
    for value in _corpus(12, special=False):
        assert form(value) == reference.encode(value), value


@pytest.mark.parametrize("name", FORMS)
def test_every_form_writes_or_refuses_nan_and_infinities_as_its_encoder_does(name: str) -> None:
    form, reference = FORMS[name]
    for value in [*_SPECIAL_FLOATS, *_corpus(13, special=True)[:400]]:
        assert _outcome(form, value) == _outcome(reference.encode, value), value


class _Opaque:
    def __str__(self) -> str:
        return "opaque é"


@pytest.mark.parametrize("name", FORMS)
@pytest.mark.parametrize(
    "value",
    [
        {"when": b"x"},
        {"set": {1, 2}},
        {"object": _Opaque()},
        [_Opaque(), (1, "a")],
        {3: "int key", 2.5: "float key", True: "bool key", None: "null key"},
        {"b": 1, 1: "mixed key types: sorting them fails"},
        {("tuple", "key"): 1},
        "a top-level string é \ud800",
        2**100,
        -0.0,
    ],
    ids=lambda value: type(value).__name__,
)
def test_every_form_treats_values_json_cannot_hold_as_its_encoder_does(name: str, value: Any) -> None:
    """Written as ``str`` (the lenient forms) or refused, with the same error and message."""
    form, reference = FORMS[name]
    assert _outcome(form, value) == _outcome(reference.encode, value)


@pytest.mark.parametrize("name", FORMS)
def test_a_value_containing_itself_is_refused_as_a_circular_reference(name: str) -> None:
    form, _ = FORMS[name]
    looped: dict[str, Any] = {"a": []}
    looped["a"].append(looped)
    with pytest.raises(ValueError, match="Circular reference detected"):
        form(looped)


@pytest.mark.parametrize("name", FORMS)
def test_nesting_past_the_recursion_limit_raises_recursion_error(name: str) -> None:
    form, _ = FORMS[name]
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(RecursionError):
        form(deep)


def test_the_forms_serve_threads_at_once() -> None:
    """One encoder per form serves every thread: concurrent calls each get their own value's text."""
    from concurrent.futures import ThreadPoolExecutor

    values = _corpus(14, special=False)[:300]
    expected = [canonical_json.canonical_lenient(value) for value in values]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(5):
            assert list(pool.map(canonical_json.canonical_lenient, values)) == expected
