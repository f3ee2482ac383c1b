"""Bundle signatures exactly as OPA 1.x writes and checks them, plus the small JWS helpers the policy history uses.

OPA signs a bundle with one JWT in ``.signatures.json``. Its payload lists every file of the bundle (except
``.signatures.json``) with a hex digest; OPA recomputes each digest when it loads the bundle and refuses the bundle on
any difference (``v1/bundle/verify.go``, ``v1/bundle/hash.go``; see docs/bundles.md for the rules in prose):

* ``.rego`` files and every other unstructured file are hashed as raw bytes;
* ``data.json``, ``data.yaml`` and ``.manifest`` are parsed and hashed in a canonical form: compact JSON, object keys
  sorted, numbers kept as the literal text they had in the file, strings escaped as Go's ``json.Encoder`` does with
  HTML escaping off.

No cryptography is written here: JWTs come from PyJWT, keys from ``cryptography``.

>>> files = {"data.json": b'{"b": 1, "a": [1.0, "x"]}'}
>>> canonical_json_bytes(files["data.json"])
b'{"a":[1.0,"x"],"b":1}'
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from yaml2rego.canonical_json import canonical
from yaml2rego.errors import BundleError, SignatureError

__all__ = [
    "FILE_HASH_ALGORITHMS",
    "SIGNATURES_FILE",
    "SIGNING_ALGORITHMS",
    "SignedFile",
    "VerificationResult",
    "canonical_bytes_of_json",
    "canonical_json_bytes",
    "canonical_json_document",
    "encode_canonical_json",
    "file_digest",
    "is_structured_file",
    "load_key",
    "sign_bundle_files",
    "sign_jws",
    "verify_bundle_files",
    "verify_jws",
]

SIGNATURES_FILE = ".signatures.json"
# The JWS algorithms OPA accepts for bundle signatures; RS256 is its default.
SIGNING_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "HS256",
    "HS384",
    "HS512",
)
# File-hash algorithms OPA knows, mapped to hashlib names.
FILE_HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-224": "sha224",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
    "SHA-512-224": "sha512_224",
    "SHA-512-256": "sha512_256",
}
_STRUCTURED_BASENAMES = {"data.json", "data.yaml", ".manifest"}
_UTF8_BOM = b"\xef\xbb\xbf"


class _Number(str):
    """A JSON number kept as the text it had in the file, as Go's ``json.Decoder.UseNumber`` keeps it."""


def is_structured_file(name: str) -> bool:
    """Whether OPA hashes this bundle member in canonical JSON form rather than as raw bytes."""
    return posixpath.basename(name) in _STRUCTURED_BASENAMES


def _encode_string(text: str) -> str:
    if "\b" in text or "\f" in text:
        # Go releases disagree on `\b`/`\f` versus `\u0008`/`\u000c`; a digest that depends on the OPA build is useless.
        raise BundleError(f"string {text[:40]!r} holds a backspace or form feed, which cannot be signed portably")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BundleError(f"string {text[:40]!r} is not valid Unicode (lone surrogate)") from exc
    encoded = _encode_basestring(text)
    # Go escapes the JavaScript line separators even with HTML escaping off; Python does not.
    return encoded.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# What json.dumps(text, ensure_ascii=False) does with a string, without building an encoder per call.
_encode_basestring: Callable[[str], str] = json.encoder.encode_basestring
# The C encoder, laid out as encode_canonical_json lays values out. For a value read from JSON text (string keys,
# and numbers that print as they were written, see _parse_json) both give the same text; the differential test in
# tests/test_signing.py holds them to it.
# A `\b` or `\f` escape in JSON text: the backslash is preceded by an even number of backslashes.
_BACKSPACE_OR_FORM_FEED = re.compile(r"(?<!\\)(?:\\\\)*\\[bf]")


def canonical_bytes_of_json(value: Any) -> bytes:
    """``encode_canonical_json(value)`` as UTF-8, in C, for a value read from JSON text with plain numbers (or built
    of the same types: dicts with string keys, lists, strings, ints, finite floats, booleans and None).

    Whatever the C encoder cannot write exactly as the reference does (a backspace or form feed, a lone surrogate,
    a value that is not JSON) is handed to the reference, which raises the error it always raised.
    """
    try:
        text = canonical(value)
        if ("\\b" in text or "\\f" in text) and _BACKSPACE_OR_FORM_FEED.search(text):
            raise ValueError("backspace or form feed")
        encoded = text.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError):
        return encode_canonical_json(value).encode("utf-8")
    if b"\xe2\x80\xa8" in encoded or b"\xe2\x80\xa9" in encoded:  # U+2028, U+2029 can only stand in strings
        encoded = encoded.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return encoded


