"""Rate limit overhead: microseconds per request decision, in memory and on Redis.

Each request is one ``RateLimiter.hit`` of a Pro identity (two windows: a minute and a day),
spread over 200 identities; also a refused request (its minute window full) and an Enterprise
request (unlimited: no store). Goal for the issue: authentication, permission check and rate
limit together under 0.3 ms per request with the in-memory store, so this part should take a
small share of it. Redis is the one at ``--redis`` (default ``FLOWFORGE_REDIS_URL`` or
127.0.0.1:6379); it is skipped when unreachable. The CPU figure (this thread only) shows the
cost itself when other processes share the machine; the wall figure includes waiting for Redis.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable

import redis

from flowforge.security.ratelimit import Plan, RateLimiter

IDENTITIES = [f"key_{n}" for n in range(200)]


def per_call_us(
    call: Callable[[int], object], calls: int, repeat: int
) -> tuple[list[float], list[float]]:
    """Wall time and this thread's CPU time per call, one sample per run."""
    wall, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.thread_time()
        for n in range(calls):
            call(n)
        cpu.append((time.thread_time() - started_cpu) / calls * 1e6)
        wall.append((time.perf_counter() - started) / calls * 1e6)
    return wall, cpu


def report(label: str, samples: tuple[list[float], list[float]]) -> None:
    wall, cpu = samples
    print(
        f"  {label:<34} wall median {statistics.median(wall):7.1f} us, best {min(wall):7.1f} us;"
        f" CPU median {statistics.median(cpu):6.1f} us ({len(wall)} runs)"
    )


def measure(limiter: RateLimiter, calls: int, repeat: int) -> None:
    def allowed(n: int) -> object:
        decision = limiter.hit(IDENTITIES[n % len(IDENTITIES)], "api", Plan.PRO)
        assert decision.allowed
        return decision.headers()

    def refused(n: int) -> object:
        decision = limiter.hit("full", "api", Plan.FREE)
        assert not decision.allowed
        return decision.headers()

    def unlimited(n: int) -> object:
        return limiter.hit("big", "api", Plan.ENTERPRISE).headers()

    for _ in range(100):  # fill the "full" identity's minute window
        limiter.hit("full", "api", Plan.FREE)
    report("allowed (Pro, 2 windows) + headers", per_call_us(allowed, calls, repeat))
    report("refused (Free, minute full)", per_call_us(refused, calls, repeat))
    report("unlimited (Enterprise)", per_call_us(unlimited, calls, repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default_redis = os.environ.get("FLOWFORGE_REDIS_URL", "redis://127.0.0.1:6379/0")
    parser.add_argument("--redis", default=default_redis, help="Redis URL")
    parser.add_argument("--calls", type=int, default=2_000, help="requests per run")
    parser.add_argument("--repeat", type=int, default=5, help="measured runs")
    parser.add_argument("--db", help="ignored: rate limits keep no database (make bench passes it)")
    args = parser.parse_args()

    for strategy in ("moving-window", "sliding-window-counter"):
        print(f"in-memory store, {strategy} (goal: a small share of 300 us)")
        measure(RateLimiter(strategy=strategy), args.calls, args.repeat)

    prefix = f"ffbench-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(args.redis, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        print(f"Redis store: skipped ({exc})")
        return
    try:
        for strategy in ("moving-window", "sliding-window-counter"):
            print(f"Redis store at {args.redis}, {strategy}")
            with RateLimiter(args.redis, prefix=f"{prefix}-{strategy}", strategy=strategy) as rl:
                measure(rl, max(1, args.calls // 4), args.repeat)
    finally:
        keys = list(client.scan_iter(f"{prefix}-*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


if __name__ == "__main__":
    main()
