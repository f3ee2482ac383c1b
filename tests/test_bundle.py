"""OPA bundles: reproducible bytes, the manifest, loading decisions from a bundle, the CLI, and real OPA."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.processes import free_port
from yaml2rego import __version__
from yaml2rego.bundles.bundle import (
    BUNDLE_ROOTS,
    DATA_FILE,
    SigningOptions,
    build_bundle,
    bundle_policies,
    pack_tar_gz,
    read_bundle,
    unpack_tar_gz,
)
from yaml2rego.cli import main
from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.dsl.loader import load_policies
from yaml2rego.engines import EmbeddedEngine
from yaml2rego.errors import BundleError

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "examples" / "support_agent.yaml"
HMAC_SECRET = b"a-shared-secret-of-at-least-32-bytes!!"
ALLOWED_CALL = {"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"}
DENIED_CALL = {"agent_id": "support_agent_1", "method": "GET", "path": "/api/admin/users"}


def _write_keys(directory: Path, algorithm: str) -> tuple[Path, Path]:
    if algorithm == "HS256":
        secret = directory / "secret.key"
        secret.write_bytes(HMAC_SECRET)
        return secret, secret
    key: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm == "ES256"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    private, public = directory / f"{algorithm}.pem", directory / f"{algorithm}.pub.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


@pytest.fixture(scope="module")
def rsa_key_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _write_keys(tmp_path_factory.mktemp("keys"), "RS256")


def _compiled_files(revision: str | None = None) -> dict[str, bytes]:
    return compile_policy_set(load_policies([str(SEED)]), policy_version=revision).files


# -- determinism --------------------------------------------------------------------------------------------------


def test_same_policies_give_the_same_bytes() -> None:
    first = bundle_policies([SEED], reviewer="alice", approval_id="PR-1", note="ok").to_bytes()
    second = bundle_policies([SEED], reviewer="alice", approval_id="PR-1", note="ok").to_bytes()
    assert first == second


def test_signed_bundles_are_reproducible_with_a_fixed_signing_time(rsa_key_files: tuple[Path, Path]) -> None:
    signing = SigningOptions(rsa_key_files[0].read_bytes(), "RS256", "k1", issued_at=1_700_000_000)
    assert bundle_policies([SEED], signing=signing).to_bytes() == bundle_policies([SEED], signing=signing).to_bytes()


def test_tar_members_are_sorted_regular_files_with_fixed_metadata() -> None:
    content = bundle_policies([SEED]).to_bytes()
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
        members = archive.getmembers()
    names = [member.name for member in members]
    assert names == sorted(names)
    assert not any(name.startswith(("./", "/")) for name in names)
    for member in members:
        assert member.isreg()
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname, member.mode) == (
            0,
            0,
            0,
            "",
            "",
            0o644,
        )


def test_gzip_header_has_no_timestamp_and_no_file_name() -> None:
    content = bundle_policies([SEED]).to_bytes()
    flags, mtime = content[3], int.from_bytes(content[4:8], "little")
    assert (flags & 0x08, mtime) == (0, 0)  # FNAME unset, MTIME zero
    assert gzip.decompress(content)  # still a valid gzip stream


def test_revision_defaults_to_the_compiler_content_digest() -> None:
    bundle = bundle_policies([SEED])
    compiled = compile_policy_set(load_policies([str(SEED)]))
    assert bundle.revision == compiled.policy_version
    assert bundle.revision.startswith("sha256:")
    assert bundle.data()["policy_version"] == bundle.revision


def test_explicit_revision_becomes_the_policy_version_of_every_decision() -> None:
    bundle = bundle_policies([SEED], revision="v1.4.0")
    assert bundle.revision == "v1.4.0"
    assert bundle.data()["policy_version"] == "v1.4.0"


# -- contents -----------------------------------------------------------------------------------------------------


def test_manifest_records_roots_rego_version_and_the_approval() -> None:
    bundle = bundle_policies([SEED], revision="abc123", reviewer="alice", approval_id="PR-142", note="scoped down")
    manifest = bundle.manifest
    assert manifest["revision"] == "abc123"
    assert manifest["roots"] == list(BUNDLE_ROOTS)
    assert manifest["rego_version"] == 1
    metadata = manifest["metadata"]
    assert (metadata["reviewer"], metadata["approval_id"], metadata["note"]) == ("alice", "PR-142", "scoped down")
    assert metadata["yaml2rego_version"] == __version__
    assert metadata["agents"] == ["support_agent_1"]
    assert set(metadata["agent_digests"]) == {"support_agent_1"}
    assert "built_at" not in metadata


def test_built_at_is_recorded_only_when_given() -> None:
    bundle = bundle_policies([SEED], built_at="2026-11-21T10:00:00Z")
    assert bundle.metadata["built_at"] == "2026-11-21T10:00:00Z"


def test_bundle_holds_modules_and_data_but_no_tests() -> None:
    names = set(bundle_policies([SEED]).files)
    assert DATA_FILE in names and ".manifest" in names
    assert "agent_boundary/decision.rego" in names
    assert "agents/support_agent_1/policy.rego" in names
    assert not [name for name in names if name.endswith("_test.rego")]


def test_decisions_from_the_bundle_carry_its_revision(tmp_path: Path) -> None:
    bundle = bundle_policies([SEED], revision="git-0a1b2c")
    for name, content in read_bundle(bundle.to_bytes()).files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    engine = EmbeddedEngine.from_directory(tmp_path)
    allowed, denied = engine.decide(ALLOWED_CALL), engine.decide(DENIED_CALL)
    assert (allowed["decision"], allowed["policy_version"]) == ("allow", "git-0a1b2c")
    assert (denied["decision"], denied["policy_version"]) == ("deny", "git-0a1b2c")


def test_revision_must_match_the_compiled_policy_version() -> None:
    with pytest.raises(BundleError, match="policy_version 'v1' but the bundle revision is 'v2'"):
        build_bundle(_compiled_files("v1"), revision="v2")


def test_a_module_outside_the_roots_is_refused() -> None:
    files = {**_compiled_files("v1"), "agent_boundary/extra.rego": b"package other.place\n"}
    with pytest.raises(BundleError, match=r"package other\.place is outside the bundle roots"):
        build_bundle(files, revision="v1")


def test_compiled_output_without_data_is_refused() -> None:
    with pytest.raises(BundleError, match=r"has no boundaries/data\.json"):
        build_bundle({"agent_boundary/decision.rego": b"package agent_boundary\n"}, revision="v1")


def test_reading_trims_a_leading_slash_and_skips_directories() -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        directory = tarfile.TarInfo("boundaries")
        directory.type = tarfile.DIRTYPE
        archive.addfile(directory)
        info = tarfile.TarInfo("/boundaries/data.json")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"{}"))
    assert unpack_tar_gz(gzip.compress(raw.getvalue())) == {"boundaries/data.json": b"{}"}


def test_digest_of_a_read_bundle_is_that_of_its_file(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as archive:  # packed by another tool: timestamps, any order
        info = tarfile.TarInfo("boundaries/data.json")
        info.size, info.mtime = 2, 1_700_000_000
        archive.addfile(info, io.BytesIO(b"{}"))
    path = tmp_path / "other.tar.gz"
    path.write_bytes(raw.getvalue())
    assert read_bundle(path).digest == "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()


def test_round_trip_keeps_every_member() -> None:
    files = {"a/data.json": b"{}", "b.rego": b"package b\n"}
    assert unpack_tar_gz(pack_tar_gz(files)) == files


def test_a_file_that_is_not_a_bundle_is_a_bundle_error(tmp_path: Path) -> None:
    path = tmp_path / "bundle.tar.gz"
    path.write_bytes(b"not gzip")
    with pytest.raises(BundleError, match="not a gzip'd tar bundle"):
        read_bundle(path)


# -- command line -------------------------------------------------------------------------------------------------


def _run(*arguments: str) -> Any:
    return CliRunner().invoke(main, [str(argument) for argument in arguments])


def test_cli_bundle_verify_and_inspect(tmp_path: Path, rsa_key_files: tuple[Path, Path]) -> None:
    output = tmp_path / "bundle.tar.gz"
    built = _run(
        "bundle", SEED, "-o", output, "--revision", "v2", "--reviewer", "alice", "--approval-id", "PR-7",
        "--note", "tightened admin", "--signing-key", rsa_key_files[0], "--key-id", "prod", "--signed-at", "0",
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    assert built.output.startswith(f"wrote {output}: revision v2, 1 agent, signed RS256 (kid prod), sha256:")

    verified = _run("verify", output, "--verification-key", rsa_key_files[1])
    assert verified.exit_code == 0, verified.output
    # Every module except tests, the data and the manifest are signed.
    modules = compile_policy_set(load_policies([SEED])).modules(include_tests=False)
    assert verified.output == f"ok: {output} verified: {len(modules) + 2} files, revision v2\n"

    inspected = _run("inspect", output, "--verification-key", rsa_key_files[1])
    assert inspected.exit_code == 0, inspected.output
    signature = f"alg RS256, kid prod, scope -, signed at 1970-01-01T00:00:00Z, {len(modules) + 2} files"
    for line in ("revision:   v2", "agents:     support_agent_1", "reviewer:   alice", "approval:   PR-7",
                 "note:       tightened admin", "signature:  signed and verified", signature):  # fmt: skip
        assert line in inspected.output


def test_cli_verify_explains_a_tampered_bundle(tmp_path: Path, rsa_key_files: tuple[Path, Path]) -> None:
    output = tmp_path / "bundle.tar.gz"
    assert _run("bundle", SEED, "-o", output, "--signing-key", rsa_key_files[0]).exit_code == 0
    files = dict(read_bundle(output).files)
    files["agents/support_agent_1/policy.rego"] += b"\n# edited\n"
    output.write_bytes(pack_tar_gz(files))
    result = _run("verify", output, "--verification-key", rsa_key_files[1])
    assert result.exit_code == 1
    assert f"error: {output} does not verify:" in result.output
    assert "  - agents/support_agent_1/policy.rego: digest mismatch (signed SHA-256 " in result.output

    inspected = _run("inspect", output, "--verification-key", rsa_key_files[1])
    assert inspected.exit_code == 1
    assert "signature:  INVALID" in inspected.output


def test_cli_inspect_unsigned_bundle_as_json(tmp_path: Path) -> None:
    output = tmp_path / "bundle.tar.gz"
    assert _run("bundle", SEED, "-o", output).exit_code == 0
    result = _run("inspect", output, "--format", "json")
    assert result.exit_code == 0
    summary = json.loads(result.output)
    assert summary["signature"] == {"status": "unsigned", "problems": []}
    assert summary["agents"] == ["support_agent_1"]


def test_cli_verify_unsigned_bundle_fails(tmp_path: Path, rsa_key_files: tuple[Path, Path]) -> None:
    output = tmp_path / "bundle.tar.gz"
    assert _run("bundle", SEED, "-o", output).exit_code == 0
    result = _run("verify", output, "--verification-key", rsa_key_files[1])
    assert result.exit_code == 1
    assert "bundle missing .signatures.json file" in result.output


def test_cli_history_needs_a_signing_key(tmp_path: Path) -> None:
    result = _run("bundle", SEED, "-o", tmp_path / "b.tar.gz", "--history", tmp_path / "h.jsonl")
    assert result.exit_code == 1
    assert "error: --history needs --signing-key" in result.output


def test_cli_signed_at_comes_from_source_date_epoch(tmp_path: Path, rsa_key_files: tuple[Path, Path]) -> None:
    outputs = [tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"]
    for output in outputs:
        result = CliRunner(env={"SOURCE_DATE_EPOCH": "1700000000"}).invoke(
            main, ["bundle", str(SEED), "-o", str(output), "--signing-key", str(rsa_key_files[0])]
        )
        assert result.exit_code == 0, result.output
    assert outputs[0].read_bytes() == outputs[1].read_bytes()


# -- real OPA -----------------------------------------------------------------------------------------------------


def _start_opa(opa: str, bundle: Path, key: Path, algorithm: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            opa,
            "run",
            "--server",
            "--addr",
            f"127.0.0.1:{port}",
            "--bundle",
            str(bundle),
            "--verification-key",
            str(key),
            "--signing-alg",
            algorithm,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, f"http://127.0.0.1:{port}"


def _wait_healthy(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"opa exited with {process.returncode}: {process.stderr.read() if process.stderr else ''}")
        try:
            if requests.get(f"{url}/health?bundles", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    pytest.fail("opa did not become healthy within 30 s")


@pytest.mark.opa
@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "HS256"])
def test_real_opa_loads_the_signed_bundle_and_answers_from_it(opa_binary: str, tmp_path: Path, algorithm: str) -> None:
    private, public = _write_keys(tmp_path, algorithm)
    bundle_file = tmp_path / "bundle.tar.gz"
    signing = SigningOptions(private.read_bytes(), algorithm, "default", issued_at=1_700_000_000)
    bundle_policies([SEED], revision="rev-42", signing=signing).write(bundle_file)
    process, url = _start_opa(opa_binary, bundle_file, public, algorithm)
    try:
        _wait_healthy(process, url)
        allowed = requests.post(f"{url}/v1/data/agent_boundary/decision", json={"input": ALLOWED_CALL}, timeout=5)
        denied = requests.post(f"{url}/v1/data/agent_boundary/decision", json={"input": DENIED_CALL}, timeout=5)
        assert allowed.json()["result"]["decision"] == "allow"
        assert allowed.json()["result"]["policy_version"] == "rev-42"
        assert denied.json()["result"]["decision"] == "deny"
        manifest = requests.get(f"{url}/v1/data/system/bundles", timeout=5).json().get("result", {})
        assert any(entry.get("manifest", {}).get("revision") == "rev-42" for entry in manifest.values())
    finally:
        process.terminate()
        process.wait(timeout=10)


def _tampered(files: dict[str, bytes], how: str) -> dict[str, bytes]:
    files = dict(files)
    if how == "changed":
        files["agents/support_agent_1/policy.rego"] += b"\n# edited\n"
    elif how == "added":
        files["agents/extra/policy.rego"] = b"package agents.extra\n"
    elif how == "removed":
        del files["agents/support_agent_1/policy.rego"]
    elif how == "data-changed":
        files[DATA_FILE] = files[DATA_FILE].replace(b'"enforce"', b'"shadow"')
    return files


# What OPA 1.x says for each kind of tampering.
_OPA_TAMPER_MESSAGES = {
    "changed": "agents/support_agent_1/policy.rego: digest mismatch",
    "added": "file agents/extra/policy.rego not included in bundle signature",
    "removed": "specified in bundle signatures but not found in the target bundle",
    "data-changed": "boundaries/data.json: digest mismatch",
}


@pytest.mark.opa
@pytest.mark.parametrize("how", ["changed", "added", "removed", "data-changed"])
def test_real_opa_refuses_a_tampered_bundle(
    opa_binary: str, tmp_path: Path, how: str, rsa_key_files: tuple[Path, Path]
) -> None:
    signing = SigningOptions(rsa_key_files[0].read_bytes(), "RS256", "default", issued_at=1_700_000_000)
    bundle = bundle_policies([SEED], signing=signing)
    bundle_file = tmp_path / "bundle.tar.gz"
    bundle_file.write_bytes(pack_tar_gz(_tampered(dict(bundle.files), how)))
    process, _ = _start_opa(opa_binary, bundle_file, rsa_key_files[1], "RS256")
    try:
        stdout, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("opa started with a tampered bundle")
    assert process.returncode != 0
    # `opa run` prints its load error on stdout ("Error: load error: bundle …: digest mismatch …").
    said = (stdout + stderr).lower()
    assert "load error" in said
    assert _OPA_TAMPER_MESSAGES[how] in said
