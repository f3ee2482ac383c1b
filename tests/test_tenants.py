"""Tenants and data residency: compiling, deciding, the guard's tenant, per-tenant bundles (with a real OPA), diff."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
import requests
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client
from mcp.server.mcpserver import MCPServer

from tests.conftest import EXAMPLES
from tests.opa_server import running_opa
from tests.processes import free_port
from yaml2rego.adapters import Guard
from yaml2rego.adapters.envoy import context_tenant
from yaml2rego.adapters.mcp import BoundaryMiddleware
from yaml2rego.bundles.bundle import SigningOptions, bundle_policies
from yaml2rego.cli import main
from yaml2rego.compile.compiler import compile_policy_set
from yaml2rego.dsl.loader import load_policies
from yaml2rego.engines.embedded import EmbeddedEngine
from yaml2rego.engines.native import NativeEngine
from yaml2rego.errors import BundleError, PolicyError
from yaml2rego.runtime.records import build_record, input_digest
from yaml2rego.runtime.sinks import MemorySink

TENANTS = Path(__file__).parent / "fixtures" / "tenants"
PLAIN = EXAMPLES / "support_agent.yaml"  # an agent of no tenant, beside the tenants' agents
ACME, GLOBEX = "acme_support", "globex_support"


def _http(agent: str, tenant: str | None, method: str = "GET", path: str = "/api/tickets/1", **extra: Any) -> Any:
    call: dict[str, Any] = {"agent_id": agent, "method": method, "path": path, **extra}
    if tenant is not None:
        call["tenant"] = tenant
    return call


# (call, decision, reason codes, whose policy_version: a tenant, "" for data.boundaries, None for none): the same table
# for the embedded engine and a real OPA.
DECISIONS = [
    pytest.param(_http(ACME, "acme", host="app.eu.example.com"), "allow", [], "acme", id="own-tenant-own-region"),
    pytest.param(_http(GLOBEX, "globex"), "allow", [], "globex", id="other-tenant-own-agent"),
    pytest.param(_http(GLOBEX, "acme"), "deny", ["tenant_mismatch"], "acme", id="another-tenants-agent"),
    pytest.param(_http(ACME, None, host="app.eu.example.com"), "deny", ["tenant_mismatch"], "", id="no-tenant"),
    pytest.param(_http(ACME, "nobody"), "deny", ["tenant_mismatch"], None, id="unknown-tenant"),
    pytest.param(
        _http(ACME, "acme", "POST", "/api/export/1", host="api.us.example.com"),
        "deny",
        ["region_not_allowed", "region_not_allowed"],
        "acme",
        id="endpoint-and-host-in-another-region",
    ),
    pytest.param(_http(ACME, "acme", host="api.us.example.com"), "deny", ["region_not_allowed"], "acme", id="host-us"),
    pytest.param(
        _http(ACME, "acme", host="unlisted.example.org"),
        "deny",
        ["egress_denied", "region_not_allowed"],
        "acme",
        id="host-without-region",
    ),
    pytest.param({"agent_id": GLOBEX, "tenant": "globex", "tool": "ticket_lookup"}, "allow", [], "globex", id="tool"),
    pytest.param(
        {"agent_id": GLOBEX, "tenant": "acme", "tool": "ticket_lookup"},
        "deny",
        ["tenant_mismatch"],
        "acme",
        id="tool-of-another-tenant",
    ),
]


@pytest.fixture(scope="module")
def engine() -> Iterator[EmbeddedEngine]:
    engine = EmbeddedEngine.from_policy_paths([TENANTS])
    yield engine
    engine.close()


def _codes(result: dict[str, Any]) -> list[str]:
    return sorted(reason["code"] for reason in result["reasons"])


def _versions(paths: list[Path], *, shared: bool = True) -> dict[str | None, Any]:
    """Each tenant's policy_version, data.boundaries' under "" (``None`` when it is not served), and None's."""
    compiled = compile_policy_set(load_policies(paths))
    versions: dict[str | None, Any] = {name: document["policy_version"] for name, document in compiled.tenants.items()}
    return {None: None, "": compiled.policy_version if shared else None, **versions}


