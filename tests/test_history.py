"""The signed policy history: entries, the hash chain, every tamper case, and "which policy was active at T"."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from yaml2rego.bundles.bundle import build_bundle
from yaml2rego.bundles.history import (
    GENESIS_HASH,
    active_at,
    append_entry,
    entry_hash,
    read_history,
    verify_history,
)
from yaml2rego.bundles.signing import sign_jws
from yaml2rego.cli import main
from yaml2rego.errors import HistoryError


def _agent(mode: str = "enforce") -> dict[str, Any]:
    return {"agent_id": "x", "mode": mode, "allowed_endpoints": [], "denied_endpoints": []}


def _bundle(revision: str, agents: dict[str, Any], **metadata: str) -> Any:
    data = {"policy_version": revision, "agents": agents}
    files = {"boundaries/data.json": json.dumps(data).encode()}
    return build_bundle(files, revision=revision, **metadata)


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def _at(day: int) -> datetime:
    return datetime(2026, 11, day, 12, 0, tzinfo=UTC)


@pytest.fixture
def history(tmp_path: Path, keys: tuple[bytes, bytes]) -> Path:
    """Three entries: v1 adds two agents, v2 puts one in shadow mode, v3 removes the other."""
    path = tmp_path / "history.jsonl"
    bundles = [
        _bundle("v1", {"a": _agent(), "b": _agent()}, reviewer="alice", approval_id="PR-1"),
        _bundle("v2", {"a": _agent("shadow"), "b": _agent()}, reviewer="bob", approval_id="PR-2", note="trial"),
        _bundle("v3", {"a": _agent("shadow")}, reviewer="carol", approval_id="PR-3"),
    ]
    for day, bundle in zip((1, 5, 9), bundles, strict=True):
        append_entry(path, bundle, key=keys[0], key_id="k1", author="dev", timestamp=_at(day))
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _rewrite(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


# -- entries ------------------------------------------------------------------------------------------------------


def test_entries_record_revision_parent_approval_and_changed_agents(history: Path, keys: tuple[bytes, bytes]) -> None:
    first, second, third = verify_history(history, keys[1])
    assert [entry.seq for entry in (first, second, third)] == [1, 2, 3]
    assert (first.revision, first.parent_revision, first.prev_hash) == ("v1", None, GENESIS_HASH)
    assert (second.parent_revision, second.prev_hash) == ("v1", first.hash)
    assert (second.reviewer, second.approval_id, second.comment, second.author) == ("bob", "PR-2", "trial", "dev")
    assert first.agents_changed == {"added": ["a", "b"], "removed": [], "modified": []}
    assert second.agents_changed == {"added": [], "removed": [], "modified": ["a"]}
    assert third.agents_changed == {"added": [], "removed": ["b"], "modified": []}
    assert second.timestamp == "2026-11-05T12:00:00Z"
    assert first.bundle_digest.startswith("sha256:") and first.key_id == "k1"


def test_hash_covers_every_field_but_hash_and_signature(history: Path) -> None:
    record = json.loads(_lines(history)[0])
    assert entry_hash(record) == record["hash"]
    assert entry_hash({**record, "signature": "other"}) == record["hash"]
    assert entry_hash({**record, "comment": "other"}) != record["hash"]


def test_appending_to_a_tampered_history_is_refused(history: Path, keys: tuple[bytes, bytes]) -> None:
    lines = _lines(history)
    _rewrite(history, [lines[0], lines[2]])
    with pytest.raises(HistoryError, match="does not verify"):
        append_entry(history, _bundle("v4", {}), key=keys[0], timestamp=_at(20))


def test_appending_an_entry_older_than_the_last_is_refused(history: Path, keys: tuple[bytes, bytes]) -> None:
    with pytest.raises(HistoryError, match="the last entry is 2026-11-09T12:00:00Z"):
        append_entry(history, _bundle("v4", {}), key=keys[0], timestamp=_at(2))


# -- tampering ----------------------------------------------------------------------------------------------------


def _edit_field(lines: list[str]) -> list[str]:
    record = json.loads(lines[1])
    record["reviewer"] = "mallory"
    return [lines[0], json.dumps(record), lines[2]]


def _edit_and_rehash(lines: list[str]) -> list[str]:
    record = json.loads(lines[1])
    record["approval_id"] = "PR-999"
    record["hash"] = entry_hash(record)
    return [lines[0], json.dumps(record), lines[2]]


def _forge_with_other_key(lines: list[str]) -> list[str]:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    record = json.loads(lines[2])
    record["comment"] = "forged"
    record["hash"] = entry_hash(record)
    record["signature"] = sign_jws({"hash": record["hash"], "seq": record["seq"]}, other, "RS256")
    return [lines[0], lines[1], json.dumps(record)]


def _copy_signature(lines: list[str]) -> list[str]:
    second, third = json.loads(lines[1]), json.loads(lines[2])
    third["signature"] = second["signature"]
    return [lines[0], lines[1], json.dumps(third)]


TAMPER_CASES: list[tuple[str, Callable[[list[str]], list[str]], list[str]]] = [
    ("edited", _edit_field, ["line 2 (seq 2, revision v2): content does not match its hash (entry edited)"]),
    (
        "edited-and-rehashed",
        _edit_and_rehash,
        [
            "line 2 (seq 2, revision v2): signature is for another entry",
            "line 3 (seq 3, revision v3): does not chain to line 2",
        ],
    ),
    (
        "forged-with-other-key",
        _forge_with_other_key,
        ["line 3 (seq 3, revision v3): bad signature: the signature does not verify with the given key"],
    ),
    ("signature-copied", _copy_signature, ["line 3 (seq 3, revision v3): signature is for another entry"]),
    (
        "reordered",
        lambda lines: [lines[0], lines[2], lines[1]],
        [
            "line 2 (seq 3, revision v3): does not chain to line 1",
            "line 2 (seq 3, revision v3): sequence number 3, expected 2",
            "line 2 (seq 3, revision v3): parent revision 'v2' but the previous entry is 'v1'",
            "line 3 (seq 2, revision v2): does not chain to line 2",
            "line 3 (seq 2, revision v2): sequence number 2, expected 4",
            "line 3 (seq 2, revision v2): recorded before line 2 (entries reordered)",
            "line 3 (seq 2, revision v2): parent revision 'v1' but the previous entry is 'v3'",
        ],
    ),
    (
        "middle-deleted",
        lambda lines: [lines[0], lines[2]],
        [
            "line 2 (seq 3, revision v3): does not chain to line 1",
            "line 2 (seq 3, revision v3): sequence number 3, expected 2",
            "line 2 (seq 3, revision v3): parent revision 'v2' but the previous entry is 'v1'",
        ],
    ),
    (
        "first-deleted",
        lambda lines: lines[1:],
        [
            "line 1 (seq 2, revision v2): does not chain to the start of the history",
            "line 1 (seq 2, revision v2): sequence number 2, expected 1",
        ],
    ),
    (
        "duplicate-inserted",
        lambda lines: [lines[0], lines[1], lines[1], lines[2]],
        [
            "line 3 (seq 2, revision v2): does not chain to line 2",
            "line 3 (seq 2, revision v2): sequence number 2, expected 3",
            "line 3 (seq 2, revision v2): parent revision 'v1' but the previous entry is 'v2'",
        ],
    ),
]


@pytest.mark.parametrize(("change", "expected"), [case[1:] for case in TAMPER_CASES], ids=[c[0] for c in TAMPER_CASES])
def test_tampering_is_detected_and_located(
    history: Path, keys: tuple[bytes, bytes], change: Callable[[list[str]], list[str]], expected: list[str]
) -> None:
    _rewrite(history, change(_lines(history)))
    with pytest.raises(HistoryError) as caught:
        verify_history(history, keys[1])
    problems = [line.removeprefix("  - ") for line in str(caught.value).splitlines()[1:]]
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_entries_cut_off_the_end_are_caught_with_the_expected_head(history: Path, keys: tuple[bytes, bytes]) -> None:
    head = read_history(history)[-1].hash
    second = read_history(history)[1].hash
    _rewrite(history, _lines(history)[:2])
    assert len(verify_history(history, keys[1])) == 2  # a shorter chain is still a valid chain
    with pytest.raises(HistoryError, match="the expected head is not in the file"):
        verify_history(history, keys[1], expected_head=head)
    assert verify_history(history, keys[1], expected_head=second)


def test_a_line_that_is_not_an_entry_is_reported_with_its_line(history: Path, keys: tuple[bytes, bytes]) -> None:
    _rewrite(history, [*_lines(history)[:1], "{not json"])
    with pytest.raises(HistoryError, match=r"history\.jsonl:2: not a history entry"):
        verify_history(history, keys[1])


def test_the_wrong_key_fails_every_entry(history: Path) -> None:
    other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(HistoryError) as caught:
        verify_history(history, other)
    assert str(caught.value).count("bad signature: the signature does not verify with the given key") == 3


# -- which policy was active ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "revision"),
    [
        ("2026-10-31T23:59:59Z", None),
        ("2026-11-01T12:00:00Z", "v1"),
        ("2026-11-05T11:59:59Z", "v1"),
        ("2026-11-05T13:00:00+01:00", "v2"),
        ("2026-11-07T00:00:00", "v2"),
        ("2027-01-01T00:00:00Z", "v3"),
    ],
    ids=["before-first", "exactly-first", "just-before-second", "offset", "naive-is-utc", "after-last"],
)
def test_active_at_picks_the_last_entry_recorded_at_or_before(history: Path, moment: str, revision: str | None) -> None:
    entry = active_at(read_history(history), moment)
    assert (entry.revision if entry else None) == revision


def test_a_bad_timestamp_is_a_history_error() -> None:
    with pytest.raises(HistoryError, match="not a timestamp: 'yesterday'"):
        active_at([], "yesterday")


# -- command line -------------------------------------------------------------------------------------------------


def _run(*arguments: Any) -> Any:
    return CliRunner().invoke(main, [str(argument) for argument in arguments])


@pytest.fixture
def public_key_file(tmp_path: Path, keys: tuple[bytes, bytes]) -> Path:
    path = tmp_path / "public.pem"
    path.write_bytes(keys[1])
    return path


def test_cli_history_verify_ok_and_tampered(history: Path, public_key_file: Path) -> None:
    result = _run("history", "verify", "--history", history, "--verification-key", public_key_file)
    assert result.exit_code == 0
    assert result.output.startswith(f"ok: {history}: 3 entries verified, head sha256:")
    _rewrite(history, _edit_field(_lines(history)))
    result = _run("history", "verify", "--history", history, "--verification-key", public_key_file)
    assert result.exit_code == 1
    assert f"error: policy history {history} does not verify:" in result.output
    assert "  - line 2 (seq 2, revision v2): content does not match its hash (entry edited)" in result.output


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "does not exist"), ("", "holds no entries")],
    ids=["missing", "empty"],
)
def test_cli_history_verify_fails_when_there_is_nothing_to_verify(
    tmp_path: Path, public_key_file: Path, content: str | None, problem: str
) -> None:
    """A mistyped path or an empty file is no proof of an unaltered history: exit 1, never `ok`."""
    target = tmp_path / "history.jsonl"
    if content is not None:
        target.write_text(content)
    result = _run("history", "verify", "--history", target, "--verification-key", public_key_file)
    assert (result.exit_code, result.output) == (
        1,
        f"error: policy history {target} {problem}: there is nothing to verify\n",
    )


def test_cli_active_at_answers_in_one_command(history: Path, public_key_file: Path) -> None:
    result = _run(
        "history", "active-at", "2026-11-06T00:00:00Z", "--history", history, "--verification-key", public_key_file
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("active at 2026-11-06T00:00:00Z: revision v2 (history verified)\n")
    assert "author dev, reviewer bob, approval PR-2" in result.output


def test_cli_active_at_before_the_first_entry_fails(history: Path) -> None:
    result = _run("history", "active-at", "2020-01-01T00:00:00Z", "--history", history)
    assert result.exit_code == 1
    assert "error: no policy was recorded at or before 2020-01-01T00:00:00Z" in result.output


def test_cli_history_show_lists_entries(history: Path) -> None:
    result = _run("history", "show", "--history", history)
    assert result.exit_code == 0
    assert [line for line in result.output.splitlines() if line.startswith("#")] == [
        "#1 2026-11-01T12:00:00Z revision v1 (parent -)",
        "#2 2026-11-05T12:00:00Z revision v2 (parent v1)",
        "#3 2026-11-09T12:00:00Z revision v3 (parent v2)",
    ]


def test_cli_bundle_appends_to_the_history(tmp_path: Path, keys: tuple[bytes, bytes], public_key_file: Path) -> None:
    private = tmp_path / "private.pem"
    private.write_bytes(keys[0])
    seed = Path(__file__).resolve().parent.parent / "examples" / "support_agent.yaml"
    history_file = tmp_path / "h.jsonl"
    result = _run(
        "bundle", seed, "-o", tmp_path / "b.tar.gz", "--signing-key", private, "--history", history_file,
        "--author", "dev", "--reviewer", "alice", "--approval-id", "PR-9",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "recorded history entry #1 in" in result.output
    (entry,) = verify_history(history_file, keys[1])
    assert (entry.author, entry.reviewer, entry.approval_id) == ("dev", "alice", "PR-9")
    assert entry.agents_changed["added"] == ["support_agent_1"]


@pytest.mark.parametrize("login", ["ops", None], ids=["login-name", "no-login-name"])
def test_cli_bundle_history_author_defaults_to_the_login_name_and_is_never_anonymous(
    tmp_path: Path, keys: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch, login: str | None
) -> None:
    """Without --author the entry names the login (not `$USER` alone); with no login known, bundle refuses."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    if login is not None:
        monkeypatch.setenv("LOGNAME", login)
    else:
        monkeypatch.setattr("pwd.getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))
    private = tmp_path / "private.pem"
    private.write_bytes(keys[0])
    seed = Path(__file__).resolve().parent.parent / "examples" / "support_agent.yaml"
    history_file = tmp_path / "h.jsonl"
    result = _run("bundle", seed, "-o", tmp_path / "b.tar.gz", "--signing-key", private, "--history", history_file)
    if login is None:
        assert (result.exit_code, result.output) == (
            1,
            "error: --history needs an author and no login name is known: pass --author\n",
        )
        assert not history_file.exists()
    else:
        assert result.exit_code == 0, result.output
        (entry,) = verify_history(history_file, keys[1])
        assert entry.author == "ops"


def test_cli_bundle_refuses_to_build_on_a_tampered_history(
    tmp_path: Path, history: Path, keys: tuple[bytes, bytes]
) -> None:
    private = tmp_path / "private.pem"
    private.write_bytes(keys[0])
    _rewrite(history, _edit_field(_lines(history)))
    output = tmp_path / "b.tar.gz"
    seed = Path(__file__).resolve().parent.parent / "examples" / "support_agent.yaml"
    result = _run("bundle", seed, "-o", output, "--signing-key", private, "--history", history)
    assert result.exit_code == 1
    assert "content does not match its hash (entry edited)" in result.output
    assert not output.exists()
