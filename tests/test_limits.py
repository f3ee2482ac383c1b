"""Rate-limit stores: sliding windows, all-or-nothing counting, exactness under concurrency, Redis across processes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.fake_engine import ScriptedEngine
from tests.redis_server import RedisServer, redis_server  # noqa: F401 - the fixture
from yaml2rego.adapters import Guard, MemoryRateLimitStore, RedisRateLimitStore
from yaml2rego.errors import RateLimitStoreError
from yaml2rego.runtime.limits import RateLimitStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def race(acquire: Callable[[], list[int]], threads: int = 200) -> int:
    """How many of ``threads`` simultaneous acquires got through."""
    barrier = threading.Barrier(threads)
    allowed: list[bool] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        result = acquire() == []
        with lock:
            allowed.append(result)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(allowed)


def test_memory_store_lets_the_limit_through_then_refuses() -> None:
    store = MemoryRateLimitStore()
    assert [store.acquire([("k", 3)], 60) for _ in range(4)] == [[], [], [], [0]]


def test_memory_store_window_slides() -> None:
    clock = Clock()
    store = MemoryRateLimitStore(clock=clock)
    assert store.acquire([("k", 2)], 60) == []
    clock.now += 30
    assert store.acquire([("k", 2)], 60) == []
    assert store.acquire([("k", 2)], 60) == [0]
    clock.now += 30.5  # the first call has left the window, the second has not
    assert store.acquire([("k", 2)], 60) == []
    assert store.acquire([("k", 2)], 60) == [0]


def test_memory_store_keys_are_independent() -> None:
    store = MemoryRateLimitStore()
    assert store.acquire([("agent-a|r0", 1)], 60) == []
    assert store.acquire([("agent-b|r0", 1)], 60) == []
    assert store.acquire([("agent-a|r0", 1)], 60) == [0]


def test_a_call_refused_by_one_limit_is_counted_by_none(store_factory: Callable[[], RateLimitStore]) -> None:
    store = store_factory()
    assert store.acquire([("narrow", 1)], 60) == []
    assert store.acquire([("wide", 2), ("narrow", 1)], 60) == [1]
    # "wide" was not charged for the refused call: two more fit.
    assert store.acquire([("wide", 2)], 60) == []
    assert store.acquire([("wide", 2)], 60) == []
    assert store.acquire([("wide", 2)], 60) == [0]


def test_200_threads_racing_on_a_limit_of_30_get_exactly_30(store_factory: Callable[[], RateLimitStore]) -> None:
    store = store_factory()
    assert race(lambda: store.acquire([("hot", 30)], 60)) == 30


def test_a_window_taken_by_another_thread_is_waited_for_then_held() -> None:
    """wait_for hands the interpreter lock on until the holder lets go, then holds the lock itself."""
    from yaml2rego.runtime.limits import wait_for

    lock, taken, release = threading.Lock(), threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            taken.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    taken.wait(5)
    threading.Timer(0.05, release.set).start()
    wait_for(lock)
    assert release.is_set() and lock.locked()
    lock.release()
    thread.join(5)


@pytest.fixture(params=["memory", "redis"])
def store_factory(request: pytest.FixtureRequest) -> Callable[[], RateLimitStore]:
    if request.param == "memory":
        return MemoryRateLimitStore
    server: RedisServer = request.getfixturevalue("redis_server")
    return lambda: RedisRateLimitStore(server.url)


@pytest.mark.redis
def test_redis_store_is_shared_between_store_instances(redis_server: RedisServer) -> None:  # noqa: F811
    """Two stores on one Redis stand for two processes or hosts: together they still let exactly 30 through."""
    stores = [RedisRateLimitStore(redis_server.url) for _ in range(2)]
    turn = iter(range(10_000))
    lock = threading.Lock()

    def acquire() -> list[int]:
        with lock:
            store = stores[next(turn) % 2]
        return store.acquire([("shared", 30)], 60)

    assert race(acquire) == 30


@pytest.mark.redis
def test_redis_window_expires(redis_server: RedisServer) -> None:  # noqa: F811
    import time

    store = RedisRateLimitStore(redis_server.url)
    assert store.acquire([("short", 1)], 0.2) == []
    assert store.acquire([("short", 1)], 0.2) == [0]
    time.sleep(0.35)
    assert store.acquire([("short", 1)], 0.2) == []


@pytest.mark.redis
def test_redis_down_raises_a_store_error(redis_server: RedisServer) -> None:  # noqa: F811
    store = RedisRateLimitStore(redis_server.url, timeout=0.2)
    assert store.acquire([("k", 5)], 60) == []
    redis_server.stop()
    with pytest.raises(RateLimitStoreError, match=r"Redis rate-limit store at redis://127\.0\.0\.1"):
        store.acquire([("k", 5)], 60)


class LimitedEngine(ScriptedEngine):
    def decide(self, call: Any) -> dict[str, Any]:
        limit = {"rule": "rate_limits[0]", "source": "a.yaml:3", "pattern": "/api/*", "requests_per_minute": 2}
        return {"decision": "allow", "allow": True, "reasons": [], "decision_reason": "ok", "policy_version": "v",
                "agent_id": call["agent_id"], "mode": "enforce", "rate_limits": [limit]}  # fmt: skip


@pytest.mark.redis
def test_guard_fails_closed_with_a_clear_reason_when_redis_is_down(redis_server: RedisServer) -> None:  # noqa: F811
    call = {"agent_id": "a", "method": "GET", "path": "/api/x"}
    with Guard(LimitedEngine(), store=RedisRateLimitStore(redis_server.url, timeout=0.2)) as guard:
        assert guard.check(call).allow
        redis_server.stop()
        decision = guard.check(call)
        assert decision.codes == ["rate_limit_store_unavailable"] and decision.blocked
        assert decision.decision_reason.startswith("the rate-limit store is unavailable")
        redis_server.start()  # a fresh Redis (no persistence): the window starts empty
        assert [guard.check(call).allow for _ in range(2)] == [True, True]  # the guard reconnects on its own
        assert guard.check(call).codes == ["rate_limit_exceeded"]
