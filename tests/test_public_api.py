"""The public names of the top-level package are pinned: adding or removing one is a deliberate change."""

from __future__ import annotations

import importlib

import yaml2rego

from .conftest import SEED_POLICY

EXPECTED = {
    "AgentBoundary",
    "ApprovalError",
    "BundleError",
    "CompileError",
    "CompiledPolicy",
    "Decision",
    "EmbeddedEngine",
    "Engine",
    "EngineError",
    "EngineUnavailable",
    "Guard",
    "HistoryError",
    "Mode",
    "OpaEngine",
    "PolicyDenied",
    "PolicyError",
    "PolicyErrors",
    "PolicySet",
    "PolicySyntaxError",
    "PolicyValidationError",
    "SignatureError",
    "SourceLocation",
    "Yaml2RegoError",
    "__version__",
    "compile_policy_set",
    "load_policies",
    "load_policy_text",
    "load_schema",
    "schema_path",
}


def test_public_names_are_pinned() -> None:
    assert set(yaml2rego.__all__) == EXPECTED


def test_every_public_name_resolves() -> None:
    for name in yaml2rego.__all__:
        assert getattr(yaml2rego, name) is not None, name


def test_runtime_names_are_the_adapters_objects() -> None:
    adapters = importlib.import_module("yaml2rego.adapters")
    assert yaml2rego.Guard is adapters.Guard
    assert yaml2rego.Decision is adapters.Decision


def test_every_module_declares_its_public_names() -> None:
    for module in [
        "yaml2rego.bundles.bundle",
        "yaml2rego.compile.compiler",
        "yaml2rego.audit.diff",
        "yaml2rego.errors",
        "yaml2rego.bundles.history",
        "yaml2rego.dsl.loader",
        "yaml2rego.dsl.model",
        "yaml2rego.semantics.paths",
        "yaml2rego.engines",
        "yaml2rego.bundles.signing",
    ]:
        loaded = importlib.import_module(module)
        assert loaded.__all__, module
        for name in loaded.__all__:
            assert hasattr(loaded, name), f"{module}.{name}"


def test_the_quickstart_in_the_docstring_works() -> None:
    policy_set = yaml2rego.load_policies([SEED_POLICY])
    engine = yaml2rego.EmbeddedEngine.from_compiled(yaml2rego.compile_policy_set(policy_set))
    request = {"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"}
    assert engine.decide(request)["decision"] == "allow"
