"""Rate limits as the API applies them: per plan of the caller's organisation, per identity
(API key or user), per route group, webhooks per path, and one count shared through Redis by
several servers. A real server in the process (``running``); where the plan numbers would take
too many requests, its limiter is replaced by one with the same shape and smaller numbers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from api_support import assert_error, running, workflow
from test_ratelimit import REDIS_UP, REDIS_URL

from flowforge.engine.frames import DEFAULT_ORG
from flowforge.security.auth import SERVICE_SUBJECT
from flowforge.security.ratelimit import (
    WEBHOOK_POLICY,
    WEBHOOKS,
    Plan,
    Policy,
    Quota,
    RateLimiter,
)
from flowforge.server import LOGIN_GROUP, Server

RATELIMIT_HEADERS = (
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
)


def small_plans(per_minute: int, per_day: int | None = None) -> dict[Plan, Policy]:
    """Every plan but enterprise at ``per_minute`` (and ``per_day``); enterprise unlimited."""
    limited = Policy.of(per_minute=per_minute, per_day=per_day)
    return {
        Plan.FREE: limited,
        Plan.BASIC: limited,
        Plan.PRO: limited,
        Plan.ENTERPRISE: Policy(),
    }


def limiter(
    url: str | None = None,
    *,
    prefix: str = "flowforge",
    plans: dict[Plan, Policy] | None = None,
    webhooks: Policy = WEBHOOK_POLICY,
) -> RateLimiter:
    """A limiter shaped like the server's own (the webhook and sign-in groups included)."""
    return RateLimiter(
        url,
        prefix=prefix,
        plans=plans or small_plans(3),
        group_policies={WEBHOOKS: webhooks, LOGIN_GROUP: Policy.parse("20/minute")},
    )


def replace_limiter(server: Server, new: RateLimiter) -> None:
    server.limiter.close()
    server.limiter = new  # Server.stop closes it


def set_plan(server: Server, plan: Plan) -> None:
    """What ``flowforge orgs plan`` does, taking effect on this server at once."""
    server.auth.directory.update_org(DEFAULT_ORG, plan=plan)
    server.auth.forget(org_id=DEFAULT_ORG)


def new_key(server: Server, role: str = "owner") -> str:
    issued = server.auth.api_keys.create(
        subject=SERVICE_SUBJECT, scopes=["*"], org=DEFAULT_ORG, role=role, name="ratelimit"
    )
    return issued.key


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def remaining(response: httpx.Response) -> int:
    assert response.status_code < 400, response.text
    return int(response.headers["ratelimit-remaining"])


def assert_limited(response: httpx.Response, limit: int, window: str, group: str) -> None:
    """A 429 of the rate limit, with each header once: Retry-After, RateLimit-*."""
    error = assert_error(response, 429, "RATE_LIMITED")
    assert f"rate limit of {limit}/{window} in {group} reached" in error["message"]
    for name in ("retry-after", *RATELIMIT_HEADERS):
        assert len(response.headers.get_list(name)) == 1, (name, response.headers)
    retry = int(response.headers["retry-after"])
    assert 1 <= retry <= 60
    assert error["message"].endswith(f"retry in {retry} s")
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(response.headers["ratelimit-reset"]) <= 60


# -- plans


async def test_free_plan_refuses_the_101st_request_in_a_minute(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path) as (client, server):
        first = await client.get("/api/v1/workflows")
        assert first.headers["ratelimit-policy"] == "2000;w=60, 50000;w=86400"  # pro by default

        set_plan(server, Plan.FREE)
        answers = [await client.get("/api/v1/workflows") for _ in range(100)]
        assert [a.status_code for a in answers] == [200] * 100
        # the minute is the tighter window: it is the one announced
        assert [remaining(a) for a in answers] == list(range(99, -1, -1))
        for a in answers:
            assert a.headers["ratelimit-limit"] == "100"
            assert a.headers["ratelimit-policy"] == "100;w=60, 1000;w=86400"
            assert 0 < int(a.headers["ratelimit-reset"]) <= 60
            assert "retry-after" not in a.headers
        assert_limited(await client.get("/api/v1/workflows"), 100, "minute", "api")
        # any route of the group, whatever its method
        assert_limited(await client.post("/api/v1/workflows", json={}), 100, "minute", "api")


