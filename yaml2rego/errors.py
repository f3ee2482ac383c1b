"""Every error yaml2rego raises on purpose, in one shallow tree.

::

    Yaml2RegoError
    ├── PolicyError                  a boundary file is wrong; carries file, line, column and the offending text
    │   ├── PolicySyntaxError        not YAML, unsafe YAML (aliases, tags), or too large
    │   └── PolicyValidationError    valid YAML that breaks the DSL (unknown key, wrong type, duplicate agent_id, …)
    │       └── PolicyErrors         every error one load found (``.errors``), so all can be fixed at once
    ├── CompileError                 a policy set that cannot be turned into Rego (e.g. an output directory clash)
    ├── BundleError                  a bundle that cannot be built, read or trusted
    │   └── SignatureError           a signature or hash that does not verify
    ├── HistoryError                 a policy history whose chain or signatures do not verify
    ├── EngineError                  a Rego engine failed to load a policy or to evaluate a query
    │   └── EngineUnavailable        the engine cannot be reached or is not installed
    ├── PolicyDenied                 a call was refused by the boundary (raised by ``Guard.enforce``)
    ├── RateLimitStoreError          the store that counts calls (in-process or Redis) failed
    ├── ApprovalError                an approval request that is unknown, already decided, expired or unsignable
    ├── SinkError                    a decision-record sink refused a record for good (e.g. Splunk said 403)
    └── EvidenceError                evidence that cannot be built or trusted (a log to replay, an alert, a manifest)

Errors from libraries underneath are translated with ``raise … from exc`` so the cause is kept for debugging, while
the command-line interface shows only the message (see :mod:`yaml2rego.cli`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ApprovalError",
    "BundleError",
    "CompileError",
    "EngineError",
    "EngineUnavailable",
    "EvidenceError",
    "HistoryError",
    "PolicyDenied",
    "PolicyError",
    "PolicyErrors",
    "PolicySyntaxError",
    "PolicyValidationError",
    "RateLimitStoreError",
    "SignatureError",
    "SinkError",
    "SourceLocation",
    "Yaml2RegoError",
    "first_line",
    "scrub_credentials",
    "source_line",
]


@dataclass(frozen=True)
class SourceLocation:
    """A place in a boundary file. Lines and columns count from 1, as editors show them.

    >>> str(SourceLocation("agents/support.yaml", 12, 7))
    'agents/support.yaml:12:7'
    """

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def source_line(location: SourceLocation | None) -> str | None:
    """``file:line`` of a location, as the policy data and decision reasons cite a rule; ``None`` for no location.

    >>> source_line(SourceLocation("agents/support.yaml", 12, 7))
    'agents/support.yaml:12'
    """
    return f"{location.file}:{location.line}" if location is not None else None


class Yaml2RegoError(Exception):
    """Base class of every error yaml2rego raises on purpose."""


class PolicyError(Yaml2RegoError):
    """A boundary file is wrong. ``str(error)`` reads ``file:line:col: message``.

    ``snippet`` is the offending text, shown under the message so a reviewer sees what is meant.
    """

    def __init__(self, message: str, location: SourceLocation | None = None, snippet: str | None = None) -> None:
        self.message = message
        self.location = location
        self.snippet = snippet
        super().__init__(self.format())

    def format(self) -> str:
        prefix = f"{self.location}: " if self.location else ""
        text = f"{prefix}{self.message}"
        if self.snippet:
            text += f"\n    {self.snippet.strip()}"
        return text


class PolicySyntaxError(PolicyError):
    """The file is not YAML, uses YAML features a policy may not use (aliases, custom tags), or is too large."""


class PolicyValidationError(PolicyError):
    """The file is YAML but breaks the agent-boundary DSL."""


class PolicyErrors(PolicyValidationError):
    """Several policy errors found in one pass, so a user can fix them all at once."""

    def __init__(self, errors: Sequence[PolicyError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.message, first.location, first.snippet)

    def format(self) -> str:
        return "\n".join(error.format() for error in getattr(self, "errors", [])) or super().format()


class CompileError(Yaml2RegoError):
    """A valid policy set that cannot be compiled or written out."""


class BundleError(Yaml2RegoError):
    """An OPA bundle that cannot be built, read or trusted."""


class SignatureError(BundleError):
    """A bundle signature, file hash or key that does not verify. ``problems`` lists every finding."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems)
        super().__init__(message if not self.problems else message + "\n" + "\n".join(f"  - {p}" for p in problems))


class HistoryError(Yaml2RegoError):
    """A policy history file whose chain, order or signatures do not verify."""


class EngineError(Yaml2RegoError):
    """A Rego engine failed to load policies or to evaluate a query."""


class EngineUnavailable(EngineError):
    """The engine cannot be reached (OPA daemon down, timeout) or is not installed."""


class PolicyDenied(Yaml2RegoError):
    """A call was refused by the agent boundary.

    ``decision`` is the full :class:`~yaml2rego.adapters.Decision`; ``reasons`` its list of reason objects.
    """

    def __init__(self, decision: Any) -> None:
        self.decision = decision
        self.reasons = list(getattr(decision, "reasons", []) or [])
        summary = getattr(decision, "decision_reason", None) or "call denied by the agent boundary"
        super().__init__(summary)


class RateLimitStoreError(Yaml2RegoError):
    """The store that counts calls for rate limits and budgets failed (for example, Redis is down)."""


class ApprovalError(Yaml2RegoError):
    """An approval request cannot be decided (unknown, already decided, expired) or the service has no key."""


class SinkError(Yaml2RegoError):
    """A decision-record sink refused a record for good (a retry would not help)."""


class EvidenceError(Yaml2RegoError):
    """Evidence cannot be built or does not verify: a broken record log to replay, an unknown alert, a manifest."""


# `scheme://user:password@host`: the user info of a URL, wherever it appears in a message.
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")


def scrub_credentials(text: str) -> str:
    """``text`` with the user and password of every URL in it replaced by ``***`` (a Redis or OPA URL in an error
    message must not carry its password into a decision record or to the model)."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def first_line(text: object) -> str:
    """The first non-empty line of an error message from a library underneath, without credentials.

    The embedded engine's messages carry a Rust backtrace after the useful part; users get only the useful part.
    """
    for line in str(text).splitlines():
        if line.strip():
            return scrub_credentials(line.strip())
    return scrub_credentials(str(text).strip())
