"""A seeded corpus of calls for the differential test of the native engine against regorus (and OPA).

Calls are built from what a compiled boundary holds (its endpoint prefixes, field paths and types, tools, actions,
environments, roles, conditions, domains), then bent the ways an attacker or a careless framework bends them:
encoded and dotted paths, query strings, odd methods, bodies of every JSON type, JSON held in strings (valid,
invalid, duplicate keys), tool calls with wrong types, hosts with ports, users and IP literals, floats and huge
numbers. And the tricks the canonical forms refuse: escapes a path does not need or cannot have, `;` path
parameters, non-ASCII paths, hosts and query strings, methods that only look like a token, declared payload sizes
below, above and beside the measured size, tool calls that are HTTP calls too, HTTP calls with no host, PII in object
keys, emoji (one code point, two UTF-16 units), C1 controls and line separators in echoed text, numbers messages
must spell alike. The same seed gives the same calls.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["corpus", "mutations"]

_PATH_BENDS = [
    "",
    "/",
    "/x",
    "?q=1",
    "#frag",
    "/../admin",
    "/./x",
    "//x",
    "/%2e%2e/x",
    "/%2F",
    "/%25",
    "/a%20b",
    "/\\x",
    "/\x00",
    "/\x7f",
    ";jsessionid=1",
    "/é",
    "/ü/",
    "/.",
    "/..",
    "?next=/../../etc",
    # escapes: needed (%20 %3C %7B), not needed (%41 %64 %7e %2D), invalid (%g0 %u002e bare %), overlong UTF-8
    "/a%3Cb",
    "/%7Bid%7D",
    "/%22q%22",
    "/refun%64",
    "/%41",
    "/%7e",
    "/%2D",
    "/%g0",
    "/%u002e",
    "/%",
    "/50%",
    "/%C0%AE%C0%AE/x",
    "/%00",
    # path parameters and dot-only segments
    ";",
    "/..;/admin",
    "/x%3bv=1",
    "/x%3B",
    "/...",
    "/..../x",
    "/.x",
    "/x.",
    "/",
    "//",
    # characters that must be escaped, non-ASCII and fragments
    "/a b",
    "/a<b>",
    "/[x]",
    "/{x}",
    "/x|y",
    "/x^y",
    "/x`y",
    "/\uff58",
    "/\u212a",
    "/\x85",
    "/a:b@c!$&'()*+,=",
    # query strings: printable ASCII but space and '#'
    "?a b",
    "?x#y",
    "?q=é",
    '?q="<>{}|^`',
    "?q=%zz",
    "?q=;",
    "?\x7f",
    "?",
    "??",
]
_METHODS = ["GET", "get", "POST", "post", "PUT", "DELETE", "PATCH", "HEAD", "", "*", "GeT", "POST ", "ÉTÉ", "ß"]
# Methods that look like a token, or upper-case into one: RFC 9110 tchar only, refused before upper().
_METHODS += [
    "po\u017ft",
    " DELETE",
    "\uff24\uff25\uff2c\uff25\uff34\uff25",
    "GET\n",
    "G:T",
    "M-SEARCH",
    "GET/",
    "\uff47\uff45\uff54",
    "DEL\u0130TE",
    "!#$%&'*+.^_`|~",
]
_SCALARS: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2.0,
    2.5,
    -0.0,
    0.1,
    1e-7,
    49,
    50,
    51,
    5000,
    5000.5,
    2**53 + 1,
    "",
    "x",
    "low",
    "high",
    "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "3FA85F64-5717-4562-B3FC-2C963F66AFA6\n",
    "bob@example.com",
    "bob@example",
    "a b@c.d",
    "a\x1cb@c.d",
    "4111 1111 1111 1111",
    "123-45-6789",
    "sk_live_abcdefghijklmnopqrstuvwx",
    "SEC-1",
    "OPS-2\n",
    "héllo wörld",
    "x" * 300,
    "ctl\x01char",
    # code points that are two UTF-16 units or several UTF-8 bytes; C1 controls and line separators in messages
    "😀",
    "😀" * 5,
    "a😀b",
    "👩‍👩‍👧",
    "é" * 40,
    "c1\x85\x9fend",
    "line\u2028para\u2029",
    # numbers messages must spell alike: beyond 2^53 - 1, tiny, a million and more
    2**53 - 1,
    -(2**53) + 1,
    1e15 + 0.5,
    1234567.5,
    0.00001,
    0.0001,
    999999.5,
]
_HOSTS: list[Any] = [
    None,
    "",
    5,
    "api.example.com",
    "API.Example.COM.",
    "sub.api.example.com",
    "evil.com",
    "api.example.com:443",
    "api.example.com:0443",
    "api.example.com:x",
    "api.example.com:",
    "user@api.example.com",
    "api%2eexample.com",
    "127.0.0.1",
    "0x7f.1",
    "[::1]",
    "a:b:c",
    "-bad-.com",
    "exämple.com",
    "a" * 260 + ".com",
    # non-ASCII before lower-casing: the Kelvin sign lower-cases to k, a fullwidth dot, a dotless i
    "\u212aexample.com",
    "api.example\uff0ecom",
    "ap\u0131.example.com",
    "xn--exmple-cua.com",
]
_PORTS: list[Any] = [None, 443, "443", 80, 443.0, True]
_PAYLOAD_SIZES: list[Any] = [0, 10, 2**20, 2**20 + 1, 5 * 2**20, 1.5, "big", -1, 3.0, None, True, 2**53 - 1, 2**53]
_SECRETS = [
    "mail bob@example.com now",
    "card 4111 1111 1111 1111",
    "ssn 123-45-6789",
    "key sk_live_abcdefghijklmnopqrstuvwx",
    "AKIAABCDEFGHIJKLMNOP",
    "MRN-1234567",
    "nothing secret",
]


def _walk_fields(fields: Any) -> Iterator[Mapping[str, Any]]:
    for field in fields or []:
        if isinstance(field, Mapping):
            yield field


def _value_for(field: Mapping[str, Any], rng: random.Random) -> Any:
    kind = field.get("type")
    choices: dict[str, list[Any]] = {
        "uuid": ["3fa85f64-5717-4562-b3fc-2c963f66afa6"],
        "email": ["bob@example.com"],
        "boolean": [True],
        "integer": [field.get("minimum", 1), field.get("maximum", 7)],
        "number": [field.get("minimum", 1.5), field.get("maximum", 2)],
        "enum": list(field.get("values") or [None]),
        "string": ["x" * int(field.get("min_length", 1) or 1)],
    }
    good = choices.get(str(kind), ["x"])
    if rng.random() < 0.8:
        return rng.choice(good)
    return rng.choice([*_SCALARS, [1, "a"], {"k": "v"}])


def _put(document: dict[str, Any], path: list[str], value: Any) -> None:
    node = document
    for step in path[:-1]:
        child = node.get(step)
        if not isinstance(child, dict):
            child = node[step] = {}
        node = child
    node[path[-1]] = value


def _condition_value(condition: Mapping[str, Any], rng: random.Random) -> Any:
    """A value near a condition's own: the value, a list item, one either side, the same number as a float."""
    value = condition.get("value")
    choices = [value, *(value if isinstance(value, list) else [])]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        choices += [value - 1, value + 1, value + 0.5, float(value)]
    return rng.choice([*choices, *choices, *_SCALARS[:12]])


