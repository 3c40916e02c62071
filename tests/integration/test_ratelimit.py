"""Rate limits by plan, per identity and route group, in memory and on the real Redis.

Most tests run on both stores (the ``backend`` fixture); on Redis each test gets a key prefix of
its own and deletes its keys afterwards. A fake clock replaces ``time`` in the limiter and in the
``limits`` modules, so windows pass without waiting and every figure is exact.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import limits.storage.memory
import limits.storage.redis
import limits.strategies
import pytest
import redis

from flowforge.security import ratelimit
from flowforge.security.ratelimit import (
    PLAN_POLICIES,
    WEBHOOK_POLICY,
    Decision,
    Plan,
    Policy,
    Quota,
    RateLimiter,
)

REDIS_URL = os.environ.get("FLOWFORGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MINUTE = 60
DAY = 86_400


def _redis_reachable() -> bool:
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


REDIS_UP = _redis_reachable()


class FakeClock:
    """Stands in for the ``time`` module where the limiter and ``limits`` read it."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.mono = 1000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    # 10 s past a minute boundary (1.8e9 is one), so clock-aligned windows sit mid-minute.
    fake = FakeClock(1_800_000_010.0)
    for module in (ratelimit, limits.storage.memory, limits.storage.redis, limits.strategies):
        monkeypatch.setattr(module, "time", fake)
    return fake


@dataclass
class Backend:
    """Makes limiters on one store, each on the same fresh key prefix."""

    name: str
    prefix: str
    made: list[RateLimiter]

    @property
    def url(self) -> str | None:
        return REDIS_URL if self.name == "redis" else None

    def make(self, **options: Any) -> RateLimiter:
        limiter = RateLimiter(self.url, prefix=self.prefix, **options)
        self.made.append(limiter)
        return limiter


