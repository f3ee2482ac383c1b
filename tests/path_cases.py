"""One table of request targets and the reason each is refused (``None``: canonical), for every engine.

``tests/test_paths.py`` runs it through yaml2rego.semantics.paths, ``tests/test_rego_library.py`` through the Rego
library on regorus and on OPA's Go evaluator, and compares the three. Each class of trick from docs/dsl.md
("Canonical paths") has rows here; a row says what the path is, not how a particular server reads it.
"""

from __future__ import annotations

import pytest

UNNEEDED = "the path contains a percent-escape its canonical form does not need"
INVALID = "the path contains an invalid percent-escape"
PARAMETER = "the path contains a ';' (path parameters are refused)"
NON_ASCII = "the path contains a non-ASCII character"
CONTROL = "the path contains a control character"
ENCODE = "the path contains a character that must be percent-encoded"
ENCODED = "the path contains an encoded dot, slash, backslash or percent sign"
DOTS = "the path contains a '.' or '..' segment"
ONLY_DOTS = "the path contains a segment of only dots ('...')"
FRAGMENT = "the path contains a fragment ('#')"

PATH_CASES = [
    # canonical
    pytest.param("/", None, id="root"),
    pytest.param("/api/customer/v1/42", None, id="plain"),
    pytest.param("/api/ticket/v1/?draft=1", None, id="query"),
    pytest.param("/api/x?next=../admin//%2f;[]|^", None, id="query-content-is-not-matched"),
    pytest.param("/api/.well-known", None, id="hidden-name"),
    pytest.param("/api/file..json", None, id="dots-inside-a-segment"),
    pytest.param("/api/a%20b%22%23%3c%3E%3f%5B%5d%5e%60%7B%7c%7D", None, id="needed-escapes"),
    pytest.param("/api/a!$&'()*+,=:@b~_-.", None, id="sub-delims-colon-at"),
    # shape
    pytest.param("", "the path is empty", id="empty"),
    pytest.param("?only=query", "the path is empty", id="only-query"),
    pytest.param("relative/path", "the path is relative (it must start with '/')", id="relative"),
    pytest.param(42, "the path is not a string", id="number"),
    pytest.param(None, "the path is not a string", id="null"),
    pytest.param(["/api"], "the path is not a string", id="list"),
    # dot and empty segments
    pytest.param("/api/../admin", DOTS, id="dot-dot"),
    pytest.param("/api/./x", DOTS, id="dot"),
    pytest.param("/api/..", DOTS, id="trailing-dot-dot"),
    pytest.param("/api/..?x=1", DOTS, id="dot-dot-before-query"),
    pytest.param("/api/.../admin", ONLY_DOTS, id="three-dots"),
    pytest.param("/api/....", ONLY_DOTS, id="four-dots-at-the-end"),
    pytest.param("/api//admin", "the path contains an empty segment ('//')", id="double-slash"),
    # encoded separators
    pytest.param("/api%2fadmin", ENCODED, id="encoded-slash"),
    pytest.param("/api%2Eadmin", ENCODED, id="encoded-dot"),
    pytest.param("/api%5cadmin", ENCODED, id="encoded-backslash"),
    pytest.param("/api%255cadmin", ENCODED, id="double-encoding"),
    pytest.param("/api\\admin", "the path contains a backslash", id="backslash"),
    # escapes the canonical form does not need: an upstream decodes them into the denied path
    pytest.param("/api/refun%64", UNNEEDED, id="escaped-last-letter"),
    pytest.param("/api/%72efund", UNNEEDED, id="escaped-first-letter"),
    pytest.param("/api/v%31", UNNEEDED, id="escaped-digit"),
    pytest.param("/api/%7Euser", UNNEEDED, id="escaped-tilde"),
    pytest.param("/api/a%21b", UNNEEDED, id="escaped-sub-delim"),
    pytest.param("/api/a%3Ab", UNNEEDED, id="escaped-colon"),
    pytest.param("/api/refund%00", UNNEEDED, id="escaped-nul"),
    pytest.param("/api/x%0d%0aHost:%20evil", UNNEEDED, id="escaped-crlf"),
    pytest.param("/api/caf%C3%A9", UNNEEDED, id="escaped-non-ascii"),
    pytest.param("/api/%C0%AE%C0%AE/admin", UNNEEDED, id="overlong-utf8-dot"),
    pytest.param("/api/%EF%BC%8E%EF%BC%8E/admin", UNNEEDED, id="escaped-fullwidth-dot"),
    pytest.param("/api/%E2%88%95admin", UNNEEDED, id="escaped-division-slash"),
    # invalid escapes
    pytest.param("/api/100%", INVALID, id="bare-percent"),
    pytest.param("/api/%4", INVALID, id="percent-one-digit"),
    pytest.param("/api/%u002e%u002e/admin", INVALID, id="iis-u-escape"),
    pytest.param("/api/%zz", INVALID, id="percent-non-hex"),
    # path parameters
    pytest.param("/api/x;y=1", PARAMETER, id="path-parameter"),
    pytest.param("/api/..;/admin", PARAMETER, id="dot-dot-parameter"),
    pytest.param("/api/refund;", PARAMETER, id="trailing-semicolon"),
    pytest.param("/api/refund%3b", PARAMETER, id="escaped-semicolon"),
    # controls and non-ASCII anywhere in the target, query string included
    pytest.param("/api/\x00x", CONTROL, id="nul"),
    pytest.param("/api/\x1fx", CONTROL, id="unit-separator"),
    pytest.param("/api/\x7fx", CONTROL, id="delete"),
    pytest.param("/api/x?q=1\r\nHost: evil", CONTROL, id="crlf-in-query"),
    pytest.param("/api/x?q=\x00", CONTROL, id="nul-in-query"),
    pytest.param("/api/x\u0085/admin", NON_ASCII, id="c1-next-line"),
    pytest.param("/api/x\u2028y", NON_ASCII, id="line-separator"),
    pytest.param("/api/\uff0e\uff0e/admin", NON_ASCII, id="fullwidth-dots"),
    pytest.param("/api\uff0fadmin", NON_ASCII, id="fullwidth-slash"),
    pytest.param("/api\u2215admin", NON_ASCII, id="division-slash"),
    pytest.param("/api/caf\u00e9", NON_ASCII, id="non-ascii-letter"),
    pytest.param("/api/x?q=\u00e9", NON_ASCII, id="non-ascii-in-query"),
    pytest.param("/api/\U0001f600", NON_ASCII, id="emoji"),
    # spaces, fragments, characters that must be escaped
    pytest.param("/api/re fund", ENCODE, id="raw-space"),
    pytest.param("/api/x?q=a b", "the query string contains a space", id="raw-space-in-query"),
    pytest.param('/api/"x', ENCODE, id="raw-quote"),
    pytest.param("/api/[x]", ENCODE, id="raw-brackets"),
    pytest.param("/api/x#/../admin", FRAGMENT, id="fragment-hiding-dot-dot"),
    pytest.param("/api/x?a=1#frag", FRAGMENT, id="fragment-after-query"),
]