def _body(agent: Mapping[str, Any], rng: random.Random) -> Any:
    body: dict[str, Any] = {}
    fields = [f for entry in agent.get("input_validation", []) for f in _walk_fields(entry.get("fields"))]
    for field in fields:
        if rng.random() < 0.85 and isinstance(field.get("path"), list) and field["path"]:
            _put(body, list(field["path"]), _value_for(field, rng))
    for condition in agent.get("conditions", []):
        path = condition.get("path") or []
        if len(path) > 1 and path[0] == "body" and rng.random() < 0.7:
            _put(body, list(path[1:]), _condition_value(condition, rng))
    if rng.random() < 0.4:
        secret = rng.choice(_SECRETS)
        body[rng.choice(["note", "card", "nested"])] = rng.choice(
            [secret, rng.choice(_SCALARS), {"deep": [secret, {"x": rng.choice(_SCALARS)}]}]
        )
    if rng.random() < 0.15:  # PII used as an object key, at the top or below, with a secret under it or not
        secret = rng.choice(_SECRETS)
        key_holder = {secret: rng.choice([secret, "plain", 1, {"inner": secret}])}
        body[rng.choice(["index", "note"])] = rng.choice([key_holder, [key_holder], secret])
    shape = rng.random()
    if shape < 0.15:
        return json.dumps(body)
    if shape < 0.2:
        return rng.choice(['{"a": 1, "a": 2}', "{not json", "[1, 2]", "NaN", '{"x": 1e400}', '"str"', '{"v": 2.0}'])
    if shape < 0.25:
        return rng.choice([None, [], "plain text", 5, [body]])
    return body


