"""Rate limits: how many requests an identity may make in a route group, by plan.

Every request counts against its identity (an API key id or a user id) in one route group
(``api``, ``execute``, ``services``, ``webhooks`` ...). A plan gives each group a policy of one
or more windows; the request passes only when every window has room, and then it is counted in
every window. A refused request is counted in none, so a burst stopped by the per-minute window
does not eat into the day.

=============  ==========  ===========
plan           per minute  per day
=============  ==========  ===========
Free           100         1,000
Basic          500         10,000
Pro            2,000       50,000
Enterprise     unlimited   unlimited
=============  ==========  ===========

Webhooks are called by other systems, not by a FlowForge identity, so they are limited per
webhook path, with a policy of their own that does not depend on a plan (default
:data:`WEBHOOK_POLICY`: 600 a minute and 100,000 a day per path, configurable with
``group_policies``).

The counting is the ``limits`` library's: the moving window by default (exact: no 60 seconds ever
hold more than the per-minute limit, and both stores read the same client clock, so they agree),
or the sliding window counter (two counters per window instead of one timestamp per request:
approximate, but constant memory). The server uses the counter (``FLOWFORGE_RATELIMIT_STRATEGY``):
the moving window keeps every request of the last day, and the library's in-memory store walks
and copies all of them every 10 ms on a thread of its own. With 200,000 requests kept (100
identities, 2,000 each) that walk took 3.4 ms each time, 16 % of the process's time; with the
counter, 0.03 ms.
Storage is in memory by default (per process: with several server processes each counts on its
own) and Redis when a URL is given (``FLOWFORGE_REDIS_URL``), shared by every process.

When Redis is unreachable the limiter **falls back to the in-memory store** of its own process for
a few seconds (``recheck_s``), then tries Redis again; decisions taken meanwhile say
``degraded=True`` and the outage is logged once. Failing closed would turn a cache outage into an
outage of the whole API and of every webhook, for every customer, which is worse than the abuse
it guards against; failing fully open would leave an outage (or an attacker who can cause one)
with no limit at all. The local fallback keeps both the service and a limit: each process enforces
the plan on its own, so the cluster allows at most one plan's worth per process until Redis is
back. Authentication and permissions never depend on this store, so nothing is let in that
should not be; at worst a client gets a few times its quota for a few seconds.

With Redis, each window is counted atomically (a Lua script of ``limits``), so concurrent
processes never exceed a window. The check of every window comes before the count, so a window
that is already full consumes nothing anywhere; only when another process takes the last unit of
a longer window between the check and the count does the shorter window keep that one unit
(stricter, never looser). In memory, one lock makes check and count a single step.

A window's key holds its limit, so an identity whose plan changes (or a deployment whose numbers
change) starts with fresh windows.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar
from urllib.parse import quote, urlsplit

import limits
from limits import RateLimitItem, RateLimitItemPerSecond
from limits import strategies as _strategies
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string

__all__ = [
    "GROUPS",
    "PLAN_POLICIES",
    "WEBHOOKS",
    "WEBHOOK_POLICY",
    "Decision",
    "Plan",
    "Policy",
    "Quota",
    "RateLimiter",
]

log = logging.getLogger(__name__)

WEBHOOKS = "webhooks"
#: The route groups the API counts separately; any other name matching ``[a-z0-9_.-]`` works too.
GROUPS = ("api", "execute", "services", WEBHOOKS)

Strategy = Literal["moving-window", "sliding-window-counter"]

_GROUP = re.compile(r"^[a-z0-9_.-]{1,64}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_REDIS_SCHEMES = frozenset({"redis", "rediss", "redis+unix"})
_NAMESPACE = "ratelimit"
# Identities longer than this are hashed: a webhook path is chosen by whoever calls it.
_MAX_KEY_IDENTITY = 200
_WINDOW_NAMES = {1: "second", 60: "minute", 3600: "hour", 86_400: "day"}
_T = TypeVar("_T")


class Plan(enum.StrEnum):
    """A customer's plan, which sets their rate limits."""

    FREE = "free"
    BASIC = "basic"
    PRO = "pro"
    ENTERPRISE = "enterprise"


