"""Start the OPA setup of ``opa/`` (nginx serving signed bundles, OPA polling them) on a local Docker engine.

This is for development: it runs the same two containers as ``opa/docker-compose.yaml`` through the Docker SDK, so a
developer needs neither compose nor an OPA binary. The SDK is an optional extra (``pip install 'yaml2rego[docker]'``)
and is imported only here, only when asked. Without a reachable Docker engine, :class:`EngineUnavailable` says so
and how to run OPA without Docker.

>>> started = start_local_opa(bundle_dir="build/bundles", public_key="keys/public.pem")  # doctest: +SKIP
>>> started.url  # doctest: +SKIP
'http://127.0.0.1:8181'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yaml2rego.errors import EngineUnavailable, first_line

__all__ = [
    "NGINX_IMAGE",
    "OPA_DIR",
    "OPA_IMAGE",
    "LocalOpa",
    "docker_client",
    "start_local_opa",
    "stop_local_opa",
]

OPA_IMAGE = "openpolicyagent/opa:1.4.2"
NGINX_IMAGE = "nginx:1.27-alpine"
NETWORK = "yaml2rego-opa"
OPA_CONTAINER = "yaml2rego-opa"
BUNDLE_SERVER_CONTAINER = "yaml2rego-bundle-server"
OPA_DIR = Path(__file__).resolve().parent.parent.parent / "opa"
_WITHOUT_DOCKER = (
    "To run OPA without Docker: opa run --server --addr=127.0.0.1:8181 --bundle build/bundles/bundle.tar.gz"
    " --verification-key keys/public.pem (see opa/README.md)."
)


@dataclass(frozen=True)
class LocalOpa:
    """The containers started by :func:`start_local_opa` and where OPA answers."""

    url: str
    opa_container: str
    bundle_server_container: str


def docker_client() -> Any:
    """A connected Docker SDK client, or :class:`EngineUnavailable` saying what is missing and what to do instead."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as exc:
        raise EngineUnavailable(
            f"the Docker SDK is not installed: pip install 'yaml2rego[docker]'. {_WITHOUT_DOCKER}"
        ) from exc
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        raise EngineUnavailable(
            f"no Docker engine is reachable ({first_line(exc)}). Start Docker (or set DOCKER_HOST) and try again."
            f" {_WITHOUT_DOCKER}"
        ) from exc
    return client


def _config_file(opa_dir: Path) -> Path:
    config = opa_dir / "config.yaml"
    if not config.is_file():
        raise EngineUnavailable(f"OPA configuration {config} not found (pass --config-dir, see opa/README.md)")
    return config


def start_local_opa(
    *,
    bundle_dir: str | Path,
    public_key: str | Path,
    port: int = 8181,
    opa_image: str = OPA_IMAGE,
    opa_dir: str | Path = OPA_DIR,
    client: Any = None,
) -> LocalOpa:
    """Run nginx (serving ``bundle_dir``) and OPA (``opa/config.yaml``, verifying with ``public_key``) in Docker.

    Containers from an earlier run are replaced. OPA is published on 127.0.0.1 only.
    """
    bundles = Path(bundle_dir).resolve()
    key = Path(public_key).resolve()
    if not bundles.is_dir():
        raise EngineUnavailable(f"bundle directory {bundles} does not exist (build one with `yaml2rego bundle`)")
    if not key.is_file():
        raise EngineUnavailable(f"verification key {key} does not exist")
    config = _config_file(Path(opa_dir))
    if not (Path(opa_dir) / "nginx.conf").is_file():
        raise EngineUnavailable(f"nginx configuration {Path(opa_dir) / 'nginx.conf'} not found")
    docker_api = client or docker_client()
    stop_local_opa(client=docker_api)
    docker_api.networks.create(NETWORK, driver="bridge")
    docker_api.containers.run(
        NGINX_IMAGE,
        name=BUNDLE_SERVER_CONTAINER,
        detach=True,
        network=NETWORK,
        volumes={
            str(Path(opa_dir).resolve() / "nginx.conf"): {"bind": "/etc/nginx/conf.d/default.conf", "mode": "ro"},
            str(bundles): {"bind": "/usr/share/nginx/html/bundles", "mode": "ro"},
        },
    )
    docker_api.containers.run(
        opa_image,
        command=[
            "run",
            "--server",
            "--addr=0.0.0.0:8181",
            "--config-file=/config/config.yaml",
            "--set-file=keys.yaml2rego.key=/keys/public.pem",
        ],
        name=OPA_CONTAINER,
        detach=True,
        network=NETWORK,
        environment={"BUNDLE_SERVER_URL": f"http://{BUNDLE_SERVER_CONTAINER}"},
        volumes={
            str(config.resolve()): {"bind": "/config/config.yaml", "mode": "ro"},
            str(key): {"bind": "/keys/public.pem", "mode": "ro"},
        },
        ports={"8181/tcp": ("127.0.0.1", port)},
    )
    return LocalOpa(f"http://127.0.0.1:{port}", OPA_CONTAINER, BUNDLE_SERVER_CONTAINER)


def stop_local_opa(*, client: Any = None) -> list[str]:
    """Remove the containers and network of :func:`start_local_opa`; returns the names removed."""
    docker_api = client or docker_client()
    from docker.errors import NotFound

    removed = []
    for name in (OPA_CONTAINER, BUNDLE_SERVER_CONTAINER):
        try:
            docker_api.containers.get(name).remove(force=True)
            removed.append(name)
        except NotFound:
            pass
    try:
        docker_api.networks.get(NETWORK).remove()
        removed.append(NETWORK)
    except NotFound:
        pass
    return removed
