"""A directory of one tenant: `_tenant.yaml` gives its tenant and regions to every boundary below it, everywhere
boundaries are loaded (check, compile, eval, bundle --tenant, diff, the guard), exactly as if each declared them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from yaml2rego.adapters import Guard
from yaml2rego.bundles.bundle import read_bundle
from yaml2rego.cli import main
from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.dsl.loader import load_policies
from yaml2rego.errors import PolicyError
from yaml2rego.runtime.sinks import MemorySink

FIXTURE = Path(__file__).parent / "fixtures" / "tenants" / "acme.yaml"
ACME = "acme_support"
# The tenant's own lines in the fixture; in the directory form they become comments, so every other line stays put.
OWN_LINES = ("  tenant: acme\n", "  regions: [eu]\n")


def _directory_form(root: Path, tenant_file: str = "tenant: acme\nregions: [eu]\n") -> Path:
    """``root/acme/`` holding the fixture without its own tenant and regions, and a `_tenant.yaml` giving them."""
    folder = root / "acme"
    folder.mkdir(parents=True)
    text = FIXTURE.read_text(encoding="utf-8")
    for line in OWN_LINES:
        assert line in text
        text = text.replace(line, "  # (from _tenant.yaml)\n")
    (folder / "acme.yaml").write_text(text, encoding="utf-8")
    (folder / "_tenant.yaml").write_text(tenant_file, encoding="utf-8")
    return folder


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _check(*paths: Path) -> Any:
    return CliRunner().invoke(main, ["check", *map(str, paths)])


# --- the same policy as if declared in each boundary ----------------------------------------------------------------


def test_compiled_policy_equals_the_explicit_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every compiled byte is the explicit form's, but for the one source that truthfully names `_tenant.yaml`."""
    monkeypatch.chdir(tmp_path)
    _directory_form(Path("directory"))
    explicit = _write(Path("explicit/acme/acme.yaml"), FIXTURE.read_text(encoding="utf-8"))
    inherited = compile_policy_set(load_policies(["directory"]), policy_version="v1")
    declared = compile_policy_set(load_policies([explicit.parent]), policy_version="v1")
    residency = inherited.tenants["acme"]["agents"][ACME]["residency"]
    assert residency["source"] == "directory/acme/_tenant.yaml:2"
    assert declared.tenants["acme"]["agents"][ACME]["residency"]["source"] == "explicit/acme/acme.yaml:5"
    assert sorted(inherited.files) == sorted(declared.files)
    for name, content in inherited.files.items():
        text = content.decode().replace("directory/acme/_tenant.yaml:2", "explicit/acme/acme.yaml:5")
        assert text.replace("directory/", "explicit/") == declared.files[name].decode(), name


def test_agent_model_inherits_tenant_and_regions(tmp_path: Path) -> None:
    [agent] = load_policies([_directory_form(tmp_path)])
    assert (agent.tenant, agent.regions) == ("acme", ("eu",))
    assert agent.regions_source is not None and agent.regions_source.file.endswith("_tenant.yaml")


def test_a_file_named_on_its_own_still_belongs_to_its_directorys_tenant(tmp_path: Path) -> None:
    """Compiling one file must not drop its tenant (its agent would then answer calls of no tenant)."""
    folder = _directory_form(tmp_path)
    [agent] = load_policies([folder / "acme.yaml"])
    assert agent.tenant == "acme"


def test_subdirectories_inherit_and_may_narrow(tmp_path: Path) -> None:
    root = tmp_path / "acme"
    _write(root / "_tenant.yaml", "tenant: acme\nregions: [eu, us]\n")
    _write(root / "team" / "deep" / "a.yaml", "agent_boundary: {agent_id: deep}\n")
    _write(root / "eu" / "_tenant.yaml", "tenant: acme\nregions: [eu]\n")
    _write(root / "eu" / "b.yaml", "agent_boundary: {agent_id: eu_only}\n")
    _write(root / "c.yaml", "agent_boundary: {agent_id: narrowed, tenant: acme, regions: [us]}\n")
    agents = {agent.agent_id: agent for agent in load_policies([root])}
    assert {name: (a.tenant, a.regions) for name, a in agents.items()} == {
        "deep": ("acme", ("eu", "us")),
        "eu_only": ("acme", ("eu",)),
        "narrowed": ("acme", ("us",)),
    }
    assert agents["narrowed"].regions_source is not None
    assert agents["narrowed"].regions_source.file.endswith("c.yaml")


def test_the_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    """A `_tenant.yaml` above a checkout (a directory holding .git) is not the checkout's."""
    _write(tmp_path / "_tenant.yaml", "tenant: stray\n")
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    policy = _write(tmp_path / "repo" / "policies" / "a.yaml", "agent_boundary: {agent_id: a}\n")
    [agent] = load_policies([policy])
    assert agent.tenant is None
    (tmp_path / "repo" / ".git").rmdir()
    [agent] = load_policies([policy])
    assert agent.tenant == "stray"


