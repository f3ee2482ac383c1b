"""Bundle signatures: OPA's canonical hashing and every verification rule OPA applies."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from yaml2rego.bundles.signing import (
    canonical_json_bytes,
    encode_canonical_json,
    file_digest,
    load_key,
    sign_bundle_files,
    sign_jws,
    verify_bundle_files,
)
from yaml2rego.errors import BundleError, SignatureError

HMAC_SECRET = b"a-shared-secret-of-at-least-32-bytes!!"
FILES = {
    ".manifest": b'{"revision":"v1","roots":["agent_boundary","boundaries","agents"]}',
    "agent_boundary/decision.rego": b"package agent_boundary\n\ndecision := {}\n",
    "boundaries/data.json": b'{"policy_version": "v1", "agents": {"a": {"mode": "enforce", "limit": 1.50}}}',
}


def _pem_private(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_public(key: Any) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _pem_private(key), _pem_public(key)


@pytest.fixture(scope="module")
def ec_keys() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    return _pem_private(key), _pem_public(key)


def _keys(algorithm: str, rsa_keys: tuple[bytes, bytes], ec_keys: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    return {"RS256": rsa_keys, "PS256": rsa_keys, "ES256": ec_keys, "HS256": (HMAC_SECRET, HMAC_SECRET)}[algorithm]


def _signed(files: dict[str, bytes], key: bytes, **options: Any) -> dict[str, bytes]:
    options.setdefault("issued_at", 1_700_000_000)
    return {**files, ".signatures.json": sign_bundle_files(files, key, **options)}


def _problems(files: dict[str, bytes], key: bytes, **options: Any) -> list[str]:
    with pytest.raises(SignatureError) as caught:
        verify_bundle_files(files, key, **options)
    return caught.value.problems


def _token_with(payload: dict[str, Any], key: bytes, algorithm: str = "RS256") -> bytes:
    return json.dumps({"signatures": [sign_jws(payload, key, algorithm, "k")]}).encode()


# -- canonical JSON (v1/bundle/hash.go) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "canonical"),
    [
        (b'{"b": 1, "a": 2}', b'{"a":2,"b":1}'),
        (b'{"n": [1.0, 1e3, 12345678901234567890, -0.5]}', b'{"n":[1.0,1e3,12345678901234567890,-0.5]}'),
        (b'{"html": "<a>&</a>"}', b'{"html":"<a>&</a>"}'),
        ('{"s": "caf\u00e9 \u2028 \u2029"}'.encode(), '{"s":"caf\u00e9 \\u2028 \\u2029"}'.encode()),
        (b'{"ctl": "\\u0001\\n\\t\\""}', b'{"ctl":"\\u0001\\n\\t\\""}'),
        (b'\xef\xbb\xbf{"bom": true}', b'{"bom":true}'),
        (b'{"z": {"y": null, "x": false}}', b'{"z":{"x":false,"y":null}}'),
    ],
    ids=["sorted-keys", "number-literals", "no-html-escape", "line-separators", "control-chars", "bom", "nested"],
)
def test_structured_files_hash_in_opa_canonical_form(content: bytes, canonical: bytes) -> None:
    assert canonical_json_bytes(content) == canonical
    assert file_digest("boundaries/data.json", content) == hashlib.sha256(canonical).hexdigest()


def test_rego_files_hash_as_raw_bytes() -> None:
    content = b"package x\n\n  allow := true\n"
    assert file_digest("x/policy.rego", content) == hashlib.sha256(content).hexdigest()


def test_data_yml_is_unstructured_but_data_yaml_is_structured() -> None:
    content = b"b: 1\na: 2\n"
    assert file_digest("x/data.yml", content) == hashlib.sha256(content).hexdigest()
    assert file_digest("x/data.yaml", content) == hashlib.sha256(b'{"a":2,"b":1}').hexdigest()


def test_manifest_is_structured() -> None:
    assert file_digest(".manifest", b'{ "revision" : "r" }') == hashlib.sha256(b'{"revision":"r"}').hexdigest()


def test_other_hash_algorithms_follow_their_names() -> None:
    assert file_digest("a.rego", b"x", "SHA-512") == hashlib.sha512(b"x").hexdigest()
    with pytest.raises(BundleError, match="unknown file hash algorithm 'SHA-3'"):
        file_digest("a.rego", b"x", "SHA-3")


@pytest.mark.parametrize("text", ["back\bspace", "form\ffeed", "lone \ud800 surrogate"], ids=["bs", "ff", "surrogate"])
def test_strings_that_go_and_python_encode_differently_are_refused(text: str) -> None:
    with pytest.raises(BundleError):
        encode_canonical_json({"s": text})


def test_invalid_json_data_is_a_bundle_error() -> None:
    with pytest.raises(BundleError, match=r"boundaries/data\.json: not valid JSON"):
        file_digest("boundaries/data.json", b"{nope")


# -- signing ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256", "HS256"])
def test_signed_files_verify_with_the_matching_key(
    algorithm: str, rsa_keys: tuple[bytes, bytes], ec_keys: tuple[bytes, bytes]
) -> None:
    private, public = _keys(algorithm, rsa_keys, ec_keys)
    result = verify_bundle_files(_signed(FILES, private, algorithm=algorithm), public, algorithm=algorithm)
    assert result.verified_files == sorted(FILES)


def test_signature_payload_is_what_opa_reads(rsa_keys: tuple[bytes, bytes]) -> None:
    signed = _signed(FILES, rsa_keys[0], key_id="prod", scope="write", issuer="ci")
    tokens = json.loads(signed[".signatures.json"])["signatures"]
    assert len(tokens) == 1
    header = jwt.get_unverified_header(tokens[0])
    payload = jwt.decode(tokens[0], options={"verify_signature": False})
    assert header["alg"] == "RS256" and header["kid"] == "prod"
    assert payload["iat"] == 1_700_000_000 and isinstance(payload["iat"], int)
    assert (payload["scope"], payload["iss"], payload["keyid"]) == ("write", "ci", "prod")
    assert [entry["name"] for entry in payload["files"]] == sorted(FILES)
    assert {entry["algorithm"] for entry in payload["files"]} == {"SHA-256"}
    data_entry = next(entry for entry in payload["files"] if entry["name"] == "boundaries/data.json")
    assert data_entry["hash"] == hashlib.sha256(canonical_json_bytes(FILES["boundaries/data.json"])).hexdigest()


def test_rs256_signatures_are_reproducible_with_a_fixed_iat(rsa_keys: tuple[bytes, bytes]) -> None:
    assert _signed(FILES, rsa_keys[0]) == _signed(FILES, rsa_keys[0])


def test_a_reformatted_data_json_still_verifies(rsa_keys: tuple[bytes, bytes]) -> None:
    signed = _signed(FILES, rsa_keys[0])
    pretty = json.dumps(json.loads(FILES["boundaries/data.json"]), indent=4).encode()
    pretty = pretty.replace(b"1.5", b"1.50")  # json.loads lost the literal; OPA hashes the literal text
    assert verify_bundle_files({**signed, "boundaries/data.json": pretty}, rsa_keys[1]).ok


def test_a_certificate_or_private_key_works_as_verification_key(rsa_keys: tuple[bytes, bytes]) -> None:
    private = serialization.load_pem_private_key(rsa_keys[0], password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bundles")])
    import datetime

    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(datetime.datetime(2020, 1, 1))
        .not_valid_after(datetime.datetime(2040, 1, 1))
        .sign(private, hashes.SHA256())  # type: ignore[arg-type]
    )
    signed = _signed(FILES, rsa_keys[0])
    assert verify_bundle_files(signed, certificate.public_bytes(serialization.Encoding.PEM)).ok
    assert verify_bundle_files(signed, rsa_keys[0]).ok


def test_load_key_reads_exact_file_bytes_else_the_literal(tmp_path: Any) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"with-newline\n")
    assert load_key(str(secret)) == b"with-newline\n"
    assert load_key("not-a-file-so-literal") == b"not-a-file-so-literal"


# -- every verification failure -----------------------------------------------------------------------------------


def test_unsigned_bundle_is_refused(rsa_keys: tuple[bytes, bytes]) -> None:
    assert _problems(dict(FILES), rsa_keys[1]) == ["bundle missing .signatures.json file (the bundle is not signed)"]


@pytest.mark.parametrize(
    ("signatures", "expected"),
    [
        (b'{"signatures": []}', "missing JWT (expected exactly one)"),
        (b'{"signatures": ["a.b.c", "d.e.f"]}', "multiple JWTs not supported (expected exactly one, found 2)"),
        (b"{not json", "not valid JSON"),
        (b'{"signatures": ["garbage"]}', "the JWT cannot be decoded"),
        (b'{"signatures": ["a.b.c"], "plugin": "hsm"}', "needs verifier plugin 'hsm' (not the default)"),
    ],
    ids=["zero-jwts", "two-jwts", "bad-json", "garbage-jwt", "custom-plugin"],
)
def test_signatures_file_must_hold_exactly_one_jwt(
    signatures: bytes, expected: str, rsa_keys: tuple[bytes, bytes]
) -> None:
    problems = _problems({**FILES, ".signatures.json": signatures}, rsa_keys[1])
    assert len(problems) == 1 and expected in problems[0]


def test_wrong_key_is_refused(rsa_keys: tuple[bytes, bytes]) -> None:
    other = _pem_public(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    problems = _problems(_signed(FILES, rsa_keys[0]), other)
    assert problems == [".signatures.json: the signature does not verify with the given key"]


def test_wrong_algorithm_is_refused(rsa_keys: tuple[bytes, bytes]) -> None:
    problems = _problems(_signed(FILES, HMAC_SECRET, algorithm="HS256"), rsa_keys[1], algorithm="RS256")
    assert problems == [".signatures.json: signed with 'HS256', expected 'RS256'"]


@pytest.mark.parametrize(
    ("signed_scope", "expected_scope"),
    [("write", None), (None, "write"), ("write", "read")],
    ids=["signed-only", "expected-only", "different"],
)
def test_scope_must_match_exactly(
    signed_scope: str | None, expected_scope: str | None, rsa_keys: tuple[bytes, bytes]
) -> None:
    problems = _problems(_signed(FILES, rsa_keys[0], scope=signed_scope), rsa_keys[1], scope=expected_scope)
    assert len(problems) == 1 and "scope mismatch" in problems[0]


def test_matching_scope_verifies(rsa_keys: tuple[bytes, bytes]) -> None:
    assert verify_bundle_files(_signed(FILES, rsa_keys[0], scope="write"), rsa_keys[1], scope="write").ok


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda files: files.update({"boundaries/data.json": b'{"policy_version":"v1","agents":{}}'}),
            "boundaries/data.json: digest mismatch",
        ),
        (
            lambda files: files.update({"agent_boundary/decision.rego": b"package agent_boundary\n"}),
            "agent_boundary/decision.rego: digest mismatch",
        ),
        (
            lambda files: files.update({".manifest": b'{"revision":"v2","roots":["agent_boundary"]}'}),
            ".manifest: digest mismatch",
        ),
        (
            lambda files: files.update({"agents/x/policy.rego": b"package agents.x\n"}),
            "agents/x/policy.rego: file not included in bundle signature",
        ),
        (
            lambda files: files.pop("agent_boundary/decision.rego"),
            "agent_boundary/decision.rego: specified in bundle signature but not found in the bundle",
        ),
    ],
    ids=["data-changed", "rego-changed", "manifest-changed", "file-added", "file-removed"],
)
def test_any_changed_added_or_removed_member_is_refused(
    change: Any, expected: str, rsa_keys: tuple[bytes, bytes]
) -> None:
    files = _signed(FILES, rsa_keys[0])
    change(files)
    problems = _problems(files, rsa_keys[1])
    assert len(problems) == 1 and problems[0].startswith(expected)


def test_every_problem_is_reported_at_once(rsa_keys: tuple[bytes, bytes]) -> None:
    files = _signed(FILES, rsa_keys[0])
    files["boundaries/data.json"] = b"{}"
    files["extra.rego"] = b"package agents.extra\n"
    del files[".manifest"]
    problems = _problems(files, rsa_keys[1])
    assert [problem.split(":")[0] for problem in problems] == ["boundaries/data.json", "extra.rego", ".manifest"]


def test_excluded_files_are_not_verified(rsa_keys: tuple[bytes, bytes]) -> None:
    files = _signed(FILES, rsa_keys[0])
    files["agents/x/notes.rego"] = b"package agents.x\n"
    result = verify_bundle_files(files, rsa_keys[1], exclude_files=["agents/*/notes.rego"])
    assert result.excluded_files == ["agents/x/notes.rego"]
    # Go's filepath.Match: `*` does not cross a `/`.
    assert _problems(files, rsa_keys[1], exclude_files=["agents/*"])


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"name": "a.rego", "hash": hashlib.sha256(b"x").hexdigest()}, "a.rego: no hashing algorithm provided"),
        ({"name": "a.rego", "hash": "00", "algorithm": "CRC32"}, "a.rego: unknown file hash algorithm 'CRC32'"),
        ({"name": "a.rego", "hash": hashlib.md5(b"y").hexdigest(), "algorithm": "MD5"}, "a.rego: digest mismatch"),
    ],
    ids=["no-algorithm", "unknown-algorithm", "md5-mismatch"],
)
def test_file_entries_need_a_known_algorithm_and_matching_hash(
    entry: dict[str, str], expected: str, rsa_keys: tuple[bytes, bytes]
) -> None:
    files = {"a.rego": b"x", ".signatures.json": _token_with({"files": [entry], "iat": 0}, rsa_keys[0])}
    problems = _problems(files, rsa_keys[1])
    assert len(problems) == 1 and problems[0].startswith(expected)


def test_an_md5_entry_with_the_right_hash_verifies(rsa_keys: tuple[bytes, bytes]) -> None:
    entry = {"name": "a.rego", "hash": hashlib.md5(b"x").hexdigest(), "algorithm": "MD5"}
    files = {"a.rego": b"x", ".signatures.json": _token_with({"files": [entry], "iat": 0}, rsa_keys[0])}
    assert verify_bundle_files(files, rsa_keys[1]).verified_files == ["a.rego"]


def test_payload_without_files_list_is_refused(rsa_keys: tuple[bytes, bytes]) -> None:
    files = {"a.rego": b"x", ".signatures.json": _token_with({"iat": 0}, rsa_keys[0])}
    assert _problems(files, rsa_keys[1]) == [
        ".signatures.json: the signed payload has no 'files' list",
        "a.rego: file not included in bundle signature (added after signing?)",
    ]


def test_a_member_that_opa_would_take_for_the_signature_file_is_refused(rsa_keys: tuple[bytes, bytes]) -> None:
    files = _signed(FILES, rsa_keys[0])
    files["agents/x/signatures.json"] = b'{"signatures": []}'
    assert _problems(files, rsa_keys[1]) == [
        "agents/x/signatures.json: OPA would read this file as the bundle signature; rename it"
    ]


# -- the C fast path of canonical JSON, held to the reference encoder ---------------------------------------------


def _reference(content: bytes) -> bytes | str:
    """What the reference encoder makes of JSON text (every number kept as its text), or the error it raises."""
    from yaml2rego.bundles.signing import _Number, _reject_constant

    try:
        value = json.loads(content, parse_int=_Number, parse_float=_Number, parse_constant=_reject_constant)
        return encode_canonical_json(value).encode("utf-8")
    except (BundleError, ValueError):
        return "refused"  # not JSON (BundleError when read from a file), or not portable


def _fast(content: bytes) -> bytes | str:
    try:
        return canonical_json_bytes(content)
    except (BundleError, ValueError):
        return "refused"  # not JSON (BundleError when read from a file), or not portable


def _compiled_data_files() -> list[Any]:
    from yaml2rego.compile.compiler import DATA_FILE, compile_policy_set
    from yaml2rego.dsl.loader import load_policies

    from .conftest import EXAMPLES, REPO_ROOT

    sets = [EXAMPLES, *sorted((REPO_ROOT / "tests" / "golden").glob("*/policy.yaml"))]
    return [pytest.param(compile_policy_set(load_policies([path])).files[DATA_FILE], id=path.name) for path in sets]


@pytest.mark.parametrize("content", _compiled_data_files())
def test_canonical_data_of_every_compiled_policy_equals_the_reference(content: bytes) -> None:
    assert _fast(content) == _reference(content)


_ODD_TEXTS = [
    '"plain"', '"line\\u2028sep\\u2029"', '"back\\bspace"', '"form\\ffeed"', '"\\\\b is not a backspace"',
    '"\\\\\\b"', '"\\ud800 lone"', '"\\udbff\\udfff pair"', '"\\u0000\\u001f\\u007f\\u0085"', '"\\u00e9 é"',
    "1", "-0", "0", "-1", "12345678901234567890", "1.0", "1.50", "1e3", "1E+3", "-0.0", "0.1", "1e400", "2.5e-8",
    "true", "false", "null", "[]", "{}", "NaN", "Infinity",
]  # fmt: skip


def _random_document(random: Any, depth: int = 0) -> str:
    if depth > 3 or random.random() < 0.4:
        return random.choice(_ODD_TEXTS)
    if random.random() < 0.5:
        return "[" + ",".join(_random_document(random, depth + 1) for _ in range(random.randint(0, 4))) + "]"
    keys = random.sample(['"a"', '"b"', '"\\u2028"', '"\\f"', '"z"', '"é"', '"A"', '"source"'], random.randint(0, 4))
    return "{" + ",".join(f"{key}: {_random_document(random, depth + 1)}" for key in keys) + "}"


@pytest.mark.parametrize("seed", range(300))
def test_canonical_json_fast_path_equals_the_reference_on_a_seeded_corpus(seed: int) -> None:
    """Odd numbers, escapes Go and Python write differently, lone surrogates: the same bytes or the same refusal."""
    import random

    content = _random_document(random.Random(seed)).encode("utf-8")
    assert _fast(content) == _reference(content)


@pytest.mark.parametrize("text", _ODD_TEXTS, ids=range(len(_ODD_TEXTS)))
def test_canonical_json_fast_path_equals_the_reference_on_each_odd_value(text: str) -> None:
    content = f'{{"k": [{text}]}}'.encode()
    assert _fast(content) == _reference(content)


def test_canonical_form_is_a_fixed_point() -> None:
    """Hashing canonical bytes as they are (what the bundle builder does) gives the digest OPA computes."""
    content = b'{"b": [1.50, "\\u2028", -0], "a": {"z": 1e3, "y": "x"}}'
    canonical = canonical_json_bytes(content)
    assert canonical_json_bytes(canonical) == canonical