async def test_each_plan_announces_its_policy(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path) as (client, server):
        for plan, limit, policy in [
            (Plan.FREE, "100", "100;w=60, 1000;w=86400"),
            (Plan.BASIC, "500", "500;w=60, 10000;w=86400"),
            (Plan.PRO, "2000", "2000;w=60, 50000;w=86400"),
        ]:
            set_plan(server, plan)
            answer = await client.get("/api/v1/workflows")
            assert answer.status_code == 200
            assert (answer.headers["ratelimit-limit"], answer.headers["ratelimit-policy"]) == (
                limit,
                policy,
            ), plan


async def test_enterprise_is_unlimited(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path) as (client, server):
        replace_limiter(server, limiter(plans=small_plans(3)))
        set_plan(server, Plan.FREE)
        for _ in range(3):
            assert (await client.get("/api/v1/workflows")).status_code == 200
        assert_limited(await client.get("/api/v1/workflows"), 3, "minute", "api")

        set_plan(server, Plan.ENTERPRISE)
        answers = [await client.get("/api/v1/workflows") for _ in range(30)]
        answers += [await client.get("/api/v1/executions") for _ in range(5)]
        assert {a.status_code for a in answers} == {200}
        for a in answers:
            assert not {*RATELIMIT_HEADERS, "retry-after"} & set(a.headers)


# -- identities


async def test_api_keys_count_apart_and_a_users_sessions_together(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path) as (client, server):
        replace_limiter(server, limiter(plans=small_plans(3)))
        first, second = new_key(server), new_key(server, "viewer")
        for key in (first, second):  # two keys of one organisation: a bucket each
            answers = [await client.get("/api/v1/workflows", headers=bearer(key)) for _ in range(3)]
            assert [remaining(a) for a in answers] == [2, 1, 0]
            assert_limited(
                await client.get("/api/v1/workflows", headers=bearer(key)), 3, "minute", "api"
            )
        assert remaining(await client.get("/api/v1/workflows")) == 2  # the test's own key

        # a user counts as one identity whatever the session
        directory = server.auth.directory
        user = directory.create_user("ana@example.com", "Ana")
        directory.add_member(DEFAULT_ORG, user.id, "editor")
        one, two = (server.auth.start_session(user).tokens.access_token for _ in range(2))
        assert remaining(await client.get("/api/v1/workflows", headers=bearer(one))) == 2
        assert remaining(await client.get("/api/v1/workflows", headers=bearer(two))) == 1
        assert remaining(await client.get("/api/v1/workflows", headers=bearer(one))) == 0
        assert_limited(
            await client.get("/api/v1/workflows", headers=bearer(two)), 3, "minute", "api"
        )


async def test_a_refused_request_counts_nowhere(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path) as (client, server):
        replace_limiter(server, limiter(plans=small_plans(3, per_day=5)))
        set_plan(server, Plan.FREE)
        key = new_key(server)
        key_id = key[4:16]
        # a wrong secret with the key's id proves nobody: it uses none of the key's quota
        forged = key[:-6] + ("AAAAAA" if not key.endswith("AAAAAA") else "BBBBBB")
        for _ in range(5):
            assert_error(
                await client.get("/api/v1/workflows", headers=bearer(forged)),
                401,
                "UNAUTHORIZED",
            )
        answers = [await client.get("/api/v1/workflows", headers=bearer(key)) for _ in range(3)]
        assert [remaining(a) for a in answers] == [2, 1, 0]
        # a burst refused by the minute leaves the day's quota as it was
        for _ in range(6):
            assert_limited(
                await client.get("/api/v1/workflows", headers=bearer(key)), 3, "minute", "api"
            )
        minute, day = Quota(3, 60), Quota(5, 86_400)
        assert server.limiter.remaining(key_id, "api", Plan.FREE) == {minute: 0, day: 2}
        # and nothing in the other groups
        assert server.limiter.remaining(key_id, "execute", Plan.FREE) == {minute: 3, day: 5}


async def test_groups_are_counted_apart(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path) as (client, server):
        replace_limiter(server, limiter(plans=small_plans(2)))
        for _ in range(2):
            assert (await client.get("/api/v1/workflows")).status_code == 200
        assert_limited(await client.get("/api/v1/executions"), 2, "minute", "api")

        run = {"workflow": workflow("tick", {"id": "start", "type": "flow.start"})}
        started = [
            await client.post("/api/v1/executions", params={"wait": 10}, json=run) for _ in "ab"
        ]
        assert [(s.status_code, s.json()["status"]) for s in started] == [(200, "COMPLETED")] * 2
        assert [remaining(s) for s in started] == [1, 0]
        assert_limited(await client.post("/api/v1/executions", json=run), 2, "minute", "execute")

        answers = [
            await client.post("/api/v1/math/evaluate", json={"expression": f"{n} + 1"})
            for n in range(2)
        ]
        assert [a.json() for a in answers] == [{"result": 1}, {"result": 2}]
        assert [remaining(a) for a in answers] == [1, 0]
        assert_limited(
            await client.post("/api/v1/math/evaluate", json={"expression": "1"}),
            2,
            "minute",
            "services",
        )


