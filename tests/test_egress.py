"""Destination hosts: one canonical form in Python (yaml2rego.semantics.hosts) and in Rego (agent_boundary.egress)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from yaml2rego.runtime.steps import fill_destination
from yaml2rego.semantics.hosts import (
    NonCanonicalHost,
    canonical_host,
    domain_matches,
    host_allowed,
    host_problem,
    split_url,
)

REGO = Path(__file__).resolve().parent.parent / "rego" / "agent_boundary" / "egress" / "egress.rego"

HOSTS: list[tuple[Any, Any]] = [
    ("api.example.com", None),
    ("API.Example.COM.", None),
    ("api.example.com:8443", None),
    ("api.example.com:0443", 443),
    ("api.example.com:8443", 443),
    ("api.example.com:x", None),
    ("", None),
    (7, None),
    (None, None),
    ("user@api.example.com", None),
    ("api%2eexample.com", None),
    ("10.0.0.1", None),
    ("2130706433", None),
    ("0x7f.0.0.1", None),
    ("[::1]", None),
    ("::1", None),
    ("a..b", None),
    ("-a.example.com", None),
    ("a_b.example.com", None),
    ("exa mple.com", None),
    ("a" * 64 + ".com", None),
    ("xn--bcher-kva.example", None),
    # Outside ASCII: refused before lower-casing (the Kelvin sign lower-cases to "k"), Unicode digits in the port too.
    ("\u212aube.example.com", None),
    ("api\uff0eexample.com", None),
    ("api.example.com\u0085", None),
    ("b\u00fccher.example", None),
    ("api.example.com:\u0663\u0664\u0663", None),
    ("api.example.com:\u00b2", None),
]


def _rego_problem(host: Any, port: Any) -> Any:
    import regorus

    engine = regorus.Engine()
    engine.add_policy(str(REGO), REGO.read_text(encoding="utf-8"))
    engine.set_input({"host": host, "port": port})
    rows = engine.eval_query("x := data.agent_boundary.egress.host_problem(input.host, input.port)")["result"]
    return rows[0]["bindings"]["x"] if rows else None


@pytest.mark.parametrize(("host", "port"), HOSTS, ids=[repr(h)[:30] for h, _ in HOSTS])
def test_rego_and_python_agree_on_hosts(host: Any, port: Any) -> None:
    """agent_boundary.egress.host_problem mirrors yaml2rego.semantics.hosts.host_problem exactly."""
    assert _rego_problem(host, port) == host_problem(host, port)


@pytest.mark.parametrize(
    "host", ["\u212aube.example.com", "api.example.com:\u0663\u0664\u0663", "b\u00fccher.example"], ids=repr
)
def test_non_ascii_hosts_are_refused(host: str) -> None:
    """A host outside ASCII is refused, never lower-cased or read as digits into an allowed one."""
    assert host_problem(host) == "a non-ASCII host is refused (use its punycode form)"
    assert not host_allowed(host, ["kube.example.com", "api.example.com", "*.example"])


def test_long_labels_are_not_rejected_by_python_alone() -> None:
    """Both sides accept a 64-character label (DNS limits are the resolver's business); the point is agreement."""
    assert host_problem("a" * 64 + ".com") is None


@pytest.mark.parametrize(
    ("host", "pattern", "matches"),
    [("a.example.com", "*.example.com", True), ("a.b.example.com", "*.example.com", True),
     ("example.com", "*.example.com", False), ("badexample.com", "*.example.com", False),
     ("example.com", "example.com", True), ("www.example.com", "example.com", False),
     ("example.com", "EXAMPLE.com.", True)],
)  # fmt: skip
def test_domain_matches(host: str, pattern: str, matches: bool) -> None:
    assert domain_matches(host, pattern) is matches


def test_host_allowed_canonicalises_first() -> None:
    assert host_allowed("API.Example.COM.", ["api.example.com"])
    assert not host_allowed("user@api.example.com", ["api.example.com"])


@pytest.mark.parametrize(
    ("url", "expected"),
    [("https://API.example.com/v1?x=1", ("api.example.com", None, "/v1?x=1")),
     ("https://api.example.com:443/", ("api.example.com", None, "/")),
     ("http://api.example.com:8080", ("api.example.com", 8080, "/"))],
)  # fmt: skip
def test_split_url(url: str, expected: tuple[str, int | None, str]) -> None:
    assert split_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [("https://good.example@evil.example/", "user name"), ("https://10.0.0.1/", "IP address"),
     ("https://[::1]:8443/", "IP address"), ("file:///etc/passwd", "no host"), ("https://a.example:99999/", "port")],
)  # fmt: skip
def test_split_url_refuses(url: str, message: str) -> None:
    with pytest.raises(NonCanonicalHost, match=message):
        split_url(url)


