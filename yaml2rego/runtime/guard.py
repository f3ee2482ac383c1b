"""The runtime guard: every outbound call of an agent is checked here, and every decision becomes a record.

>>> guard = Guard.from_policy(["examples/support_agent.yaml"], log_file="decisions.jsonl")  # doctest: +SKIP
>>> guard.check({"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"}).allow  # doctest: +SKIP
True
>>> guard.enforce({"agent_id": "support_agent_1", "method": "DELETE", "path": "/api/admin/x"})  # doctest: +SKIP
Traceback (most recent call last):
PolicyDenied: …

The guard fails closed: an engine that is down, slow, broken or answers nonsense, a rate-limit store that is down,
or any error of the guard's own becomes a deny (``policy_engine_unavailable`` / ``rate_limit_store_unavailable``),
recorded like every other decision. Shadow-mode agents are never blocked; their would-be denials are recorded with
``enforced: false``. One guard serves any number of threads and asyncio tasks.

A guard made for a tenant (``tenant="acme"``) stamps that tenant on every call it checks, over any ``tenant`` the
call carries: the tenant comes from who runs the guard, never from what a model puts in a call, and the policy
denies a call naming another tenant's agent (``tenant_mismatch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from yaml2rego.engines.base import Engine
from yaml2rego.errors import ApprovalError, EngineUnavailable, first_line
from yaml2rego.runtime.approvals import ApprovalService, policy_asks_for_approval
from yaml2rego.runtime.budgets import MemoryBudgetStore, RedisBudgetStore
from yaml2rego.runtime.decision import (
    ENGINE_UNAVAILABLE,
    Decision,
    deny_with,
    make_reason,
    malformed,
    new_decision_id,
    prepare_input,
    suspended,
)
from yaml2rego.runtime.limits import RateLimitStore
from yaml2rego.runtime.records import CheckpointKey, build_record, event_record, input_digest
from yaml2rego.runtime.shadow import candidate_verdict
from yaml2rego.runtime.sinks.base import Sink
from yaml2rego.runtime.sinks.file import JsonlFileSink
from yaml2rego.runtime.sinks.otel import current_trace
from yaml2rego.runtime.sinks.pipeline import RecordPipeline
from yaml2rego.runtime.steps import Enforcement, fill_destination, sanitize_call, without_token

__all__ = ["RATE_LIMIT_WINDOW_S", "Guard"]

log = logging.getLogger("yaml2rego.adapters")

RATE_LIMIT_WINDOW_S = 60.0
# The audit trail is monitoring evidence (CC7.2): a call that cannot be recorded is refused.
RECORD_UNAVAILABLE = ("decision_record_unavailable", "CC7.2")
_MODE_CACHE_SIZE = 100_000


class Guard:
    """Checks calls against an :class:`~yaml2rego.engines.base.Engine`, enforces rate limits, records decisions."""

    def __init__(
        self,
        engine: Engine,
        *,
        sinks: Sequence[Sink] = (),
        store: RateLimitStore | None = None,
        queue_size: int = 10_000,
        spool_dir: str | os.PathLike[str] | None = None,
        log_bodies: bool = False,
        tracing: bool | None = None,
        timeout: float | None = None,
        approvals: ApprovalService | None = None,
        durability: str = "logged",
        checkpoint_key: Any = None,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 10.0,
        record_input: bool = False,
        candidate: Engine | None = None,
        clock: Callable[[], str] | None = None,
        tenant: str | None = None,
    ) -> None:
        if tenant is not None and not isinstance(tenant, str):
            raise TypeError(f"tenant must be a string, not {type(tenant).__name__}")
        #: The tenant every call is made for (``None``: calls are made for no tenant).
        self.tenant = tenant
        if approvals is None and policy_asks_for_approval(getattr(engine, "_data", None)):
            # Only an approval service can grant an approval (a signed, single-use token naming its approver); an
            # adapter resumed with "yes" must never run the call.
            raise ApprovalError(
                "the policy asks for human approval (requires_approval, an approval_needed condition or an "
                "environment gate) but the guard has no approval service: pass approvals=ApprovalService(...)"
            )
        self.engine = engine
        self._named_engine: Engine | None = None
        self._engine_name = ""
        # For engines without a deadline of their own: each decision runs in a worker thread and is abandoned (a
        # fail-closed deny) after `timeout` seconds. The OPA engine has its own; the embedded one rarely needs it.
        self.timeout = timeout
        self._workers = ThreadPoolExecutor(32, "yaml2rego-engine") if timeout is not None else None
        # The budget stores are rate-limit stores that also count dollars and requests per second, atomically.
        self.store: RateLimitStore = store if store is not None else MemoryBudgetStore()
        # Approvals, rate limits with budgets, redaction: the steps around the policy's answer (docs/enforcement.md).
        self.approvals = approvals
        self.enforcement = Enforcement(self.store, approvals, RATE_LIMIT_WINDOW_S)
        self.log_bodies = log_bodies
        self.tracing = any(getattr(s, "name", "") == "otel" for s in sinks) if tracing is None else tracing
        # One record log (the file sink, else a log in `spool_dir`) that the other sinks ship from; `durability`
        # says whether check() returns before or after its record is in it (docs/runtime.md, "Decision records").
        key = checkpoint_key
        self.pipeline = RecordPipeline(
            sinks,
            durability=durability,
            queue_size=queue_size,
            spool_dir=Path(spool_dir) if spool_dir is not None else None,
            checkpoint_key=CheckpointKey(key) if key is not None and not isinstance(key, CheckpointKey) else key,
            checkpoint_every=checkpoint_every,
            checkpoint_interval=checkpoint_interval,
        )
        self._modes: dict[str, str] = {}
        # Replay evidence (docs/runtime.md, "Replay"): each record keeps the input it was decided on, redacted as the
        # decision redacted it, so `yaml2rego replay` can re-decide it against a candidate policy.
        self.record_input = record_input
        # Shadow divergence: a candidate policy decides every call beside the active one; it never changes the call.
        self.candidate = candidate
        # Each record's timestamp (RFC 3339): wall-clock time unless a test or a simulation supplies its own.
        self.clock = clock

    @classmethod
    def from_policy(
        cls, paths: Iterable[str | os.PathLike[str]], *, decision_cache: int = 0, engine: str = "native", **options: Any
    ) -> Guard:
        """A guard on an in-process engine, built from boundary YAML files or directories.

        ``engine="native"`` (the default) decides with each agent's native decision program and asks regorus for the
        agents those cannot express (``guard.engine.refused`` names them and says why); ``engine="embedded"`` asks
        regorus for everything. ``decision_cache=N`` keeps the N most recent decisions by exact input, so a repeated
        call skips the policy evaluation (rate limits, budgets, approvals and records still apply to every call); the
        kill switch clears it.
        """
        from yaml2rego.engines.native import policy_engine

        chosen = policy_engine(paths, kind=engine, cache_size=decision_cache)
        return cls(chosen, **_with_conveniences(options))

    @classmethod
    def from_opa(cls, url: str, *, timeout: float = 0.25, token: str | None = None, **options: Any) -> Guard:
        """A guard asking an OPA daemon at ``url``; no answer within ``timeout`` seconds is a fail-closed deny."""
        from yaml2rego.engines.opa import OpaEngine

        return cls(OpaEngine(url, timeout=timeout, token=token), **_with_conveniences(options))

    # -- deciding --------------------------------------------------------------------------------------------------

    def check(self, call: Mapping[str, Any], *, tenant: str | None = None) -> Decision:
        """Decide on ``call`` (the decision contract's input) and record the decision. Never raises.

        ``tenant`` names the tenant of this one call, from a source the agent cannot write (Envoy's configuration);
        a guard made for a tenant ignores it and always uses its own.
        """
        started = time.perf_counter_ns()
        request: Any = call
        try:
            if type(call) is dict or isinstance(call, Mapping):
                # One copy of the call: fill_destination makes it, prepare_input works on it.
                request = prepare_input(fill_destination(call), copy=False)
                _stamp_tenant(request, self.tenant if self.tenant is not None else tenant)
            result = self._decide(request)
            if self.candidate is not None and isinstance(request, Mapping):
                result = {**result, "candidate": candidate_verdict(self.candidate, without_token(request), result)}
        except Exception as exc:  # the last line of fail-closed: nothing of ours may break the agent's call
            result = self._unavailable(request, exc)
        agent_id = result.get("agent_id")
        fields = request if type(request) is dict or isinstance(request, Mapping) else {}
        approval = fields.get("approval_id") or result.get("approval_id")
        mode = result.get("mode")
        given_id = result.get("decision_id")  # an engine that names its decisions (OPA's decision logs)
        decision = Decision._build(
            result,
            str(given_id) if given_id else new_decision_id(),
            mode != "shadow" or suspended(result),
            self.engine_name,
            str(approval) if approval is not None else None,
            (time.perf_counter_ns() - started) // 1000,
        )
        mode = decision.mode
        if isinstance(agent_id, str) and self._modes.get(agent_id, "enforce") != mode and "fail_closed" not in result:
            self._remember_mode(agent_id, mode)
        if self.pipeline.log is None:
            return decision  # no sink at all: there is no record log, so nothing to write
        if not self._record(fields, request, decision) and decision.enforced and not decision.blocked:
            # Under "logged"/"fsync" a call goes ahead only with its record in the log: no record, no call.
            return self._unrecorded(decision)
        return decision

    def enforce(self, call: Mapping[str, Any]) -> Decision:
        """Like :meth:`check`, but raise :class:`~yaml2rego.errors.PolicyDenied` when the call is blocked."""
        return self.check(call).raise_if_blocked()

    async def acheck(self, call: Mapping[str, Any]) -> Decision:
        """:meth:`check` for asyncio code; the engine runs in a worker thread, so the event loop never waits on it."""
        return await asyncio.to_thread(self.check, call)

    async def aenforce(self, call: Mapping[str, Any]) -> Decision:
        return (await self.acheck(call)).raise_if_blocked()

    # -- kill switch and lifecycle ---------------------------------------------------------------------------------

    def suspend(self, agent_id: str, reason: str, *, tenant: str | None = None) -> None:
        """Every later call of ``agent_id`` is denied with ``agent_suspended`` (control CC7.4), on either engine.

        The event is recorded for the guard's own tenant, else for ``tenant`` (a guard serving several tenants names
        the agent's), so it is in that tenant's evidence.
        """
        self.engine.suspend(agent_id, reason)
        self._record_event("agent_suspended", agent_id, reason, tenant)  # the kill switch's own trail (CC7.4)
        log.warning("agent %s suspended on the %s engine: %s", agent_id, self.engine_name, reason)

    def resume(self, agent_id: str, *, tenant: str | None = None) -> None:
        self.engine.resume(agent_id)
        self._record_event("agent_resumed", agent_id, None, tenant)
        log.warning("agent %s resumed on the %s engine", agent_id, self.engine_name)

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until every decision so far has reached every sink; ``False`` if ``timeout`` passed first."""
        return self.pipeline.flush(timeout)

    def close(self, timeout: float | None = 5.0) -> None:
        """Deliver the records still queued, then close the sinks, the store and the engine."""
        self.pipeline.close(timeout)
        with contextlib.suppress(Exception):
            self.store.close()
        if self._workers is not None:
            # Workers first: a thread's own engine state (regorus engines are bound to their thread) is released by
            # that thread as it exits. A worker stuck in a decision is not waited for beyond `timeout`.
            stopper = threading.Thread(target=self._workers.shutdown, kwargs={"cancel_futures": True}, daemon=True)
            stopper.start()
            stopper.join(timeout)
        with contextlib.suppress(Exception):
            self.engine.close()

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def engine_name(self) -> str:
        # Worked out once per engine (it is on every record), and again if `engine` is replaced.
        engine = self.engine
        if engine is not self._named_engine:
            self._engine_name = str(getattr(engine, "name", type(engine).__name__))
            self._named_engine = engine
        return self._engine_name

    # -- internals -------------------------------------------------------------------------------------------------

    def _decide(self, request: Any) -> dict[str, Any]:
        # An override token is the guard's business, not the policy's: it never reaches the engine (or OPA's logs).
        asked = without_token(request)
        if self._workers is None:
            result = self.engine.decide(asked)
        else:
            try:
                result = self._workers.submit(self.engine.decide, asked).result(self.timeout)
            except FutureTimeout:
                raise EngineUnavailable(
                    f"the {self.engine_name} engine did not answer within {self.timeout}s"
                ) from None
        problem = malformed(result)
        if problem:
            raise ValueError(f"the {self.engine_name} engine returned a malformed decision: {problem}")
        return self.enforcement.apply(request, result)

    def _unavailable(self, request: Any, error: BaseException) -> dict[str, Any]:
        agent_id = request.get("agent_id") if isinstance(request, Mapping) else None
        agent_id = agent_id if isinstance(agent_id, str) else None
        message = f"the policy engine is unavailable: {first_line(error)}"
        base: dict[str, Any] = {
            "policy_version": None,
            "agent_id": agent_id,
            "mode": self._modes.get(agent_id, "enforce") if agent_id else "enforce",
            "rate_limits": [],
            "fail_closed": True,
        }
        return deny_with(base, [make_reason(ENGINE_UNAVAILABLE, message)])

    def _remember_mode(self, agent_id: str, mode: str) -> None:
        # Remembered so that a shadow-mode agent stays unblocked even while the engine is unreachable. Only modes
        # other than "enforce" are kept (an agent not in the map is taken to enforce), so an agent's first call
        # writes nothing unless its mode is another: 10,000 enforcing agents cost no entry each. Called by check()
        # only when ``mode`` differs from the one remembered.
        if mode == "enforce":
            self._modes.pop(agent_id, None)
            return
        if len(self._modes) >= _MODE_CACHE_SIZE:
            self._modes.clear()
        self._modes[agent_id] = mode

    def _record(self, fields: Mapping[str, Any], request: Any, decision: Decision) -> bool:
        """Hand the decision's record to the log; ``False`` when the log could not take it."""
        try:
            trace = current_trace() if self.tracing else None  # the caller's span: only this thread knows it
            log_bodies, keep_input = self.log_bodies, self.record_input
            stamp = self.clock() if self.clock is not None else None

            def build() -> dict[str, Any]:
                # Runs in the log's writer (the group-commit leader, or the record thread in async mode): the
                # digest and the record's JSON are computed once, there.
                shown = sanitize_call(decision, fields) if log_bodies or keep_input else fields
                kept = without_token(shown) if keep_input and isinstance(request, Mapping) else None
                return build_record(
                    shown, decision, digest=input_digest(request), trace=trace, log_body=log_bodies, kept_input=kept,
                    timestamp=stamp,
                )  # fmt: skip

            self.pipeline.record(build)
        except Exception:  # recording must never break the call path; the pipeline logs its own failures
            self.pipeline.errors += 1
            log.exception("the decision %s could not be recorded", decision.decision_id)
            return False
        return True

    def _record_event(self, event: str, agent_id: str, reason: str | None, tenant: str | None) -> None:
        try:
            stamp = self.clock() if self.clock is not None else None
            tenant = self.tenant if self.tenant is not None else tenant
            record = event_record(event, agent_id, reason, engine=self.engine_name, timestamp=stamp, tenant=tenant)
            self.pipeline.record(record)
            self.pipeline.commit()
        except Exception:  # the switch itself already acted; a lost trail is logged, never a reason to undo it
            self.pipeline.errors += 1
            log.exception("the %s event for agent %s could not be recorded", event, agent_id)

    def _unrecorded(self, decision: Decision) -> Decision:
        message = "the decision record could not be written to the record log, so the call may not go ahead"
        base: dict[str, Any] = {
            "policy_version": decision.policy_version, "agent_id": decision.agent_id, "mode": decision.mode,
            "rate_limits": [], "fail_closed": True,
        }  # fmt: skip
        denied = deny_with(base, [make_reason(RECORD_UNAVAILABLE, message)])
        return Decision.from_result(
            denied, decision_id=decision.decision_id, enforced=True, engine=decision.engine,
            approval_id=decision.approval_id, latency_us=decision.latency_us,
        )  # fmt: skip


def _stamp_tenant(request: dict[str, Any], tenant: str | None) -> None:
    """Overwrite the call's ``tenant`` with the guard's: whatever the call itself says is never trusted."""
    if tenant is None:
        request.pop("tenant", None)
    else:
        request["tenant"] = tenant


def _with_conveniences(options: dict[str, Any]) -> dict[str, Any]:
    """``log_file=`` adds a JSON-lines sink, ``redis_url=`` a Redis rate-limit store."""
    options = dict(options)
    log_file = options.pop("log_file", None)
    if log_file is not None:
        options["sinks"] = [*options.get("sinks", ()), JsonlFileSink(log_file)]
    redis_url = options.pop("redis_url", None)
    if redis_url is not None:
        options["store"] = RedisBudgetStore(redis_url)
    return options
