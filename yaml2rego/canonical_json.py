"""The JSON texts yaml2rego writes, one function per form, so that two places never write "the same" JSON two ways.

* :func:`canonical` — sorted keys, compact, non-ASCII as is; NaN, infinities and values JSON cannot hold are refused.
  What is hashed, signed or compared: bundle digests, cache keys, a policy's content digest.
* :func:`canonical_lenient` — the same layout, never refusing (NaN as Python writes it, other values as ``str``).
  Digests of what a caller sent, computed for every call: the record hash chain, input and approval digests.
* :func:`compact` — keys in their order, compact, non-ASCII as is; values JSON cannot hold are refused. The wire:
  requests to OPA, bodies re-encoded after redaction, cached answers.
* :func:`compact_lenient` — :func:`compact` writing other values as ``str``: a line of the record log and its sinks.
* :func:`readable` — sorted keys, ``", "`` and ``": "``, non-ASCII as is: what people read and diff (``data.json``,
  one agent per line; ``yaml2rego eval``; values shown by ``yaml2rego diff``).
* :func:`canonical_ascii` — :func:`canonical` with non-ASCII escaped, only where a digest has always been taken so.

The forms differ on purpose. A hashed text must be JSON that any reader parses back to the same value, so
:func:`canonical` refuses what JSON cannot hold. A decision record, though, is written for every call, whatever the
caller put in it: its digests and lines use the lenient forms, which never raise, and the hash chain has always been
computed over exactly that text (changing it would break every existing log's chain). OPA's bundle digests are a form
of their own (Go's encoder: U+2028 escaped, numbers kept as written): :mod:`yaml2rego.bundles.signing`, which uses
:func:`canonical` where the two agree.

Each form is one encoder built once (``json.dumps`` with options builds a new encoder per call), run through
CPython's C encoder directly: :meth:`json.JSONEncoder.encode` builds a new C encoder on each call, which costs as
much as encoding a small object, and these run several times for every call the guard checks. The text is the one
``JSONEncoder.encode`` writes, byte for byte (``tests/test_canonical_json.py`` compares them on a seeded corpus); a
value it refuses is refused with the same error, and without the C encoder (another Python) ``encode`` itself runs.

>>> value = {"b": [1, 2.5], "a": "é"}
>>> canonical(value), compact(value), readable(value)
('{"a":"é","b":[1,2.5]}', '{"b":[1,2.5],"a":"é"}', '{"a": "é", "b": [1, 2.5]}')
>>> canonical_lenient({"when": b"x", "n": float("nan")}), compact_lenient({"when": b"x"})
('{"n":NaN,"when":"b\\'x\\'"}', '{"when":"b\\'x\\'"}')
>>> canonical({"n": float("nan")})
Traceback (most recent call last):
ValueError: Out of range float values are not JSON compliant...
>>> canonical_ascii({"a": "é"})
'{"a":"\\\\u00e9"}'
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from typing import Any

__all__ = ["canonical", "canonical_ascii", "canonical_lenient", "compact", "compact_lenient", "readable"]

_COMPACT = (",", ":")


def _form(**options: Any) -> Callable[[Any], str]:
    """``json.JSONEncoder(**options).encode``, with the C encoder made once.

    The C encoder is made without the table of containers being written (``markers``), so that one encoder serves
    every thread and every nested call: that table is what finds a value that contains itself, so a value too deep
    for the C encoder (a cycle, or a real nesting past the recursion limit) is written again by ``encode``, which
    raises what it has always raised (``ValueError: Circular reference detected``, or ``RecursionError``)."""
    reference = json.JSONEncoder(**options)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return reference.encode
    quote = json.encoder.encode_basestring_ascii if reference.ensure_ascii else json.encoder.encode_basestring
    try:
        fast = make(
            None, reference.default, quote, None, reference.key_separator, reference.item_separator,
            reference.sort_keys, reference.skipkeys, reference.allow_nan,
        )  # fmt: skip
    except TypeError:  # a Python whose C encoder is made differently: encode as it does
        return reference.encode
    join = "".join

    def encode(value: Any) -> str:
        try:
            return join(fast(value, 0))
        except RecursionError:
            return reference.encode(value)

    return encode


_canonical = _form(ensure_ascii=False, sort_keys=True, separators=_COMPACT, allow_nan=False)
_canonical_ascii = _form(sort_keys=True, separators=_COMPACT, allow_nan=False)
_canonical_lenient = _form(ensure_ascii=False, sort_keys=True, separators=_COMPACT, default=str)
_compact = _form(ensure_ascii=False, separators=_COMPACT)
_compact_lenient = _form(ensure_ascii=False, separators=_COMPACT, default=str)
_readable = _form(ensure_ascii=False, sort_keys=True)


def canonical(value: Any) -> str:
    """Sorted keys, no spaces, non-ASCII kept as is (hash its UTF-8); NaN, infinities and values JSON cannot hold
    are refused (``ValueError``, ``TypeError``)."""
    return _canonical(value)


def canonical_ascii(value: Any) -> str:
    """:func:`canonical` with non-ASCII escaped (``\\u00e9``). Only for the parts of a policy's content digest that
    have always been hashed so (a policy set's defaults and tenants), so that a policy keeps its version."""
    return _canonical_ascii(value)


def canonical_lenient(value: Any) -> str:
    """:func:`canonical` that never refuses: a value JSON cannot hold is written as ``str(value)``, NaN and the
    infinities as Python writes them. For the digests of what a caller sent, which are computed for every call."""
    return _canonical_lenient(value)


def compact(value: Any) -> str:
    """Keys in their order, no spaces, non-ASCII kept as is; a value JSON cannot hold is refused (``TypeError``)."""
    return _compact(value)


def compact_lenient(value: Any) -> str:
    """:func:`compact` that writes a value JSON cannot hold as ``str(value)``: one line of the record log."""
    return _compact_lenient(value)


def readable(value: Any) -> str:
    """Sorted keys, ``", "`` and ``": "`` between items, non-ASCII kept as is: JSON for people to read and diff."""
    return _readable(value)
