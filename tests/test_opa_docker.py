"""The OPA daemon configuration in ``opa/`` and ``yaml2rego opa up`` (Docker is not started here, only asked for)."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.processes import free_port
from yaml2rego.bundles.bundle import SigningOptions, bundle_policies
from yaml2rego.cli import main

REPO = Path(__file__).resolve().parent.parent
OPA_DIR = REPO / "opa"
SEED = REPO / "examples" / "support_agent.yaml"


@pytest.fixture
def key_pair(tmp_path: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bundles"
    directory.mkdir()
    return directory


def _opa_up(bundle_dir: Path, public_key: Path) -> Any:
    return CliRunner().invoke(
        main, ["opa", "up", "--bundle-dir", str(bundle_dir), "--verification-key", str(public_key)]
    )


# -- without a Docker engine --------------------------------------------------------------------------------------


def test_opa_up_without_a_docker_engine_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bundle_dir: Path, key_pair: tuple[Path, Path]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    result = _opa_up(bundle_dir, key_pair[1])
    assert result.exit_code == 1
    assert result.output.startswith("error: no Docker engine is reachable (")
    assert "Start Docker (or set DOCKER_HOST) and try again." in result.output
    assert "To run OPA without Docker: opa run --server" in result.output
    assert "Traceback" not in result.output


def test_opa_up_without_the_docker_sdk_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, bundle_dir: Path, key_pair: tuple[Path, Path]
) -> None:
    monkeypatch.setitem(sys.modules, "docker", None)  # what an environment without the extra looks like
    result = _opa_up(bundle_dir, key_pair[1])
    assert result.exit_code == 1
    assert "error: the Docker SDK is not installed: pip install 'yaml2rego[docker]'." in result.output


def test_opa_up_checks_its_inputs_before_asking_docker(tmp_path: Path, key_pair: tuple[Path, Path]) -> None:
    result = _opa_up(tmp_path / "missing", key_pair[1])
    assert result.exit_code == 1
    assert "does not exist (build one with `yaml2rego bundle`)" in result.output


def test_opa_down_without_a_docker_engine_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    result = CliRunner().invoke(main, ["opa", "down"])
    assert result.exit_code == 1
    assert result.output.startswith("error: no Docker engine is reachable (")


# -- the configuration files --------------------------------------------------------------------------------------


def _config() -> dict[str, Any]:
    return dict(yaml.safe_load((OPA_DIR / "config.yaml").read_text()))


def test_config_polls_a_signed_bundle_from_a_declared_service() -> None:
    config = _config()
    (bundle,) = config["bundles"].values()
    assert bundle["service"] in config["services"]
    assert bundle["resource"] == "bundles/bundle.tar.gz"
    assert bundle["signing"]["keyid"] in config["keys"]
    assert config["keys"][bundle["signing"]["keyid"]]["algorithm"] == "RS256"
    assert {"min_delay_seconds", "max_delay_seconds"} <= set(bundle["polling"])


def test_config_enables_decision_logs_and_status() -> None:
    config = _config()
    assert config["decision_logs"]["console"] is True
    assert config["status"]["console"] is True
    assert config["default_decision"] == "/agent_boundary/decision"


def test_compose_runs_opa_with_the_config_and_the_public_key_and_nginx_serving_bundles() -> None:
    compose = yaml.safe_load((OPA_DIR / "docker-compose.yaml").read_text())
    opa = compose["services"]["opa"]
    assert "openpolicyagent/opa:" in opa["image"]
    assert "--config-file=/config/config.yaml" in opa["command"]
    key_id = next(iter(_config()["keys"]))
    assert f"--set-file=keys.{key_id}.key=/keys/public.pem" in opa["command"]
    assert "--addr=0.0.0.0:8181" in opa["command"]
    assert opa["environment"]["BUNDLE_SERVER_URL"] == "http://bundle-server"
    assert "bundle-server" in compose["services"]
    nginx = (OPA_DIR / "nginx.conf").read_text()
    assert "location /bundles/" in nginx and "root /usr/share/nginx/html;" in nginx


def test_readme_documents_binary_and_compose_starts() -> None:
    readme = (OPA_DIR / "README.md").read_text()
    assert "opa run --server" in readme
    assert "docker compose -f opa/docker-compose.yaml up" in readme
    assert "yaml2rego opa up" in readme


# -- real OPA with this configuration -----------------------------------------------------------------------------


@pytest.fixture
def bundle_server(bundle_dir: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving ``bundle_dir`` under ``/bundles/``, as nginx does."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(bundle_dir.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.opa
def test_real_opa_with_the_config_activates_the_signed_bundle(
    opa_binary: str, bundle_dir: Path, bundle_server: str, key_pair: tuple[Path, Path]
) -> None:
    signing = SigningOptions(key_pair[0].read_bytes(), "RS256", "yaml2rego", issued_at=1_700_000_000)
    bundle_policies([SEED], revision="from-server", signing=signing).write(bundle_dir / "bundle.tar.gz")
    port = free_port()
    # The console decision and status logs go to a file: an unread pipe fills up and stalls OPA.
    log = (bundle_dir.parent / "opa.log").open("w+")
    process = subprocess.Popen(
        [
            opa_binary,
            "run",
            "--server",
            f"--addr=127.0.0.1:{port}",
            f"--config-file={OPA_DIR / 'config.yaml'}",
            f"--set-file=keys.yaml2rego.key={key_pair[1]}",
        ],
        env={**os.environ, "BUNDLE_SERVER_URL": bundle_server},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log.seek(0) or log.read()
            try:
                if requests.get(f"{url}/health?bundles", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("opa did not activate the bundle within 60 s")
        call = {"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/7"}
        response = requests.post(f"{url}/v1/data/agent_boundary/decision", json={"input": call}, timeout=5)
        result = response.json()["result"]
        assert (result["decision"], result["policy_version"]) == ("allow", "from-server")
        assert "decision_id" in response.json()  # present only when decision logging is on
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_opa_up_needs_the_configuration_folder(tmp_path: Path, bundle_dir: Path, key_pair: tuple[Path, Path]) -> None:
    empty = tmp_path / "no-config"
    empty.mkdir()
    result = CliRunner().invoke(
        main,
        [
            "opa",
            "up",
            "--bundle-dir",
            str(bundle_dir),
            "--verification-key",
            str(key_pair[1]),
            "--config-dir",
            str(empty),
        ],
    )
    assert result.exit_code == 1
    assert f"error: OPA configuration {empty / 'config.yaml'} not found (pass --config-dir" in result.output