def encode_canonical_json(value: Any) -> str:
    """``value`` as the compact, key-sorted JSON text OPA hashes (numbers of type ``_Number`` keep their text).

    >>> encode_canonical_json({"z": True, "a": None, "m": "line\\u2028sep"})
    '{"a":null,"m":"line\\\\u2028sep","z":true}'
    """
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, str):
        return _encode_string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise BundleError("NaN and infinity cannot be written as JSON")
        return json.dumps(value)
    if isinstance(value, Mapping):
        items = sorted((str(key), item) for key, item in value.items())
        return "{" + ",".join(f"{_encode_string(key)}:{encode_canonical_json(item)}" for key, item in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(encode_canonical_json(item) for item in value) + "]"
    raise BundleError(f"cannot write a {type(value).__name__} as JSON")


def _parse_structured(name: str, content: bytes) -> tuple[Any, bool]:
    """The parsed content, and whether it holds only plain JSON values (string keys; numbers that print back as
    the text they had), which the C encoder writes exactly as the reference does."""
    if content.startswith(_UTF8_BOM):
        content = content[len(_UTF8_BOM) :]
    try:
        text = content.decode("utf-8")
        if posixpath.basename(name) == "data.yaml":
            # OPA converts YAML to JSON first; numbers are re-rendered, so they need no literal-text care here. Keys
            # need not be strings, which the C encoder would sort differently.
            return yaml.safe_load(text), False
        return _parse_json(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise BundleError(f"{name}: not valid {'YAML' if name.endswith('.yaml') else 'JSON'}: {exc}") from exc


def _parse_json(text: str) -> tuple[Any, bool]:
    """JSON text with every number kept as its literal text: a plain int or float when it prints back as that text
    (all numbers the compiler writes do), else a :class:`_Number`."""
    plain = True

    def parse_int(literal: str) -> Any:
        nonlocal plain
        if literal == "-0" or len(literal) > 4000:  # int() would print "-0" as "0"; Python limits int() digits
            plain = False
            return _Number(literal)
        return int(literal)

    def parse_float(literal: str) -> Any:
        nonlocal plain
        number = float(literal)
        if repr(number) != literal:  # "1.50", "1e3", "1E400": only the text keeps what OPA hashes
            plain = False
            return _Number(literal)
        return number

    value = json.loads(text, parse_int=parse_int, parse_float=parse_float, parse_constant=_reject_constant)
    return value, plain


def _reject_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def canonical_json_bytes(content: bytes, name: str = "data.json") -> bytes:
    """The bytes OPA hashes for a structured file: canonical compact JSON of its parsed content."""
    return canonical_json_document(content, name)[0]


def canonical_json_document(content: bytes, name: str = "data.json") -> tuple[bytes, Any]:
    """:func:`canonical_json_bytes`, and the parsed content when it is what ``json.loads`` gives (else ``None``), so a
    caller that needs both reads a large file once."""
    value, plain = _parse_structured(name, content)
    if plain:
        return canonical_bytes_of_json(value), value
    return encode_canonical_json(value).encode("utf-8"), None


def file_digest(name: str, content: bytes, algorithm: str = "SHA-256") -> str:
    """The hex digest OPA computes for bundle member ``name`` (canonical JSON for structured files)."""
    hash_name = FILE_HASH_ALGORITHMS.get(algorithm)
    if hash_name is None:
        raise BundleError(f"unknown file hash algorithm {algorithm!r} (known: {', '.join(FILE_HASH_ALGORITHMS)})")
    data = canonical_json_bytes(content, name) if is_structured_file(name) else content
    return hashlib.new(hash_name, data).hexdigest()


def load_key(key: str | bytes | Path) -> bytes:
    """Key material the way OPA reads ``--verification-key``: the exact bytes of the file when it exists, else the text.

    For HMAC keys this means a trailing newline in the file is part of the secret, as it is for OPA.
    """
    if isinstance(key, bytes):
        return key
    path = Path(key)
    try:
        if path.is_file():
            return path.read_bytes()
    except OSError:
        pass
    if isinstance(key, Path):
        raise BundleError(f"key file {key} does not exist")
    return key.encode("utf-8")


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in SIGNING_ALGORITHMS:
        raise BundleError(f"unsupported signing algorithm {algorithm!r} (use one of {', '.join(SIGNING_ALGORITHMS)})")


def sign_jws(payload: Mapping[str, Any], key: bytes, algorithm: str, key_id: str | None = None) -> str:
    """A compact JWS over ``payload`` (PyJWT), with ``kid`` in the header when given."""
    _check_algorithm(algorithm)
    headers = {"kid": key_id} if key_id else None
    try:
        return jwt.encode(dict(payload), _signing_key(key, algorithm), algorithm=algorithm, headers=headers)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise BundleError(f"cannot sign with {algorithm}: {_key_error(exc)}") from exc


def verify_jws(token: str, key: bytes, algorithm: str) -> dict[str, Any]:
    """The payload of ``token`` after checking its signature with ``key``; raises :class:`SignatureError`."""
    _check_algorithm(algorithm)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise SignatureError(f"not a JWS: {exc}") from exc
    if header.get("alg") != algorithm:
        raise SignatureError(f"signed with {header.get('alg')!r}, expected {algorithm!r}")
    try:
        # OPA does not check time claims on bundle signatures; neither do we (an old bundle stays valid).
        payload: dict[str, Any] = jwt.decode(
            token,
            _verification_key(key, algorithm),
            algorithms=[algorithm],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
        )
    except jwt.InvalidSignatureError as exc:
        raise SignatureError("the signature does not verify with the given key") from exc
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise SignatureError(f"the signature cannot be checked: {_key_error(exc)}") from exc
    return payload


@functools.lru_cache(maxsize=16)
def _signing_key(key: bytes, algorithm: str) -> Any:
    """A loaded private key (loading an RSA key validates it, which is slow; a history signs many entries)."""
    if algorithm.startswith("HS") or b"PRIVATE KEY-----" not in key:
        return key
    try:
        return serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"the signing key is not a usable PEM private key: {_key_error(exc)}") from exc


@functools.lru_cache(maxsize=16)
def _verification_key(key: bytes, algorithm: str) -> Any:
    """A public key object for asymmetric algorithms, accepting what OPA accepts: a public key (PKIX or PKCS#1), a
    certificate, or a private key (its public half is used)."""
    if algorithm.startswith("HS") or b"-----BEGIN" not in key:
        return key
    try:
        if b"CERTIFICATE-----" in key:
            return x509.load_pem_x509_certificate(key).public_key()
        if b"PRIVATE KEY-----" in key:
            return serialization.load_pem_private_key(key, password=None).public_key()
        return serialization.load_pem_public_key(key)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"the verification key is not a usable PEM key: {_key_error(exc)}") from exc