def test_tenant_without_regions_leaves_residency_to_each_boundary(tmp_path: Path) -> None:
    root = tmp_path / "acme"
    _write(root / "_tenant.yaml", "tenant: acme\n")
    _write(root / "a.yaml", "agent_boundary: {agent_id: a}\n")
    _write(root / "b.yaml", "agent_boundary: {agent_id: b, regions: [asia]}\n")
    agents = {agent.agent_id: agent for agent in load_policies([root])}
    assert (agents["a"].tenant, agents["a"].regions) == ("acme", ())
    assert (agents["b"].tenant, agents["b"].regions) == ("acme", ("asia",))


def test_boundaries_outside_the_directory_are_not_touched(tmp_path: Path) -> None:
    _directory_form(tmp_path / "tenants")
    plain = _write(tmp_path / "plain" / "p.yaml", "agent_boundary: {agent_id: plain}\n")
    agents = {agent.agent_id: agent for agent in load_policies([tmp_path / "tenants", plain])}
    assert (agents["plain"].tenant, agents["plain"].regions) == (None, ())
    assert agents[ACME].tenant == "acme"


# --- errors, at file:line:col -----------------------------------------------------------------------------------------

ERRORS = [
    pytest.param(
        "tenant: acme\n",
        {"a.yaml": "agent_boundary:\n  agent_id: a\n  tenant: globex\n"},
        "a.yaml:3:11: tenant 'globex' differs from tenant 'acme' declared for this directory at {dir}/_tenant.yaml:1:9",
        id="boundary-names-another-tenant",
    ),
    pytest.param(
        "tenant: acme\nregions: [eu]\n",
        {"a.yaml": "agent_boundary:\n  agent_id: a\n  regions: [eu, us]\n"},
        "a.yaml:3:17: region 'us' is not among the regions ['eu'] declared for this directory at "
        "{dir}/_tenant.yaml:2:1",
        id="boundary-adds-a-region",
    ),
    pytest.param(
        "tenant: acme\nregions: [eu]\n",
        {"sub/_tenant.yaml": "tenant: globex\n", "sub/a.yaml": "agent_boundary: {agent_id: a}\n"},
        "sub/_tenant.yaml:1:9: tenant 'globex' differs from tenant 'acme' declared at {dir}/_tenant.yaml:1:9",
        id="nested-file-names-another-tenant",
    ),
    pytest.param(
        "tenant: acme\nregions: [eu]\n",
        {"sub/_tenant.yaml": "tenant: acme\nregions: [us]\n", "sub/a.yaml": "agent_boundary: {agent_id: a}\n"},
        "sub/_tenant.yaml:2:11: region 'us' is not among the regions ['eu'] declared at {dir}/_tenant.yaml:2:1",
        id="nested-file-adds-a-region",
    ),
    pytest.param(
        "tenant: Acme\n", {}, "_tenant.yaml:1:9: tenant 'Acme' must be 1 to 63 lower-case", id="upper-case-tenant"
    ),
    pytest.param(
        'tenant: "acme\\u202e"\n',
        {},
        "_tenant.yaml:1:9: tenant 'acme\\u202e' must be one line of printable text",
        id="bidi-tenant",
    ),
    pytest.param(
        'tenant: acme\nregions: ["eu\\n"]\n',
        {},
        "_tenant.yaml:2:11: regions[0] 'eu\\n' must be one line",
        id="newline-region",
    ),
    pytest.param("tenant: acme\nregions: []\n", {}, "_tenant.yaml:2:10: regions", id="no-regions"),
    pytest.param("regions: [eu]\n", {}, "_tenant.yaml:1:1: missing required key 'tenant'", id="no-tenant"),
    pytest.param(
        "tenant: acme\nregion: [eu]\n", {}, "_tenant.yaml:2:1: unknown key 'region'; did you mean 'regions'?", id="typo"
    ),
    pytest.param("- acme\n", {}, "_tenant.yaml:1:1: a _tenant.yaml is a mapping", id="not-a-mapping"),
    pytest.param("tenant: acme\n---\ntenant: acme\n", {}, "holds one document", id="two-documents"),
    pytest.param("tenant: &t acme\nregions: [*t]\n", {}, "YAML aliases and anchors are not allowed", id="alias"),
    pytest.param("tenant: !!python/object acme\n", {}, "YAML tags are not allowed", id="tag"),
    pytest.param("tenant: [acme\n", {}, "YAML syntax error", id="not-yaml"),
]


@pytest.mark.parametrize(("tenant_file", "files", "message"), ERRORS)
def test_bad_directory_tenant_is_an_error_at_both_places(
    tmp_path: Path, tenant_file: str, files: dict[str, str], message: str
) -> None:
    root = tmp_path / "acme"
    _write(root / "_tenant.yaml", tenant_file)
    _write(root / "ok.yaml", "agent_boundary: {agent_id: ok}\n")
    for name, text in files.items():
        _write(root / name, text)
    result = _check(root)
    assert result.exit_code == 1, result.output
    assert message.format(dir=root) in result.output
    assert "Traceback" not in result.output


def test_tenant_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "acme"
    (root).mkdir()
    (root / "_tenant.yaml").write_bytes(b"tenant: acme\xff\n")
    _write(root / "a.yaml", "agent_boundary: {agent_id: a}\n")
    result = _check(root)
    assert result.exit_code == 1
    assert "_tenant.yaml:1:13: the file is not valid UTF-8 (byte 0xff)" in result.output


