"""The compiler: golden output, determinism, the data layout, and generated tests that pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from yaml2rego.compile import testgen
from yaml2rego.compile.compiler import (
    DATA_FILE,
    agent_module_name,
    compile_policy_set,
    library_files,
    render_rego_value,
)
from yaml2rego.dsl.loader import load_policies, load_policy_text
from yaml2rego.engines import rego_testing
from yaml2rego.errors import CompileError

from .conftest import REPO_ROOT, SEED_POLICY

GOLDEN = REPO_ROOT / "tests" / "golden"
GOLDEN_CASES = sorted(path.name for path in GOLDEN.iterdir() if (path / "policy.yaml").is_file())
# Golden output is compiled with a fixed version so a library change does not rewrite every expected data.json.
GOLDEN_VERSION = "golden"


def _compile_golden(case: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(REPO_ROOT)
    return compile_policy_set(load_policies([f"tests/golden/{case}/policy.yaml"]), policy_version=GOLDEN_VERSION)


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_output(case: str, monkeypatch: pytest.MonkeyPatch, update_golden: bool) -> None:
    """Generated data and per-agent modules equal tests/golden/<case>/expected byte for byte."""
    compiled = _compile_golden(case, monkeypatch)
    generated = {path: content for path, content in compiled.files.items() if path not in library_files()}
    expected_root = GOLDEN / case / "expected"
    if update_golden:
        for stale in sorted(expected_root.rglob("*"), reverse=True) if expected_root.exists() else []:
            stale.unlink() if stale.is_file() else stale.rmdir()
        for path, content in generated.items():
            (expected_root / path).parent.mkdir(parents=True, exist_ok=True)
            (expected_root / path).write_bytes(content)
    expected = {
        path.relative_to(expected_root).as_posix(): path.read_bytes()
        for path in sorted(expected_root.rglob("*"))
        if path.is_file()
    }
    assert sorted(generated) == sorted(expected), "a generated file was added or removed (run with --update-golden)"
    for path, content in generated.items():
        assert content.decode() == expected[path].decode(), f"{case}/{path} differs (run with --update-golden)"


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_case_tests_pass_on_the_embedded_engine(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every generated and user-written Rego test of each golden case passes, with the library's tests."""
    compiled = _compile_golden(case, monkeypatch)
    summary = rego_testing.run_tests(
        sorted(compiled.modules(include_tests=True).items()), data=compiled.data_document(), coverage=True
    )
    failures = [f"{result.package}.{result.name}: {result.error}" for result in summary.results if not result.passed]
    assert not failures
    assert len(summary.results) > 0
    assert summary.coverage is not None and summary.coverage >= 80


def test_compiling_twice_gives_identical_bytes() -> None:
    first = compile_policy_set(load_policies([SEED_POLICY]))
    second = compile_policy_set(load_policies([SEED_POLICY]))
    assert first.files == second.files
    assert first.policy_version == second.policy_version


# Every boundary the repository holds: golden cases, examples and fixtures, each compiled as one policy set.
POLICY_SETS = {
    **{f"golden/{case}": [f"tests/golden/{case}/policy.yaml"] for case in GOLDEN_CASES},
    **{
        f"examples/{path.name}": [str(path.relative_to(REPO_ROOT))]
        for path in sorted((REPO_ROOT / "examples").glob("*.yaml"))
    },
    "examples/agents": ["examples/agents"],
    "fixtures/policies/good": ["tests/fixtures/policies/good"],
    "fixtures/native": ["tests/fixtures/native"],
    "fixtures/tenants": ["tests/fixtures/tenants"],
}