def _key_error(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


@dataclass(frozen=True)
class SignedFile:
    """One entry of the signature's ``files`` list."""

    name: str
    hash: str
    algorithm: str = "SHA-256"

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "hash": self.hash, "algorithm": self.algorithm}


def sign_bundle_files(
    files: Mapping[str, bytes],
    key: bytes,
    *,
    algorithm: str = "RS256",
    key_id: str | None = None,
    scope: str | None = None,
    issuer: str | None = None,
    issued_at: int,
    canonical: Collection[str] = (),
) -> bytes:
    """The ``.signatures.json`` content for bundle members ``files`` (every member except the signatures file).

    ``canonical`` names structured members whose content is already in canonical form (the bundle builder wrote it
    so); they are hashed as they are instead of being parsed and written again, which gives the same digest.

    ``issued_at`` (the ``iat`` claim, seconds since the epoch) is passed in, so the same inputs sign to the same
    bytes with deterministic algorithms (RS256, HS256; ECDSA signatures are randomised by design).

    >>> sig = sign_bundle_files({"data.json": b"{}"}, b"k" * 32, algorithm="HS256", issued_at=0)
    >>> sorted(json.loads(sig))
    ['signatures']
    """
    entries = [
        SignedFile(
            name, hashlib.sha256(content).hexdigest() if name in canonical else file_digest(name, content)
        ).as_dict()
        for name, content in sorted(files.items())
        if name != SIGNATURES_FILE
    ]
    payload: dict[str, Any] = {"files": entries, "iat": int(issued_at)}
    if issuer:
        payload["iss"] = issuer
    if scope:
        payload["scope"] = scope
    if key_id:
        # Deprecated in the payload but still read by older OPA releases that look only there.
        payload["keyid"] = key_id
    token = sign_jws(payload, key, algorithm, key_id)
    return (json.dumps({"signatures": [token]}, indent=2) + "\n").encode("utf-8")


@dataclass
class VerificationResult:
    """What :func:`verify_bundle_files` found. ``problems`` is empty when the bundle verifies."""

    problems: list[str] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)
    verified_files: list[str] = field(default_factory=list)
    excluded_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _excluded(name: str, patterns: Iterable[str]) -> bool:
    # Go's filepath.Match: `*` does not cross `/`; fnmatch's does, so compare segment by segment.
    for pattern in patterns:
        parts, pattern_parts = name.split("/"), pattern.split("/")
        if len(parts) == len(pattern_parts) and all(
            fnmatch.fnmatchcase(part, pat) for part, pat in zip(parts, pattern_parts, strict=True)
        ):
            return True
    return False