def test_a_broken_tenant_file_builds_no_agent_of_no_tenant(tmp_path: Path) -> None:
    """Fail closed: a boundary below a wrong `_tenant.yaml` is never loaded as an agent of no tenant."""
    root = tmp_path / "acme"
    _write(root / "_tenant.yaml", "tenant: ACME\n")
    _write(root / "a.yaml", "agent_boundary: {agent_id: a}\n")
    with pytest.raises(PolicyError) as info:
        load_policies([root])
    assert "_tenant.yaml:1:9" in str(info.value)


def test_naming_the_tenant_file_itself_is_an_error(tmp_path: Path) -> None:
    folder = _directory_form(tmp_path)
    result = _check(folder / "_tenant.yaml")
    assert result.exit_code == 1
    assert "a _tenant.yaml declares the tenant of the boundaries in its directory" in result.output


def test_a_boundary_may_repeat_its_directorys_tenant(tmp_path: Path) -> None:
    root = tmp_path / "acme"
    _write(root / "_tenant.yaml", "tenant: acme\nregions: [eu, us]\n")
    _write(root / "a.yaml", "agent_boundary: {agent_id: a, tenant: acme, regions: [eu]}\n")
    result = _check(root)
    assert (result.exit_code, result.output.strip()) == (0, "ok: 1 agent boundary valid")


# --- everywhere boundaries are loaded -------------------------------------------------------------------------------


EVALS = [
    pytest.param({"tenant": "acme", "host": "app.eu.example.com"}, "allow", [], id="own-tenant"),
    pytest.param({"host": "app.eu.example.com"}, "deny", ["tenant_mismatch"], id="no-tenant"),
    pytest.param({"tenant": "acme", "host": "api.us.example.com"}, "deny", ["region_not_allowed"], id="other-region"),
]


@pytest.mark.parametrize(("extra", "decision", "codes"), EVALS)
def test_eval_decides_with_the_directorys_tenant(
    tmp_path: Path, extra: dict[str, str], decision: str, codes: list[str]
) -> None:
    call = {"agent_id": ACME, "method": "GET", "path": "/api/tickets/1", **extra}
    result = CliRunner().invoke(main, ["eval", str(_directory_form(tmp_path)), "-i", "-"], input=json.dumps(call))
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert (answer["decision"], sorted(r["code"] for r in answer["reasons"])) == (decision, codes)


def test_bundle_for_the_directorys_tenant(tmp_path: Path) -> None:
    folder = _directory_form(tmp_path / "tenants")
    output = tmp_path / "acme.tar.gz"
    result = CliRunner().invoke(main, ["bundle", str(folder.parent), "--tenant", "acme", "-o", str(output)])
    assert result.exit_code == 0, result.output
    bundle = read_bundle(output)
    assert (bundle.roots, bundle.agents) == (["tenants/acme"], [ACME])
    assert bundle.data()["agents"][ACME]["residency"]["regions"] == ["eu"]


DIFFS = [
    pytest.param("tenant: acme\nregions: [eu, us]\n", 3, "[loosens] data may now go to region us", id="widened"),
    pytest.param("tenant: acme\nregions: [eu]\n", 0, "no policy changes", id="unchanged"),
    pytest.param("tenant: globex\nregions: [eu]\n", 3, "tenant acme -> globex", id="moved-to-another-tenant"),
]


@pytest.mark.parametrize(("new_tenant_file", "exit_code", "shown"), DIFFS)
def test_diff_sees_a_change_of_the_directory_file(
    tmp_path: Path, new_tenant_file: str, exit_code: int, shown: str
) -> None:
    old = _directory_form(tmp_path / "old")
    new = _directory_form(tmp_path / "new", new_tenant_file)
    arguments = ["diff", str(old), str(new)] + (["--tenant", "acme"] if "globex" not in new_tenant_file else [])
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == exit_code, result.output
    assert shown in result.output


def test_diff_per_tenant_of_explicit_and_directory_forms_is_empty(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["diff", str(FIXTURE), str(_directory_form(tmp_path)), "--tenant", "acme"])
    assert (result.exit_code, result.output.strip()) == (0, "no policy changes")


def test_guard_from_a_directory_records_the_inherited_tenant(tmp_path: Path) -> None:
    sink = MemorySink()
    with Guard.from_policy([_directory_form(tmp_path)], sinks=[sink], tenant="acme") as guard:
        decision = guard.check(
            {"agent_id": ACME, "method": "GET", "path": "/api/tickets/1", "host": "app.eu.example.com"}
        )
        assert decision.decision == "allow"
        guard.flush(5.0)
    assert (sink.records[-1]["tenant"], sink.records[-1]["region"]) == ("acme", "eu")
    with Guard.from_policy([_directory_form(tmp_path / "other")], tenant="globex") as guard:
        assert [r["code"] for r in guard.check({"agent_id": ACME, "method": "GET", "path": "/"}).reasons] == [
            "tenant_mismatch"
        ]
