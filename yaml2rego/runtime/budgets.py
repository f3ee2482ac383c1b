"""Budgets: dollars per day and requests per second per agent, counted in the same store as rate limits.

A call is admitted only if every rate-limit window, the agent's requests-per-second window and its daily dollar
budget all have room; only then is it counted under each of them, in one atomic step (one lock in process, one Lua
script in Redis). A refused call spends nothing. Money is counted in whole micro-dollars so that sums are exact.

>>> store = MemoryBudgetStore()
>>> charge = BudgetCharge("a1", rule="budget", daily_usd=1.0, requests_per_second=None, cost_usd=0.6)
>>> store.admit([], 60.0, charge).ok, store.admit([], 60.0, charge).budget_exhausted
(True, True)
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from yaml2rego.errors import RateLimitStoreError
from yaml2rego.runtime.limits import MemoryRateLimitStore, RedisRateLimitStore, wait_for

__all__ = [
    "BudgetCharge",
    "BudgetOutcome",
    "MemoryBudgetStore",
    "RedisBudgetStore",
    "charge_from_decision",
    "to_micro_usd",
]

_DAY_S = 86_400

Limits = Sequence[tuple[str, int]]


def to_micro_usd(dollars: float) -> int:
    """Dollars as whole micro-dollars (rounded half to even), the unit every budget is counted in."""
    return round(dollars * 1_000_000)


@dataclass(frozen=True)
class BudgetCharge:
    """What one call costs an agent, and the agent's limits (``None``: no such limit)."""

    agent_id: str
    rule: str
    daily_usd: float | None
    requests_per_second: int | None
    cost_usd: float
    source: str | None = None

    @property
    def day_key(self) -> str:
        return f"{self.agent_id}\x1f{self.rule}\x1fusd"

    @property
    def rps_key(self) -> str:
        return f"{self.agent_id}\x1f{self.rule}\x1frps"


@dataclass(frozen=True)
class BudgetOutcome:
    """``full``: indexes of rate limits that were full; ``rps_exceeded`` / ``budget_exhausted``: the budget's own
    limits; ``spent_micro_usd``: the agent's spend today after this call (or before it, when refused)."""

    full: list[int] = field(default_factory=list)
    rps_exceeded: bool = False
    budget_exhausted: bool = False
    spent_micro_usd: int = 0

    @property
    def ok(self) -> bool:
        return not self.full and not self.rps_exceeded and not self.budget_exhausted