def test_canonical_host_refuses_with_the_reason() -> None:
    with pytest.raises(NonCanonicalHost, match="user name"):
        canonical_host("a@b.example")


@pytest.mark.parametrize(
    ("call", "expected"),
    [({"url": "https://Api.Example.com:8443/v1?q=1"}, {"host": "api.example.com", "port": 8443, "path": "/v1?q=1"}),
     ({"url": "https://good.example@evil.example/x"}, {"host": "good.example@evil.example", "path": "/x"}),
     ({"url": "https://a.example/x", "host": "b.example"}, {"host": "b.example"}),
     ({"url": "https://a.example/x", "path": "/given"}, {"host": "a.example", "path": "/given"})],
    ids=["fills", "userinfo-kept-for-the-policy", "host-given", "path-given"],
)  # fmt: skip
def test_the_guard_fills_the_destination_from_the_url(call: dict[str, Any], expected: dict[str, Any]) -> None:
    filled = fill_destination(call)
    assert {key: filled[key] for key in expected} == expected
    assert ("port" in filled) == ("port" in expected)


def test_a_defaults_document_gives_every_agent_the_global_domains() -> None:
    from yaml2rego.compile.compiler import compile_policy_set
    from yaml2rego.dsl.loader import load_policy_text
    from yaml2rego.engines.embedded import EmbeddedEngine

    text = (
        "defaults:\n  allowed_domains: [Shared.Example.]\n---\n"
        "agent_boundary:\n  agent_id: a1\n  allowed_endpoints: [{method: GET, path: /**}]\n"
        "  allowed_domains: [own.example]\n---\n"
        "agent_boundary:\n  agent_id: a2\n  allowed_endpoints: [{method: GET, path: /**}]\n"
    )
    compiled = compile_policy_set(load_policy_text(text, "egress.yaml"))
    assert compiled.data["defaults"] == {"source": "egress.yaml:1", "allowed_domains": ["shared.example"]}
    engine = EmbeddedEngine.from_compiled(compiled)

    def decide(agent: str, host: str) -> str:
        return str(engine.decide({"agent_id": agent, "method": "GET", "path": "/x", "host": host})["decision"])

    assert [decide("a1", h) for h in ("shared.example", "own.example", "other.example")] == ["allow", "allow", "deny"]
    assert [decide("a2", h) for h in ("shared.example", "own.example")] == ["allow", "deny"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("defaults: {allowed_domains: [a.example]}\nagent_boundary: {agent_id: a1}\n",
         "egress.yaml:1:1: the document holds either agent_boundary or defaults, not both"),
        ("defaults: {allowed_domains: [a.example]}\n---\ndefaults: {allowed_domains: [b.example]}\n",
         "egress.yaml:3:1: defaults are already defined at egress.yaml:1:1"),
        ("defaults: {allowed_domains: [10.0.0.1]}\n",
         "egress.yaml:1:30: allowed domain '10.0.0.1': an IP address is refused as a host (use a domain name)"),
    ],
    ids=["both-keys", "twice", "ip"],
)  # fmt: skip
def test_defaults_errors(text: str, message: str) -> None:
    from yaml2rego.dsl.loader import load_policy_text
    from yaml2rego.errors import Yaml2RegoError

    with pytest.raises(Yaml2RegoError) as caught:
        load_policy_text(text, "egress.yaml")
    assert str(caught.value).splitlines()[0] == message