def _open_backend(name: str) -> Iterator[Backend]:
    if name == "redis" and not REDIS_UP:
        pytest.skip(f"no Redis at {REDIS_URL}")
    backend = Backend(name, f"fftest-{uuid.uuid4().hex[:12]}", [])
    yield backend
    for limiter in backend.made:
        limiter.close()
    if name == "redis":
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(f"{backend.prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    yield from _open_backend(request.param)


@pytest.fixture
def redis_backend() -> Iterator[Backend]:
    yield from _open_backend("redis")


@pytest.fixture
def memory_backend() -> Iterator[Backend]:
    yield from _open_backend("memory")


def _hits(limiter: RateLimiter, n: int, identity: str = "key_1", **kw: Any) -> list[Decision]:
    group = kw.pop("group", "api")
    plan = kw.pop("plan", Plan.FREE)
    return [limiter.hit(identity, group, plan, **kw) for _ in range(n)]


# -- plans


@pytest.mark.parametrize(
    ("plan", "per_minute", "per_day"),
    [(Plan.FREE, 100, 1_000), (Plan.BASIC, 500, 10_000), (Plan.PRO, 2_000, 50_000)],
)
def test_each_plan_per_minute_limit_then_refused_with_retry_after(
    backend: Backend, clock: FakeClock, plan: Plan, per_minute: int, per_day: int
) -> None:
    limiter = backend.make()
    decisions = _hits(limiter, per_minute, plan=plan)
    assert all(d.allowed for d in decisions)
    assert [d.remaining for d in decisions] == list(range(per_minute - 1, -1, -1))
    assert {d.limit for d in decisions} == {per_minute}
    assert {d.window for d in decisions} == {Quota(per_minute, MINUTE)}

    clock.advance(20.25)
    refused = limiter.hit("key_1", "api", plan)
    assert not refused.allowed
    assert refused.window == Quota(per_minute, MINUTE)
    assert refused.remaining == 0
    assert refused.reset_after_s == pytest.approx(39.75)
    assert refused.headers()["Retry-After"] == "40"
    # The refused hit took nothing from the day: per_minute used, not per_minute + 1.
    assert limiter.remaining("key_1", "api", plan) == {
        Quota(per_minute, MINUTE): 0,
        Quota(per_day, DAY): per_day - per_minute,
    }

    clock.advance(39.76)  # the first hits leave the window
    again = limiter.hit("key_1", "api", plan)
    assert again.allowed
    assert again.remaining == per_minute - 1


def test_daily_limit_of_the_free_plan(backend: Backend, clock: FakeClock) -> None:
    limiter = backend.make()
    start = clock.now
    for minute in range(10):
        assert all(d.allowed for d in _hits(limiter, 100)), f"minute {minute}"
        refused = _hits(limiter, 7)  # refused: counted in no window
        assert not any(d.allowed for d in refused)
        # Both full after the tenth minute: the client is told of the one that frees up last.
        deciding = Quota(100, MINUTE) if minute < 9 else Quota(1_000, DAY)
        assert {d.window for d in refused} == {deciding}
        clock.advance(MINUTE + 1)
    assert limiter.remaining("key_1", "api", Plan.FREE) == {
        Quota(100, MINUTE): 100,
        Quota(1_000, DAY): 0,
    }

    refused_by_day = limiter.hit("key_1", "api", Plan.FREE)
    assert not refused_by_day.allowed
    assert refused_by_day.window == Quota(1_000, DAY)
    assert refused_by_day.limit == 1_000
    assert refused_by_day.remaining == 0
    assert refused_by_day.reset_after_s == pytest.approx(start + DAY - clock.now)
    assert refused_by_day.headers()["Retry-After"] == str(DAY - 610)
    # ... and it took nothing from the minute window.
    assert limiter.remaining("key_1", "api", Plan.FREE)[Quota(100, MINUTE)] == 100

    clock.now = start + DAY + 0.5  # the first minute's hundred leave the day window
    back = _hits(limiter, 101)
    assert all(d.allowed for d in back[:100])
    assert not back[100].allowed
    # Both windows are at 0; the day frees up later (the second minute's hits, 60.5 s away).
    assert back[99].window == Quota(1_000, DAY)
    assert back[99].remaining == 0
    assert back[99].headers()["RateLimit-Reset"] == "61"


def test_a_refusal_by_the_long_window_consumes_nothing_from_the_short(
    backend: Backend, clock: FakeClock
) -> None:
    limiter = backend.make(plans={**PLAN_POLICIES, Plan.FREE: Policy.of(per_minute=10, per_day=12)})
    assert limiter.hit("k", "api", Plan.FREE, cost=10).allowed
    clock.advance(MINUTE + 1)
    refused = limiter.hit("k", "api", Plan.FREE, cost=5)
    assert not refused.allowed
    assert refused.window == Quota(12, DAY)
    assert refused.remaining == 2
    assert limiter.remaining("k", "api", Plan.FREE) == {Quota(10, MINUTE): 10, Quota(12, DAY): 2}
    assert limiter.hit("k", "api", Plan.FREE, cost=2).allowed
    assert limiter.remaining("k", "api", Plan.FREE) == {Quota(10, MINUTE): 8, Quota(12, DAY): 0}


def test_cost_counts_several_units_and_a_cost_above_the_limit_is_refused(
    backend: Backend, clock: FakeClock
) -> None:
    limiter = backend.make()
    first = limiter.hit("k", "execute", Plan.FREE, cost=60)
    assert (first.allowed, first.remaining) == (True, 40)
    refused = limiter.hit("k", "execute", Plan.FREE, cost=41)
    assert (refused.allowed, refused.remaining) == (False, 40)
    assert limiter.hit("k", "execute", Plan.FREE, cost=40).allowed
    too_big = limiter.hit("other", "execute", Plan.FREE, cost=101)
    assert not too_big.allowed
    assert limiter.remaining("other", "execute", Plan.FREE)[Quota(100, MINUTE)] == 100


def test_enterprise_is_unlimited(backend: Backend, clock: FakeClock) -> None:
    limiter = backend.make()
    decisions = _hits(limiter, 5_000, plan=Plan.ENTERPRISE)
    assert all(d.allowed for d in decisions)
    assert decisions[-1] == Decision(True, None, None, 0.0, None, Policy())
    assert decisions[-1].headers() == {}
    assert limiter.hit("key_1", "api", Plan.ENTERPRISE, cost=10**9).allowed
    assert limiter.remaining("key_1", "api", Plan.ENTERPRISE) == {}
    with pytest.raises(ValueError, match="identity"):
        limiter.hit("", "api", Plan.ENTERPRISE)


def test_identities_and_groups_are_independent(backend: Backend, clock: FakeClock) -> None:
    limiter = backend.make()
    assert all(d.allowed for d in _hits(limiter, 100, "alice"))
    assert not limiter.hit("alice", "api", Plan.FREE).allowed
    for identity, group in [("bob", "api"), ("alice", "execute"), ("alice", "services")]:
        decision = limiter.hit(identity, group, Plan.FREE)
        assert decision.allowed, (identity, group)
        assert decision.remaining == 99
    assert not limiter.hit("alice", "api", Plan.FREE).allowed


def test_identities_cannot_pose_as_one_another(backend: Backend, clock: FakeClock) -> None:
    limiter = backend.make(plans={**PLAN_POLICIES, Plan.FREE: Policy.of(per_minute=1)})
    long_a, long_b = "p" * 5_000 + "a", "p" * 5_000 + "b"
    forged = "#" + hashlib.sha256(long_a.encode()).hexdigest()  # the hashed key, spelt out
    identities = [
        "a/b",
        "a%2Fb",
        "a",
        "=a",
        "a/api",
        "a:b",
        "a b",
        "a\x00b",
        "ключ/🔑",
        long_a,
        long_b,
        forged,
        "*",
    ]
    for identity in identities:
        assert limiter.hit(identity, "api", Plan.FREE).allowed, identity
    for identity in identities:
        assert not limiter.hit(identity, "api", Plan.FREE).allowed, identity


@pytest.mark.parametrize(
    ("identity", "group", "plan", "cost", "error"),
    [
        ("", "api", Plan.FREE, 1, ValueError),
        (None, "api", Plan.FREE, 1, TypeError),
        (b"key", "api", Plan.FREE, 1, TypeError),
        ("k", "", Plan.FREE, 1, ValueError),
        ("k", "API", Plan.FREE, 1, ValueError),
        ("k", "api/x", Plan.FREE, 1, ValueError),
        ("k", "a" * 65, Plan.FREE, 1, ValueError),
        ("k", None, Plan.FREE, 1, ValueError),
        ("k", "api", "gold", 1, ValueError),
        ("k", "api", Plan.FREE, 0, ValueError),
        ("k", "api", Plan.FREE, -5, ValueError),
        ("k", "api", Plan.FREE, 1.5, ValueError),
        ("k", "api", Plan.FREE, True, ValueError),
    ],
)
def test_bad_arguments_are_refused(
    memory_backend: Backend, identity: Any, group: Any, plan: Any, cost: Any, error: type
) -> None:
    limiter = memory_backend.make()
    with pytest.raises(error):
        limiter.hit(identity, group, plan, cost=cost)


def test_plan_given_as_its_value_works(memory_backend: Backend) -> None:
    limiter = memory_backend.make()
    decision = limiter.hit("k", "api", "basic")  # type: ignore[arg-type]
    assert decision.limit == 500


# -- webhooks


def test_webhooks_have_their_own_limit_per_path(backend: Backend, clock: FakeClock) -> None:
    limiter = backend.make()
    assert limiter.policy("webhooks", Plan.FREE) == WEBHOOK_POLICY
    assert limiter.policy("webhooks", Plan.ENTERPRISE) == WEBHOOK_POLICY
    path = "/webhook/orders/new"
    decisions = [limiter.hit(path, "webhooks", Plan.ENTERPRISE) for _ in range(600)]
    assert all(d.allowed for d in decisions)
    assert decisions[0].headers()["RateLimit-Policy"] == "600;w=60, 100000;w=86400"
    refused = limiter.hit(path, "webhooks", Plan.ENTERPRISE)
    assert not refused.allowed
    assert refused.limit == 600
    assert limiter.hit("/webhook/other", "webhooks", Plan.FREE).allowed
    assert limiter.hit(path, "api", Plan.FREE).allowed  # the same string as an API identity


def test_webhook_limits_are_configurable(backend: Backend, clock: FakeClock) -> None:
    limiter = backend.make(
        group_policies={"webhooks": Policy.parse("3/minute"), "services": Policy.parse("2/second")}
    )
    webhook = [limiter.hit("/hook", "webhooks", Plan.PRO).allowed for _ in range(4)]
    assert webhook == [True, True, True, False]
    services = [limiter.hit("k", "services", Plan.ENTERPRISE) for _ in range(3)]
    assert [d.allowed for d in services] == [True, True, False]
    assert services[-1].headers()["Retry-After"] == "1"
    assert limiter.hit("k", "api", Plan.FREE).limit == 100  # other groups keep the plan


# -- headers


def test_headers_are_exact(backend: Backend, clock: FakeClock) -> None:
    limiter = backend.make()
    first = limiter.hit("k", "api", Plan.FREE)
    assert first.headers() == {
        "RateLimit-Limit": "100",
        "RateLimit-Remaining": "99",
        "RateLimit-Reset": "60",
        "RateLimit-Policy": "100;w=60, 1000;w=86400",
    }
    clock.advance(0.5)
    _hits(limiter, 98, "k")
    last = limiter.hit("k", "api", Plan.FREE)
    assert last.headers() == {
        "RateLimit-Limit": "100",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "60",  # 59.5 s until the first hit leaves, rounded up
        "RateLimit-Policy": "100;w=60, 1000;w=86400",
    }
    clock.advance(15.0)
    refused = limiter.hit("k", "api", Plan.FREE)
    assert refused.headers() == {
        "RateLimit-Limit": "100",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "45",
        "RateLimit-Policy": "100;w=60, 1000;w=86400",
        "Retry-After": "45",
    }
    clock.advance(44.4)
    assert limiter.hit("k", "api", Plan.FREE).headers()["Retry-After"] == "1"


def test_headers_of_a_refusal_by_the_day_window(memory_backend: Backend, clock: FakeClock) -> None:
    limiter = memory_backend.make(
        plans={**PLAN_POLICIES, Plan.BASIC: Policy.of(per_minute=5, per_day=6)}
    )
    _hits(limiter, 5, plan=Plan.BASIC)
    clock.advance(3_600)
    allowed = limiter.hit("key_1", "api", Plan.BASIC)
    assert allowed.headers() == {
        "RateLimit-Limit": "6",  # the window closest to running out
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "82800",
        "RateLimit-Policy": "5;w=60, 6;w=86400",
    }
    assert limiter.hit("key_1", "api", Plan.BASIC).headers()["Retry-After"] == "82800"


# -- the two stores agree


def _script(limiter: RateLimiter, clock: FakeClock) -> list[tuple[object, ...]]:
    seen: list[tuple[object, ...]] = []
    steps = [
        ("a", "api", Plan.FREE, 1, 60),
        ("a", "api", Plan.FREE, 3, 30),
        ("b", "execute", Plan.BASIC, 7, 100),
        ("/hook", "webhooks", Plan.FREE, 1, 700),
        ("a", "api", Plan.FREE, 1, 20),
        ("c", "services", Plan.PRO, 100, 25),
    ]
    for identity, group, plan, cost, count in steps:
        for _ in range(count):
            d = limiter.hit(identity, group, plan, cost=cost)
            seen.append((d.allowed, d.limit, d.remaining, d.headers(), d.window, d.degraded))
        clock.advance(13.7)
    return seen


def test_memory_and_redis_give_the_same_results(
    memory_backend: Backend, redis_backend: Backend, clock: FakeClock
) -> None:
    start = clock.now
    in_memory = _script(memory_backend.make(), clock)
    clock.now = start
    in_redis = _script(redis_backend.make(), clock)
    assert len(in_memory) == 935
    assert sum(1 for s in in_memory if not s[0]) > 100  # the script does reach the limits
    assert in_memory == in_redis


# -- concurrency


def _hammer(limiter_for: Callable[[int], RateLimiter], threads: int, each: int) -> int:
    allowed = 0
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        nonlocal allowed
        limiter = limiter_for(n)
        start.wait()
        mine = sum(limiter.hit("shared", "api", Plan.FREE).allowed for _ in range(each))
        with lock:
            allowed += mine

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return allowed


def test_many_threads_never_exceed_the_limit(backend: Backend) -> None:
    limiter = backend.make()
    assert _hammer(lambda _: limiter, threads=16, each=25) == 100
    assert limiter.remaining("shared", "api", Plan.FREE) == {
        Quota(100, MINUTE): 0,
        Quota(1_000, DAY): 900,
    }


def test_many_processes_sharing_redis_never_exceed_the_limit(redis_backend: Backend) -> None:
    limiters = [redis_backend.make() for _ in range(8)]  # one per "process", one Redis
    assert _hammer(lambda n: limiters[n], threads=8, each=40) == 100


# -- the sliding window counter


def test_sliding_window_counter_strategy(backend: Backend, clock: FakeClock) -> None:
    limiter = backend.make(strategy="sliding-window-counter")
    decisions = _hits(limiter, 100)
    assert all(d.allowed for d in decisions)
    assert decisions[-1].remaining == 0
    refused = limiter.hit("key_1", "api", Plan.FREE)
    assert not refused.allowed
    assert 1 <= int(refused.headers()["Retry-After"]) <= 60
    assert limiter.remaining("key_1", "api", Plan.FREE)[Quota(1_000, DAY)] == 900


# -- Redis unreachable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_redis_falls_back_to_local_limits(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    with caplog.at_level(logging.WARNING, logger="flowforge.security.ratelimit"):
        limiter = RateLimiter(url, prefix=f"fftest-{uuid.uuid4().hex[:12]}", recheck_s=5.0)
        assert limiter.shared
        decisions = _hits(limiter, 101)
        # Open to this process's own limits: the plan still holds, the service stays up.
        assert all(d.allowed for d in decisions[:100])
        assert not decisions[100].allowed
        assert decisions[100].headers()["Retry-After"] == "60"
        assert all(d.degraded for d in decisions)
        outages = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(outages) == 1
        assert str(url.split("/")[2]) in outages[0].getMessage()

        clock.advance(5.0)  # time to try Redis again: still down, still limited locally
        again = limiter.hit("key_1", "api", Plan.FREE)
        assert again.degraded and not again.allowed
        assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 2
        assert limiter.remaining("key_1", "api", Plan.FREE)[Quota(100, MINUTE)] == 0
    limiter.close()


def test_the_fallback_is_dropped_once_redis_answers(
    redis_backend: Backend, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = redis_backend.make()
    real = limiter._redis
    assert real is not None
    broken = RateLimiter(f"redis://127.0.0.1:{_closed_port()}/0", prefix=redis_backend.prefix)
    limiter._redis = broken._redis  # Redis goes away ...
    assert limiter.hit("k", "api", Plan.FREE).degraded
    limiter._redis = real  # ... and comes back
    clock.advance(5.0)
    with caplog.at_level(logging.WARNING, logger="flowforge.security.ratelimit"):
        back = limiter.hit("k", "api", Plan.FREE)
    assert not back.degraded
    assert back.remaining == 99  # counted in Redis, which never saw the degraded hit
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    broken.close()


# -- configuration


def test_policy_notation() -> None:
    policy = Policy.parse("100000/day; 600/minute")
    assert policy.quotas == (Quota(600, 60), Quota(100_000, 86_400))
    assert policy.header() == "600;w=60, 100000;w=86400"
    assert str(policy) == "600/minute; 100000/day"
    assert Policy.parse("10 per 5 seconds").quotas == (Quota(10, 5),)
    assert Policy.parse("unlimited").unlimited
    assert Policy.parse("").unlimited
    assert PLAN_POLICIES[Plan.PRO] == Policy.parse("2000/minute;50000/day")
    for bad in ("lots", "-1/minute", "10/fortnight"):
        with pytest.raises(ValueError, match="invalid rate limit policy"):
            Policy.parse(bad)
    with pytest.raises(ValueError, match="same window"):
        Policy.parse("1/minute; 2/minute")
    for limit, seconds in [(0, 60), (10, 0), (-1, 60)]:
        with pytest.raises(ValueError, match="positive integer"):
            Quota(limit, seconds)


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("memcached://127.0.0.1:11211", {}, "unsupported rate limit store"),
        ("http://127.0.0.1:6379", {}, "unsupported rate limit store"),
        (None, {"prefix": "has space"}, "prefix"),
        (None, {"prefix": ""}, "prefix"),
        (None, {"strategy": "fixed-window"}, "strategy"),
        (None, {"plans": {Plan.FREE: Policy()}}, "no rate limit policy"),
        (None, {"group_policies": {"Web Hooks": Policy()}}, "group"),
    ],
)
def test_bad_configuration_is_refused(url: str | None, options: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RateLimiter(url, **options)


def test_memory_url_is_the_default_store() -> None:
    assert not RateLimiter("memory://").shared
    assert not RateLimiter().shared