def charge_from_decision(agent_id: str, budget: Any) -> BudgetCharge | None:
    """The charge described by a decision's ``budget`` object (``{rule, source, daily_usd, requests_per_second,
    cost_usd}``), or ``None`` when there is none. Malformed values raise ``ValueError``."""
    if not isinstance(budget, Mapping):
        return None
    daily = budget.get("daily_usd")
    rps = budget.get("requests_per_second")
    cost = budget.get("cost_usd", 0)
    for name, value in (("daily_usd", daily), ("requests_per_second", rps), ("cost_usd", cost)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise ValueError(f"budget.{name} is not a non-negative number")
    return BudgetCharge(
        agent_id,
        str(budget.get("rule", "budget")),
        float(daily) if daily is not None else None,
        int(rps) if rps is not None else None,
        float(cost),
        str(budget["source"]) if budget.get("source") is not None else None,
    )


class MemoryBudgetStore(MemoryRateLimitStore):
    """The in-process rate-limit store, plus budgets under the same lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time):
        super().__init__(clock)
        self._wall_clock = wall_clock
        self._spent: dict[str, tuple[int, int]] = {}  # key -> (day number, micro-dollars)
        self._rps: dict[str, deque[float]] = {}

    def admit(self, limits: Limits, window_s: float, charge: BudgetCharge | None) -> BudgetOutcome:
        """Check and count rate limits and the budget together; see the module docstring."""
        lock = self._lock
        if not lock.acquire(False):
            wait_for(lock)
        try:
            now = self._clock()
            full: list[int] = []
            windows = []
            for index, (key, limit) in enumerate(limits):
                window = self._trim(self._windows, key, now - window_s)
                windows.append(window)
                if len(window) >= limit:
                    full.append(index)
            rps_window: deque[float] | None = None
            rps_full = exhausted = False
            spent, cost, day = 0, 0, int(self._wall_clock() // _DAY_S)
            if charge is not None:
                if charge.requests_per_second is not None:
                    rps_window = self._trim(self._rps, charge.rps_key, now - 1.0)
                    rps_full = len(rps_window) >= charge.requests_per_second
                held_day, spent = self._spent.get(charge.day_key, (day, 0))
                spent = spent if held_day == day else 0
                cost = to_micro_usd(charge.cost_usd)
                exhausted = charge.daily_usd is not None and spent + cost > to_micro_usd(charge.daily_usd)
            if full or rps_full or exhausted:
                return BudgetOutcome(full, rps_full, exhausted, spent)
            for window in windows:
                window.append(now)
            if rps_window is not None:
                rps_window.append(now)
            if charge is not None:
                spent += cost
                self._spent[charge.day_key] = (day, spent)
            return BudgetOutcome(spent_micro_usd=spent)
        finally:
            lock.release()

    @staticmethod
    def _trim(table: dict[str, deque[float]], key: str, horizon: float) -> deque[float]:
        window = table.get(key)
        if window is None:  # not setdefault(key, deque()): that builds a deque on every call
            window = table[key] = deque()
        while window and window[0] <= horizon:
            window.popleft()
        return window

    def close(self) -> None:
        super().close()
        with self._lock:
            self._spent.clear()
            self._rps.clear()


# KEYS[1..n]: rate-limit sorted sets; KEYS[n+1]: the rps sorted set; KEYS[n+2]: the spend prefix.
# ARGV: n, window ms, member, limits[1..n], rps limit (-1: none), cost micro-dollars, budget micro-dollars (-1: none).
# The server's clock decides both the windows and the day, so every host agrees.
_ADMIT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local member = ARGV[3]
local rps = tonumber(ARGV[4 + n])
local cost = tonumber(ARGV[5 + n])
local budget = tonumber(ARGV[6 + n])
local full = {}
for i = 1, n do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[3 + i]) then table.insert(full, i - 1) end
end
local rps_key = KEYS[n + 1]
local rps_full = 0
if rps >= 0 then
  redis.call('ZREMRANGEBYSCORE', rps_key, '-inf', now - 1000)
  if redis.call('ZCARD', rps_key) >= rps then rps_full = 1 end
end
local day_key = KEYS[n + 2] .. ':' .. tostring(math.floor(tonumber(t[1]) / 86400))
local spent = tonumber(redis.call('GET', day_key) or '0')
local exhausted = 0
if budget >= 0 and spent + cost > budget then exhausted = 1 end
if #full > 0 or rps_full == 1 or exhausted == 1 then
  return {full, rps_full, exhausted, tostring(spent)}
end
for i = 1, n do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], window)
end
if rps >= 0 then
  redis.call('ZADD', rps_key, now, member)
  redis.call('PEXPIRE', rps_key, 1000)
end
spent = redis.call('INCRBY', day_key, cost)
redis.call('EXPIRE', day_key, 172800)
return {full, 0, 0, tostring(spent)}
"""


class RedisBudgetStore(RedisRateLimitStore):
    """The Redis rate-limit store, plus budgets checked and counted by the same Lua script.

    >>> store = RedisBudgetStore("redis://127.0.0.1:6379/0")  # doctest: +SKIP
    """

    def __init__(self, url: str | None = None, **options: Any) -> None:
        super().__init__(url, **options)
        self._admit_script = self._client.register_script(_ADMIT_SCRIPT)

    def admit(self, limits: Limits, window_s: float, charge: BudgetCharge | None) -> BudgetOutcome:
        """Check and count rate limits and the budget together, atomically on the Redis server."""
        agent = charge.agent_id if charge is not None else "-"
        rule = charge.rule if charge is not None else "-"
        keys = [self._prefix + key for key, _ in limits]
        keys += [f"{self._prefix}{agent}\x1f{rule}\x1frps", f"{self._prefix}{agent}\x1f{rule}\x1fusd"]
        rps = charge.requests_per_second if charge is not None and charge.requests_per_second is not None else -1
        cost = to_micro_usd(charge.cost_usd) if charge is not None else 0
        daily = charge.daily_usd if charge is not None else None
        args: list[Any] = [len(limits), int(window_s * 1000), uuid.uuid4().hex, *[int(limit) for _, limit in limits]]
        args += [rps, cost, to_micro_usd(daily) if daily is not None else -1]
        try:
            full, rps_full, exhausted, spent = self._admit_script(keys=keys, args=args)
        except Exception as exc:  # redis-py raises ConnectionError, TimeoutError, ResponseError, …
            where = f" at {self.url}" if self.url else ""
            raise RateLimitStoreError(f"the Redis budget store{where} failed: {exc}") from exc
        return BudgetOutcome([int(i) for i in full], bool(int(rps_full)), bool(int(exhausted)), int(spent))