_FORKED_COMPILE = """
import dataclasses, json, os, sys
from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.dsl.loader import load_policies
from yaml2rego.dsl.model import PolicySet

forks = []
real_fork = os.fork
def counted_fork():
    forks.append(1)
    return real_fork()
os.fork = counted_fork

answers = {}
for name, paths in json.loads(sys.argv[1]).items():
    loaded = load_policies(paths)
    # Each agent and a copy of it that sorts after every original: the forked process takes the first four fifths of
    # the tests, so every original agent's tests are rendered there.
    copies = [dataclasses.replace(agent, agent_id="zzzzzzzz_copy_" + agent.agent_id) for agent in loaded]
    policy_set = PolicySet((*loaded.agents, *copies), loaded.defaults)
    in_child = policy_set.agent_ids[: len(policy_set) * 4 // 5]
    before = len(forks)
    one = compile_policy_set(policy_set, processes=1)
    assert len(forks) == before, "processes=1 forked"
    two = compile_policy_set(policy_set, processes=2)
    answers[name] = {
        "forked": len(forks) - before,
        "originals_in_child": all(agent.agent_id in in_child for agent in loaded),
        "same_paths_in_order": list(one.files) == list(two.files),
        "different_files": sorted(path for path in one.files if one.files[path] != two.files.get(path)),
        "same_version": one.policy_version == two.policy_version,
    }
print(json.dumps(answers))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_compiling_in_two_processes_gives_the_same_bytes_for_every_boundary() -> None:
    """processes=2 renders most generated tests in a forked child: every file equals the one-process compile, for
    every golden case, example and fixture (each agent's tests rendered in the child). Run in a fresh interpreter,
    where a fork is safe, and counted, so that the forked path is the one tested."""
    result = subprocess.run(
        [sys.executable, "-c", _FORKED_COMPILE, json.dumps(POLICY_SETS)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.splitlines()[-1])
    assert sorted(answers) == sorted(POLICY_SETS)
    for name, answer in answers.items():
        assert answer == {
            "forked": 1,
            "originals_in_child": True,
            "same_paths_in_order": True,
            "different_files": [],
            "same_version": True,
        }, name


def test_compiling_in_two_processes_raises_the_error_of_one_process() -> None:
    """Two agents mapping to one Rego package: the same CompileError with or without a second process."""
    policy_set = load_policy_text(
        "agent_boundary: {agent_id: Support.Agent}\n---\nagent_boundary: {agent_id: support_agent}\n"
    )
    with pytest.raises(CompileError) as one:
        compile_policy_set(policy_set)
    with pytest.raises(CompileError) as two:
        compile_policy_set(policy_set, processes=2)
    assert str(two.value) == str(one.value)


def test_policy_version_is_a_content_digest_that_changes_with_the_policy() -> None:
    text = SEED_POLICY.read_text()
    original = compile_policy_set(load_policy_text(text, "seed.yaml"))
    changed = compile_policy_set(
        load_policy_text(text.replace("requests_per_minute: 30", "requests_per_minute: 31"), "seed.yaml")
    )
    assert original.policy_version.startswith("sha256:")
    assert original.policy_version != changed.policy_version


def test_explicit_policy_version_is_written_into_the_data() -> None:
    compiled = compile_policy_set(load_policies([SEED_POLICY]), policy_version="v1.4.0")
    assert json.loads(compiled.files[DATA_FILE])["policy_version"] == "v1.4.0"


def test_seed_data_layout() -> None:
    """The seed compiles to the documented data layout (docs/architecture.md)."""
    compiled = compile_policy_set(load_policy_text(SEED_POLICY.read_text(), "support_agent.yaml"))
    agent = compiled.data_document()["boundaries"]["agents"]["support_agent_1"]
    assert agent["allowed_endpoints"][0] == {
        "rule": "allowed_endpoints[0]",
        "source": "support_agent.yaml:4",
        "method": "GET",
        "pattern": "/api/customer/v1/*",
        "prefix": "/api/customer/v1/",
        "match": "subtree",
        "regex": "^/api/customer/v1(?:/[^/]+)*$",
    }
    assert agent["denied_endpoints"][0]["method"] == "*"
    assert agent["input_validation"][0]["fields"][1]["values"] == ["low", "medium", "high"]
    assert agent["rate_limits"][0]["requests_per_minute"] == 30
    assert agent["max_payload"]["bytes"] == 1024 * 1024


def test_output_layout_puts_each_agent_in_its_own_package() -> None:
    compiled = compile_policy_set(load_policies([SEED_POLICY]))
    assert "agents/support_agent_1/policy.rego" in compiled.files
    assert compiled.files["agents/support_agent_1/policy.rego"].decode().count("package agents.support_agent_1\n") == 1
    assert "agent_boundary/decision.rego" in compiled.files


@pytest.mark.parametrize(
    ("agent_id", "module"),
    [
        ("support_agent_1", "support_agent_1"),
        ("Billing-Agent.v2", "billing_agent_v2"),
        ("7up", "agent_7up"),
        ("if", "agent_if"),
    ],
)
def test_agent_module_names_are_valid_rego_package_segments(agent_id: str, module: str) -> None:
    assert agent_module_name(agent_id) == module


def test_agents_mapping_to_the_same_package_are_refused() -> None:
    text = "\n---\n".join(
        f"agent_boundary:\n  agent_id: {name}\n  allowed_endpoints:\n    - {{method: GET, path: /x}}\n"
        for name in ("billing-agent", "billing_agent")
    )
    with pytest.raises(CompileError, match=r"both map to the Rego package agents\.billing_agent"):
        compile_policy_set(load_policy_text(text, "two.yaml"))


def test_generated_rego_lines_stay_within_120_columns() -> None:
    compiled = compile_policy_set(load_policies([GOLDEN / "field_types" / "policy.yaml"]))
    for path, content in compiled.files.items():
        if path.startswith("agents/"):
            for number, line in enumerate(content.decode().splitlines(), start=1):
                assert len(line.expandtabs(4)) <= 120, f"{path}:{number}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1}, '{"a": 1}'),
        ([1, "x"], '[1, "x"]'),
        ({"long": "x" * 130}, '{\n\t\t"long": "' + "x" * 130 + '",\n\t}'),
        ([], "[]"),
    ],
)
def test_rego_values_are_laid_out_like_opa_fmt(value: object, expected: str) -> None:
    assert render_rego_value(value, indent=1) == expected


def test_library_ships_with_the_package() -> None:
    files = library_files()
    assert "agent_boundary/decision.rego" in files
    assert any(path.endswith("_test.rego") for path in files)


def test_write_creates_the_directory_tree(tmp_path: Path) -> None:
    compiled = compile_policy_set(load_policies([SEED_POLICY]))
    written = compiled.write(tmp_path / "out")
    assert (tmp_path / "out" / DATA_FILE).is_file()
    assert len(written) == len(compiled.files)


def test_write_overwrites_every_file_whole_with_the_permissions_open_gives(tmp_path: Path) -> None:
    compiled = compile_policy_set(load_policies([SEED_POLICY]))
    out = tmp_path / "out"
    (out / "boundaries").mkdir(parents=True)
    (out / DATA_FILE).write_bytes(b"x" * 1_000_000)  # longer than the new content: it must be truncated
    compiled.write(out)
    umask = os.umask(0)
    os.umask(umask)
    for relative, content in compiled.files.items():
        assert (out / relative).read_bytes() == content, relative
        assert (out / relative).stat().st_mode & 0o777 == 0o666 & ~umask, relative


# -- under the real OPA ---------------------------------------------------------------------------------------------


def _opa(opa_binary: str, *args: str) -> str:
    result = subprocess.run([opa_binary, *args], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"opa {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def _parsed(opa_binary: str, path: Path) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(
        _opa(opa_binary, "parse", "--format", "json", "--json-include", "-comments", str(path))
    )
    return parsed


@pytest.mark.opa
def test_hostile_strings_compile_to_inert_rego_under_opa(
    tmp_path: Path, opa_binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OPA parses each module of the hostile case into exactly the rules the compiler writes, and reads every
    METADATA value back as the YAML string it came from."""
    monkeypatch.chdir(REPO_ROOT)
    policy_set = load_policies(["tests/golden/hostile_strings/policy.yaml"])
    compile_policy_set(policy_set).write(tmp_path)
    _opa(opa_binary, "check", "--strict", str(tmp_path))
    for agent in policy_set:
        module = agent_module_name(agent.agent_id)
        policy = _parsed(opa_binary, tmp_path / "agents" / module / "policy.rego")
        tests = _parsed(opa_binary, tmp_path / "agents" / module / "policy_test.rego")
        assert [part["value"] for part in policy["package"]["path"]] == ["data", "agents", module]
        assert sorted(rule["head"]["ref"][0]["value"] for rule in policy["rules"]) == ["boundary", "decision"]
        expected_tests = {"codes"} | {f"test_{case.name}" for case in testgen.cases_for(agent)}
        assert {rule["head"]["ref"][0]["value"] for rule in tests["rules"]} == expected_tests
        [package_annotation] = [note for note in policy["annotations"] if note["scope"] == "package"]
        assert package_annotation["title"] == f"Agent boundary of {agent.agent_id}"
        assert package_annotation["custom"]["agent_id"] == agent.agent_id
        assert package_annotation["custom"].get("owner") == agent.owner
        if agent.description is not None:
            assert package_annotation["description"] == agent.description
