"""Endpoint path patterns and request-path canonicalisation.

The same rules live twice on purpose: here, so the loader rejects bad patterns and the guard can normalise a request
before asking the engine; and in ``rego/agent_boundary/paths/paths.rego``, so the policy refuses a non-canonical path
even when OPA is queried directly with nothing of ours in front. ``tests/test_paths.py`` runs one table through both.

Pattern semantics (see ``docs/dsl.md``):

* a pattern ending in ``/*`` covers its prefix and everything below it, at any depth;
* ``*`` anywhere else matches exactly one segment, ``**`` any number of segments (zero included);
* a trailing slash is not significant; the query string is not part of the path; matching is case-sensitive.

>>> pattern = parse_pattern("/api/customer/v1/*")
>>> pattern.matches("/api/customer/v1/42/orders")
True
>>> canonical_path("/api/ticket/v1/?draft=1")
'/api/ticket/v1'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

__all__ = [
    "NonCanonicalPath",
    "PathPattern",
    "canonical_path",
    "method_problem",
    "non_canonical_reason",
    "parse_pattern",
]

# The canonical form of a request target (docs/dsl.md, "Canonical paths"), the same regexes as paths.rego. The path
# holds only RFC 3986 unreserved characters, the sub-delims but `;`, `:`, `@`, `/` and the percent-escapes it needs:
# those of a printable ASCII character that may not appear as itself (space " # < > ? [ ] ^ ` { | }). Every other
# escape has a shorter spelling an upstream would decode it into (`/refun%64` is `/refund`), or decodes into a
# separator, a control character or non-ASCII bytes, so it is refused, never decoded. The query string holds
# printable ASCII but space and `#`; a request target never has a fragment (RFC 9112, section 3.2).
_NEEDED = r"%(?:20|22|23|3[CcEeFf]|5[BbDdEe]|60|7[BbCcDd])"
# The whole canonical form as one regex (the language of `canonical_target` in paths.rego; used with fullmatch, since
# Python's `$` also matches before a final newline): the root, or segments that are neither empty nor only dots, an
# optional trailing slash, an optional query string. Its repeats are possessive (`*+`, `++`): what one takes, the
# next part could never match (a dot run is followed by a non-dot, a segment's characters by `/`, `?` or the end),
# so giving it back never finds a match and the language is that of the plain regex. Python then matches a run of
# characters in one tight loop instead of one alternation per character, and never backtracks on a hostile path.
_CANONICAL_TARGET = re.compile(
    rf"(?:/|(?:/\.*+(?:[A-Za-z0-9\-_~!$&'()*+,=:@]|{_NEEDED})(?:[A-Za-z0-9\-._~!$&'()*+,=:@]++|{_NEEDED})*+)++/?)"
    r'(?:\?[!"$-~]*+)?'
)
# Percent-encodings that smuggle a dot, a slash, a backslash or a second round of encoding past a naive matcher
# (`..%2f`, `%5c`, `%252f`). Envoy's path normalisation treats the same set as dangerous.
_ENCODED_SEPARATOR = re.compile(r"%(2e|2f|5c|25)", re.IGNORECASE)
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Tomcat, Jetty and Spring strip `;…` path parameters before routing: `/refund;x=1`, `/..;/admin`.
_PATH_PARAMETER = re.compile(r";|%3b", re.IGNORECASE)
_VALID_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_NEEDED_ESCAPE = re.compile(_NEEDED)
# What the path may hold as itself (escapes are checked apart).
_PATH_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,=:@/%]*")
_DOTS = re.compile(r"\.+")
# RFC 9110, section 5.6.2: a method is a token of ASCII tchar; nothing else is upper-cased or matched.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Characters a literal pattern segment may hold: RFC 3986 pchar, minus percent-encoding (patterns name paths, they
# do not encode them) and minus `;`, which no canonical path holds.
_LITERAL_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()+,=:@-]+")
# Characters that are special in both RE2 (OPA) and Rust regex (regorus); escaping only these keeps the generated
# expressions valid in both dialects.
_REGEX_SPECIAL = set(r"\.+*?()|[]{}^$")

ONE_SEGMENT = "*"
ANY_SEGMENTS = "**"


class NonCanonicalPath(ValueError):
    """A request path that the policy refuses to match (``..``, ``//``, ``%2f``, …)."""


def strip_query(path: str) -> str:
    """The path without its query string or fragment."""
    if "?" not in path and "#" not in path:  # most paths: two scans, without the loop and its searches
        return path
    for separator in ("?", "#"):
        index = path.find(separator)
        if index >= 0:
            path = path[:index]
    return path


def non_canonical_reason(path: object) -> str | None:
    """Why ``path`` is not canonical, or ``None`` when it is. The same checks, in the same order and with the same
    messages, as ``non_canonical_reason`` in paths.rego. The query string is checked for its characters only."""
    if not isinstance(path, str):
        return "the path is not a string"
    # Most paths are canonical, and two regexes decide that; the checks below run only to name the problem.
    if _CANONICAL_TARGET.fullmatch(path):
        return None
    query_free = strip_query(path)
    if query_free == "":
        return "the path is empty"
    if not path.startswith("/"):
        return "the path is relative (it must start with '/')"
    if _CONTROL_CHARACTER.search(path):
        return "the path contains a control character"
    if _NON_ASCII.search(path):
        return "the path contains a non-ASCII character"
    if "#" in path:
        return "the path contains a fragment ('#')"
    problem = _query_free_problem(query_free)
    if problem is not None:
        return problem
    if " " in path:
        return "the query string contains a space"
    return "the path is not in canonical form"


def _query_free_problem(path: str) -> str | None:
    """Problems of the path without its query string (already free of control, non-ASCII and ``#`` characters)."""
    if "\\" in path:
        return "the path contains a backslash"
    if _ENCODED_SEPARATOR.search(path):
        return "the path contains an encoded dot, slash, backslash or percent sign"
    if _PATH_PARAMETER.search(path):
        return "the path contains a ';' (path parameters are refused)"
    # A bare `%`, `%u002e`, `%g0`: what remains once every well-formed escape is taken out.
    if "%" in _VALID_ESCAPE.sub("", path):
        return "the path contains an invalid percent-escape"
    # `%64`, `%00`, `%C0%AE`: what remains once every needed escape is taken out.
    if "%" in _NEEDED_ESCAPE.sub("", path):
        return "the path contains a percent-escape its canonical form does not need"
    if not _PATH_CHARACTERS.fullmatch(path):
        return "the path contains a character that must be percent-encoded"
    if "//" in path:
        return "the path contains an empty segment ('//')"
    segments = path.split("/")
    if any(segment in (".", "..") for segment in segments):
        return "the path contains a '.' or '..' segment"
    if any(_DOTS.fullmatch(segment) for segment in segments):
        return "the path contains a segment of only dots ('...')"
    return None


def method_problem(method: object) -> str | None:
    """Why ``method`` is not an HTTP method the policy matches, or ``None``: it must be an RFC 9110 token of ASCII
    characters. The long s (U+017F) upper-cases to ``S`` in Python, Go and Rust alike, so a method is upper-cased only
    once this holds (the same check as in decision.rego)."""
    if not isinstance(method, str):
        return "the request needs `method` as a string"
    if method == "":
        return "the request's `method` is empty"
    if not _TOKEN.fullmatch(method):
        return "the request's `method` is not an HTTP token (RFC 9110)"
    return None


def canonical_path(path: object) -> str:
    """``path`` without query string and trailing slash; raises :class:`NonCanonicalPath` if the policy would refuse it.

    >>> canonical_path("/api/admin/")
    '/api/admin'
    >>> canonical_path("/")
    '/'
    """
    if type(path) is str and _CANONICAL_TARGET.fullmatch(path):
        # The common case, in one regex (non_canonical_reason's first test): a canonical target has no fragment.
        return path.partition("?")[0].rstrip("/") or "/"
    reason = non_canonical_reason(path)
    if reason is not None:
        raise NonCanonicalPath(f"{reason}: {path!r}")
    assert isinstance(path, str)
    path = strip_query(path)
    return path.rstrip("/") or "/"


@dataclass(frozen=True)
class PathPattern:
    """A parsed endpoint pattern such as ``/api/customer/v1/*``.

    ``segments`` are the literal, ``*`` and ``**`` segments before any trailing ``/*``; ``subtree`` says whether the
    pattern ended in ``/*`` and so covers everything below its prefix.
    """

    text: str
    segments: tuple[str, ...]
    subtree: bool

    @cached_property
    def regex(self) -> str:
        """An anchored regular expression, valid in RE2 and Rust regex, matching canonical paths.

        The canonical root ``/`` is matched as the empty string: callers strip the trailing slash first (see the
        Rego library's ``_match_target``).
        """
        parts = ["^"]
        for segment in self.segments:
            if segment == ANY_SEGMENTS:
                parts.append("(?:/[^/]+)*")
            elif segment == ONE_SEGMENT:
                parts.append("/[^/]+")
            else:
                parts.append("/" + _escape(segment))
        if self.subtree:
            parts.append("(?:/[^/]+)*")
        parts.append("$")
        return "".join(parts)

    @cached_property
    def literal_segments(self) -> tuple[str, ...]:
        """The literal segments the pattern starts with, up to its first wildcard."""
        literal: list[str] = []
        for segment in self.segments:
            if segment in (ONE_SEGMENT, ANY_SEGMENTS):
                break
            literal.append(segment)
        return tuple(literal)

    @property
    def prefix(self) -> str:
        """The literal start every matching path has, with a trailing slash: ``/api/customer/v1/``.

        A match target (canonical path without its trailing slash, the root as ``""``) matches only if the target
        followed by ``/`` starts with this prefix; for most patterns that settles the match (see :attr:`match_kind`).
        """
        return "/" + "".join(segment + "/" for segment in self.literal_segments)

    @property
    def match_kind(self) -> str:
        """What decides a match once the target starts with :attr:`prefix`.

        ``exact``: the target is the prefix (a literal pattern); ``subtree``: nothing more (a literal prefix and then
        ``/*`` or ``/**``); ``regex``: the pattern's regex (wildcards in the middle). The policy checks the cheap
        string test first and runs a regex only for the last kind: regexes cost the most of any step of a decision.
        """
        rest = self.segments[len(self.literal_segments) :]
        if not rest:
            return "subtree" if self.subtree else "exact"
        if all(segment == ANY_SEGMENTS for segment in rest):
            return "subtree"
        return "regex"

    def matcher(self) -> dict[str, str]:
        """The pattern as endpoint rules carry it in the policy data: text, prefix, match kind and regex."""
        return {"pattern": self.text, "prefix": self.prefix, "match": self.match_kind, "regex": self.regex}

    def matches(self, path: str) -> bool:
        """Whether a request path falls under this pattern (the path is canonicalised first)."""
        target = canonical_path(path).rstrip("/")
        return re.fullmatch(self.regex[1:-1], target) is not None

    def example_path(self) -> str:
        """A concrete path this pattern matches, for generated tests."""
        parts = ["example" if segment in (ONE_SEGMENT, ANY_SEGMENTS) else segment for segment in self.segments]
        if self.subtree:
            parts.append("example")
        return "/" + "/".join(parts)

    def __str__(self) -> str:
        return self.text


def parse_pattern(text: object) -> PathPattern:
    """Parse an endpoint pattern; raises ``ValueError`` with a message fit for a policy author.

    >>> parse_pattern("/api/*/items/**").segments
    ('api', '*', 'items', '**')
    """
    if not isinstance(text, str):
        raise ValueError("a path pattern must be a string")
    if not text.startswith("/"):
        raise ValueError(f"path pattern {text!r} must start with '/'")
    if "?" in text or "#" in text:
        raise ValueError(f"path pattern {text!r} must not contain a query string or fragment")
    if "%" in text or "\\" in text or _CONTROL_CHARACTER.search(text):
        raise ValueError(f"path pattern {text!r} must not contain '%', backslashes or control characters")
    body = text[1:]
    if body.endswith("/"):
        body = body[:-1]
    raw_segments = body.split("/") if body else []
    subtree = bool(raw_segments) and raw_segments[-1] == ONE_SEGMENT
    if subtree:
        raw_segments = raw_segments[:-1]
    for segment in raw_segments:
        if segment == "":
            raise ValueError(f"path pattern {text!r} has an empty segment ('//')")
        if segment in (".", ".."):
            raise ValueError(f"path pattern {text!r} has a '.' or '..' segment")
        if _DOTS.fullmatch(segment):
            raise ValueError(f"path pattern {text!r} has a segment of only dots")
        if segment in (ONE_SEGMENT, ANY_SEGMENTS):
            continue
        if "*" in segment:
            raise ValueError(
                f"path pattern {text!r}: a wildcard must be a whole segment ('*' or '**'), not part of {segment!r}"
            )
        if not _LITERAL_SEGMENT.fullmatch(segment):
            raise ValueError(f"path pattern {text!r}: segment {segment!r} has characters a URL path cannot hold")
    return PathPattern(text=text, segments=tuple(raw_segments), subtree=subtree)


def _escape(literal: str) -> str:
    return "".join("\\" + char if char in _REGEX_SPECIAL else char for char in literal)
