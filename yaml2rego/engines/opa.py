"""The OPA daemon engine: a running OPA asked over its REST API, on one reused keep-alive connection.

The connection pool and keep-alive come from ``opa-python-client`` (a ``requests`` session underneath). Every failure
to get a well-formed answer is an :class:`~yaml2rego.errors.EngineUnavailable` or
:class:`~yaml2rego.errors.EngineError`; the guard turns both into a fail-closed deny.

>>> engine = OpaEngine("http://127.0.0.1:8181", timeout=0.25)  # doctest: +SKIP
>>> engine.decide({"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"})["allow"]
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from yaml2rego.engines.base import DECISION_PATH, RUNTIME_DATA_ROOT
from yaml2rego.errors import EngineError, EngineUnavailable

__all__ = ["OpaEngine"]


class OpaEngine:
    """Decisions from an OPA server at ``url`` (e.g. ``http://127.0.0.1:8181``)."""

    name = "opa"

    def __init__(self, url: str, *, timeout: float = 0.5, token: str | None = None, retries: int = 0) -> None:
        from opa_client import OpaClient

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineError(f"not an OPA URL: {url!r} (expected http://host:port)")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._client = OpaClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8181),
            ssl=parts.scheme == "https",
            token=token,
            timeout=timeout,
            retries=retries,
        )

    def decide(self, call: Mapping[str, Any]) -> dict[str, Any]:
        try:
            answer = self._client.query_rule(dict(call), DECISION_PATH)
        except requests.Timeout as exc:
            raise EngineUnavailable(f"OPA at {self.url} did not answer within {self.timeout}s") from exc
        except requests.ConnectionError as exc:
            raise EngineUnavailable(f"OPA at {self.url} is unreachable") from exc
        except requests.HTTPError as exc:
            raise EngineError(f"OPA at {self.url} refused the query: {_error_text(exc.response)}") from exc
        except (requests.RequestException, ValueError) as exc:
            raise EngineError(f"OPA at {self.url} gave no usable answer: {exc}") from exc
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, dict):
            # OPA omits `result` when the rule is undefined, e.g. when the policy is not loaded.
            raise EngineError(f"OPA at {self.url} has no decision at /v1/data/{DECISION_PATH} (is the policy loaded?)")
        if "decision_id" in answer:
            result = {**result, "decision_id": answer["decision_id"]}
        return result

    def suspend(self, agent_id: str, reason: str) -> None:
        self._request("PUT", _suspension_path(agent_id), json={"reason": reason})

    def resume(self, agent_id: str) -> None:
        self._request("DELETE", _suspension_path(agent_id), missing_ok=True)

    def healthy(self) -> bool:
        return bool(self._client.check_health())

    def close(self) -> None:
        self._client.close_connection()

    def _request(self, method: str, path: str, *, json: Any = None, missing_ok: bool = False) -> None:
        url = f"{self.url}/v1/data/{path}"
        try:
            response = self._client._session.request(method, url, json=json, timeout=self.timeout)
        except requests.RequestException as exc:
            raise EngineUnavailable(f"OPA at {self.url} is unreachable: {exc}") from exc
        if response.status_code == 404 and missing_ok:
            return
        if response.status_code >= 300:
            raise EngineError(f"OPA refused {method} {url}: {_error_text(response)}")


def _suspension_path(agent_id: str) -> str:
    return f"{RUNTIME_DATA_ROOT}/suspended/{quote(agent_id, safe='')}"


def _error_text(response: requests.Response | None) -> str:
    if response is None:
        return "no response"
    try:
        body = response.json()
        return f"HTTP {response.status_code}: {body.get('message', body)}"
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
