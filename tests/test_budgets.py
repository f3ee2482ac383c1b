"""Budgets: dollars per day and requests per second, counted atomically with rate limits, in process and in Redis."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.redis_server import RedisServer, redis_server  # noqa: F401 - the fixture
from yaml2rego.errors import RateLimitStoreError
from yaml2rego.runtime.budgets import (
    BudgetCharge,
    MemoryBudgetStore,
    RedisBudgetStore,
    charge_from_decision,
    to_micro_usd,
)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _charge(cost: float = 1.0, daily: float | None = 20.0, rps: int | None = None) -> BudgetCharge:
    return BudgetCharge("llm_agent", "budget", daily, rps, cost)


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> Callable[[], object]:
    if request.param == "memory":
        shared = MemoryBudgetStore()
        return lambda: shared
    server: RedisServer = request.getfixturevalue("redis_server")
    return lambda: RedisBudgetStore(server.url, max_connections=64, timeout=5.0)


def test_daily_budget_admits_calls_until_the_next_would_overspend(make_store: Callable[[], object]) -> None:
    store = make_store()
    outcomes = [store.admit([], 60.0, _charge(cost=6.0)) for _ in range(4)]  # type: ignore[attr-defined]
    assert [o.ok for o in outcomes] == [True, True, True, False]
    assert outcomes[3].budget_exhausted and outcomes[3].spent_micro_usd == to_micro_usd(18.0)


def test_a_call_that_fits_exactly_is_admitted(make_store: Callable[[], object]) -> None:
    store = make_store()
    assert store.admit([], 60.0, _charge(cost=20.0)).ok  # type: ignore[attr-defined]
    assert store.admit([], 60.0, _charge(cost=0.000001)).budget_exhausted  # type: ignore[attr-defined]


def test_cents_add_up_exactly(make_store: Callable[[], object]) -> None:
    """0.1 + 0.2 is not 0.3 in floating point; in micro-dollars it is."""
    store = make_store()
    for cost in (0.1, 0.2):
        assert store.admit([], 60.0, _charge(cost=cost, daily=0.3)).ok  # type: ignore[attr-defined]
    assert store.admit([], 60.0, _charge(cost=0.000001, daily=0.3)).budget_exhausted  # type: ignore[attr-defined]


def test_a_full_rate_limit_spends_no_budget(make_store: Callable[[], object]) -> None:
    store = make_store()
    limits = [("llm_agent\x1frate_limits[0]\x1f/v1/*", 1)]
    assert store.admit(limits, 60.0, _charge(cost=5.0)).ok  # type: ignore[attr-defined]
    refused = store.admit(limits, 60.0, _charge(cost=5.0))  # type: ignore[attr-defined]
    assert refused.full == [0] and not refused.budget_exhausted
    assert store.admit([], 60.0, _charge(cost=15.0)).ok  # type: ignore[attr-defined]  # 5 + 15 = 20: still room


def test_requests_per_second_refuses_the_call_over_the_limit(make_store: Callable[[], object]) -> None:
    store = make_store()
    outcomes = [store.admit([], 60.0, _charge(cost=0.0, rps=3)) for _ in range(4)]  # type: ignore[attr-defined]
    assert [o.rps_exceeded for o in outcomes] == [False, False, False, True]


def test_budgets_are_per_agent(make_store: Callable[[], object]) -> None:
    store = make_store()
    assert store.admit([], 60.0, _charge(cost=20.0)).ok  # type: ignore[attr-defined]
    other = BudgetCharge("other_agent", "budget", 20.0, None, 20.0)
    assert store.admit([], 60.0, other).ok  # type: ignore[attr-defined]


def test_concurrent_callers_never_overspend(make_store: Callable[[], object]) -> None:
    """200 threads racing for a $20 budget at $1 a call: exactly 20 get through, on one store or many clients."""
    admitted: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(50)

    def worker() -> None:
        store = make_store()
        barrier.wait()
        for _ in range(4):
            ok = store.admit([], 60.0, _charge(cost=1.0)).ok  # type: ignore[attr-defined]
            with lock:
                admitted.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 200 and admitted.count(True) == 20


def test_memory_budget_resets_on_the_next_utc_day() -> None:
    wall = Clock(86_400 * 20_000 + 86_399.0)
    store = MemoryBudgetStore(wall_clock=wall)
    assert store.admit([], 60.0, _charge(cost=20.0)).ok
    assert store.admit([], 60.0, _charge(cost=1.0)).budget_exhausted
    wall.now += 1.0
    assert store.admit([], 60.0, _charge(cost=1.0)).ok


def test_memory_rps_window_slides() -> None:
    clock = Clock()
    store = MemoryBudgetStore(clock=clock)
    assert store.admit([], 60.0, _charge(cost=0.0, rps=1)).ok
    assert store.admit([], 60.0, _charge(cost=0.0, rps=1)).rps_exceeded
    clock.now += 1.001
    assert store.admit([], 60.0, _charge(cost=0.0, rps=1)).ok


def test_budget_store_still_serves_plain_rate_limits() -> None:
    store = MemoryBudgetStore()
    assert store.acquire([("k", 1)], 60.0) == []
    assert store.acquire([("k", 1)], 60.0) == [0]


def test_redis_down_raises_a_store_error(redis_server: RedisServer) -> None:  # noqa: F811
    store = RedisBudgetStore(redis_server.url, timeout=0.5)
    redis_server.stop()
    with pytest.raises(RateLimitStoreError, match="Redis budget store"):
        store.admit([], 60.0, _charge())


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        ({"rule": "budget", "daily_usd": 20, "requests_per_second": 5, "cost_usd": 0.25}, (20.0, 5, 0.25)),
        ({"rule": "budget", "daily_usd": None, "requests_per_second": 5}, (None, 5, 0.0)),
    ],
    ids=["full", "rps-only"],
)
def test_charge_from_decision(budget: dict[str, object], expected: tuple[object, ...]) -> None:
    charge = charge_from_decision("a1", budget)
    assert charge is not None and (charge.daily_usd, charge.requests_per_second, charge.cost_usd) == expected


@pytest.mark.parametrize("bad", [{"cost_usd": -1}, {"cost_usd": "1"}, {"daily_usd": True}], ids=["neg", "str", "bool"])
def test_malformed_budget_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="budget"):
        charge_from_decision("a1", bad)