def _path(agent: Mapping[str, Any], rng: random.Random) -> Any:
    rules = [*agent.get("allowed_endpoints", []), *agent.get("denied_endpoints", [])]
    rules += [*agent.get("input_validation", []), *agent.get("rate_limits", [])]
    base = rng.choice([rule.get("prefix", "/") for rule in rules] or ["/api/"])
    if rng.random() < 0.5:
        base = base.rstrip("/") if rng.random() < 0.5 else base + rng.choice(["42", "a/b", "v1/items/7", "x.json"])
    if rng.random() < 0.2:
        base += rng.choice(_PATH_BENDS)
    if rng.random() < 0.05:
        return rng.choice([None, 5, "", "relative/path", ["/a"]])
    return base


def _tool_call(agent: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    tools = agent.get("tools", {})
    names = [*tools, "yaml2rego_unlisted_tool"]
    name = rng.choice(names)
    entry = tools.get(name, {})
    environments = list((agent.get("execution_context") or {}).get("environments", {}))
    roles = list((agent.get("execution_context") or {}).get("clearance", {}))
    call: dict[str, Any] = {"tool": name}
    if rng.random() < 0.8:
        actions = entry.get("actions", [])
        call["action"] = rng.choice(actions) if actions and rng.random() < 0.9 else rng.choice(["delete", "", 5])
    if rng.random() < 0.7:
        call["environment"] = rng.choice(environments) if environments and rng.random() < 0.8 else "staging"
        if rng.random() < 0.03:
            call["environment"] = None
    if rng.random() < 0.5:
        call["requester_role"] = rng.choice(roles) if roles and rng.random() < 0.8 else rng.choice(["intern", 3])
    args: dict[str, Any] = {}
    for field in _walk_fields(entry.get("args")):
        if rng.random() < 0.8:
            secret = field.get("type") == "string" and rng.random() < 0.3
            args[field["field"]] = rng.choice(_SECRETS) if secret else _value_for(field, rng)
    for scope in entry.get("scope", []):
        args[scope["arg"]] = rng.choice(["SEC-12", "OPS-1", "OTHER-1", None, 7, "sec-1"])
    if rng.random() < 0.2:
        args["yaml2rego_unlisted_argument"] = "x"
    if rng.random() < 0.1:
        args[rng.choice(_SECRETS)] = rng.choice(["x", {"k": rng.choice(_SECRETS)}])  # PII as an argument name
    if rng.random() < 0.3:
        args["text"] = rng.choice(_SECRETS)
    call["args"] = args if rng.random() < 0.97 else rng.choice(["args", [1]])
    if rng.random() < 0.1:
        call[rng.choice(["method", "path"])] = rng.choice(["GET", "/x", "/a/../b", 5, None])
    if rng.random() < 0.15:  # a tool call that is an HTTP call too: it must pass both checks
        call["method"] = rng.choice(["GET", "POST", "get", "po\u017ft"])
        call["path"] = rng.choice([*_tool_paths(agent), "/x", "/a;b"])
    return call


def _tool_paths(agent: Mapping[str, Any]) -> list[str]:
    return [str(rule.get("prefix", "/")) for rule in agent.get("allowed_endpoints", [])] or ["/"]


def corpus(data: Mapping[str, Any], count: int, seed: int) -> Iterator[Any]:
    """``count`` calls for the agents of ``data`` (the root data document), the same for the same seed."""
    rng = random.Random(seed)
    agents = data["boundaries"]["agents"]
    agent_ids = sorted(agents)
    for _ in range(count):
        agent_id = rng.choice(agent_ids)
        agent = agents[agent_id]
        if agent.get("tools") and rng.random() < 0.45:
            call = _tool_call(agent, rng)
        else:
            call = {"method": rng.choice(_METHODS[:4] * 4 + _METHODS), "path": _path(agent, rng)}
            if rng.random() < 0.6:
                call["body"] = _body(agent, rng)
        call["agent_id"] = (
            agent_id if rng.random() < 0.93 else rng.choice(["nobody", "", 7, None, "ag\x00ent", "ag\x85\u2028ent"])
        )
        if rng.random() < 0.35:  # most calls name no host: refused when the agent may reach only allowed domains
            call["host"] = rng.choice(_HOSTS)
            if rng.random() < 0.4:
                call["port"] = rng.choice(_PORTS)
        if rng.random() < 0.2:
            call["payload_size_bytes"] = rng.choice(_PAYLOAD_SIZES)
            if rng.random() < 0.3 and "body" not in call:  # a declared size below the body's own
                call["body"] = rng.choice(["x" * 3000, "é" * 1500, {"text": "😀" * 700}, ["a\\b\n<&>" * 200]])
        if rng.random() < 0.15:
            call["cost_usd"] = rng.choice([0, 0.25, 1, 2.0, -1, "free", 10**6])
        for condition in agent.get("conditions", []):
            path = condition.get("path") or []
            if len(path) > 1 and path[0] != "body" and rng.random() < 0.7:
                _put(call, list(path), _condition_value(condition, rng))
        if rng.random() < 0.03:
            call.pop(rng.choice(["method", "path", "agent_id"]), None)
        if rng.random() < 0.01:
            yield rng.choice([[], "a call", 5])  # not even an object
            continue
        yield call


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path


def _set(document: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        document = document[step]
    document[path[-1]] = value


def mutations(calls: list[Mapping[str, Any]], count: int, seed: int) -> Iterator[Any]:
    """``count`` calls, each a known call (a generated test case) with one or two small changes: a secret in a
    string, another value in a leaf, a bent path or method, a destination host. Calls that the policy otherwise
    permits reach the DLP, condition and approval rules far more often than calls built from nothing."""
    rng = random.Random(seed)
    for _ in range(count):
        call = json.loads(json.dumps(rng.choice(calls)))
        if not isinstance(call, dict):
            yield call
            continue
        for _ in range(rng.choice([1, 1, 2])):
            leaves = [path for path in _leaves(call) if path and path[0] not in ("agent_id",)]
            change = rng.random()
            if change < 0.35:
                target = call.get("args") if isinstance(call.get("args"), dict) else call.get("body")
                if isinstance(target, dict):
                    target[rng.choice(["note", "memo", "text", "card"])] = rng.choice(_SECRETS)
                else:
                    call["body"] = {"note": rng.choice(_SECRETS)}
            elif change < 0.65 and leaves:
                _set(call, rng.choice(leaves), rng.choice([*_SCALARS, *_SECRETS]))
            elif change < 0.8 and isinstance(call.get("path"), str):
                call["path"] += rng.choice(_PATH_BENDS)
            elif change < 0.9 and isinstance(call.get("method"), str):
                call["method"] = rng.choice([call["method"].lower(), rng.choice(_METHODS)])
            else:
                call["host"] = rng.choice(_HOSTS)
        yield call