@dataclass(frozen=True, slots=True)
class Quota:
    """One window of a policy: at most ``limit`` units in any ``seconds`` seconds."""

    limit: int
    seconds: int

    def __post_init__(self) -> None:
        for name in ("limit", "seconds"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"a quota's {name} must be a positive integer, not {value!r}")

    @property
    def name(self) -> str:
        """The window's name: ``minute``, ``day``, or ``<n>s`` for an unusual length."""
        return _WINDOW_NAMES.get(self.seconds, f"{self.seconds}s")

    def __str__(self) -> str:
        return f"{self.limit}/{self.name}"


@dataclass(frozen=True, slots=True)
class Policy:
    """The windows a request must fit in, shortest first; no windows means unlimited."""

    quotas: tuple[Quota, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.quotas, key=lambda q: q.seconds))
        if len({q.seconds for q in ordered}) != len(ordered):
            raise ValueError(f"two quotas of the same window in {self.header()!r}")
        object.__setattr__(self, "quotas", ordered)

    @classmethod
    def of(cls, *, per_minute: int | None = None, per_day: int | None = None) -> Policy:
        """A policy of a per-minute and a per-day limit (either may be absent)."""
        quotas = [Quota(n, s) for n, s in ((per_minute, 60), (per_day, 86_400)) if n is not None]
        return cls(tuple(quotas))

    @classmethod
    def parse(cls, text: str) -> Policy:
        """A policy from the ``limits`` notation, e.g. ``"600/minute; 100000/day"``;
        ``"unlimited"`` or an empty string for no limit."""
        if text.strip().lower() in ("", "unlimited"):
            return cls()
        try:
            items = limits.parse_many(text)
        except ValueError as exc:
            raise ValueError(f"invalid rate limit policy {text!r}: {exc}") from exc
        return cls(tuple(Quota(item.amount, item.get_expiry()) for item in items))

    @property
    def unlimited(self) -> bool:
        """Whether this policy lets everything through."""
        return not self.quotas

    def header(self) -> str:
        """The ``RateLimit-Policy`` field value: ``100;w=60, 1000;w=86400``."""
        return ", ".join(f"{q.limit};w={q.seconds}" for q in self.quotas)

    def __str__(self) -> str:
        return "; ".join(map(str, self.quotas)) or "unlimited"


