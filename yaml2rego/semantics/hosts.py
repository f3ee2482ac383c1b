"""Destination hosts: one canonical form for egress checks, the same in Python and in Rego
(``rego/agent_boundary/egress/egress.rego``).

A host is lower-cased and loses one trailing dot. Refused outright: an empty host, user names (``user@host``),
non-ASCII hosts (written as punycode instead), IP literals (``10.0.0.1``, ``[::1]``, and integer or hex forms such as
``2130706433``), percent-encoding, characters outside ``a-z 0-9 . -``, empty labels (``a..b``), and a port that
disagrees with the call's ``port``. Domains are matched exactly, or by a ``*.`` pattern that covers every subdomain
(but not the domain itself).

>>> canonical_host("API.Example.COM.")
'api.example.com'
>>> host_problem("user@api.example.com")
'a user name in the host is refused'
>>> domain_matches("a.b.example.com", "*.example.com"), domain_matches("example.com", "*.example.com")
(True, False)
>>> split_url("https://API.example.com:8443/v1/pay?x=1")
('api.example.com', 8443, '/v1/pay?x=1')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = [
    "NonCanonicalHost",
    "canonical_domain",
    "canonical_host",
    "domain_matches",
    "host_allowed",
    "host_problem",
    "split_url",
]

_LABELS = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
# Every label numeric or hex (0x7f.1): inet_aton reads these as IPv4 addresses, so they are never host names.
_NUMERIC = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# ASCII digits only: str.isdigit() accepts "٨" and "²", which the policy's [0-9] does not.
_DIGITS = re.compile(r"[0-9]+")


class NonCanonicalHost(ValueError):
    """A host the egress check refuses outright (the message says why)."""


def host_problem(host: object, port: object = None) -> str | None:
    """Why ``host`` is refused, or ``None`` for a host name that can be matched."""
    if not isinstance(host, str) or not host:
        return "the host is empty"
    if "@" in host:
        return "a user name in the host is refused"
    if "%" in host:
        return "a percent-encoded host is refused"
    # Before lower-casing: the Kelvin sign lower-cases to "k" in Python, Go and Rust, and an IDNA encoder maps
    # lookalikes in its own way. A host outside ASCII is written in its punycode form (xn--...).
    if _NON_ASCII.search(host):
        return "a non-ASCII host is refused (use its punycode form)"
    text = host.lower()
    if text.startswith("[") or text.count(":") > 1:
        return "an IP address is refused as a host (use a domain name)"
    if ":" in text:
        text, _, given = text.partition(":")
        if not _DIGITS.fullmatch(given):
            return "the host's port is not a number"
        if port is not None and str(port) != str(int(given)):
            return f"the host's port {int(given)} does not match the call's port {port}"
    text = text[:-1] if text.endswith(".") else text
    if _NUMERIC.fullmatch(text):
        return "an IP address is refused as a host (use a domain name)"
    if len(text) > 253 or not _LABELS.fullmatch(text):
        return "the host is not a valid domain name"
    return None


def canonical_host(host: str, port: object = None) -> str:
    """``host`` lower-cased, without a trailing dot or a port; raises :class:`NonCanonicalHost` for a refused host."""
    problem = host_problem(host, port)
    if problem:
        raise NonCanonicalHost(problem)
    text = host.lower().partition(":")[0]
    return text[:-1] if text.endswith(".") else text


def canonical_domain(pattern: str) -> str:
    """A domain pattern (of ``allowed_domains`` or ``host_regions``) as the policy matches it: lower case, no trailing
    dot.

    >>> canonical_domain("*.Example.COM.")
    '*.example.com'
    """
    pattern = pattern.lower()
    return pattern[:-1] if pattern.endswith(".") else pattern


def domain_matches(host: str, pattern: str) -> bool:
    """Whether canonical ``host`` matches ``pattern``: equal to it, or below it for a ``*.domain`` pattern."""
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Whether ``host`` (any form) is canonical and matches one of ``patterns``."""
    try:
        canonical = canonical_host(host)
    except NonCanonicalHost:
        return False
    return any(domain_matches(canonical, pattern) for pattern in patterns)


def split_url(url: str) -> tuple[str, int | None, str]:
    """The canonical host, the port (``None`` when the URL gives none) and the path with its query, of an absolute
    URL. A URL with a user name, an IP-literal host or no host raises :class:`NonCanonicalHost`."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        raise NonCanonicalHost("a user name in the URL is refused")
    if not parts.hostname:
        raise NonCanonicalHost("the URL has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise NonCanonicalHost("the URL's port is not a number") from exc
    host = canonical_host(netloc.rpartition(":")[0] if port is not None else netloc)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if port is not None and port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        port = None
    return host, port, path