def _read_signatures(files: Mapping[str, bytes], result: VerificationResult) -> str | None:
    raw = files.get(SIGNATURES_FILE)
    if raw is None:
        result.problems.append(f"bundle missing {SIGNATURES_FILE} file (the bundle is not signed)")
        return None
    try:
        document = json.loads(raw)
    except ValueError as exc:
        result.problems.append(f"{SIGNATURES_FILE}: not valid JSON ({exc})")
        return None
    if isinstance(document, dict) and document.get("plugin"):
        # OPA hands such bundles to a custom verifier registered under that name; the stock binary has none.
        result.problems.append(f"{SIGNATURES_FILE}: needs verifier plugin {document['plugin']!r} (not the default)")
        return None
    tokens = document.get("signatures") if isinstance(document, dict) else None
    if not isinstance(tokens, list) or not tokens:
        result.problems.append(f"{SIGNATURES_FILE}: missing JWT (expected exactly one)")
        return None
    if len(tokens) > 1:
        result.problems.append(
            f"{SIGNATURES_FILE}: multiple JWTs not supported (expected exactly one, found {len(tokens)})"
        )
        return None
    if not isinstance(tokens[0], str):
        result.problems.append(f"{SIGNATURES_FILE}: the signature is not a string")
        return None
    return tokens[0]


def _check_token(token: str, key: bytes, algorithm: str, scope: str | None, result: VerificationResult) -> bool:
    try:
        result.header = jwt.get_unverified_header(token)
        result.payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        result.problems.append(f"{SIGNATURES_FILE}: the JWT cannot be decoded ({_key_error(exc)})")
        return False
    try:
        verify_jws(token, key, algorithm)
    except (SignatureError, BundleError) as exc:
        result.problems.append(f"{SIGNATURES_FILE}: {exc}")
        return False
    signed_scope = result.payload.get("scope") or ""
    if signed_scope != (scope or ""):
        result.problems.append(
            f"{SIGNATURES_FILE}: scope mismatch (signed scope {signed_scope!r}, expected {scope or ''!r})"
        )
    return True


def verify_bundle_files(
    files: Mapping[str, bytes],
    key: bytes,
    *,
    algorithm: str = "RS256",
    scope: str | None = None,
    exclude_files: Iterable[str] = (),
) -> VerificationResult:
    """Check bundle members against ``.signatures.json`` with the rules OPA applies; raise on any finding.

    Every problem is collected (OPA stops at the first): a missing, doubled or badly signed JWT, a scope that is not
    exactly the expected one, a member the signature does not list, a listed file that is absent, a listed file
    without an algorithm, an unknown algorithm and a digest mismatch. Raises :class:`SignatureError` whose
    ``problems`` lists them all.
    """
    result = VerificationResult()
    exclude = list(exclude_files)
    token = _read_signatures(files, result)
    if token is None or not _check_token(token, key, algorithm, scope, result):
        raise SignatureError("bundle signature does not verify", result.problems)
    listed: dict[str, dict[str, Any]] = {}
    signed_files = result.payload.get("files")
    if not isinstance(signed_files, list):
        result.problems.append(f"{SIGNATURES_FILE}: the signed payload has no 'files' list")
        signed_files = []
    for entry in signed_files:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            listed[entry["name"]] = entry
        else:
            result.problems.append(f"{SIGNATURES_FILE}: malformed entry in 'files': {entry!r}")
    for name in sorted(files):
        if name == SIGNATURES_FILE:
            continue
        if name.endswith("signatures.json"):
            # OPA's reader takes every member whose path ends in "signatures.json" for the signature file.
            result.problems.append(f"{name}: OPA would read this file as the bundle signature; rename it")
            continue
        if _excluded(name, exclude):
            result.excluded_files.append(name)
            listed.pop(name, None)
            continue
        entry = listed.pop(name, None)
        if entry is None:
            result.problems.append(f"{name}: file not included in bundle signature (added after signing?)")
            continue
        _check_digest(name, files[name], entry, result)
    for name in sorted(listed):
        result.problems.append(f"{name}: specified in bundle signature but not found in the bundle (removed?)")
    if result.problems:
        raise SignatureError("bundle signature does not verify", result.problems)
    return result


def _check_digest(name: str, content: bytes, entry: Mapping[str, Any], result: VerificationResult) -> None:
    algorithm = entry.get("algorithm")
    if not algorithm:
        result.problems.append(f"{name}: no hashing algorithm provided in the signature")
        return
    try:
        actual = file_digest(name, content, str(algorithm))
    except BundleError as exc:
        result.problems.append(f"{name}: {exc}")
        return
    expected = str(entry.get("hash", "")).lower()
    if actual != expected:
        result.problems.append(f"{name}: digest mismatch (signed {algorithm} {expected}, content has {actual})")
        return
    result.verified_files.append(name)