# -- webhooks


async def test_webhooks_are_limited_per_path_not_per_caller(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, server):
        replace_limiter(server, limiter(webhooks=Policy.of(per_minute=3)))
        set_plan(server, Plan.ENTERPRISE)  # the webhooks' policy does not depend on plans
        for path in ("alpha", "beta"):
            hook = {"id": "hook", "type": "trigger.webhook", "params": {"path": path}}
            made = await client.post(
                "/api/v1/workflows",
                params={"active": "true"},
                json=workflow(f"on-{path}", hook, {"id": "done", "type": "flow.noop"}),
            )
            assert made.status_code == 201, made.text
        other = new_key(server, "viewer")

        async def call(path: str, credential: str | None) -> httpx.Response:
            request = client.build_request("POST", f"/hooks/{path}", json={"n": 1})
            del request.headers["authorization"]
            if credential is not None:
                request.headers["authorization"] = f"Bearer {credential}"
            return await client.send(request)

        # callers differ (nobody, another key, a made-up one): the path counts
        answers = [await call("alpha", c) for c in (None, other, "whoever")]
        assert [a.status_code for a in answers] == [202] * 3
        assert [remaining(a) for a in answers] == [2, 1, 0]
        assert {a.headers["ratelimit-policy"] for a in answers} == {"3;w=60"}
        for credential in (None, other):
            assert_limited(await call("alpha", credential), 3, "minute", "webhooks")
        answers = [await call("beta", None) for _ in range(3)]
        assert [remaining(a) for a in answers] == [2, 1, 0]
        assert_limited(await call("beta", None), 3, "minute", "webhooks")
        # an unknown path is refused before anything is counted
        assert_error(await call("gamma", None), 404, "WEBHOOK_NOT_FOUND")
        # and the callers' own API quota is untouched (enterprise: unlimited)
        answer = await client.get("/api/v1/workflows", headers=bearer(other))
        assert answer.status_code == 200 and "ratelimit-limit" not in answer.headers


# -- several servers, one Redis


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of the test's own in Redis, its keys deleted afterwards."""
    if not REDIS_UP:
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"fftest-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def test_two_servers_share_one_count_in_redis(
    database_url: str, tmp_path: Path, redis_prefix: str
) -> None:
    async with (
        running(database_url, tmp_path, redis_url=REDIS_URL) as (one, first),
        running(database_url, tmp_path, redis_url=REDIS_URL) as (two, second),
    ):
        assert first.limiter.shared and second.limiter.shared
        for server in (first, second):
            replace_limiter(server, limiter(REDIS_URL, prefix=redis_prefix, plans=small_plans(4)))
        key = bearer(new_key(first))  # one key, used on both servers
        assert remaining(await one.get("/api/v1/workflows", headers=key)) == 3
        assert remaining(await two.get("/api/v1/workflows", headers=key)) == 2
        assert remaining(await one.get("/api/v1/workflows", headers=key)) == 1
        assert remaining(await two.get("/api/v1/workflows", headers=key)) == 0
        for client in (one, two):
            assert_limited(await client.get("/api/v1/workflows", headers=key), 4, "minute", "api")
        # webhooks too: per path, whichever server answers
        set_plan(first, Plan.ENTERPRISE)
        hook = {"id": "hook", "type": "trigger.webhook", "params": {"path": "shared"}}
        made = await one.post(
            "/api/v1/workflows",
            params={"active": "true"},
            json=workflow("shared", hook, {"id": "done", "type": "flow.noop"}),
        )
        assert made.status_code == 201, made.text
        for server in (first, second):
            replace_limiter(
                server,
                limiter(REDIS_URL, prefix=redis_prefix, webhooks=Policy.of(per_minute=2)),
            )
        assert remaining(await one.post("/hooks/shared", json={})) == 1
        assert remaining(await two.post("/hooks/shared", json={})) == 0
        assert_limited(await one.post("/hooks/shared", json={}), 2, "minute", "webhooks")