NOT_TOKEN = "the request's `method` is not an HTTP token (RFC 9110)"

# Methods, and the problem of each (None: a token the policy matches, upper-cased).
METHOD_CASES = [
    pytest.param("GET", None, id="get"),
    pytest.param("get", None, id="lower-case-is-a-token"),
    pytest.param("M-SEARCH", None, id="extension-method"),
    pytest.param("", "the request's `method` is empty", id="empty"),
    pytest.param(7, "the request needs `method` as a string", id="number"),
    pytest.param(" GET", NOT_TOKEN, id="leading-space"),
    pytest.param("GET ", NOT_TOKEN, id="trailing-space"),
    pytest.param("DE LETE", NOT_TOKEN, id="inner-space"),
    pytest.param("GET\t", NOT_TOKEN, id="tab"),
    pytest.param("GET\x00", NOT_TOKEN, id="nul"),
    pytest.param("GET\r\n", NOT_TOKEN, id="crlf"),
    pytest.param("po\u017ft", NOT_TOKEN, id="long-s-upper-cases-to-post"),
    pytest.param("\uff24\uff25\uff2c\uff25\uff34\uff25", NOT_TOKEN, id="fullwidth-delete"),
    pytest.param("D\u0415L\u0415T\u0415", NOT_TOKEN, id="cyrillic-e"),
    pytest.param("GET/x", NOT_TOKEN, id="separator"),
]
