"""What authentication, the permission check and the rate limit add to one API request.

Issue #5's goal: under 0.3 ms per request for an API key with the in-memory rate limit store.
A real server (SQLite in a temporary folder, or --db; the in-memory limiter, counting as
the server does) makes the callers: an owner API key and an editor's session (access token). Two figures for each:

- guard: the route dependency itself (``api._auth.authenticate`` and the guard: resolve the
  credential from the caches, count the request, check the permission), called directly;
- route: a FastAPI route behind the same guard and middleware, called as the ASGI server calls
  it, minus the same route without the guard: everything the guard adds, FastAPI's dependency
  handling included.

The caches answer every request after the first; ``auth_cache_s`` (5 s) bounds how long a
revocation made by another process takes, and the first request after expiry reads the
database once (shown as "cold").
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path

from _common import arguments
from fastapi import FastAPI, Request

from flowforge.api._auth import CallerDep, _Guard, authenticate, guard
from flowforge.api._middleware import RequestContextMiddleware
from flowforge.config import Settings
from flowforge.engine.frames import DEFAULT_ORG
from flowforge.security.auth import SERVICE_SUBJECT, Auth
from flowforge.server import Server

BATCH = 2000
CLIENTS = 500


async def per_call_us(
    call: Callable[[], Awaitable[object]], repeat: int, batch: int = BATCH
) -> list[float]:
    """Microseconds per call, one sample per batch, after a warm-up batch."""
    for _ in range(200):
        await call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(batch):
            await call()
        samples.append((time.perf_counter() - started) / batch * 1e6)
    return samples


def show(label: str, samples: list[float]) -> None:
    print(
        f"  {label + ':':<46} median {statistics.median(samples):6.1f} µs, "
        f"best {min(samples):6.1f} µs over {len(samples)} batches"
    )


def request_for(app: FastAPI, credential: str) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/bench",
        "headers": [(b"authorization", f"Bearer {credential}".encode())],
        "query_string": b"",
        "path_params": {},
        "app": app,
        "client": ("127.0.0.1", 50000),
    }
    return Request(scope)


async def main() -> None:
    args = arguments(__doc__ or "")
    with tempfile.TemporaryDirectory(prefix="flowforge-bench-") as home:
        settings = Settings(home=Path(home), load_examples=False, log_level="WARNING")
        server = Server(settings, database_url=args.db or f"sqlite:///{home}/bench.db")
        await server.start()
        try:
            await run(server, args.repeat)
        finally:
            await server.stop()


async def run(server: Server, repeat: int) -> None:
    auth = server.auth
    # Many clients, as on a busy server: each stays far below its plan's 2,000 a minute, so
    # every request is counted and let through, as almost all are.
    keys = [
        auth.api_keys.create(
            subject=SERVICE_SUBJECT, scopes=["*"], org=DEFAULT_ORG, role="owner", name=f"b{i}"
        ).key
        for i in range(CLIENTS)
    ]
    tokens = []
    for i in range(CLIENTS):
        user = auth.directory.create_user(f"bench-{i}@example.org", f"Editor {i}")
        auth.directory.add_member(DEFAULT_ORG, user.id, "editor")
        tokens.append(auth.start_session(user).tokens.access_token)
    print(
        f"per-request access control, in-memory rate limit store, {CLIENTS} clients, "
        f"{BATCH} calls per batch"
    )

    app = FastAPI()
    app.state.server = server

    @app.get("/bench", **guard("workflows:read"))
    async def guarded(caller: CallerDep) -> dict[str, str]:
        return {"org": caller.org_id}

    @app.get("/open")
    async def unguarded() -> dict[str, str]:
        return {"org": DEFAULT_ORG}

    app.add_middleware(RequestContextMiddleware, metrics=server.metrics)
    pairs = (("API key", keys), ("access token (EdDSA)", tokens))
    for label, credentials in pairs:
        await guard_figures(app, auth, label, credentials, repeat)
    for label, credentials in pairs:
        await route_figures(app, label, credentials, repeat)


async def guard_figures(
    app: FastAPI, auth: Auth, label: str, credentials: list[str], repeat: int
) -> None:
    """The dependency alone, with warm caches and with every cache emptied first."""
    check = _Guard("workflows:read", "api", resource=False)
    requests = itertools.cycle([request_for(app, c) for c in credentials])

    async def direct() -> None:
        request = next(requests)
        await check(request, await authenticate(request))

    async def cold() -> None:
        request = next(requests)
        auth.key_store.forget(request.headers["authorization"][11:23])
        auth.forget()
        await check(request, await authenticate(request))

    show(f"guard, {label}", await per_call_us(direct, repeat))
    show(f"guard, {label}, cold caches", await per_call_us(cold, max(1, repeat // 2), 200))


async def route_figures(app: FastAPI, label: str, credentials: list[str], repeat: int) -> None:
    """A whole request to the guarded route, and what it costs over the same unguarded one,
    each sent to the ASGI application directly (no client or socket in the figure)."""
    headers = itertools.cycle([f"Bearer {c}".encode() for c in credentials])

    async def get(path: str) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"bench"), (b"authorization", next(headers))],
            "client": ("127.0.0.1", 50000),
            "server": ("bench", 80),
        }
        status: list[int] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, object]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(str(message["status"])))

        await app(scope, receive, send)
        assert status == [200], status

    guarded_us = await per_call_us(lambda: get("/bench"), repeat)
    plain_us = await per_call_us(lambda: get("/open"), repeat)
    added = [g - p for g, p in zip(guarded_us, plain_us, strict=True)]
    show(f"route, {label}: whole request", guarded_us)
    show(f"route, {label}: added by the guard", added)


if __name__ == "__main__":
    asyncio.run(main())
