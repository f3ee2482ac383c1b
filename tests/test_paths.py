"""Path patterns and canonical paths, on the Python side (the Rego side runs the same table in test_decisions)."""

from __future__ import annotations

import pytest

from yaml2rego.paths import NonCanonicalPath, canonical_path, non_canonical_reason, parse_pattern

NON_CANONICAL = [
    pytest.param("", id="empty"),
    pytest.param("api/customer", id="relative"),
    pytest.param("/api//customer", id="double-slash"),
    pytest.param("/api/./customer", id="dot-segment"),
    pytest.param("/api/customer/v1/../../admin/users", id="dot-dot-segment"),
    pytest.param("/api/customer/..", id="trailing-dot-dot"),
    pytest.param("/api/%2e%2e/admin", id="encoded-dot-lower"),
    pytest.param("/api/%2E%2E/admin", id="encoded-dot-upper"),
    pytest.param("/api/customer%2fadmin", id="encoded-slash"),
    pytest.param("/api/customer%2Fadmin", id="encoded-slash-upper"),
    pytest.param("/api/customer%5cadmin", id="encoded-backslash"),
    pytest.param("/api/customer%252fadmin", id="double-encoded"),
    pytest.param("/api\\admin", id="backslash"),
    pytest.param("/api/\x00admin", id="nul"),
    pytest.param("/api/admin\x7f", id="del"),
    pytest.param("/api/ad\nmin", id="newline"),
    pytest.param(None, id="not-a-string"),
]


@pytest.mark.parametrize("path", NON_CANONICAL)
def test_non_canonical_paths_are_refused(path: object) -> None:
    assert non_canonical_reason(path) is not None
    with pytest.raises(NonCanonicalPath):
        canonical_path(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/api/ticket/v1/", "/api/ticket/v1", id="trailing-slash"),
        pytest.param("/api/ticket/v1?x=1", "/api/ticket/v1", id="query"),
        pytest.param("/api/ticket/v1/#frag", "/api/ticket/v1", id="fragment"),
        pytest.param("/api/a%20b", "/api/a%20b", id="harmless-encoding-kept"),
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