PLAN_POLICIES: Mapping[Plan, Policy] = {
    Plan.FREE: Policy.of(per_minute=100, per_day=1_000),
    Plan.BASIC: Policy.of(per_minute=500, per_day=10_000),
    Plan.PRO: Policy.of(per_minute=2_000, per_day=50_000),
    Plan.ENTERPRISE: Policy(),
}
#: Per webhook path, whatever the plan: bursts of a busy integration pass, a flood does not.
WEBHOOK_POLICY = Policy.of(per_minute=600, per_day=100_000)


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether one request may go on, and what its client should be told about its quota.

    ``window`` is the quota that decided: the one that refused, or, when allowed, the one closest
    to running out. ``limit``, ``remaining`` and ``reset_after_s`` describe that window (``None``
    and 0 for an unlimited policy). ``reset_after_s`` is when a unit of it comes back; for a
    refused request of cost above one, at least that long. ``degraded`` says the shared store was
    unreachable and this process's own counts decided.
    """

    allowed: bool
    limit: int | None
    remaining: int | None
    reset_after_s: float
    window: Quota | None
    policy: Policy
    degraded: bool = False

    def headers(self) -> dict[str, str]:
        """The response headers: ``RateLimit-Limit``, ``-Remaining``, ``-Reset`` and ``-Policy``
        (draft-ietf-httpapi-ratelimit-headers-06) and, when refused, ``Retry-After``; none for
        an unlimited policy."""
        if self.window is None or self.limit is None or self.remaining is None:
            return {}
        reset = _whole_seconds(self.reset_after_s)
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": self.policy.header(),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, reset))
        return headers


def _whole_seconds(seconds: float) -> int:
    # Round to the millisecond first so 60.0000001 (float noise) says 60, not 61.
    return max(0, math.ceil(round(seconds, 3)))


@dataclass(slots=True)
class _Store:
    """One ``limits`` storage with its strategy, and whether one lock must serialise it."""

    storage: Storage
    strategy: _strategies.RateLimiter
    lock: threading.Lock | None = field(default_factory=threading.Lock)


class RateLimiter:
    """Counts requests per identity and route group against the policy of a plan.

    ``storage_url``: ``None`` or ``memory://`` for this process's memory, or a Redis URL
    (``redis://``, ``rediss://``, ``redis+unix://``). ``prefix`` starts every Redis key, so
    several deployments (or tests) can share one Redis. ``plans`` and ``group_policies`` replace
    the default numbers; a group named in ``group_policies`` uses that policy whatever the plan
    (by default only ``webhooks``). ``recheck_s`` is how long to use the local fallback after
    Redis failed, and ``redis_timeout_s`` bounds each Redis connect and reply (a URL's own
    ``socket_timeout`` options win).
    """

    def __init__(
        self,
        storage_url: str | None = None,
        *,
        prefix: str = "flowforge",
        plans: Mapping[Plan, Policy] = PLAN_POLICIES,
        group_policies: Mapping[str, Policy] | None = None,
        strategy: Strategy = "moving-window",
        recheck_s: float = 5.0,
        redis_timeout_s: float = 0.25,
    ) -> None:
        if not isinstance(prefix, str) or not _PREFIX.match(prefix):
            raise ValueError(f"rate limit prefix must match {_PREFIX.pattern}, not {prefix!r}")
        if strategy not in ("moving-window", "sliding-window-counter"):
            raise ValueError(
                f"unknown rate limit strategy {strategy!r}: moving-window or sliding-window-counter"
            )
        missing = [plan.value for plan in Plan if plan not in plans]
        if missing:
            raise ValueError(f"no rate limit policy for plan(s): {', '.join(missing)}")
        groups = {WEBHOOKS: WEBHOOK_POLICY} if group_policies is None else dict(group_policies)
        for group in groups:
            _check_group(group)
        self.prefix = prefix
        self.strategy: Strategy = strategy
        self.plans: Mapping[Plan, Policy] = dict(plans)
        self.group_policies: Mapping[str, Policy] = groups
        self.recheck_s = recheck_s
        self._items: dict[Quota, RateLimitItem] = {}
        self._fallback: _Store | None = None
        self._down_until = 0.0
        self._redis: _Store | None = None
        self._memory: _Store | None = None
        scheme = urlsplit(storage_url).scheme if storage_url else "memory"
        if scheme == "memory":
            self._memory = self._memory_store()
        elif scheme in _REDIS_SCHEMES:
            assert storage_url is not None
            storage = storage_from_string(
                storage_url,
                key_prefix=prefix,
                wrap_exceptions=True,
                socket_connect_timeout=redis_timeout_s,
                socket_timeout=redis_timeout_s,
            )
            assert isinstance(storage, Storage)
            self._redis = _Store(storage, _strategies.STRATEGIES[strategy](storage), lock=None)
        else:
            raise ValueError(
                f"unsupported rate limit store {scheme!r}: use memory:// or a redis:// URL"
            )

    @property
    def shared(self) -> bool:
        """Whether the counts live in Redis, shared by every process."""
        return self._redis is not None

    def policy(self, group: str, plan: Plan) -> Policy:
        """The policy that applies to a request of ``plan`` in ``group``."""
        _check_group(group)
        own = self.group_policies.get(group)
        return own if own is not None else self.plans[Plan(plan)]

    def hit(self, identity: str, group: str, plan: Plan, cost: int = 1) -> Decision:
        """The decision on one request of ``identity`` in ``group``, counted if it is allowed.

        ``cost`` is how many units the request takes (1 for a plain request); a cost above a
        window's limit is always refused. A refused request is counted in no window.
        """
        if not isinstance(cost, int) or isinstance(cost, bool) or cost < 1:
            raise ValueError(f"rate limit cost must be a positive integer, not {cost!r}")
        ids = (_identity_key(identity), group)
        policy = self.policy(group, plan)
        if policy.unlimited:
            return Decision(True, None, None, 0.0, None, policy)
        return self._run(lambda store, degraded: self._decide(store, ids, policy, cost, degraded))

    def remaining(self, identity: str, group: str, plan: Plan) -> dict[Quota, int]:
        """The units ``identity`` has left in each window of its policy in ``group``, without
        counting anything; empty for an unlimited policy."""
        ids = (_identity_key(identity), group)
        policy = self.policy(group, plan)

        def read(store: _Store, degraded: bool) -> dict[Quota, int]:
            return {
                q: store.strategy.get_window_stats(self._item(q), *ids).remaining
                for q in policy.quotas
            }

        return self._run(read) if not policy.unlimited else {}

    def _run(self, work: Callable[[_Store, bool], _T]) -> _T:
        """``work`` done on the configured store, or on this process's fallback while Redis is
        unreachable (``work``'s second argument says which)."""
        if self._redis is None:
            assert self._memory is not None
            return work(self._memory, False)
        if time.monotonic() >= self._down_until:
            try:
                result = work(self._redis, False)
            except StorageError as exc:
                self._down_until = time.monotonic() + self.recheck_s
                log.warning(
                    "rate limit store unreachable, counting in this process for %.0f s: %s",
                    self.recheck_s,
                    exc.storage_error,
                )
            else:
                if self._fallback is not None:
                    self._fallback = None  # its counts are stale once Redis answers again
                    log.warning("rate limit store reachable again")
                return result
        if self._fallback is None:
            self._fallback = self._memory_store()
        return work(self._fallback, True)

    def close(self) -> None:
        """Closes the connections to Redis, if any."""
        if self._redis is not None:
            connection = getattr(self._redis.storage, "storage", None)
            close = getattr(connection, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> RateLimiter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals

    def _memory_store(self) -> _Store:
        storage = MemoryStorage()
        return _Store(storage, _strategies.STRATEGIES[self.strategy](storage))

    def _item(self, quota: Quota) -> RateLimitItem:
        item = self._items.get(quota)
        if item is None:
            item = RateLimitItemPerSecond(quota.limit, quota.seconds, namespace=_NAMESPACE)
            self._items[quota] = item
        return item

    def _decide(
        self, store: _Store, ids: tuple[str, str], policy: Policy, cost: int, degraded: bool
    ) -> Decision:
        if store.lock is None:
            return self._check_and_count(store.strategy, ids, policy, cost, degraded)
        with store.lock:
            return self._check_and_count(store.strategy, ids, policy, cost, degraded)

    def _check_and_count(
        self,
        strategy: _strategies.RateLimiter,
        ids: tuple[str, str],
        policy: Policy,
        cost: int,
        degraded: bool,
    ) -> Decision:
        now = time.time()
        windows = [(q, self._item(q)) for q in policy.quotas]
        stats = [strategy.get_window_stats(item, *ids) for _, item in windows]
        full = [
            (quota, s.remaining, max(0.0, s.reset_time - now))
            for (quota, _), s in zip(windows, stats, strict=True)
            if s.remaining < cost
        ]
        if full:
            # Several full windows: the client must wait for the one that frees up last.
            quota, remaining, wait = max(full, key=lambda f: f[2])
            return Decision(False, quota.limit, remaining, wait, quota, policy, degraded)
        for quota, item in windows:
            if not strategy.hit(item, *ids, cost=cost):
                # Another process took the last units since the check (Redis only).
                s = strategy.get_window_stats(item, *ids)
                wait = max(0.0, s.reset_time - now)
                return Decision(False, quota.limit, s.remaining, wait, quota, policy, degraded)
        left = []
        for (quota, _), s in zip(windows, stats, strict=True):
            # An empty window starts with this request: a unit returns a whole window later.
            wait = quota.seconds if s.remaining == quota.limit else max(0.0, s.reset_time - now)
            left.append((quota, s.remaining - cost, float(wait)))
        quota, remaining, wait = min(left, key=lambda w: (w[1], -w[2]))
        return Decision(True, quota.limit, remaining, wait, quota, policy, degraded)


def _check_group(group: str) -> None:
    if not isinstance(group, str) or not _GROUP.match(group):
        raise ValueError(f"rate limit group must match {_GROUP.pattern}, not {group!r}")


def _identity_key(identity: str) -> str:
    """The identity as one key segment: escaped so no identity can pose as another or spill
    into the group part of the key, and hashed when long."""
    if not isinstance(identity, str):
        raise TypeError(f"rate limit identity must be a string, not {type(identity).__name__}")
    if not identity:
        raise ValueError("rate limit identity must not be empty")
    # quote() leaves only [A-Za-z0-9_.~-] and %XX, so the "=" and "#" markers cannot be forged.
    escaped = quote(identity, safe="")
    if len(escaped) <= _MAX_KEY_IDENTITY:
        return "=" + escaped
    return "#" + hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