# --- compiling ------------------------------------------------------------------------------------------------------


def test_tenant_agents_compile_under_their_tenant_only() -> None:
    """A tenant's agent is in data.tenants.<tenant>, never in data.boundaries, with its residency facts."""
    compiled = compile_policy_set(load_policies([TENANTS, PLAIN]))
    document = compiled.data_document()
    assert sorted(document["boundaries"]["agents"]) == ["support_agent_1"]
    assert sorted(document["tenants"]) == ["acme", "globex"]
    acme = document["tenants"]["acme"]["agents"][ACME]
    assert acme["tenant"] == "acme"
    assert acme["residency"]["regions"] == ["eu"]
    assert [(host["pattern"], host["region"]) for host in acme["residency"]["hosts"]] == [
        ("*.eu.example.com", "eu"),
        ("api.us.example.com", "us"),
    ]
    assert [rule.get("region") for rule in acme["allowed_endpoints"]] == ["eu", "us"]
    assert "residency" not in document["tenants"]["globex"]["agents"][GLOBEX]
    assert "tenants/acme/data.json" in compiled.files and "tenants/globex/data.json" in compiled.files


def test_policy_without_tenants_compiles_as_before() -> None:
    """No tenants: no data.tenants, no tenants/ file, and the agent's data has no tenancy keys."""
    compiled = compile_policy_set(load_policies([PLAIN]))
    assert compiled.tenants == {}
    assert not any(name.startswith("tenants/") for name in compiled.files)
    assert set(compiled.data_document()) == {"boundaries"}
    facts = compiled.data["agents"]["support_agent_1"]
    assert "tenant" not in facts and "residency" not in facts


def test_each_tenant_has_its_own_policy_version() -> None:
    """A tenant's version changes with its own agents only, so its bundle's revision does too."""
    before = _versions([TENANTS])
    plain_too = _versions([TENANTS, PLAIN])
    assert before["acme"] != before["globex"]
    # Adding an agent of no tenant changes no tenant's version (only the whole policy's).
    assert (before["acme"], before["globex"]) == (plain_too["acme"], plain_too["globex"])
    assert before[""] != plain_too[""]


def test_review_module_of_a_tenants_agent_reads_its_tenant(tmp_path: Path) -> None:
    compiled = compile_policy_set(load_policies([TENANTS]))
    module = compiled.files["agents/acme_support/policy.rego"].decode()
    assert "boundary := data.tenants.acme.agents.acme_support" in module
    assert 'with input.tenant as object.get(input, "tenant", "acme")' in module


BAD_BOUNDARIES = [
    pytest.param("tenant: Acme", "tenant", id="upper-case-tenant"),
    pytest.param("tenant: a/b", "tenant", id="slash-in-tenant"),
    pytest.param("regions: []", "regions", id="no-regions"),
    pytest.param("regions: [EU]", "must be a region name", id="upper-case-region"),
    pytest.param("host_regions: {'10.0.0.1': eu}", "an IP address is refused", id="ip-host-region"),
    pytest.param(
        "denied_endpoints: [{method: GET, path: /x, region: eu}]",
        "region applies only to allowed_endpoints",
        id="region-on-a-denied-endpoint",
    ),
]


