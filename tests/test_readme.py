"""The README's quickstart, run as a new user runs it: every command and snippet, in order, in an empty folder.

Each block's documented output is compared with what it prints, `…` standing for any text (hashes, ids, versions).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES, REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str, until: str) -> str:
    start = README.index(title)
    return README[start : README.index(until, start)]


def _blocks(text: str) -> list[tuple[str, str]]:
    """(info string, content) of every fenced block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def _matches(documented: str, printed: str) -> bool:
    """``printed`` is ``documented`` with every `…` standing for some text."""
    pattern = ".*?".join(re.escape(part) for part in documented.strip().split("…"))
    return re.fullmatch(pattern, printed.strip(), flags=re.DOTALL) is not None


QUICKSTART = _blocks(_section("## Quickstart", "### Embed the guard in a LangGraph agent"))
LANGGRAPH = _blocks(_section("### Embed the guard in a LangGraph agent", "## The OPA daemon path"))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    return tmp_path


def _run(kind: str, code: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = ["bash", "-e", "-o", "pipefail", "-c", code] if kind == "bash" else [sys.executable, "-c", code]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, "PATH": path, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    return result


def test_the_quickstart_boundary_is_the_seed_example() -> None:
    kind, text = QUICKSTART[0]
    assert kind == "yaml"
    assert yaml.safe_load(text) == yaml.safe_load((EXAMPLES / "support_agent.yaml").read_text())


def test_the_quickstart_runs_as_written_and_prints_what_it_shows(workdir: Path) -> None:
    kinds = [kind for kind, _ in QUICKSTART]
    assert kinds == ["yaml", "bash", "json", "python", "bash"], kinds
    _, commands = QUICKSTART[1]
    # check, compile and test say one line each; eval then prints one decision per call.
    printed = _run("bash", commands, workdir).stdout.strip().splitlines()
    assert printed[0] == "ok: 1 agent boundary valid"
    decisions = printed[-5:]
    assert [json.loads(line)["decision"] for line in decisions] == ["allow", "deny", "deny", "deny", "deny"]
    _, shown = QUICKSTART[2]
    assert _matches(shown, decisions[1]), decisions[1]
    _, snippet = QUICKSTART[3]
    _run("python", snippet, workdir)
    _, afterwards = QUICKSTART[4]
    verify_line = afterwards.strip().splitlines()[0]
    command, _, comment = verify_line.partition("#")
    assert _matches(comment.strip(), _run("bash", command, workdir).stdout), comment
    _run("bash", afterwards, workdir)


def test_the_langgraph_snippet_runs_as_written_and_prints_what_it_shows(workdir: Path) -> None:
    kinds = [kind for kind, _ in LANGGRAPH]
    assert kinds == ["bash", "python", ""], kinds
    secret = _run("bash", LANGGRAPH[0][1] + 'printf %s "$YAML2REGO_APPROVAL_SECRET"', workdir).stdout
    assert len(secret) == 64
    printed = _run("python", LANGGRAPH[1][1], workdir, {"YAML2REGO_APPROVAL_SECRET": secret}).stdout
    assert _matches(LANGGRAPH[2][1], printed), printed
