"""Path patterns, canonical paths and methods, on the Python side (test_rego_library runs the same tables in Rego)."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from yaml2rego.semantics.paths import (
    NonCanonicalPath,
    canonical_path,
    method_problem,
    non_canonical_reason,
    parse_pattern,
)

from .conftest import REPO_ROOT
from .path_cases import METHOD_CASES, PATH_CASES


@pytest.mark.parametrize(("path", "reason"), PATH_CASES)
def test_each_path_gets_its_reason(path: object, reason: str | None) -> None:
    """non_canonical_reason names the first problem of each path in the shared table (None: canonical)."""
    assert non_canonical_reason(path) == reason


@pytest.mark.parametrize("path", [case.values[0] for case in PATH_CASES if case.values[1] is not None])
def test_non_canonical_paths_are_refused(path: object) -> None:
    with pytest.raises(NonCanonicalPath):
        canonical_path(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/api/ticket/v1/", "/api/ticket/v1", id="trailing-slash"),
        pytest.param("/api/ticket/v1?x=1", "/api/ticket/v1", id="query"),
        pytest.param("/api/a%20b", "/api/a%20b", id="needed-escape-kept"),
        pytest.param("/", "/", id="root"),
        pytest.param("/a/..b/c", "/a/..b/c", id="dots-inside-a-segment"),
    ],
)
def test_canonical_paths(path: str, expected: str) -> None:
    assert canonical_path(path) == expected


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        pytest.param("/api/customer/v1/*", "/api/customer/v1/42", True, id="subtree-one-level"),
        pytest.param("/api/customer/v1/*", "/api/customer/v1/42/orders/7", True, id="subtree-any-depth"),
        pytest.param("/api/customer/v1/*", "/api/customer/v1", True, id="subtree-covers-prefix"),
        pytest.param("/api/customer/v1/*", "/api/customer/v10", False, id="subtree-not-a-string-prefix"),
        pytest.param("/api/*", "/api/customer/v1/42", True, id="seed-delete-deny"),
        pytest.param("/api/ticket/v1/", "/api/ticket/v1", True, id="trailing-slash-insignificant"),
        pytest.param("/api/ticket/v1", "/api/ticket/v1/", True, id="trailing-slash-on-request"),
        pytest.param("/api/ticket/v1/", "/api/ticket/v1/5", False, id="exact-pattern"),
        pytest.param("/api/*/v1/items", "/api/customer/v1/items", True, id="star-one-segment"),
        pytest.param("/api/*/v1/items", "/api/a/b/v1/items", False, id="star-not-two-segments"),
        pytest.param("/api/**/items", "/api/items", True, id="globstar-zero-segments"),
        pytest.param("/api/**/items", "/api/a/b/c/items", True, id="globstar-many-segments"),
        pytest.param("/api/**/items", "/api/a/b/c/other", False, id="globstar-anchored"),
        pytest.param("/Api/x", "/api/x", False, id="case-sensitive"),
        pytest.param("/api/v1.0/x", "/api/v1x0/x", False, id="dot-is-literal"),
        pytest.param("/*", "/", True, id="everything-covers-root"),
        pytest.param("/", "/", True, id="root-exact"),
        pytest.param("/", "/a", False, id="root-exact-only"),
    ],
)
def test_pattern_matching(pattern: str, path: str, matches: bool) -> None:
    assert parse_pattern(pattern).matches(path) is matches


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        pytest.param("api/x", "must start with '/'", id="relative"),
        pytest.param("/api//x", "empty segment", id="empty-segment"),
        pytest.param("/api/../x", "'.' or '..' segment", id="dot-dot"),
        pytest.param("/api/v*/x", "a wildcard must be a whole segment", id="partial-wildcard"),
        pytest.param("/api/x?y=1", "query string", id="query"),
        pytest.param("/api/%2e", "must not contain '%'", id="percent"),
        pytest.param("/api/x;y", "characters a URL path cannot hold", id="semicolon"),
        pytest.param("/api/.../x", "only dots", id="three-dots"),
        pytest.param(42, "must be a string", id="not-a-string"),
    ],
)
def test_bad_patterns_are_explained(pattern: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("?", r"\?").replace("*", r"\*")):
        parse_pattern(pattern)


def test_example_path_matches_its_pattern() -> None:
    for text in ["/api/customer/v1/*", "/api/*/v1/items", "/api/**/items", "/api/ticket/v1/", "/*"]:
        pattern = parse_pattern(text)
        assert pattern.matches(pattern.example_path()), text


@pytest.mark.parametrize(("method", "problem"), METHOD_CASES)
def test_methods_must_be_rfc9110_tokens(method: object, problem: str | None) -> None:
    """A method is an ASCII token; one that only upper-cases to a known method is refused, never matched."""
    assert method_problem(method) == problem


def _rego_canonical_target() -> re.Pattern[str]:
    """paths.rego's `canonical_target`, its plain (backtracking) regex read from the library's text."""
    text = (REPO_ROOT / "rego" / "agent_boundary" / "paths" / "paths.rego").read_text(encoding="utf-8")
    block = re.search(r'^canonical_target := concat\("", \[\n(.*?)\n\]\)', text, re.MULTILINE | re.DOTALL)
    assert block is not None
    regex = "".join(re.findall(r"`([^`]*)`", block.group(1)))
    assert regex.startswith("^") and regex.endswith("$")
    return re.compile(regex[1:-1])


def test_the_possessive_canonical_target_is_the_library_regex() -> None:
    """The Python regex (possessive repeats) accepts exactly what paths.rego's plain one does: every text of up to
    six characters over the characters that decide it, and seeded longer texts over a wider alphabet."""
    from yaml2rego.semantics.paths import _CANONICAL_TARGET

    reference = _rego_canonical_target()
    deciding = "/.a%20?# "
    for length in range(7):
        for chars in itertools.product(deciding, repeat=length):
            text = "".join(chars)
            assert bool(_CANONICAL_TARGET.fullmatch(text)) == bool(reference.fullmatch(text)), repr(text)
    rng = random.Random(20261204)
    wider = [*"/.a~%203CEe5Bb7D?#;\\\"'@:= \x00\n\x7f", "é", "\u2028", "%2e", "%2F", "%25", "..", "//", "%3c"]
    for _ in range(100_000):
        text = "".join(rng.choice(wider) for _ in range(rng.randrange(1, 24)))
        assert bool(_CANONICAL_TARGET.fullmatch(text)) == bool(reference.fullmatch(text)), repr(text)