@pytest.mark.parametrize(("line", "message"), BAD_BOUNDARIES)
def test_bad_tenancy_is_a_policy_error(tmp_path: Path, line: str, message: str) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(f"agent_boundary:\n  agent_id: a\n  {line}\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policies([policy])
    assert message in str(info.value)


# --- deciding -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("call", "expected", "codes", "version_of"), DECISIONS)
def test_decision_with_tenants(
    engine: EmbeddedEngine, call: Any, expected: str, codes: list[str], version_of: Any
) -> None:
    """Each call is decided by its own tenant's data only; residency denies destinations outside the regions."""
    result = engine.decide(call)
    assert (result["decision"], _codes(result)) == (expected, codes)
    assert result["policy_version"] == _versions([TENANTS])[version_of]


def test_mismatch_message_never_names_the_agents_tenant(engine: EmbeddedEngine) -> None:
    result = engine.decide(_http(GLOBEX, "acme"))
    assert result["decision_reason"] == "agent `globex_support` does not belong to tenant `acme`"
    assert result["reasons"][0]["control"] == "CC6.1"


def test_allowed_call_names_the_region_its_data_goes_to(engine: EmbeddedEngine) -> None:
    assert engine.decide(_http(ACME, "acme", host="app.eu.example.com"))["region"] == "eu"
    assert "region" not in engine.decide(_http(GLOBEX, "globex"))


NATIVE_EXTRA = [
    pytest.param(_http("support_agent_1", "acme", path="/api/customer/v1/1"), id="tenant-call-to-a-shared-agent"),
    pytest.param(_http("support_agent_1", None, path="/api/customer/v1/1"), id="shared-agent"),
    pytest.param(_http("support_agent_1", 7, path="/api/customer/v1/1"), id="non-string-tenant"),  # type: ignore[arg-type]
]


def test_native_engine_leaves_tenants_to_regorus_and_decides_the_same(engine: EmbeddedEngine) -> None:
    """Tenant calls, and calls that may name a tenant's agent, are decided by regorus: never by a program that
    reads data.boundaries only."""
    reference = EmbeddedEngine.from_policy_paths([TENANTS, PLAIN])
    native = NativeEngine.from_policy_paths([TENANTS, PLAIN])
    calls: list[Any] = [case.values[0] for case in [*DECISIONS, *NATIVE_EXTRA]]
    try:
        assert [native.decide(call) for call in calls] == [reference.decide(call) for call in calls]
        assert native.delegated == len(calls) - 1  # all but the shared agent's own call without a tenant
    finally:
        native.close()
        reference.close()


def test_compile_says_the_tenants_agents_are_decided_by_regorus(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["compile", str(TENANTS), str(PLAIN), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "native decision programs: 1 of 3 agents\n" in result.output
    assert "  acme_support: decided by regorus (an agent of tenant acme: calls made for a tenant are decided by" in (
        result.output
    )


# --- the guard's tenant ---------------------------------------------------------------------------------------------


@pytest.fixture
def guards() -> Iterator[dict[str | None, tuple[Guard, MemorySink]]]:
    made: dict[str | None, tuple[Guard, MemorySink]] = {}
    for tenant in ("acme", "globex", None):
        sink = MemorySink()
        made[tenant] = (Guard.from_policy([TENANTS, PLAIN], sinks=[sink], tenant=tenant), sink)
    yield made
    for guard, _ in made.values():
        guard.close()


GUARD_CASES = [
    pytest.param("acme", _http(ACME, "globex", host="app.eu.example.com"), "allow", id="call-says-another-tenant"),
    pytest.param("acme", _http(GLOBEX, "globex"), "deny", id="call-says-the-agents-tenant"),
    pytest.param(None, _http(ACME, "acme", host="app.eu.example.com"), "deny", id="no-tenant-guard-drops-it"),
    pytest.param(None, _http("support_agent_1", "acme", path="/api/customer/v1/1"), "allow", id="plain-agent"),
    pytest.param(
        "acme", {"agent_id": GLOBEX, "tool": "ticket_lookup", "args": {"tenant": "globex"}}, "deny", id="tool-args"
    ),
]


@pytest.mark.parametrize(("tenant", "call", "expected"), GUARD_CASES)
def test_guard_stamps_its_own_tenant_over_the_calls(guards: Any, tenant: str | None, call: Any, expected: str) -> None:
    """Whatever `tenant` a call (or a model's arguments) carries, the guard's own tenant is the one decided on."""
    guard, sink = guards[tenant]
    assert guard.check(call).decision == expected
    guard.flush(5.0)
    assert sink.records[-1].get("tenant") == tenant


def test_per_call_tenant_is_used_only_by_a_guard_without_one(guards: Any) -> None:
    """Envoy's route configuration names the tenant beside the call; a guard made for a tenant ignores it."""
    call = _http(GLOBEX, None)
    assert guards[None][0].check(call, tenant="globex").decision == "allow"
    assert guards["acme"][0].check(call, tenant="globex").decision == "deny"


def test_records_carry_tenant_and_region(guards: Any) -> None:
    guard, sink = guards["acme"]
    guard.check(_http(ACME, None, host="app.eu.example.com"))
    guard.flush(5.0)
    assert (sink.records[-1]["tenant"], sink.records[-1]["region"]) == ("acme", "eu")


def test_record_of_a_call_without_tenant_has_no_tenant_key(guards: Any) -> None:
    call = _http("support_agent_1", None, path="/api/customer/v1/1")
    decision = guards[None][0].check(call)
    assert "tenant" not in build_record(call, decision, digest=input_digest(call))


def test_model_arguments_through_mcp_never_choose_the_tenant(guards: Any) -> None:
    """An MCP client's arguments naming the agent's own tenant do not make an Acme guard reach Globex's agent."""
    guard, sink = guards["acme"]
    server = MCPServer("tickets", middleware=[BoundaryMiddleware(guard, GLOBEX)])

    @server.tool()
    def ticket_lookup(tenant: str) -> str:
        return f"ticket of {tenant}"

    async def run() -> Any:
        async with Client(server) as client:
            return await client.call_tool("ticket_lookup", {"tenant": "globex"})

    result = anyio.run(run)
    assert result.is_error is True and "[tenant_mismatch]" in result.content[0].text
    guard.flush(5.0)
    assert sink.records[-1]["tenant"] == "acme"


ENVOY_CASES = [
    pytest.param({"agent_id": GLOBEX, "tenant": "globex"}, 0, None, id="routes-tenant"),
    pytest.param({"agent_id": GLOBEX, "tenant": "acme"}, 7, "tenant_mismatch", id="another-tenant"),
    pytest.param({"agent_id": GLOBEX}, 7, "tenant_mismatch", id="route-names-no-tenant"),
]


@pytest.mark.parametrize(("extensions", "status", "code"), ENVOY_CASES)
def test_envoy_route_configuration_names_the_tenant(
    guards: Any, extensions: dict[str, str], status: int, code: str | None
) -> None:
    """The tenant comes from the route's context extension, which only Envoy's configuration sets."""
    auth = pytest.importorskip("envoy.service.auth.v3.external_auth_pb2")
    from yaml2rego.adapters.envoy import AuthorizationService

    request = auth.CheckRequest()
    http = request.attributes.request.http
    http.method, http.path, http.host = "GET", "/api/tickets/1", "tickets.internal"
    request.attributes.context_extensions.update(extensions)
    assert context_tenant(request) == extensions.get("tenant")
    response = AuthorizationService(guards[None][0]).Check(request, None)
    assert response.status.code == status
    if code is not None:
        headers = {option.header.key: option.header.value for option in response.denied_response.headers}
        assert headers["x-agent-boundary-codes"] == code


def test_guard_refuses_a_tenant_that_is_not_a_string() -> None:
    with pytest.raises(TypeError, match="tenant must be a string"):
        Guard(EmbeddedEngine.from_policy_paths([PLAIN]), tenant=7)  # type: ignore[arg-type]


# --- bundles --------------------------------------------------------------------------------------------------------


def test_tenant_bundle_holds_only_its_tenants_data() -> None:
    bundle = bundle_policies([TENANTS, PLAIN], tenant="acme")
    assert sorted(bundle.files) == [".manifest", "tenants/acme/data.json"]
    assert bundle.roots == ["tenants/acme"]
    assert (bundle.tenant, bundle.agents, bundle.metadata["tenant"]) == ("acme", [ACME], "acme")
    assert bundle.revision == _versions([TENANTS])["acme"]


def test_library_bundle_holds_only_the_library() -> None:
    bundle = bundle_policies([TENANTS, PLAIN], library_only=True)
    assert bundle.roots == ["agent_boundary"]
    assert bundle.files and all(name == ".manifest" or name.startswith("agent_boundary/") for name in bundle.files)
    assert "agent_boundary/decision.rego" in bundle.files


def test_whole_bundle_of_a_policy_with_tenants_owns_the_tenants_root_too() -> None:
    assert bundle_policies([TENANTS, PLAIN]).roots == ["agent_boundary", "boundaries", "agents", "tenants"]
    assert bundle_policies([PLAIN]).roots == ["agent_boundary", "boundaries", "agents"]


def test_whole_bundle_names_every_agent_tenants_included() -> None:
    bundle = bundle_policies([TENANTS, PLAIN])
    assert bundle.agents == [ACME, GLOBEX, "support_agent_1"] == bundle.metadata["agents"]
    assert sorted(bundle.metadata["agent_digests"]) == bundle.agents


def test_cli_inspects_a_library_bundle(tmp_path: Path) -> None:
    bundle_policies([TENANTS], library_only=True).write(tmp_path / "library.tar.gz")
    result = CliRunner().invoke(main, ["inspect", str(tmp_path / "library.tar.gz")])
    assert result.exit_code == 0, result.output
    assert "roots:      agent_boundary (rego_version 1)" in result.output
    assert "agents:     (none)" in result.output


def test_bundle_of_an_unknown_tenant_is_an_error() -> None:
    with pytest.raises(BundleError, match="no agent of tenant 'nobody'"):
        bundle_policies([TENANTS], tenant="nobody")


def test_cli_refuses_tenant_and_library_together(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["bundle", str(TENANTS), "-o", str(tmp_path / "b.tar.gz"), "--tenant", "acme", "--library"]
    )
    assert result.exit_code == 2
    assert "--tenant and --library build different bundles" in result.output


def test_cli_builds_a_tenant_bundle(tmp_path: Path) -> None:
    output = tmp_path / "acme.tar.gz"
    result = CliRunner().invoke(main, ["bundle", str(TENANTS), "-o", str(output), "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    assert "1 agent of tenant acme, unsigned" in result.output


# --- a real OPA serving several tenants ------------------------------------------------------------------------------


def _signed_bundles(directory: Path, names: dict[str, Any]) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = directory / "public.pem"
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing = SigningOptions(private, "RS256", "tenants-key", issued_at=1_700_000_000)
    for name, options in names.items():
        bundle_policies([TENANTS], signing=signing, **options).write(directory / f"{name}.tar.gz")
    config = {
        "keys": {"tenants-key": {"algorithm": "RS256", "key": public.read_text()}},
        "bundles": {
            name: {"resource": (directory / f"{name}.tar.gz").as_uri(), "signing": {"keyid": "tenants-key"}}
            for name in names
        },
    }
    config_file = directory / "opa.json"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    return config_file, public


def _bundles_ready(url: str) -> bool:
    """Whether every configured bundle is active (/health?bundles answers 200) within 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if requests.get(f"{url}/health?bundles", timeout=1).status_code == 200:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.opa
def test_real_opa_serves_two_signed_tenant_bundles_beside_the_library(opa_binary: str, tmp_path: Path) -> None:
    bundles = {"library": {"library_only": True}, "acme": {"tenant": "acme"}, "globex": {"tenant": "globex"}}
    config_file, _ = _signed_bundles(tmp_path, bundles)
    with running_opa(opa_binary, ["--config-file", str(config_file)]) as url:
        assert _bundles_ready(url)
        versions = _versions([TENANTS], shared=False)  # only tenants' bundles and the library: no data.boundaries
        for case in DECISIONS:
            call, expected, codes, version_of = cast(tuple[Any, str, list[str], Any], case.values)
            answer = requests.post(f"{url}/v1/data/agent_boundary/decision", json={"input": call}, timeout=5)
            result = answer.json()["result"]
            assert (case.id, result["decision"], _codes(result)) == (case.id, expected, codes)
            assert result["policy_version"] == versions[version_of]
        # The guard on that OPA: its own tenant decides, whatever the call says, and its records name it.
        sink = MemorySink()
        with Guard.from_opa(url, timeout=5.0, tenant="globex", sinks=[sink]) as guard:
            assert guard.check(_http(GLOBEX, "acme")).decision == "allow"
            assert guard.check(_http(ACME, "acme")).codes == ["tenant_mismatch"]
            guard.flush(5.0)
            assert [(record["tenant"], record["policy_version"]) for record in sink.records] == [
                ("globex", versions["globex"]),
                ("globex", versions["globex"]),
            ]


@pytest.mark.opa
def test_real_opa_refuses_two_bundles_of_one_tenant(opa_binary: str, tmp_path: Path) -> None:
    """A second bundle for tenant acme overlaps the first one's root: OPA refuses to activate it."""
    bundles = {"library": {"library_only": True}, "acme": {"tenant": "acme"}}
    config_file, _ = _signed_bundles(tmp_path, bundles)
    shutil.copy(tmp_path / "acme.tar.gz", tmp_path / "acme_again.tar.gz")
    config = json.loads(config_file.read_text())
    config["bundles"]["acme_again"] = {
        **config["bundles"]["acme"],
        "resource": (tmp_path / "acme_again.tar.gz").as_uri(),
    }
    config_file.write_text(json.dumps(config), encoding="utf-8")
    log = tmp_path / "opa.log"
    with log.open("w") as output:  # a file, not a pipe: nobody reads a pipe while OPA runs
        process = subprocess.Popen(
            [opa_binary, "run", "--server", "--addr", f"127.0.0.1:{free_port()}", "--config-file", str(config_file)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while "overlapping roots" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert "root tenants/acme is in multiple bundles" in log.read_text()


@pytest.mark.opa
def test_real_opa_refuses_the_library_beside_a_whole_bundle(opa_binary: str, tmp_path: Path) -> None:
    bundle_policies([TENANTS], library_only=True).write(tmp_path / "library.tar.gz")
    bundle_policies([TENANTS]).write(tmp_path / "all.tar.gz")
    command = [opa_binary, "eval", "-b", str(tmp_path / "library.tar.gz"), "-b", str(tmp_path / "all.tar.gz"), "true"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "root agent_boundary is in multiple bundles" in result.stdout + result.stderr


# --- diff per tenant ------------------------------------------------------------------------------------------------


@pytest.fixture
def widened(tmp_path: Path) -> Path:
    """The tenants' boundaries with Acme's agent allowed to send data to the US too."""
    copy = tmp_path / "tenants"
    shutil.copytree(TENANTS, copy)
    acme = copy / "acme.yaml"
    acme.write_text(acme.read_text().replace("regions: [eu]", "regions: [eu, us]"), encoding="utf-8")
    return copy


DIFFS = [
    pytest.param("acme", 3, "acme_support:\n  [loosens] data may now go to region us", id="acme-loosens"),
    pytest.param("globex", 0, "no policy changes", id="globex-unchanged"),
    pytest.param("nobody", 1, "no agent of tenant 'nobody' on either side", id="unknown-tenant"),
]


@pytest.mark.parametrize(("tenant", "exit_code", "shown"), DIFFS)
def test_diff_per_tenant(widened: Path, tenant: str, exit_code: int, shown: str) -> None:
    result = CliRunner().invoke(main, ["diff", str(TENANTS), str(widened), "--tenant", tenant])
    assert result.exit_code == exit_code, result.output
    assert shown in result.output


def test_diff_between_a_tenant_bundle_and_yaml(widened: Path, tmp_path: Path) -> None:
    bundle_policies([TENANTS], tenant="acme").write(tmp_path / "acme.tar.gz")
    result = CliRunner().invoke(main, ["diff", str(tmp_path / "acme.tar.gz"), str(widened), "--tenant", "acme"])
    assert result.exit_code == 3, result.output
    assert "[loosens] data may now go to region us" in result.output


def test_diff_reports_an_agent_moved_to_another_tenant(tmp_path: Path) -> None:
    moved = tmp_path / "tenants"
    shutil.copytree(TENANTS, moved)
    globex = moved / "globex.yaml"
    globex.write_text(globex.read_text().replace("tenant: globex", "tenant: acme"), encoding="utf-8")
    result = CliRunner().invoke(main, ["diff", str(TENANTS), str(moved)])
    assert result.exit_code == 3, result.output
    assert "tenant globex -> acme" in result.output
